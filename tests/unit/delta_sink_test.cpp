#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <utility>
#include <fstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "event/json_codec.h"
#include "event/landed_schema.h"
#include "sink/delta/delta_log.h"
#include "sink/delta/delta_sink.h"
#include "sink/delta/table_compaction.h"
#include "sink/delta/table_log.h"
#include "sink/delta/table_vacuum.h"
#include "sink/delta/table_schema.h"
#include "sink/parquet/dataset_store.h"
#include "result_assertions.h"
#include "temp_dir.h"

namespace clickstream::sink::delta {
namespace {

namespace fs = std::filesystem;

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("delta-test") {}
};

constexpr int32_t kDay = 16586;  // 2015-05-31

std::shared_ptr<arrow::RecordBatch> Rows(int32_t partition, int64_t first_offset, const std::vector<std::string>& json) {
  LandedBatchBuilder builder(DateColumn::kInPath);
  EventJsonDecoder decoder;
  int64_t offset = first_offset;
  for (const std::string& text : json) {
    Event event;
    EXPECT_TRUE(decoder.Decode(text, &event).ok()) << text;
    EXPECT_TRUE(builder.Append(event, LandingInfo{partition, offset++, 1'700'000'000'000'000}).ok());
  }
  return builder.Finish().ValueOrDie();
}

std::string EventJson(int line, const std::string& time, const char* transaction = nullptr) {
  std::string json = R"({"source_id":"s","source_line":)" + std::to_string(line) + R"(,"timestamp":")" + time +
                     R"(","visitor_id":"v)" + std::to_string(line) + R"(","event_type":")" +
                     (transaction ? "transaction" : "view") + R"(","item_id":"i","device":"mobile")";
  if (transaction) json += R"(,"transaction_id":")" + std::string(transaction) + "\"";
  return json + "}";
}

PartitionBatchData Batch(int32_t partition, int64_t first, int64_t count) {
  PartitionBatchData batch;
  batch.partition = partition;
  batch.first_offset = first;
  batch.last_offset = first + count - 1;
  std::vector<std::string> events;
  for (int64_t i = 0; i < count; ++i) events.push_back(EventJson(static_cast<int>(first + i) + 2, "2015-05-31 10:00:00"));
  batch.rows_by_day = {{kDay, Rows(partition, first, events)}};
  return batch;
}

arrow::Result<std::unique_ptr<DeltaTableSink>> OpenTable(const fs::path& path, int64_t checkpoint_interval = 10) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenLocalDatasetStore(path.string()));
  return DeltaTableSink::Open(DeltaTableOptions{"events", "group", DateColumn::kInPath, checkpoint_interval},
                              std::move(store));
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(DeltaLog, CommitsRoundTripThroughTheirJson) {
  Commit commit;
  commit.protocol = Protocol{};
  commit.metadata = Metadata{"id-1", TableSchemaString(), {"event_date"}, {{"k", "v"}}, 5};
  commit.txns.push_back(Txn{"app-0", 41, 7});
  commit.adds.push_back(AddFile{"event_date=2015-05-31/a b.parquet", {{"event_date", "2015-05-31"}}, 10, 11, true,
                                R"({"numRecords":1})"});
  commit.removes.push_back(RemoveFile{"old.parquet", 12, false, {}, 99});
  ASSERT_OK_AND_ASSIGN(const Commit parsed, ParseCommit(FormatCommit(commit)));
  ASSERT_TRUE(parsed.metadata);
  EXPECT_EQ(parsed.metadata->schema_string, TableSchemaString());
  EXPECT_EQ(parsed.metadata->partition_columns, std::vector<std::string>{"event_date"});
  ASSERT_EQ(parsed.txns.size(), 1u);
  EXPECT_EQ(parsed.txns[0].version, 41);
  ASSERT_EQ(parsed.adds.size(), 1u);
  EXPECT_EQ(parsed.adds[0].path, "event_date=2015-05-31/a b.parquet");
  EXPECT_NE(FormatCommit(commit).find("a%20b.parquet"), std::string::npos);
  EXPECT_EQ(parsed.adds[0].stats, R"({"numRecords":1})");
  ASSERT_EQ(parsed.removes.size(), 1u);
  EXPECT_EQ(parsed.removes[0].size, 99);
  EXPECT_FALSE(parsed.removes[0].data_change);
}

TEST(DeltaLog, RefusesWhatItCannotRead) {
  EXPECT_TRUE(ParseCommit("{\"add\":{\"path\":1}}").status().IsInvalid());
  EXPECT_TRUE(ParseCommit("{not json").status().IsInvalid());
  EXPECT_TRUE(ParseCommit("{\"domainMetadata\":{\"domain\":\"x\"}}").status().IsInvalid());
  const auto vector = ParseCommit(
      R"({"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true,"deletionVector":{"storageType":"u"}}})");
  ASSERT_FALSE(vector.ok());
  EXPECT_NE(vector.status().message().find("deletion vector"), std::string::npos);
  EXPECT_TRUE(DecodePath("a%2").status().IsInvalid());
}

TEST(DeltaStats, AreExactIncludingTheLastMicrosecond) {
  auto rows = Rows(3, 100, {EventJson(2, "2015-05-31 10:00:00"), EventJson(3, "2015-05-31 23:59:59", "tx_9"),
                            EventJson(4, "2015-05-31 00:00:01")});
  ASSERT_OK_AND_ASSIGN(const std::string stats, FileStats({rows}));
  rapidjson::Document document;
  document.Parse(stats.c_str());
  ASSERT_FALSE(document.HasParseError()) << stats;
  EXPECT_EQ(document["numRecords"].GetInt64(), 3);
  EXPECT_STREQ(document["minValues"]["timestamp"].GetString(), "2015-05-31T00:00:01.000000Z");
  EXPECT_STREQ(document["maxValues"]["timestamp"].GetString(), "2015-05-31T23:59:59.000000Z");
  EXPECT_STREQ(document["minValues"]["visitor_id"].GetString(), "v2");
  EXPECT_STREQ(document["maxValues"]["visitor_id"].GetString(), "v4");
  EXPECT_EQ(document["minValues"]["kafka_offset"].GetInt64(), 100);
  EXPECT_EQ(document["maxValues"]["kafka_offset"].GetInt64(), 102);
  EXPECT_STREQ(document["minValues"]["transaction_id"].GetString(), "tx_9");
  EXPECT_EQ(document["nullCount"]["transaction_id"].GetInt64(), 2);
  EXPECT_EQ(document["nullCount"]["browser"].GetInt64(), 3);
  EXPECT_FALSE(document["minValues"].HasMember("browser"));  // no value, so no bound
  EXPECT_EQ(FormatStatsTimestamp(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(DeltaTableSink, CreatesTheTableAndResumesFromItsTxns) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto table, OpenTable(dir.path()));
    EXPECT_EQ(table->version(), 0);
    ASSERT_OK_AND_ASSIGN(auto resumes, table->Recover({0, 1}));
    EXPECT_FALSE(resumes[0].next_offset);
    ASSERT_OK_AND_ASSIGN(auto landed, table->Land({Batch(0, 0, 3), Batch(1, 10, 2)}, "20260101_000000_000"));
    EXPECT_EQ(landed.size(), 2u);
    EXPECT_EQ(landed[0].files, 1);  // both partitions' rows of the day share one file
    EXPECT_EQ(table->version(), 1);
  }
  ASSERT_OK_AND_ASSIGN(auto reopened, OpenTable(dir.path()));
  ASSERT_OK_AND_ASSIGN(auto resumes, reopened->Recover({0, 1, 2}));
  EXPECT_EQ(resumes[0].next_offset, 3);
  EXPECT_EQ(resumes[1].next_offset, 12);
  EXPECT_FALSE(resumes[2].next_offset);
}

TEST(DeltaTableSink, AMemberWhosePartitionMovedIsFencedAndOthersRetryTheNextVersion) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto stale, OpenTable(dir.path()));
  ASSERT_OK_AND_ASSIGN(auto owner, OpenTable(dir.path()));
  ASSERT_TRUE(stale->Recover({0, 1}).ok());
  ASSERT_TRUE(owner->Recover({0}).ok());
  ASSERT_TRUE(owner->Land({Batch(0, 0, 5)}, "20260101_000000_000").ok());
  // Partition 1 was not touched by the other member: the lost race is retried at the next version.
  ASSERT_TRUE(stale->Land({Batch(1, 0, 5)}, "20260101_000000_001").ok());
  EXPECT_EQ(stale->version(), 2);
  // Partition 0 moved from where this member recovered it: fenced, and nothing of it committed.
  const auto fenced = stale->Land({Batch(0, 0, 5)}, "20260101_000000_002");
  ASSERT_FALSE(fenced.ok());
  EXPECT_TRUE(IsFenced(fenced.status())) << fenced.status().ToString();
  ASSERT_OK_AND_ASSIGN(auto check, OpenTable(dir.path()));
  EXPECT_EQ(check->version(), 2);
  ASSERT_OK_AND_ASSIGN(auto resumes, check->Recover({0, 1}));
  EXPECT_EQ(resumes[0].next_offset, 5);
  EXPECT_EQ(resumes[1].next_offset, 5);
}

TEST(DeltaTableSink, RecoversFromACheckpointAfterOlderCommitsAreGone) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto table, OpenTable(dir.path(), 2));
    ASSERT_TRUE(table->Recover({0}).ok());
    for (int round = 0; round < 4; ++round) {
      ASSERT_TRUE(table->Land({Batch(0, round * 10, 10)}, "20260101_000000_00" + std::to_string(round)).ok());
    }
  }
  ASSERT_TRUE(fs::exists(dir.path() / CheckpointPath(4)));
  for (int version = 0; version <= 4; ++version) fs::remove(dir.path() / CommitPath(version));
  ASSERT_OK_AND_ASSIGN(auto store, OpenLocalDatasetStore(dir.path().string()));
  TableLog log(store.get());
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, log.Load());
  EXPECT_EQ(snapshot.version, 4);
  EXPECT_EQ(snapshot.files.size(), 4u);
  ASSERT_TRUE(snapshot.metadata);
  EXPECT_EQ(snapshot.metadata->schema_string, TableSchemaString());
  ASSERT_OK_AND_ASSIGN(auto table, OpenTable(dir.path()));
  ASSERT_OK_AND_ASSIGN(auto resumes, table->Recover({0}));
  EXPECT_EQ(resumes[0].next_offset, 40);
}

TEST(DeltaTableSink, RefusesTablesItCannotAppendTo) {
  const std::string schema = TableSchemaString();
  const auto metadata = [](const std::string& schema_string, const std::string& partitions) {
    return R"({"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":)" + schema_string +
           R"(,"partitionColumns":)" + partitions + R"(,"configuration":{}}})";
  };
  const auto quoted = [](const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
      if (c == '"') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  struct Case {
    std::string name;
    std::vector<std::pair<int, std::string>> commits;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"features",
       {{0, R"({"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}})"
                "\n" + metadata(quoted(schema), R"(["event_date"])")}},
       "deletionVectors"},
      {"schema",
       {{0, R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
                "\n" + metadata(quoted(R"({"type":"struct","fields":[{"name":"source_id","type":"long","nullable":true,"metadata":{}}]})"),
                                R"(["event_date"])")}},
       "column \"source_id\" is long"},
      {"partitioning",
       {{0, R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
                "\n" + metadata(quoted(schema), "[]")}},
       "partitioned by []"},
      {"gap",
       {{0, R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
                "\n" + metadata(quoted(schema), R"(["event_date"])")},
        {2, R"({"txn":{"appId":"a","version":1}})"}},
       "version 1 is missing"},
      {"no start", {{3, R"({"txn":{"appId":"a","version":1}})"}}, "starts at version 3"},
      {"corrupt",
       {{0, R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
                "\n" + metadata(quoted(schema), R"(["event_date"])")},
        {1, "{\"txn\":"}},
       "commit 1"},
  };
  for (const Case& test : cases) {
    TempDir dir;
    for (const auto& [version, text] : test.commits) WriteFile(dir.path() / CommitPath(version), text);
    const auto table = OpenTable(dir.path());
    ASSERT_FALSE(table.ok()) << test.name;
    EXPECT_TRUE(table.status().IsInvalid()) << test.name;
    EXPECT_NE(table.status().message().find(test.expected), std::string::npos)
        << test.name << ": " << table.status().message();
  }
}

TEST(LocalStore, CreateExclusiveNeverReplaces) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, OpenLocalDatasetStore(dir.path().string()));
  ASSERT_OK_AND_ASSIGN(const bool first, store->CreateExclusive(NewFile{"_delta_log/0.json", arrow::Buffer::FromString("a")}));
  ASSERT_OK_AND_ASSIGN(const bool second, store->CreateExclusive(NewFile{"_delta_log/0.json", arrow::Buffer::FromString("b")}));
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  std::ifstream in(dir.path() / "_delta_log/0.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "a");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path() / "_delta_log")) ++entries;
  EXPECT_EQ(entries, 1u);  // no temp file left behind
}

// --- compaction and vacuum of a table ---

AddFile Add(const std::string& path, const std::string& day, int64_t size, int64_t modified) {
  AddFile add;
  add.path = path;
  if (!day.empty()) add.partition_values["event_date"] = day;
  add.size = size;
  add.modification_time = modified;
  return add;
}

Snapshot SnapshotOf(const std::vector<AddFile>& adds) {
  Snapshot snapshot;
  Commit commit;
  commit.adds = adds;
  snapshot.Apply(0, commit);
  return snapshot;
}

std::vector<std::string> PathsOf(const PlannedRewrite& rewrite) {
  std::vector<std::string> paths;
  for (const AddFile& input : rewrite.inputs) paths.push_back(input.path);
  return paths;
}

TEST(DeltaCompactionPlan, RewritesEachDaysSmallFilesOldestFirstAndCutsAtTheTarget) {
  const Snapshot snapshot = SnapshotOf({
      Add("d1/c", "2015-06-01", 40, 300), Add("d1/a", "2015-06-01", 40, 100), Add("d1/b", "2015-06-01", 40, 200),
      Add("d1/big", "2015-06-01", 100, 50),   // at the target: left alone
      Add("d1/d", "2015-06-01", 40, 400),     // cut: a, b fill 80 of 100; c, d the next file
      Add("d2/only", "2015-06-02", 10, 100),  // alone in its day: rewriting it would copy it
      Add("d3/x", "2015-06-03", 10, 100), Add("d3/y", "2015-06-03", 10, 5000),  // d3 is too young
  });
  const auto plan = PlanTableCompaction(snapshot, 100, /*cutoff_ms=*/1000);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(PathsOf(plan[0]), (std::vector<std::string>{"d1/a", "d1/b"}));
  EXPECT_EQ(PathsOf(plan[1]), (std::vector<std::string>{"d1/c", "d1/d"}));
  EXPECT_EQ(plan[0].partition_values.at("event_date"), "2015-06-01");
  // Files excluded (another writer's columns) are left out of the plan.
  const auto without = PlanTableCompaction(snapshot, 100, 1000, {"d1/a"});
  ASSERT_EQ(without.size(), 1u);
  EXPECT_EQ(PathsOf(without[0]), (std::vector<std::string>{"d1/b", "d1/c"}));
}

TEST(DeltaCompactionPlan, TheFlatLayoutIsOneGroup) {
  const Snapshot snapshot = SnapshotOf({Add("a", "", 10, 1), Add("b", "", 10, 2), Add("c", "", 10, 3)});
  const auto plan = PlanTableCompaction(snapshot, 1000, 1000);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(PathsOf(plan[0]), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(plan[0].partition_values.empty());
}

TEST(DeltaCompactionPlan, ARewriteConflictsOnlyWhenOneOfItsInputsWasRemoved) {
  Snapshot snapshot = SnapshotOf({Add("a", "", 10, 1), Add("b", "", 10, 2)});
  const auto plan = PlanTableCompaction(snapshot, 1000, 1000);
  ASSERT_EQ(plan.size(), 1u);
  Commit append;  // a consumer's round: new files only
  append.adds = {Add("c", "", 10, 3)};
  append.txns = {Txn{"clickstream-g-t-0", 41, 3}};
  snapshot.Apply(1, append);
  EXPECT_TRUE(StillCommittable(snapshot, plan[0]));
  Commit other_compaction;
  other_compaction.removes = {RemoveFile{"b", 4, false, {}, 10}};
  other_compaction.adds = {Add("bc", "", 20, 4)};
  snapshot.Apply(2, other_compaction);
  EXPECT_FALSE(StillCommittable(snapshot, plan[0]));
}

TEST(DeltaVacuumPlan, DeletesOnlyUnreferencedFilesPastTheRetention) {
  Snapshot snapshot = SnapshotOf({Add("live.parquet", "", 10, 1)});
  Commit compaction;
  compaction.removes = {RemoveFile{"old-removed.parquet", 100, false, {}, 10},
                        RemoveFile{"new-removed.parquet", 900, false, {}, 10}};
  snapshot.Apply(1, compaction);
  const auto at = [](int64_t ms) { return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)); };
  const std::vector<StoredFile> listing = {
      {"live.parquet", 10, at(1)},
      {"old-removed.parquet", 10, at(1)},
      {"new-removed.parquet", 10, at(1)},  // modified long ago, but removed within the retention
      {"event_date=2015-06-01/orphan.parquet", 10, at(100)},
      {"young-orphan.parquet", 10, at(900)},
      {".part-x.parquet.tmp", 10, at(100)},  // a write a crash interrupted
      {"notes.txt", 10, at(1)},
      {"_hidden.parquet", 10, at(1)},
  };
  int64_t young = 0;
  const auto plan = PlanVacuum(snapshot, listing, /*cutoff_ms=*/500, &young);
  std::vector<std::string> paths;
  for (const auto& candidate : plan) paths.push_back(candidate.path + (candidate.removed_from_table ? " removed" : ""));
  EXPECT_EQ(paths, (std::vector<std::string>{"old-removed.parquet removed", "event_date=2015-06-01/orphan.parquet",
                                             ".part-x.parquet.tmp"}));
  EXPECT_EQ(young, 2);
}

TEST(DeltaStats, FoldedBatchByBatchEqualTheOneShotStats) {
  const auto first = Rows(0, 0, {EventJson(2, "2015-05-31 10:00:00"), EventJson(3, "2015-05-31 11:00:00", "t1")});
  const auto second = Rows(1, 7, {EventJson(1, "2015-05-31 09:00:00"), EventJson(9, "2015-05-31 12:00:00")});
  ASSERT_OK_AND_ASSIGN(const std::string one_shot, FileStats({first, second}));
  FileStatsBuilder builder;
  {
    // Each batch is dropped once folded: the bounds must not point into it.
    auto copy = Rows(0, 0, {EventJson(2, "2015-05-31 10:00:00"), EventJson(3, "2015-05-31 11:00:00", "t1")});
    ASSERT_TRUE(builder.Add(*copy).ok());
  }
  ASSERT_TRUE(builder.Add(*second).ok());
  ASSERT_OK_AND_ASSIGN(const std::string folded, builder.Finish());
  EXPECT_EQ(folded, one_shot);
}

TEST(DeltaTableCompaction, OneCommitReplacesTheSmallFilesAndKeepsEveryTxn) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto table, OpenTable(dir.path()));
    ASSERT_TRUE(table->Recover({0, 1}).ok());
    for (int round = 0; round < 4; ++round) {
      ASSERT_TRUE(table->Land({Batch(0, round * 5, 5), Batch(1, round * 3, 3)},
                              "20260101_000000_00" + std::to_string(round)).ok());
    }
  }
  ASSERT_OK_AND_ASSIGN(auto store, OpenLocalDatasetStore(dir.path().string()));
  TableCompactionOptions options;
  options.min_age = std::chrono::seconds(0);
  ASSERT_OK_AND_ASSIGN(const auto summary, CompactTable(store.get(), options));
  EXPECT_EQ(summary.version_read, 4);
  EXPECT_EQ(summary.version_committed, 5);
  EXPECT_EQ(summary.files_removed, 4);
  EXPECT_EQ(summary.files_added, 1);
  EXPECT_EQ(summary.files_after, 1);

  TableLog log(store.get());
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, log.Load());
  ASSERT_EQ(snapshot.files.size(), 1u);
  const AddFile& compacted = snapshot.files.begin()->second;
  EXPECT_FALSE(compacted.data_change);
  EXPECT_EQ(compacted.size, static_cast<int64_t>(fs::file_size(dir.path() / compacted.path)));
  EXPECT_NE(compacted.stats.find("\"numRecords\":32"), std::string::npos) << compacted.stats;
  EXPECT_EQ(snapshot.tombstones.size(), 4u);
  EXPECT_EQ(snapshot.txns.at(TxnAppId("group", "events", 0)).version, 19);
  EXPECT_EQ(snapshot.txns.at(TxnAppId("group", "events", 1)).version, 11);
  std::ifstream commit_file(dir.path() / CommitPath(5));
  const std::string commit_text((std::istreambuf_iterator<char>(commit_file)), std::istreambuf_iterator<char>());
  ASSERT_OK_AND_ASSIGN(const Commit commit, ParseCommit(commit_text));
  EXPECT_TRUE(commit.txns.empty());
  for (const RemoveFile& remove : commit.removes) {
    EXPECT_FALSE(remove.data_change);
    EXPECT_TRUE(remove.size.has_value());
  }

  // A second run finds nothing to do; a consumer lands after it as before.
  ASSERT_OK_AND_ASSIGN(const auto again, CompactTable(store.get(), options));
  EXPECT_EQ(again.version_committed, -1);
  ASSERT_OK_AND_ASSIGN(auto table, OpenTable(dir.path()));
  ASSERT_OK_AND_ASSIGN(auto resumes, table->Recover({0, 1}));
  EXPECT_EQ(resumes[0].next_offset, 20);
  EXPECT_EQ(resumes[1].next_offset, 12);

  // Vacuum at zero retention deletes the replaced files only, and only when asked for it.
  VacuumOptions vacuum;
  vacuum.retention = std::chrono::seconds(0);
  EXPECT_TRUE(VacuumTable(store.get(), vacuum).status().IsInvalid());
  vacuum.allow_short_retention = true;
  ASSERT_OK_AND_ASSIGN(const auto vacuumed, VacuumTable(store.get(), vacuum));
  EXPECT_EQ(vacuumed.deleted.size(), 4u);
  EXPECT_TRUE(fs::exists(dir.path() / compacted.path));
}

// A store that, the first time a commit is created, lets another writer commit that version first.
class RacingStore final : public DatasetStore {
 public:
  RacingStore(std::unique_ptr<DatasetStore> inner, std::function<void(DatasetStore*, const NewFile&)> first)
      : inner_(std::move(inner)), first_(std::move(first)) {}
  std::string Describe() const override { return inner_->Describe(); }
  arrow::Result<std::vector<StoredFile>> List() override { return inner_->List(); }
  arrow::Status Publish(const std::vector<std::vector<NewFile>>& generations) override {
    return inner_->Publish(generations);
  }
  arrow::Status Remove(const std::string& path) override { return inner_->Remove(path); }
  arrow::Result<bool> CreateExclusive(const NewFile& file) override {
    if (first_) std::exchange(first_, nullptr)(inner_.get(), file);
    return inner_->CreateExclusive(file);
  }
  std::shared_ptr<arrow::fs::FileSystem> filesystem() const override { return inner_->filesystem(); }
  std::string root() const override { return inner_->root(); }

 private:
  std::unique_ptr<DatasetStore> inner_;
  std::function<void(DatasetStore*, const NewFile&)> first_;
};

TEST(DeltaTableCompaction, GivesUpARewriteWhoseInputAnotherWriterRemovedAndCommitsTheRestLater) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto table, OpenTable(dir.path()));
    ASSERT_TRUE(table->Recover({0}).ok());
    for (int round = 0; round < 2; ++round) {
      PartitionBatchData batch;
      batch.partition = 0;
      batch.first_offset = round * 4;
      batch.last_offset = round * 4 + 3;
      batch.rows_by_day = {
          {kDay, Rows(0, round * 4, {EventJson(round * 4 + 2, "2015-05-31 10:00:00"),
                                     EventJson(round * 4 + 3, "2015-05-31 11:00:00")})},
          {kDay + 1, Rows(0, round * 4 + 2, {EventJson(round * 4 + 4, "2015-06-01 10:00:00"),
                                             EventJson(round * 4 + 5, "2015-06-01 11:00:00")})}};
      ASSERT_TRUE(table->Land({batch}, "20260101_000000_00" + std::to_string(round)).ok());
    }
  }
  ASSERT_OK_AND_ASSIGN(auto local, OpenLocalDatasetStore(dir.path().string()));
  std::string taken_away;  // a 2015-05-31 file another compaction removes first
  RacingStore store(std::move(local), [&taken_away](DatasetStore* inner, const NewFile&) {
    TableLog log(inner);
    const Snapshot snapshot = log.Load().ValueOrDie();
    Commit other;
    for (const auto& [path, add] : snapshot.files) {
      if (add.partition_values.at("event_date") == "2015-05-31" && taken_away.empty()) taken_away = path;
    }
    other.removes = {RemoveFile{taken_away, NowMillis(), false, {{"event_date", "2015-05-31"}}, std::nullopt}};
    ASSERT_TRUE(log.TryCommit(snapshot.version + 1, other).ValueOrDie());
  });
  TableCompactionOptions options;
  options.min_age = std::chrono::seconds(0);
  ASSERT_OK_AND_ASSIGN(const auto summary, CompactTable(&store, options));
  EXPECT_EQ(summary.version_read, 2);
  EXPECT_EQ(summary.version_committed, 4);  // 3 was the other writer's
  EXPECT_EQ(summary.rewrites_given_up, 1);
  EXPECT_EQ(summary.files_removed, 2);
  EXPECT_EQ(summary.files_added, 1);

  TableLog log(&store);
  ASSERT_OK_AND_ASSIGN(const Snapshot snapshot, log.Load());
  int compacted = 0;
  for (const auto& [path, add] : snapshot.files) {
    compacted += !add.data_change;
    if (!add.data_change) {
      EXPECT_EQ(add.partition_values.at("event_date"), "2015-06-01");
    }
  }
  EXPECT_EQ(compacted, 1);
  EXPECT_EQ(snapshot.files.size(), 2u);  // the 2015-05-31 file left, and the compacted 2015-06-01 one
  // The given-up rewrite's file is deleted: nothing ever referenced it.
  int on_disk = 0;
  for (const auto& entry : fs::directory_iterator(dir.path() / "event_date=2015-05-31")) on_disk += entry.is_regular_file();
  EXPECT_EQ(on_disk, 2);
}

}  // namespace
}  // namespace clickstream::sink::delta
