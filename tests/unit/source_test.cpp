#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "source/csv_reader.h"
#include "result_assertions.h"
#include "source/event_source.h"
#include "source/fingerprint.h"

namespace clickstream::source {
namespace {

// A temporary file holding `content`, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/source_test_XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = name;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ReadRecord {
  int64_t line;
  std::vector<std::string> fields;
  std::string error;
  bool operator==(const ReadRecord&) const = default;
};

void PrintTo(const ReadRecord& record, std::ostream* out) {
  *out << "line " << record.line << " [";
  for (const auto& field : record.fields) *out << "'" << field << "' ";
  *out << "] " << record.error;
}

std::vector<ReadRecord> ReadAll(const std::string& content, size_t buffer_bytes) {
  TempFile file(content);
  auto reader = CsvReader::Open(file.path(), buffer_bytes);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<ReadRecord> records;
  CsvRecord record;
  while (true) {
    auto more = (*reader)->Next(&record);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
    ReadRecord copy{record.line, {}, record.error};
    if (record.error.empty()) copy.fields.assign(record.fields.begin(), record.fields.end());
    records.push_back(copy);
  }
  return records;
}

struct ReaderCase {
  std::string name;
  std::string input;
  std::vector<ReadRecord> expected;
};

// Each case is read with buffers from tiny (every record straddles a refill) to the default.
TEST(CsvReader, SplitsRecordsWithExactLineNumbers) {
  const std::vector<ReaderCase> cases = {
      {"plain", "a,b\n1,2\n", {{1, {"a", "b"}, ""}, {2, {"1", "2"}, ""}}},
      {"no final newline", "a,b\n1,2", {{1, {"a", "b"}, ""}, {2, {"1", "2"}, ""}}},
      {"crlf", "a,b\r\n1,2\r\n", {{1, {"a", "b"}, ""}, {2, {"1", "2"}, ""}}},
      {"bom", "\xEF\xBB\xBF" "a,b\n1,2\n", {{1, {"a", "b"}, ""}, {2, {"1", "2"}, ""}}},
      {"blank lines skipped", "a,b\n\n1,2\r\n\r\n3,4\n", {{1, {"a", "b"}, ""}, {3, {"1", "2"}, ""}, {5, {"3", "4"}, ""}}},
      {"empty fields", ",\n,,x\n", {{1, {"", ""}, ""}, {2, {"", "", "x"}, ""}}},
      {"quoted", "\"a,1\",\"say \"\"hi\"\"\"\n", {{1, {"a,1", "say \"hi\""}, ""}}},
      {"quoted crlf", "\"a\",\"b\"\r\n\"c\",d\r\n", {{1, {"a", "b"}, ""}, {2, {"c", "d"}, ""}}},
      {"newline inside quotes", "\"x\ny\",1\n2,3\n", {{1, {"x\ny", "1"}, ""}, {3, {"2", "3"}, ""}}},
      {"empty quoted", "\"\",a\n", {{1, {"", "a"}, ""}}},
      {"unterminated quote at end", "1,2\n\"x,3", {{1, {"1", "2"}, ""}, {2, {}, "unterminated quoted field"}}},
      {"text after quote", "\"a\"b,1\n2,3\n", {{1, {}, "text after a closing quote in field 1"}, {2, {"2", "3"}, ""}}},
      {"stray quote", "a\"b,1\n", {{1, {}, "quote inside unquoted field 1"}}},
      {"bom only", "\xEF\xBB\xBF", {}},
      {"empty", "", {}},
  };
  for (const ReaderCase& c : cases) {
    for (size_t buffer_bytes : {size_t{24}, size_t{64}, CsvReader::kDefaultBufferBytes}) {
      EXPECT_EQ(ReadAll(c.input, buffer_bytes), c.expected) << c.name << " with a " << buffer_bytes << "-byte buffer";
    }
  }
}

std::vector<std::string> NaiveSplit(const std::string& line) {
  std::vector<std::string> fields(1);
  for (const char c : line) {
    if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// The unquoted fast path reads eight bytes at a time: commas in every position of a word and at
// its edges, next to bytes one apart from ',' ('-', '+'), quotes and non-ASCII bytes past the
// first word must all be found exactly.
TEST(CsvReader, SplitsLongUnquotedLinesAtEveryCommaPosition) {
  const std::string alphabet = "ab-+,,x-,y.,-,1";
  std::string input;
  std::vector<ReadRecord> expected;
  int64_t line = 1;
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t shift = 0; shift < alphabet.size(); ++shift) {
      std::string text;
      for (size_t i = 0; i < length; ++i) text += alphabet[(i * 7 + shift) % alphabet.size()];
      input += text + "\n";
      expected.push_back({line++, NaiveSplit(text), ""});
    }
  }
  input += std::string(17, 'a') + "\"b,c\n";  // a quote past the first word: the quoted parser judges it
  expected.push_back({line++, {}, "quote inside unquoted field 1"});
  EXPECT_EQ(ReadAll(input, CsvReader::kDefaultBufferBytes), expected);
}

TEST(CsvReader, KnowsALineIsValidUtf8OnlyWhenItIs) {
  TempFile file("caf\xC3\xA9,plain ascii text,x\nabcdefghij,k\xFF,z\nabcdefghijklmnop,q\n");
  ASSERT_OK_AND_ASSIGN(auto reader, CsvReader::Open(file.path()));
  CsvRecord record;
  std::vector<bool> valid;
  while (true) {
    ASSERT_OK_AND_ASSIGN(const bool more, reader->Next(&record));
    if (!more) break;
    valid.push_back(record.known_valid_utf8);
  }
  EXPECT_EQ(valid, (std::vector<bool>{true, false, true}));
}

TEST(CsvReader, ReportsOverlongRecordAndResynchronises) {
  const std::string input = "a,b\n\"" + std::string(100, 'x') + ",1\n2,3\n";
  const auto records = ReadAll(input, 32);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].line, 2);
  EXPECT_NE(records[1].error.find("row longer than 32 bytes"), std::string::npos);
  EXPECT_EQ(records[2], (ReadRecord{3, {"2", "3"}, ""}));
}

TEST(CsvReader, MissingFileIsAnIOError) {
  auto reader = CsvReader::Open("/nonexistent/events.csv");
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsIOError());
  EXPECT_NE(reader.status().message().find("/nonexistent/events.csv"), std::string::npos);
}

struct SourceResult {
  std::vector<Event> events;
  std::vector<std::string> rejects;  // "line N: reason"
};

SourceResult ReadEvents(const std::string& content, CsvLayout expected_layout) {
  TempFile file(content);
  auto source = EventSource::Open(file.path());
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  SourceResult result;
  if (!source.ok()) return result;
  EXPECT_EQ((*source)->layout(), expected_layout);
  Event event;
  SourceRow row;
  while (true) {
    auto more = (*source)->Next(&event, &row);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
    if (row.kind == SourceRow::Kind::kEvent) {
      result.events.push_back(event);
    } else {
      result.rejects.push_back("line " + std::to_string(row.line) + ": " + row.reason);
    }
  }
  return result;
}

constexpr char kGeneratorHeader[] = "timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os\n";

TEST(EventSource, ReadsTheGeneratorLayout) {
  const auto result = ReadEvents(std::string(kGeneratorHeader) +
                                     "2015-05-03 00:09:19,5455,view,4378,,mobile,Safari,iOS\n"
                                     "2015-05-03 00:10:00,007,transaction,12,T9,desktop,Chrome,Windows\n",
                                 CsvLayout::kGenerator);
  ASSERT_EQ(result.events.size(), 2u);
  EXPECT_TRUE(result.rejects.empty());
  EXPECT_EQ(result.events[0].visitor_id, "5455");
  EXPECT_EQ(result.events[0].browser, "Safari");
  EXPECT_EQ(result.events[1].visitor_id, "007");  // identifiers keep their source text
  EXPECT_EQ(result.events[1].transaction_id, "T9");
  EXPECT_EQ(result.events[0].source_id.size(), kFingerprintChars);
  EXPECT_EQ(result.events[0].source_id, result.events[1].source_id);
  EXPECT_EQ(result.events[0].source_line, 2);
  EXPECT_EQ(result.events[1].source_line, 3);
}

TEST(EventSource, ReadsTheRetailRocketLayout) {
  const auto result = ReadEvents(
      "timestamp,visitorid,event,itemid,transactionid\r\n"
      "1433221332117,257597,view,355908,\r\n"
      "1433224214164,992329,transaction,248676,4000\r\n"
      "14332x,1,view,2,\r\n",
      CsvLayout::kRetailRocket);
  ASSERT_EQ(result.events.size(), 2u);
  EXPECT_EQ(result.events[0].timestamp, 1433221332);
  EXPECT_EQ(result.events[0].device, "");
  EXPECT_EQ(result.events[1].event_type, EventType::kTransaction);
  ASSERT_EQ(result.rejects.size(), 1u);
  EXPECT_EQ(result.rejects[0], "line 4: unparsable timestamp '14332x' (expected epoch milliseconds)");
}

TEST(EventSource, RejectsEachBadRowOnceWithItsLine) {
  const auto result = ReadEvents(std::string(kGeneratorHeader) +
                                     "2015-05-03 00:00:01,1,view,1,,mobile,Safari,iOS\n"   // 2 good
                                     "2015-05-03 00:00:02,2,view,1,,mobile,Safari\n"       // 3 column count
                                     "2015-13-03 00:00:03,3,view,1,,mobile,Safari,iOS\n"   // 4 timestamp
                                     "2015-05-03 00:00:04,4,click,1,,mobile,Safari,iOS\n"  // 5 event type
                                     "2015-05-03 00:00:05,,view,1,,mobile,Safari,iOS\n"    // 6 visitor
                                     "2015-05-03 00:00:06,\xff,view,1,,mobile,Safari,iOS\n"  // 7 UTF-8
                                     "2015-05-03 00:00:07,7,view,1,,mobile,\"Safari\n"     // 8-9 unterminated
                                     "2015-05-03 00:00:08,8,view,1,,mobile,Safari,iOS\n",
                                 CsvLayout::kGenerator);
  ASSERT_EQ(result.events.size(), 1u);
  const std::vector<std::string> expected = {
      "line 3: expected 8 fields, found 7",
      "line 4: unparsable timestamp '2015-13-03 00:00:03'",
      "line 5: unknown event_type 'click'",
      "line 6: missing visitor_id",
      "line 7: visitor_id is not valid UTF-8",
      "line 8: unterminated quoted field",
  };
  EXPECT_EQ(result.rejects, expected);
}

TEST(EventSource, UnknownHeaderIsAnError) {
  TempFile file("a,b,c\n1,2,3\n");
  auto source = EventSource::Open(file.path());
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.status().message().find("unrecognised CSV header 'a,b,c'"), std::string::npos);
}

TEST(Fingerprint, DependsOnEveryByteAndIsStable) {
  TempFile file(std::string(kGeneratorHeader) + "2015-05-03 00:00:01,1,view,1,,mobile,Safari,iOS\n");
  TempFile same(std::string(kGeneratorHeader) + "2015-05-03 00:00:01,1,view,1,,mobile,Safari,iOS\n");
  TempFile changed(std::string(kGeneratorHeader) + "2015-05-03 00:00:01,1,view,2,,mobile,Safari,iOS\n");
  ASSERT_OK_AND_ASSIGN(const std::string fingerprint, FingerprintFile(file.path()));
  EXPECT_EQ(fingerprint.size(), kFingerprintChars);
  EXPECT_EQ(fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(const std::string same_fingerprint, FingerprintFile(same.path()));
  EXPECT_EQ(same_fingerprint, fingerprint);
  ASSERT_OK_AND_ASSIGN(const std::string changed_fingerprint, FingerprintFile(changed.path()));
  EXPECT_NE(changed_fingerprint, fingerprint);
}

// Pinned: source_ids key every message already in a topic and every landed row, so the hash must
// not drift (XXH3-128 of "abc", canonical big-endian digest).
TEST(Fingerprint, IsTheSameAsInDataAlreadyLanded) {
  TempFile file("abc");
  ASSERT_OK_AND_ASSIGN(const std::string fingerprint, FingerprintFile(file.path()));
  EXPECT_EQ(fingerprint, "06b05ab6733a618578af5f94892f3950");
}

TEST(Fingerprint, ASpooledStreamHashesAsTheFileAndReadsBackWhole) {
  const std::string content = std::string(kGeneratorHeader) + "2015-05-03 00:00:01,1,view,1,,mobile,Safari,iOS\n";
  TempFile file(content);
  std::FILE* stream = std::fopen(file.path().c_str(), "rb");
  ASSERT_NE(stream, nullptr);
  auto spooled = SpoolAndFingerprint(stream);
  std::fclose(stream);
  ASSERT_TRUE(spooled.ok()) << spooled.status().ToString();
  ASSERT_OK_AND_ASSIGN(const std::string fingerprint, FingerprintFile(file.path()));
  EXPECT_EQ(spooled->fingerprint, fingerprint);
  std::string read_back(content.size() + 1, '\0');
  read_back.resize(std::fread(read_back.data(), 1, read_back.size(), spooled->file.get()));
  EXPECT_EQ(read_back, content);
}

TEST(EventSource, IdentityIsTheInputFingerprintAndTheLine) {
  const std::string content = std::string(kGeneratorHeader) +
                              "2015-05-03 00:00:01,1,view,1,,mobile,Safari,iOS\n"
                              "2015-05-03 00:00:02,2,view,\"multi\nline\",,mobile,Safari,iOS\n"
                              "2015-05-03 00:00:03,3,view,1,,mobile,Safari,iOS\n";
  const auto result = ReadEvents(content, CsvLayout::kGenerator);
  ASSERT_EQ(result.events.size(), 3u);
  TempFile file(content);
  ASSERT_OK_AND_ASSIGN(const std::string fingerprint, FingerprintFile(file.path()));
  for (const Event& event : result.events) EXPECT_EQ(event.source_id, fingerprint);
  EXPECT_EQ(result.events[0].source_line, 2);
  EXPECT_EQ(result.events[1].source_line, 3);
  EXPECT_EQ(result.events[2].source_line, 5);  // the quoted newline takes line 4
}

// RetailRocket's events.csv holds epoch milliseconds; a microsecond value used to be formatted with
// four year digits and parsed again, landing in the year 7386.
TEST(EventSource, RetailRocketTimesOutsideEpochMillisecondsAreRejectedNotMisdated) {
  const auto result = ReadEvents(
      "timestamp,visitorid,event,itemid,transactionid\n"
      "1433221332117000,1,view,2,\n"     // 2: microseconds
      "1433221332,1,view,2,\n"           // 3: seconds
      "99,1,view,2,\n"                   // 4: 1970
      "946684799999,1,view,2,\n"         // 5: a millisecond before 2000
      "946684800000,1,view,2,\n"         // 6: 2000-01-01 00:00:00
      "4102444799999,1,view,2,\n"        // 7: the last millisecond of 2099
      "4102444800000,1,view,2,\n"        // 8: 2100-01-01
      "-1433221332117,1,view,2,\n",      // 9: before the epoch
      CsvLayout::kRetailRocket);
  ASSERT_EQ(result.events.size(), 2u);
  EXPECT_EQ(result.events[0].timestamp, 946684800);
  EXPECT_EQ(result.events[1].timestamp, 4102444799);
  const std::vector<std::string> expected = {
      "line 2: timestamp 1433221332117000 is outside the accepted range 2000-01-01 .. 2099-12-31 as epoch "
      "milliseconds (it looks like epoch microseconds)",
      "line 3: timestamp 1433221332 is outside the accepted range 2000-01-01 .. 2099-12-31 as epoch "
      "milliseconds (it looks like epoch seconds)",
      "line 4: timestamp 99 is outside the accepted range 2000-01-01 .. 2099-12-31 as epoch milliseconds",
      "line 5: timestamp 946684799999 is outside the accepted range 2000-01-01 .. 2099-12-31 as epoch milliseconds",
      "line 8: timestamp 4102444800000 is outside the accepted range 2000-01-01 .. 2099-12-31 as epoch "
      "milliseconds",
      "line 9: timestamp -1433221332117 is outside the accepted range 2000-01-01 .. 2099-12-31 as epoch "
      "milliseconds",
  };
  EXPECT_EQ(result.rejects, expected);
}

}  // namespace
}  // namespace clickstream::source
