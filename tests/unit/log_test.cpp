// The log line formats (common/log.h): the human line as before, the JSON line's keys, time,
// levels, typed fields, and escaping that keeps any bytes one valid JSON object.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "common/log.h"

namespace clickstream {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2026-12-04T18:30:00.123Z
system_clock::time_point SampleTime() {
  using namespace std::chrono;
  return sys_days{year{2026} / December / 4} + hours{18} + minutes{30} + milliseconds{123};
}

std::string Escaped(std::string_view text) {
  std::string out;
  AppendJsonString(&out, text);
  return out;
}

// Parses one JSON line as a strict reader would: valid UTF-8 required.
rapidjson::Document Parse(const std::string& line) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str());
  EXPECT_FALSE(document.HasParseError()) << rapidjson::GetParseError_En(document.GetParseError()) << " in " << line;
  return document;
}

TEST(LogFormatTest, ParsesTheFlagsTwoValuesOnly) {
  EXPECT_EQ(ParseLogFormat("human"), LogFormat::kHuman);
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml").has_value());
  EXPECT_FALSE(ParseLogFormat("JSON").has_value());
  EXPECT_FALSE(ParseLogFormat("").has_value());
}

TEST(LogTimeTest, IsRfc3339InUtcWithMilliseconds) {
  EXPECT_EQ(FormatLogTime(SampleTime()), "2026-12-04T18:30:00.123Z");
  EXPECT_EQ(FormatLogTime(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  // Truncated, not rounded: a line is never stamped later than it was written.
  EXPECT_EQ(FormatLogTime(SampleTime() + std::chrono::microseconds(999)), "2026-12-04T18:30:00.123Z");
  EXPECT_EQ(FormatLogTime(SampleTime() + milliseconds(59'877)), "2026-12-04T18:31:00.000Z");
}

TEST(HumanLogTest, IsThePrefixAndTheMessage) {
  EXPECT_EQ(FormatHumanLine({LogLevel::kInfo, "consume", "revoked 2 partition(s)", {{"partitions", 2}}, {}}),
            "consume: revoked 2 partition(s)\n");
  EXPECT_EQ(FormatHumanLine({LogLevel::kError, "produce", "no such file", {}, "clickstream produce: "}),
            "clickstream produce: no such file\n");
  EXPECT_EQ(FormatHumanLine({LogLevel::kWarning, "produce", "line 3: bad timestamp", {}, std::string()}),
            "line 3: bad timestamp\n");
}

TEST(JsonLogTest, HasTimeLevelComponentMessageAndTypedFields) {
  const LogLine line{LogLevel::kInfo,
                     "consume",
                     "assigned 3 partition(s)",
                     {{"partitions", 3}, {"rate", 1.5}, {"ok", true}, {"path", "/tmp/landed"}, {"offset", int64_t{-1}}},
                     {}};
  EXPECT_EQ(FormatJsonLine(line, SampleTime()),
            R"j({"time":"2026-12-04T18:30:00.123Z","level":"info","component":"consume",)j"
            R"j("message":"assigned 3 partition(s)","partitions":3,"rate":1.5,"ok":true,"path":"/tmp/landed",)j"
            R"j("offset":-1})j"
            "\n");
}

TEST(JsonLogTest, NamesEachLevel) {
  const auto level_of = [](LogLevel level) {
    const rapidjson::Document document = Parse(FormatJsonLine({level, "kafka", "x", {}, {}}, SampleTime()));
    return std::string(document["level"].GetString());
  };
  EXPECT_EQ(level_of(LogLevel::kInfo), "info");
  EXPECT_EQ(level_of(LogLevel::kWarning), "warning");
  EXPECT_EQ(level_of(LogLevel::kError), "error");
}

TEST(JsonLogTest, IgnoresTheHumanPrefix) {
  const rapidjson::Document document =
      Parse(FormatJsonLine({LogLevel::kError, "produce", "no such file", {}, "clickstream produce: "}, SampleTime()));
  EXPECT_STREQ(document["message"].GetString(), "no such file");
  EXPECT_STREQ(document["component"].GetString(), "produce");
}

TEST(JsonLogTest, WritesNumbersJsonCanHold) {
  const rapidjson::Document document = Parse(FormatJsonLine(
      {LogLevel::kInfo, "produce", "x",
       {{"nan", std::nan("")}, {"inf", std::numeric_limits<double>::infinity()}, {"big", 1e300},
        {"max", std::numeric_limits<int64_t>::max()}},
       {}},
      SampleTime()));
  EXPECT_TRUE(document["nan"].IsNull());
  EXPECT_TRUE(document["inf"].IsNull());
  EXPECT_DOUBLE_EQ(document["big"].GetDouble(), 1e300);
  EXPECT_EQ(document["max"].GetInt64(), std::numeric_limits<int64_t>::max());
}

struct EscapeCase {
  std::string input;
  std::string expected;
};

class JsonEscapeTest : public testing::TestWithParam<EscapeCase> {};

TEST_P(JsonEscapeTest, GivesOneValidJsonString) {
  const EscapeCase& example = GetParam();
  EXPECT_EQ(Escaped(example.input), example.expected);
  const rapidjson::Document document =
      Parse(FormatJsonLine({LogLevel::kInfo, "kafka", example.input, {{"reason", example.input}}, {}}, SampleTime()));
  ASSERT_TRUE(document.IsObject());
  EXPECT_TRUE(document["message"].IsString());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonEscapeTest,
    testing::Values(EscapeCase{"plain", R"("plain")"}, EscapeCase{"", R"("")"},
                    EscapeCase{R"(say "hi")", R"("say \"hi\"")"}, EscapeCase{R"(C:\dir)", R"("C:\\dir")"},
                    EscapeCase{"a\nb\rc\td\be\ff", R"("a\nb\rc\td\be\ff")"},
                    EscapeCase{std::string("nul\0x", 5), R"("nul\u0000x")"}, EscapeCase{"\x01\x1f", R"("\u0001\u001f")"},
                    EscapeCase{"del\x7f", "\"del\x7f\""}, EscapeCase{"/", R"("/")"},
                    // Valid UTF-8 is kept as it is: two, three and four bytes.
                    EscapeCase{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
                    // Invalid UTF-8: one U+FFFD per byte that starts no valid sequence.
                    EscapeCase{"a\xff" "b", R"("a\ufffdb")"}, EscapeCase{"end\xc3", R"("end\ufffd")"},
                    EscapeCase{"\xc3(", R"("\ufffd(")"}, EscapeCase{"\xc0\xaf", R"("\ufffd\ufffd")"},
                    EscapeCase{"\xe0\x80\xaf", R"("\ufffd\ufffd\ufffd")"},
                    EscapeCase{"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},
                    EscapeCase{"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},
                    EscapeCase{"\xf0\x9f\x98", R"("\ufffd\ufffd\ufffd")"}, EscapeCase{"\x80", R"("\ufffd")"}));

// Restores the process's format, which other tests expect to be human.
class LogFormatGuard {
 public:
  explicit LogFormatGuard(LogFormat format) : previous_(CurrentLogFormat()) { SetLogFormat(format); }
  ~LogFormatGuard() { SetLogFormat(previous_); }

 private:
  LogFormat previous_;
};

std::string WrittenBy(const LogLine& line) {
  std::FILE* file = std::tmpfile();
  WriteLog(line, file);
  std::rewind(file);
  std::string text;
  char buffer[512];
  size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, read);
  std::fclose(file);
  return text;
}

TEST(WriteLogTest, WritesTheProcesssFormat) {
  const LogLine line{LogLevel::kWarning, "consume", "cannot land x; retrying in 100 ms", {{"retry_ms", 100}}, {}};
  EXPECT_EQ(CurrentLogFormat(), LogFormat::kHuman);
  EXPECT_EQ(WrittenBy(line), "consume: cannot land x; retrying in 100 ms\n");
  const LogFormatGuard json(LogFormat::kJson);
  const std::string written = WrittenBy(line);
  ASSERT_EQ(written.back(), '\n');
  EXPECT_EQ(written.find('\n'), written.size() - 1);
  const rapidjson::Document document = Parse(written);
  EXPECT_STREQ(document["level"].GetString(), "warning");
  EXPECT_STREQ(document["component"].GetString(), "consume");
  EXPECT_STREQ(document["message"].GetString(), "cannot land x; retrying in 100 ms");
  EXPECT_EQ(document["retry_ms"].GetInt(), 100);
  EXPECT_EQ(std::string(document["time"].GetString()).size(), std::string("2026-12-04T18:30:00.123Z").size());
}

}  // namespace
}  // namespace clickstream
