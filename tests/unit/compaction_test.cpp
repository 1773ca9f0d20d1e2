#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/metadata.h>

#include "event/landed_schema.h"
#include "sink/parquet/compaction.h"
#include "sink/parquet/dataset_store.h"
#include "sink/parquet/landed_files.h"
#include "sink/parquet/parquet_dataset.h"
#include "result_assertions.h"
#include "temp_dir.h"

namespace clickstream::sink {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("compaction-test") {}
};

// Rows of the landed schema whose values follow from `seed`, built from the column types alone so
// the test does not depend on which columns the schema has.
std::shared_ptr<arrow::Array> MakeColumn(const std::shared_ptr<arrow::DataType>& type, int64_t rows, int64_t seed) {
  std::unique_ptr<arrow::ArrayBuilder> builder;
  if (type->id() == arrow::Type::DICTIONARY) {
    const auto& dictionary_type = static_cast<const arrow::DictionaryType&>(*type);
    auto dictionary = MakeColumn(dictionary_type.value_type(), 3, seed);
    arrow::Int32Builder indices;
    for (int64_t i = 0; i < rows; ++i) EXPECT_TRUE(indices.Append(static_cast<int32_t>((seed + i) % 3)).ok());
    return arrow::DictionaryArray::FromArrays(type, indices.Finish().ValueOrDie(), dictionary).ValueOrDie();
  }
  EXPECT_TRUE(arrow::MakeBuilder(arrow::default_memory_pool(), type, &builder).ok());
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t value = seed * 1000 + i;
    arrow::Status status;
    switch (type->id()) {
      case arrow::Type::STRING:
        status = static_cast<arrow::StringBuilder&>(*builder).Append("v" + std::to_string(value));
        break;
      case arrow::Type::INT32:
        status = static_cast<arrow::Int32Builder&>(*builder).Append(static_cast<int32_t>(value));
        break;
      case arrow::Type::INT64:
        status = static_cast<arrow::Int64Builder&>(*builder).Append(value);
        break;
      case arrow::Type::TIMESTAMP:
        status = static_cast<arrow::TimestampBuilder&>(*builder).Append(1'433'116'800'000'000 + value);
        break;
      case arrow::Type::DATE32:
        status = static_cast<arrow::Date32Builder&>(*builder).Append(16587);
        break;
      default:
        ADD_FAILURE() << "no test values for " << type->ToString();
    }
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  return builder->Finish().ValueOrDie();
}

std::shared_ptr<arrow::RecordBatch> MakeRows(int64_t rows, int64_t seed) {
  const auto schema = LandedSchema(DateColumn::kInPath);
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& field : schema->fields()) columns.push_back(MakeColumn(field->type(), rows, seed));
  return arrow::RecordBatch::Make(schema, rows, columns);
}

// One batch of `partition` with `rows` rows in each of the days.
PartitionBatchData Batch(int32_t partition, int64_t first, int64_t last, const std::vector<int32_t>& days) {
  PartitionBatchData batch;
  batch.partition = partition;
  batch.first_offset = first;
  batch.last_offset = last;
  for (int32_t day : days) batch.rows_by_day.emplace_back(day, MakeRows(10, first + day));
  return batch;
}

struct Dataset {
  explicit Dataset(const fs::path& root)
      : store(OpenLocalDatasetStore(root.string()).ValueOrDie()),
        writer(DatasetOptions{DateColumn::kInPath, "events"}, store.get()) {}
  void Land(const PartitionBatchData& batch) { ASSERT_TRUE(writer.WriteGroup({batch}, "20260101_120000_000").ok()); }
  std::unique_ptr<DatasetStore> store;
  ParquetDatasetWriter writer;
};

// Rows per file name kind, read back with Parquet.
std::map<std::string, int64_t> RowsByDay(const fs::path& root) {
  std::map<std::string, int64_t> rows;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".parquet") continue;
    auto input = arrow::io::ReadableFile::Open(entry.path().string()).ValueOrDie();
    auto reader = parquet::arrow::OpenFile(input, arrow::default_memory_pool()).ValueOrDie();
    rows[entry.path().parent_path().filename().string()] += reader->parquet_reader()->metadata()->num_rows();
  }
  return rows;
}

std::set<std::string> FileNames(const fs::path& directory) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.insert(entry.path().filename().string());
  return names;
}

constexpr int32_t kDay1 = 16587;  // 2015-06-01
constexpr int32_t kDay2 = 16588;

TEST(CompactDataset, RewritesCompleteBatchesAndKeepsTheResumePoints) {
  TempDir dir;
  const fs::path root = dir.path() / "landed";
  {
    Dataset dataset(root);
    dataset.Land(Batch(0, 0, 9, {kDay1}));
    dataset.Land(Batch(0, 10, 19, {kDay1, kDay2}));
    dataset.Land(Batch(0, 20, 29, {kDay1, kDay2}));
    dataset.Land(Batch(1, 0, 9, {kDay1}));  // alone in its day: nothing to gain
  }
  // A batch killed between its two renames: only its first part landed.
  const std::string incomplete = "clickstream_20260101_120000_000_p0_o30-39_1of2.parquet";
  fs::copy_file(root / "event_date=2015-06-01" / "clickstream_20260101_120000_000_p0_o0-9_1of1.parquet",
                root / "event_date=2015-06-01" / incomplete);
  const auto rows_before = RowsByDay(root);

  CompactionOptions options;
  options.min_age = std::chrono::seconds(0);
  ASSERT_OK_AND_ASSIGN(const CompactionSummary summary, CompactDataset(root.string(), options));
  EXPECT_EQ(summary.days_compacted, 2);
  EXPECT_EQ(summary.files_before, 7);
  EXPECT_EQ(summary.files_after, 4);  // day 1: compacted, partition 1, the incomplete part; day 2: compacted
  EXPECT_EQ(RowsByDay(root), rows_before);
  EXPECT_FALSE(fs::exists(dir.path() / ".landed.compacting"));

  std::set<std::string> day1 = FileNames(root / "event_date=2015-06-01");
  EXPECT_EQ(day1.count(incomplete), 1u);
  EXPECT_EQ(day1.count("clickstream_20260101_120000_000_p1_o0-9_1of1.parquet"), 1u);
  int compacted = 0;
  for (const std::string& name : day1) {
    const auto parsed = ParseLandedFileName(name);
    if (parsed && parsed->kind == LandedFileKind::kCompacted) {
      ++compacted;
      EXPECT_EQ(parsed->first_offset, 0);
      EXPECT_EQ(parsed->last_offset, 29);
    }
  }
  EXPECT_EQ(compacted, 1);

  // Recovery still redoes the incomplete batch and keeps everything compacted.
  ASSERT_OK_AND_ASSIGN(auto store, OpenLocalDatasetStore(root.string()));
  ASSERT_OK_AND_ASSIGN(auto recoveries, RecoverPartitions(store.get(), {0, 1}));
  EXPECT_EQ(recoveries[0].resume_offset, 30);
  EXPECT_EQ(recoveries[0].removed_files, 1);
  EXPECT_EQ(recoveries[1].resume_offset, 10);

  // The compacted file lists the batch parts it holds, for tracing.
  for (const std::string& name : day1) {
    if (!name.ends_with("_compacted.parquet")) continue;
    auto input = arrow::io::ReadableFile::Open((root / "event_date=2015-06-01" / name).string()).ValueOrDie();
    auto reader = parquet::arrow::OpenFile(input, arrow::default_memory_pool()).ValueOrDie();
    const auto kv = reader->parquet_reader()->metadata()->key_value_metadata();
    EXPECT_EQ(kv->Get(metadata_key::kCompactedBatches).ValueOrDie(), "0-9:1/1,10-19:1/2,20-29:1/2");
    EXPECT_EQ(kv->Get(metadata_key::kTopic).ValueOrDie(), "events");
  }

  // Nothing left to do: nothing changes.
  const auto names_day1 = FileNames(root / "event_date=2015-06-01");
  ASSERT_OK_AND_ASSIGN(const CompactionSummary again, CompactDataset(root.string(), options));
  EXPECT_EQ(again.days_compacted, 0);
  EXPECT_EQ(FileNames(root / "event_date=2015-06-01"), names_day1);
}

// Every value of a column, as text, in row order (dictionary columns by their values).
std::vector<std::string> ColumnTexts(const arrow::ChunkedArray& column) {
  std::vector<std::string> texts;
  for (const auto& chunk : column.chunks()) {
    for (int64_t i = 0; i < chunk->length(); ++i) {
      auto scalar = chunk->GetScalar(i).ValueOrDie();
      if (scalar->is_valid && scalar->type->id() == arrow::Type::DICTIONARY) {
        scalar = static_cast<const arrow::DictionaryScalar&>(*scalar).GetEncodedValue().ValueOrDie();
      }
      texts.push_back(scalar->is_valid ? scalar->ToString() : "null");
    }
  }
  return texts;
}

std::shared_ptr<arrow::Table> ReadParquet(const fs::path& path) {
  auto input = arrow::io::ReadableFile::Open(path.string()).ValueOrDie();
  auto reader = parquet::arrow::OpenFile(input, arrow::default_memory_pool()).ValueOrDie();
  std::shared_ptr<arrow::Table> table;
  EXPECT_TRUE(reader->ReadTable(&table).ok());
  return table;
}

TEST(CompactDataset, DictionaryColumnsStayDictionaryEncodedThoughEachInputHasItsOwnDictionary) {
  TempDir dir;
  const fs::path day = dir.path() / "event_date=2015-06-01";
  {
    Dataset dataset(dir.path());
    // Each batch's seed gives its dictionary columns other values, in another order.
    for (int64_t first : {0, 10, 20, 30}) dataset.Land(Batch(0, first, first + 9, {kDay1}));
  }
  std::map<int64_t, std::shared_ptr<arrow::Table>> inputs;  // by first offset
  for (const std::string& name : FileNames(day)) {
    inputs[ParseLandedFileName(name)->first_offset] = ReadParquet(day / name);
  }

  CompactionOptions options;
  options.min_age = std::chrono::seconds(0);
  ASSERT_OK_AND_ASSIGN(const CompactionSummary summary, CompactDataset(dir.path().string(), options));
  ASSERT_EQ(summary.files_after, 1);
  const fs::path compacted = day / *FileNames(day).begin();
  const auto table = ReadParquet(compacted);
  const auto landed_schema = LandedSchema(DateColumn::kInPath);
  ASSERT_TRUE(table->schema()->Equals(*landed_schema, /*check_metadata=*/false)) << table->schema()->ToString();

  auto input = arrow::io::ReadableFile::Open(compacted.string()).ValueOrDie();
  auto reader = parquet::arrow::OpenFile(input, arrow::default_memory_pool()).ValueOrDie();
  const auto metadata = reader->parquet_reader()->metadata();
  int dictionary_columns = 0;
  for (int i = 0; i < landed_schema->num_fields(); ++i) {
    const auto& field = landed_schema->field(i);
    // The same values in the same (offset) order as the inputs.
    std::vector<std::string> expected;
    for (const auto& [first_offset, rows] : inputs) {
      const auto texts = ColumnTexts(*rows->GetColumnByName(field->name()));
      expected.insert(expected.end(), texts.begin(), texts.end());
    }
    EXPECT_EQ(ColumnTexts(*table->column(i)), expected) << field->name();
    if (field->type()->id() != arrow::Type::DICTIONARY) continue;
    ++dictionary_columns;
    // Every data page refers to the one dictionary page: no fallback to plain values.
    const auto row_group = metadata->RowGroup(0);
    const auto column = row_group->ColumnChunk(i);
    for (const parquet::PageEncodingStats& stats : column->encoding_stats()) {
      if (stats.page_type == parquet::PageType::DICTIONARY_PAGE) continue;
      EXPECT_TRUE(stats.encoding == parquet::Encoding::RLE_DICTIONARY ||
                  stats.encoding == parquet::Encoding::PLAIN_DICTIONARY)
          << field->name() << ": a data page in " << parquet::EncodingToString(stats.encoding);
    }
  }
  EXPECT_GT(dictionary_columns, 0);
}

TEST(CompactDataset, YoungDaysAreLeftAlone) {
  TempDir dir;
  {
    Dataset dataset(dir.path());
    dataset.Land(Batch(0, 0, 9, {kDay1}));
    dataset.Land(Batch(0, 10, 19, {kDay1}));
  }
  const auto before = FileNames(dir.path() / "event_date=2015-06-01");
  ASSERT_OK_AND_ASSIGN(const CompactionSummary summary, CompactDataset(dir.path().string(), CompactionOptions{}));
  EXPECT_EQ(summary.days_compacted, 0);
  EXPECT_EQ(FileNames(dir.path() / "event_date=2015-06-01"), before);
}

TEST(CompactDataset, BadInputIsInvalidAndChangesNothing) {
  TempDir dir;
  EXPECT_TRUE(CompactDataset("s3://bucket/prefix", CompactionOptions{}).status().IsInvalid());
  EXPECT_TRUE(CompactDataset((dir.path() / "absent").string(), CompactionOptions{}).status().IsInvalid());
  EXPECT_FALSE(fs::exists(dir.path() / "absent"));
}

TEST(CompactDataset, TheFlatLayoutSwapsItsRoot) {
  TempDir dir;
  const fs::path flat = dir.path() / "flat";
  {
    auto store = OpenLocalDatasetStore(flat.string()).ValueOrDie();
    ParquetDatasetWriter writer(DatasetOptions{DateColumn::kInFile, "events"}, store.get());
    const auto schema = LandedSchema(DateColumn::kInFile);
    for (int64_t first : {0, 10, 20}) {
      PartitionBatchData batch;
      batch.first_offset = first;
      batch.last_offset = first + 9;
      std::vector<std::shared_ptr<arrow::Array>> columns;
      for (const auto& field : schema->fields()) columns.push_back(MakeColumn(field->type(), 10, first));
      batch.rows_by_day = {{0, arrow::RecordBatch::Make(schema, 10, columns)}};
      ASSERT_TRUE(writer.WriteGroup({batch}, "20260101_120000_000").ok());
    }
  }
  CompactionOptions options;
  options.min_age = std::chrono::seconds(0);
  ASSERT_OK_AND_ASSIGN(const CompactionSummary summary, CompactDataset(flat.string(), options));
  EXPECT_EQ(summary.days_compacted, 1);
  EXPECT_EQ(summary.files_before, 3);
  EXPECT_EQ(summary.files_after, 1);
  std::vector<std::string> landed;
  for (const std::string& name : FileNames(flat)) {
    if (!name.starts_with(".")) landed.push_back(name);
  }
  ASSERT_EQ(landed.size(), 1u);
  const auto parsed = ParseLandedFileName(landed.front());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->kind, LandedFileKind::kCompacted);
  EXPECT_EQ(parsed->last_offset, 29);
  EXPECT_EQ(RowsByDay(dir.path()).at("flat"), 30);
  ASSERT_OK_AND_ASSIGN(auto store, OpenLocalDatasetStore(flat.string()));
  ASSERT_OK_AND_ASSIGN(auto recoveries, RecoverPartitions(store.get(), {0}));
  EXPECT_EQ(recoveries[0].resume_offset, 30);
}

}  // namespace
}  // namespace clickstream::sink
