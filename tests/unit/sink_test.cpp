#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <arrow/io/file.h>
#include <arrow/util/base64.h>
#include <parquet/arrow/reader.h>

#include "event/json_codec.h"
#include "event/landed_schema.h"
#include "sink/parquet/dataset_store.h"
#include "sink/parquet/landed_files.h"
#include "sink/parquet/parquet_dataset.h"
#include "sink/parquet/posix_file.h"
#include "sink/parquet/s3_store.h"
#include "sink/sink.h"
#include "result_assertions.h"
#include "temp_dir.h"


namespace clickstream::sink {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("sink-test") {}
};

void Touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "x";
}

// Recovery through the local store, as the consumer runs it.
arrow::Result<std::map<int32_t, PartitionRecovery>> Recover(const fs::path& directory,
                                                           const std::set<int32_t>& partitions) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenLocalDatasetStore(directory.string()));
  return RecoverPartitions(store.get(), partitions);
}

// A writer with its own local store.
struct LocalWriter {
  LocalWriter(const fs::path& directory, DateColumn date_column)
      : store(OpenLocalDatasetStore(directory.string()).ValueOrDie()),
        writer(DatasetOptions{date_column, "events"}, store.get()) {}
  arrow::Result<WrittenFiles> Write(const PartitionBatchData& batch, const std::string& write_time) {
    ARROW_ASSIGN_OR_RAISE(auto written, writer.WriteGroup({batch}, write_time));
    return written.front();
  }
  std::unique_ptr<DatasetStore> store;
  ParquetDatasetWriter writer;
};

LandedFileName Name(int32_t partition, int64_t first, int64_t last, int part, int parts,
                    LandedFileKind kind = LandedFileKind::kData) {
  LandedFileName name;
  name.kind = kind;
  name.write_time = "20260101_120000_123";
  name.partition = partition;
  name.first_offset = first;
  name.last_offset = last;
  name.part = part;
  name.parts = parts;
  return name;
}

// The consumer rewinds on a fenced round and retries any other failure: the status's detail, not
// its words, tells the two apart, and a reworded message (the PostgreSQL sink scrubs its
// messages with WithMessage) stays fenced.
TEST(Fencing, IsCarriedByTheStatusDetailNotByTheMessage) {
  const arrow::Status fenced = FencedError("partition 3 of events moved on");
  EXPECT_TRUE(IsFenced(fenced)) << fenced.ToString();
  EXPECT_TRUE(fenced.IsCancelled());
  EXPECT_NE(fenced.message().find("partition 3 of events moved on"), std::string::npos) << fenced.message();
  EXPECT_TRUE(IsFenced(fenced.WithMessage("partition 3 of events moved on (scrubbed)")));

  EXPECT_FALSE(IsFenced(arrow::Status::Cancelled(fenced.message())));
  EXPECT_FALSE(IsFenced(arrow::Status::Cancelled("fenced: ", fenced.message())));
  EXPECT_FALSE(IsFenced(arrow::Status::IOError(fenced.message())));
  EXPECT_FALSE(IsFenced(arrow::Status::OK()));
}

TEST(LandedFileName, FormatsAndParsesBothKinds) {
  EXPECT_EQ(FormatLandedFileName(Name(3, 1000, 1499, 1, 2)),
            "clickstream_20260101_120000_123_p3_o1000-1499_1of2.parquet");
  EXPECT_EQ(FormatLandedFileName(Name(0, 5, 9, 1, 1, LandedFileKind::kMarker)),
            "_clickstream_20260101_120000_123_p0_o5-9_1of1.skipped");
  for (const auto& name : {Name(3, 1000, 1499, 2, 2), Name(11, 0, 0, 1, 1, LandedFileKind::kMarker)}) {
    const auto parsed = ParseLandedFileName(FormatLandedFileName(name));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->kind, name.kind);
    EXPECT_EQ(parsed->write_time, name.write_time);
    EXPECT_EQ(parsed->partition, name.partition);
    EXPECT_EQ(parsed->first_offset, name.first_offset);
    EXPECT_EQ(parsed->last_offset, name.last_offset);
    EXPECT_EQ(parsed->part, name.part);
    EXPECT_EQ(parsed->parts, name.parts);
  }
}

TEST(LandedFileName, RejectsOtherNames) {
  for (const char* text : {"part-0.parquet", "clickstream_20260101_120000_123.parquet",
                           "clickstream_20260101_120000_123_p3_o1000-1499_1of2.parquet.tmp",
                           "clickstream_20260101_120000_123_p3_o1499-1000_1of2.parquet",
                           "clickstream_20260101_120000_123_p3_o1000-1499_3of2.parquet",
                           "clickstream_20260101_120000_123_p3_o1000-1499_0of2.parquet",
                           "clickstream_2026010x_120000_123_p3_o1000-1499_1of2.parquet",
                           "clickstream_20260101_120000_123_p3_o1000-1499_1of2.parquetx",
                           "clickstream_20260101_120000_123_p-3_o1000-1499_1of2.parquet",
                           // Numbers as no run writes them: they would format to another name.
                           "clickstream_20260101_120000_123_p03_o1000-1499_1of2.parquet",
                           "clickstream_20260101_120000_123_p-0_o1000-1499_1of2.parquet",
                           "clickstream_20260101_120000_123_p3_o0999-1499_1of2.parquet",
                           "clickstream_20260101_120000_123_p3_o1000-1499_01of2.parquet",
                           "clickstream_20260101_120000_123_p3_o1000-+1499_1of2.parquet"}) {
    EXPECT_FALSE(ParseLandedFileName(text)) << text;
  }
}

TEST(LandedFileName, CompactedFilesNameTheirWholeRange) {
  LandedFileName name = Name(3, 0, 5999, 1, 1, LandedFileKind::kCompacted);
  EXPECT_EQ(FormatLandedFileName(name), "clickstream_20260101_120000_123_p3_o0-5999_compacted.parquet");
  const auto parsed = ParseLandedFileName(FormatLandedFileName(name));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->kind, LandedFileKind::kCompacted);
  EXPECT_EQ(parsed->first_offset, 0);
  EXPECT_EQ(parsed->last_offset, 5999);
  EXPECT_EQ(parsed->parts, 1);
  for (const char* text : {"clickstream_20260101_120000_123_p3_o0-5999_compacted.parquetx",
                           "clickstream_20260101_120000_123_p3_o0-5999_compacted1of1.parquet",
                           "_clickstream_20260101_120000_123_p3_o0-5999_compacted.skipped"}) {
    EXPECT_FALSE(ParseLandedFileName(text)) << text;
  }
}

TEST(LandedFileName, TempNamesAreHiddenAndReversible) {
  const std::string final_name = FormatLandedFileName(Name(1, 2, 3, 1, 1));
  const std::string temp = TempFileName(final_name);
  EXPECT_EQ(temp.front(), '.');
  EXPECT_FALSE(temp.ends_with(".parquet"));
  EXPECT_EQ(FinalNameOfTemp(temp), final_name);
  EXPECT_FALSE(FinalNameOfTemp(final_name));
}

TEST(LandedFileName, WriteTimeAndDateDirectory) {
  const auto when = std::chrono::system_clock::time_point(std::chrono::milliseconds(1430622004'042));
  EXPECT_EQ(FormatWriteTime(when), "20150503_030004_042");
  EXPECT_EQ(EventDateDirectory(0), "event_date=1970-01-01");
  EXPECT_EQ(EventDateDirectory(16587), "event_date=2015-06-01");
}

TEST(RecoverPartitions, NothingLandedMeansNoResumePoint) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {0, 1}));
  EXPECT_FALSE(recoveries[0].resume_offset);
  EXPECT_FALSE(recoveries[1].resume_offset);
  ASSERT_OK_AND_ASSIGN(auto missing, Recover(dir.path() / "absent", {0}));
  EXPECT_FALSE(missing[0].resume_offset);
  EXPECT_TRUE(fs::is_directory(dir.path() / "absent"));
}

TEST(RecoverPartitions, ResumesAfterTheHighestCompleteBatch) {
  TempDir dir;
  const fs::path day1 = dir.path() / "event_date=2015-06-01";
  const fs::path day2 = dir.path() / "event_date=2015-06-02";
  Touch(day1 / FormatLandedFileName(Name(0, 0, 499, 1, 2)));
  Touch(day2 / FormatLandedFileName(Name(0, 0, 499, 2, 2)));
  Touch(day1 / FormatLandedFileName(Name(0, 500, 999, 1, 1)));
  Touch(day1 / FormatLandedFileName(Name(1, 0, 4999, 1, 1)));  // another partition
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {0}));
  EXPECT_EQ(recoveries[0].resume_offset, 1000);
  EXPECT_EQ(recoveries[0].removed_files, 0);
  EXPECT_EQ(recoveries.count(1), 0u);
  EXPECT_TRUE(fs::exists(day1 / FormatLandedFileName(Name(1, 0, 4999, 1, 1))));
}

TEST(RecoverPartitions, RemovesAnIncompleteBatchAndItsTempFiles) {
  TempDir dir;
  const fs::path day1 = dir.path() / "event_date=2015-06-01";
  const fs::path day3 = dir.path() / "event_date=2015-06-03";
  const fs::path complete = day1 / FormatLandedFileName(Name(2, 0, 499, 1, 1));
  const fs::path part1 = day1 / FormatLandedFileName(Name(2, 500, 999, 1, 3));
  const fs::path part3 = day3 / FormatLandedFileName(Name(2, 500, 999, 3, 3));
  const fs::path temp = day1 / TempFileName(FormatLandedFileName(Name(2, 500, 999, 2, 3)));
  for (const auto& path : {complete, part1, part3, temp}) Touch(path);
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {2}));
  EXPECT_EQ(recoveries[2].resume_offset, 500);
  EXPECT_EQ(recoveries[2].removed_files, 3);
  EXPECT_TRUE(fs::exists(complete));
  EXPECT_FALSE(fs::exists(part1));
  EXPECT_FALSE(fs::exists(part3));
  EXPECT_FALSE(fs::exists(temp));
}

TEST(RecoverPartitions, MarkersMoveTheResumePointUntilSuperseded) {
  TempDir dir;
  const fs::path marker = dir.path() / FormatLandedFileName(Name(4, 500, 599, 1, 1, LandedFileKind::kMarker));
  Touch(dir.path() / "event_date=2015-06-01" / FormatLandedFileName(Name(4, 0, 499, 1, 1)));
  Touch(marker);
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {4}));
  EXPECT_EQ(recoveries[4].resume_offset, 600);
  EXPECT_EQ(recoveries[4].newest_marker, marker.filename().string());
  EXPECT_TRUE(fs::exists(marker));

  Touch(dir.path() / "event_date=2015-06-02" / FormatLandedFileName(Name(4, 600, 700, 1, 1)));
  ASSERT_OK_AND_ASSIGN(recoveries, Recover(dir.path(), {4}));
  EXPECT_EQ(recoveries[4].resume_offset, 701);
  EXPECT_EQ(recoveries[4].newest_marker, "");
  EXPECT_FALSE(fs::exists(marker));
}

// Compacting day 1 turned part 1 of the batch 500-999 into part of a compacted file; part 2 is
// still a file of its own in day 2. The batch is complete, and so is the partition's progress.
TEST(RecoverPartitions, ACompactedFileCompletesTheBatchesOfItsRange) {
  TempDir dir;
  const fs::path day1 = dir.path() / "event_date=2015-06-01";
  const fs::path day2 = dir.path() / "event_date=2015-06-02";
  const fs::path compacted = day1 / FormatLandedFileName(Name(5, 0, 999, 1, 1, LandedFileKind::kCompacted));
  const fs::path part2 = day2 / FormatLandedFileName(Name(5, 500, 999, 2, 2));
  for (const auto& path : {compacted, part2}) Touch(path);
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {5}));
  EXPECT_EQ(recoveries[5].resume_offset, 1000);
  EXPECT_EQ(recoveries[5].removed_files, 0);
  EXPECT_TRUE(fs::exists(part2));

  // A newer batch killed half-way is still redone, and the compacted file kept.
  const fs::path newer = day1 / FormatLandedFileName(Name(5, 1000, 1499, 1, 2));
  Touch(newer);
  ASSERT_OK_AND_ASSIGN(recoveries, Recover(dir.path(), {5}));
  EXPECT_EQ(recoveries[5].resume_offset, 1000);
  EXPECT_EQ(recoveries[5].removed_files, 1);
  EXPECT_FALSE(fs::exists(newer));
  EXPECT_TRUE(fs::exists(compacted));
  EXPECT_TRUE(fs::exists(part2));
}

TEST(RecoverPartitions, OnlyCompactedFilesResumeAfterTheHighestRange) {
  TempDir dir;
  Touch(dir.path() / "event_date=2015-06-01" / FormatLandedFileName(Name(6, 0, 4999, 1, 1, LandedFileKind::kCompacted)));
  Touch(dir.path() / "event_date=2015-06-02" / FormatLandedFileName(Name(6, 0, 7999, 1, 1, LandedFileKind::kCompacted)));
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {6}));
  EXPECT_EQ(recoveries[6].resume_offset, 8000);
  EXPECT_EQ(recoveries[6].removed_files, 0);
}

TEST(GroupLandedBatches, APartOutsideEveryCompactedRangeStaysIncomplete) {
  const LandedBatches batches = GroupLandedBatches({{"a", Name(1, 0, 99, 1, 1, LandedFileKind::kCompacted)},
                                                    {"b", Name(1, 50, 149, 2, 2)}});
  EXPECT_TRUE(batches.at({0, 99}).complete());
  EXPECT_FALSE(batches.at({50, 149}).complete());
}

TEST(RecoverPartitions, AnUnreadableDirectoryIsAnError) {
  TempDir dir;
  Touch(dir.path() / "file");
  EXPECT_FALSE(Recover(dir.path() / "file", {0}).ok());
}

std::shared_ptr<arrow::RecordBatch> MakeRows(DateColumn date_column, const std::vector<std::string>& json) {
  LandedBatchBuilder builder(date_column);
  EventJsonDecoder decoder;
  int64_t offset = 0;
  for (const std::string& text : json) {
    Event event;
    EXPECT_TRUE(decoder.Decode(text, &event).ok()) << text;
    EXPECT_TRUE(builder.Append(event, LandingInfo{7, offset++, 1'700'000'000'000'000}).ok());
  }
  return builder.Finish().ValueOrDie();
}

std::shared_ptr<arrow::Table> ReadParquet(const fs::path& path, std::shared_ptr<const arrow::KeyValueMetadata>* kv) {
  auto input = arrow::io::ReadableFile::Open(path.string()).ValueOrDie();
  auto reader = parquet::arrow::OpenFile(input, arrow::default_memory_pool()).ValueOrDie();
  *kv = reader->parquet_reader()->metadata()->key_value_metadata();
  std::shared_ptr<arrow::Table> table;
  EXPECT_TRUE(reader->ReadTable(&table).ok());
  return table;
}

TEST(ParquetDatasetWriter, WritesOnePartPerDateAndReadsBack) {
  TempDir dir;
  LocalWriter writer(dir.path(), DateColumn::kInPath);
  PartitionBatchData batch;
  batch.partition = 7;
  batch.first_offset = 10;
  batch.last_offset = 12;
  batch.rows_by_day = {
      {16586, MakeRows(DateColumn::kInPath, {R"({"source_id":"a","source_line":2,"timestamp":"2015-05-31 23:59:59","visitor_id":"1",)"
                                             R"("event_type":"VIEW","item_id":"9","device":"Mobile"})"})},
      {16587,
       MakeRows(DateColumn::kInPath, {R"({"source_id":"b","source_line":3,"timestamp":"2015-06-01 00:00:00","visitor_id":2,)"
                                      R"("event_type":"transaction","item_id":"9","transaction_id":"tx_001"})"})},
  };
  ASSERT_OK_AND_ASSIGN(auto written, writer.Write(batch, "20260101_120000_000"));
  ASSERT_EQ(written.paths.size(), 2u);
  EXPECT_GT(written.bytes, 0);
  const fs::path second =
      dir.path() / "event_date=2015-06-01" / "clickstream_20260101_120000_000_p7_o10-12_2of2.parquet";
  EXPECT_EQ(dir.path() / written.paths[1], second);

  std::shared_ptr<const arrow::KeyValueMetadata> kv;
  const auto table = ReadParquet(second, &kv);
  ASSERT_EQ(table->num_rows(), 1);
  EXPECT_TRUE(table->schema()->Equals(*LandedSchema(DateColumn::kInPath), /*check_metadata=*/false))
      << table->schema()->ToString();
  EXPECT_EQ(table->GetColumnByName("transaction_id")->GetScalar(0).ValueOrDie()->ToString(), "tx_001");
  EXPECT_EQ(table->GetColumnByName("visitor_id")->GetScalar(0).ValueOrDie()->ToString(), "2");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->Get(metadata_key::kTopic).ValueOrDie(), "events");
  EXPECT_EQ(kv->Get(metadata_key::kPartition).ValueOrDie(), "7");
  EXPECT_EQ(kv->Get(metadata_key::kFirstOffset).ValueOrDie(), "10");
  EXPECT_EQ(kv->Get(metadata_key::kLastOffset).ValueOrDie(), "12");
  EXPECT_EQ(kv->Get(metadata_key::kPart).ValueOrDie(), "2/2");
  // Stored once: the Arrow schema kept for readers' types does not carry the facts again.
  const std::string stored_schema = arrow::util::base64_decode(kv->Get("ARROW:schema").ValueOrDie());
  EXPECT_FALSE(stored_schema.empty());
  EXPECT_EQ(stored_schema.find(metadata_key::kTopic), std::string::npos);

  // No temporary file stays behind (the lock files are not landed files), and recovery sees one
  // complete batch.
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    EXPECT_FALSE(FinalNameOfTemp(entry.path().filename().string())) << entry.path();
  }
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {7}));
  EXPECT_EQ(recoveries[7].resume_offset, 13);
}

TEST(ParquetDatasetWriter, FlatLayoutAndMarkers) {
  TempDir dir;
  LocalWriter writer(dir.path(), DateColumn::kInFile);
  PartitionBatchData batch;
  batch.partition = 0;
  batch.first_offset = 0;
  batch.last_offset = 0;
  batch.rows_by_day = {{0, MakeRows(DateColumn::kInFile, {R"({"timestamp":"2015-06-01 10:00:00","visitor_id":"1",)"
                                                          R"("event_type":"view","item_id":"9"})"})}};
  ASSERT_OK_AND_ASSIGN(auto written, writer.Write(batch, "20260101_120000_000"));
  ASSERT_EQ(written.paths.size(), 1u);
  EXPECT_EQ(fs::path(written.paths[0]).parent_path(), "");
  std::shared_ptr<const arrow::KeyValueMetadata> kv;
  EXPECT_NE(ReadParquet(dir.path() / written.paths[0], &kv)->GetColumnByName("event_date"), nullptr);

  PartitionBatchData dead_letters_only;
  dead_letters_only.first_offset = 1;
  dead_letters_only.last_offset = 5;
  ASSERT_OK_AND_ASSIGN(written, writer.Write(dead_letters_only, "20260101_120001_000"));
  ASSERT_EQ(written.paths.size(), 1u);
  EXPECT_TRUE(fs::path(written.paths[0]).filename().string().starts_with("_clickstream_"));
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {0}));
  EXPECT_EQ(recoveries[0].resume_offset, 6);
}

TEST(ParquetDatasetWriter, GroupCommitLandsEveryBatchInOrder) {
  TempDir dir;
  LocalWriter writer(dir.path(), DateColumn::kInPath);
  auto batch_of = [](int32_t partition, int64_t first, int64_t last, std::vector<int32_t> days) {
    PartitionBatchData batch;
    batch.partition = partition;
    batch.first_offset = first;
    batch.last_offset = last;
    for (int32_t day : days) {
      batch.rows_by_day.emplace_back(
          day, MakeRows(DateColumn::kInPath, {R"({"timestamp":"2015-06-01 10:00:00","visitor_id":"1",)"
                                              R"("event_type":"view","item_id":"9"})"}));
    }
    return batch;
  };
  // Two batches of partition 1 (two generations), one of partition 2, and a marker.
  const std::vector<PartitionBatchData> group = {batch_of(1, 0, 9, {16587, 16588}), batch_of(2, 0, 4, {16588}),
                                                 batch_of(1, 10, 19, {16588}), batch_of(2, 5, 6, {})};
  ASSERT_OK_AND_ASSIGN(auto written, writer.writer.WriteGroup(group, "20260101_120000_000"));
  ASSERT_EQ(written.size(), group.size());
  EXPECT_EQ(written[0].paths.size(), 2u);
  EXPECT_EQ(fs::path(written[2].paths[0]).filename(), "clickstream_20260101_120000_000_p1_o10-19_1of1.parquet");
  EXPECT_TRUE(fs::path(written[3].paths[0]).filename().string().starts_with("_clickstream_"));
  for (const auto& files : written) {
    for (const auto& path : files.paths) EXPECT_TRUE(fs::exists(dir.path() / path)) << path;
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    EXPECT_FALSE(entry.path().filename().string().ends_with(".tmp")) << entry.path();
  }
  ASSERT_OK_AND_ASSIGN(auto recoveries, Recover(dir.path(), {1, 2}));
  EXPECT_EQ(recoveries[1].resume_offset, 20);
  EXPECT_EQ(recoveries[2].resume_offset, 7);
}

TEST(ParquetDatasetWriter, FailsWhenAFileIsInTheWay) {
  TempDir dir;
  LocalWriter writer(dir.path(), DateColumn::kInPath);
  Touch(dir.path() / "event_date=2015-06-02");  // a file where the day's directory belongs
  PartitionBatchData batch;
  batch.rows_by_day = {{16588, MakeRows(DateColumn::kInPath, {R"({"timestamp":"2015-06-01 10:00:00","visitor_id":"1",)"
                                                              R"("event_type":"view","item_id":"9"})"})}};
  auto written = writer.Write(batch, "20260101_120000_000");
  ASSERT_FALSE(written.ok());
  EXPECT_TRUE(written.status().IsIOError()) << written.status().ToString();
  const std::string message = written.status().message();
  EXPECT_NE(message.find((dir.path() / "event_date=2015-06-02").string() + ": a file of that name is in the way"),
            std::string::npos)
      << message;
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "event_date=2015-06-02"));
}


TEST(PosixFile, SyncsFilesAndDirectoriesAndNamesThePathWhenItCannot) {
  TempDir dir;
  const std::string file = (dir.path() / "a.parquet").string();
  Touch(file);
  EXPECT_TRUE(SyncFile(file).ok());
  EXPECT_TRUE(SyncDirectory(dir.path().string()).ok());
  const std::string missing = (dir.path() / "missing").string();
  EXPECT_EQ(SyncFile(missing).ToString(), "IOError: cannot open " + missing + ": No such file or directory");
  EXPECT_EQ(SyncDirectory(file).ToString(), "IOError: cannot open directory " + file + ": Not a directory");
}

TEST(PosixFile, AFileDescriptorIsClosedByItsOwner) {
  TempDir dir;
  const std::string file = (dir.path() / "a.parquet").string();
  Touch(file);
  int raw = -1;
  {
    FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    raw = fd.get();
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1) << "still open after its owner went";
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  raw = fd.get();
  EXPECT_EQ(fd.Close(), 0);
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
}

// A destination that cannot be used is refused up front, naming it: nothing is created locally.
TEST(OpenDatasetStore, RefusesWhatItCannotLandInto) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"gs://bucket/prefix", "unsupported scheme 'gs'"},
      {"abfs://container@account.dfs.core.windows.net/x", "unsupported scheme 'abfs'"},
      {(dir.path() / "s3:landing/x").string(), ""},  // a path that merely contains "s3:" stays a path
      {"s3:landing/x", "did you mean s3://"},
      {"s3:///prefix", "no bucket"},
      {"s3://bucket/x?no_such_option=1", "no_such_option"},
  };
  const ObjectStoreSubsystem object_stores;
  for (const auto& [location, message] : cases) {
    auto store = OpenDatasetStore(location);
    if (message.empty()) {
      EXPECT_TRUE(store.ok()) << location << ": " << store.status().ToString();
      continue;
    }
    ASSERT_FALSE(store.ok()) << location;
    EXPECT_TRUE(store.status().IsInvalid()) << store.status().ToString();
    // Named without its query (options, never credentials) for URIs.
    EXPECT_NE(store.status().message().find(location.substr(0, location.find('?'))), std::string::npos)
        << store.status().message();
    EXPECT_NE(store.status().message().find(message), std::string::npos) << store.status().message();
  }
  EXPECT_FALSE(fs::exists("s3:landing"));
  // A key pair in the URI is used, never repeated in a message.
  auto with_key = OpenDatasetStore("s3://AKIDEXAMPLE:secret123@/x");
  ASSERT_FALSE(with_key.ok());
  EXPECT_EQ(with_key.status().message().find("secret123"), std::string::npos) << with_key.status().message();
}

TEST(OpenDatasetStore, TellsPathsFromUris) {
  EXPECT_TRUE(IsLocalPath("/data/landed"));
  EXPECT_TRUE(IsLocalPath("landed"));
  EXPECT_TRUE(IsLocalPath("./s3:x"));
  EXPECT_FALSE(IsLocalPath("s3://bucket/x"));
  EXPECT_FALSE(IsLocalPath("s3:bucket/x"));
  EXPECT_FALSE(IsLocalPath("file:///data"));
  EXPECT_EQ(SchemeOf("s3://bucket/x?endpoint_override=127.0.0.1:9000"), "s3");
}

}  // namespace
}  // namespace clickstream::sink
