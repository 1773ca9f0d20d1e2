#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "source/csv_reader.h"
#include "source/event_source.h"

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
  EXPECT_EQ(result.events[0].event_id.size(), 32u);
  EXPECT_NE(result.events[0].event_id, result.events[1].event_id);
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

TEST(EventId, DependsOnLineAndEveryFieldAndIsStable) {
  const std::vector<std::string_view> fields = {"2015-05-03 00:00:01", "1", "view"};
  const std::string id = MakeEventId(2, fields);
  EXPECT_EQ(id, MakeEventId(2, fields));
  EXPECT_NE(id, MakeEventId(3, fields));
  EXPECT_NE(id, MakeEventId(2, {"2015-05-03 00:00:01", "1", "vie"}));
  EXPECT_NE(MakeEventId(2, {"ab", "c"}), MakeEventId(2, {"a", "bc"}));
  std::set<std::string> ids;
  for (int64_t line = 0; line < 100000; ++line) ids.insert(MakeEventId(line, fields));
  EXPECT_EQ(ids.size(), 100000u);
}

// Pinned values: event_ids key every message already in a topic, so the hash must not drift.
// Field lengths 0 to 19 cover every tail length of the 8-byte words.
TEST(EventId, IsTheSameAsInTopicsAlreadyWritten) {
  EXPECT_EQ(MakeEventId(2, {"2015-05-03 00:00:11", "60303", "view", "164112", "", "desktop", "Chrome", "Windows"}),
            "3ae83a873f13b9251b91c95c1d9d6d59");
  EXPECT_EQ(MakeEventId(76, {"2015-05-03 00:34:33", "429148", "transaction", "61940", "0", "mobile", "Chrome",
                             "Android"}),
            "01fc9b017cbb7d2debc20419cbbfb5f8");
}

}  // namespace
}  // namespace clickstream::source
