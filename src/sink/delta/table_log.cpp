#include "sink/delta/table_log.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <map>
#include <optional>
#include <set>

#include <arrow/api.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/io/memory.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "common/crash_point.h"

namespace clickstream::sink::delta {

namespace {

constexpr size_t kVersionDigits = 20;

std::string VersionName(int64_t version) {
  char text[32];
  std::snprintf(text, sizeof(text), "%020lld", static_cast<long long>(version));
  return text;
}

// The version of "00000000000000000042<suffix>", or nullopt for any other name.
std::optional<int64_t> VersionOf(std::string_view name, std::string_view suffix) {
  if (name.size() != kVersionDigits + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  int64_t version = 0;
  for (size_t i = 0; i < kVersionDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    version = version * 10 + (name[i] - '0');
  }
  return version;
}

std::string Joined(const std::string& root, const std::string& path) {
  if (root.empty()) return path;
  return root.back() == '/' ? root + path : root + "/" + path;
}

// --- checkpoint schema (PROTOCOL.md, "Checkpoint Schema"): only the actions a reader 1 / writer 2
// snapshot holds ---

std::shared_ptr<arrow::DataType> StringMap() { return arrow::map(arrow::utf8(), arrow::utf8()); }

std::shared_ptr<arrow::Schema> CheckpointSchema() {
  auto txn = arrow::struct_({arrow::field("appId", arrow::utf8(), false), arrow::field("version", arrow::int64(), false),
                             arrow::field("lastUpdated", arrow::int64())});
  auto add = arrow::struct_({arrow::field("path", arrow::utf8(), false),
                             arrow::field("partitionValues", StringMap(), false),
                             arrow::field("size", arrow::int64(), false),
                             arrow::field("modificationTime", arrow::int64(), false),
                             arrow::field("dataChange", arrow::boolean(), false), arrow::field("stats", arrow::utf8())});
  auto remove = arrow::struct_({arrow::field("path", arrow::utf8(), false),
                                arrow::field("deletionTimestamp", arrow::int64()),
                                arrow::field("dataChange", arrow::boolean(), false),
                                arrow::field("extendedFileMetadata", arrow::boolean()),
                                arrow::field("partitionValues", StringMap()), arrow::field("size", arrow::int64())});
  auto format = arrow::struct_({arrow::field("provider", arrow::utf8(), false), arrow::field("options", StringMap())});
  auto metadata = arrow::struct_({arrow::field("id", arrow::utf8(), false), arrow::field("name", arrow::utf8()),
                                  arrow::field("description", arrow::utf8()), arrow::field("format", format, false),
                                  arrow::field("schemaString", arrow::utf8(), false),
                                  arrow::field("partitionColumns", arrow::list(arrow::utf8()), false),
                                  arrow::field("configuration", StringMap()),
                                  arrow::field("createdTime", arrow::int64())});
  auto protocol = arrow::struct_({arrow::field("minReaderVersion", arrow::int32(), false),
                                  arrow::field("minWriterVersion", arrow::int32(), false)});
  return arrow::schema({arrow::field("txn", txn), arrow::field("add", add), arrow::field("remove", remove),
                        arrow::field("metaData", metadata), arrow::field("protocol", protocol)});
}

enum CheckpointColumn { kTxnColumn, kAddColumn, kRemoveColumn, kMetadataColumn, kProtocolColumn, kColumnCount };

template <typename Builder>
Builder* Child(arrow::ArrayBuilder* parent, int index) {
  return static_cast<Builder*>(static_cast<arrow::StructBuilder*>(parent)->field_builder(index));
}

arrow::Status AppendString(arrow::ArrayBuilder* builder, std::string_view value) {
  return static_cast<arrow::StringBuilder*>(builder)->Append(value);
}
arrow::Status AppendInt64(arrow::ArrayBuilder* builder, std::optional<int64_t> value) {
  auto* numbers = static_cast<arrow::Int64Builder*>(builder);
  return value ? numbers->Append(*value) : numbers->AppendNull();
}
arrow::Status AppendMap(arrow::ArrayBuilder* builder, const std::map<std::string, std::string>& values) {
  auto* map = static_cast<arrow::MapBuilder*>(builder);
  ARROW_RETURN_NOT_OK(map->Append());
  for (const auto& [key, value] : values) {
    ARROW_RETURN_NOT_OK(AppendString(map->key_builder(), key));
    ARROW_RETURN_NOT_OK(AppendString(map->item_builder(), value));
  }
  return arrow::Status::OK();
}

// One checkpoint row: the named column holds the action, the other columns are null.
class CheckpointRows {
 public:
  static arrow::Result<CheckpointRows> Make() {
    CheckpointRows rows;
    rows.schema_ = CheckpointSchema();
    for (const auto& field : rows.schema_->fields()) {
      ARROW_ASSIGN_OR_RAISE(auto builder, arrow::MakeBuilder(field->type()));
      rows.columns_.push_back(std::move(builder));
    }
    return rows;
  }

  template <typename Fill>
  arrow::Status Append(CheckpointColumn column, Fill&& fill) {
    for (int c = 0; c < kColumnCount; ++c) {
      auto* builder = static_cast<arrow::StructBuilder*>(columns_[static_cast<size_t>(c)].get());
      if (c == column) {
        ARROW_RETURN_NOT_OK(builder->Append());
        ARROW_RETURN_NOT_OK(fill(builder));
      } else {
        ARROW_RETURN_NOT_OK(builder->AppendNull());
      }
    }
    ++rows_;
    return arrow::Status::OK();
  }

  arrow::Result<std::shared_ptr<arrow::Table>> Finish() {
    arrow::ArrayVector arrays;
    for (auto& builder : columns_) {
      ARROW_ASSIGN_OR_RAISE(auto array, builder->Finish());
      arrays.push_back(std::move(array));
    }
    return arrow::Table::Make(schema_, arrays, rows_);
  }

 private:
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> columns_;
  int64_t rows_ = 0;
};

// --- reading checkpoints: by field name, so another writer's checkpoint (with more fields) reads too ---

std::shared_ptr<arrow::Array> Field(const arrow::StructArray& array, const char* name) {
  return array.GetFieldByName(name);
}

std::string StringAt(const std::shared_ptr<arrow::Array>& array, int64_t row) {
  if (!array || array->IsNull(row)) return "";
  if (array->type_id() == arrow::Type::LARGE_STRING) {
    return std::string(static_cast<const arrow::LargeStringArray&>(*array).GetView(row));
  }
  return std::string(static_cast<const arrow::StringArray&>(*array).GetView(row));
}

std::optional<int64_t> Int64At(const std::shared_ptr<arrow::Array>& array, int64_t row) {
  if (!array || array->IsNull(row)) return std::nullopt;
  if (array->type_id() == arrow::Type::INT32) return static_cast<const arrow::Int32Array&>(*array).Value(row);
  return static_cast<const arrow::Int64Array&>(*array).Value(row);
}

bool BoolAt(const std::shared_ptr<arrow::Array>& array, int64_t row) {
  return array && !array->IsNull(row) && static_cast<const arrow::BooleanArray&>(*array).Value(row);
}

std::map<std::string, std::string> MapAt(const std::shared_ptr<arrow::Array>& array, int64_t row) {
  std::map<std::string, std::string> values;
  if (!array || array->IsNull(row)) return values;
  const auto& map = static_cast<const arrow::MapArray&>(*array);
  for (int64_t i = map.value_offset(row); i < map.value_offset(row) + map.value_length(row); ++i) {
    values[StringAt(map.keys(), i)] = StringAt(map.items(), i);
  }
  return values;
}

std::vector<std::string> ListAt(const std::shared_ptr<arrow::Array>& array, int64_t row) {
  std::vector<std::string> values;
  if (!array || array->IsNull(row)) return values;
  const auto& list = static_cast<const arrow::ListArray&>(*array);
  for (int64_t i = list.value_offset(row); i < list.value_offset(row) + list.value_length(row); ++i) {
    values.push_back(StringAt(list.values(), i));
  }
  return values;
}

const arrow::StructArray* StructColumn(const arrow::RecordBatch& batch, const char* name) {
  auto column = batch.GetColumnByName(name);
  if (!column || column->type_id() != arrow::Type::STRUCT) return nullptr;
  return static_cast<const arrow::StructArray*>(column.get());
}

arrow::Status ReadCheckpointBatch(const arrow::RecordBatch& batch, Snapshot* snapshot) {
  const auto* txn = StructColumn(batch, "txn");
  const auto* add = StructColumn(batch, "add");
  const auto* remove = StructColumn(batch, "remove");
  const auto* metadata = StructColumn(batch, "metaData");
  const auto* protocol = StructColumn(batch, "protocol");
  for (int64_t row = 0; row < batch.num_rows(); ++row) {
    if (protocol && protocol->IsValid(row)) {
      Protocol read;
      read.min_reader_version = static_cast<int32_t>(Int64At(Field(*protocol, "minReaderVersion"), row).value_or(0));
      read.min_writer_version = static_cast<int32_t>(Int64At(Field(*protocol, "minWriterVersion"), row).value_or(0));
      read.reader_features = ListAt(Field(*protocol, "readerFeatures"), row);
      read.writer_features = ListAt(Field(*protocol, "writerFeatures"), row);
      snapshot->protocol = std::move(read);
    }
    if (metadata && metadata->IsValid(row)) {
      Metadata read;
      read.id = StringAt(Field(*metadata, "id"), row);
      read.schema_string = StringAt(Field(*metadata, "schemaString"), row);
      read.partition_columns = ListAt(Field(*metadata, "partitionColumns"), row);
      read.configuration = MapAt(Field(*metadata, "configuration"), row);
      read.created_time = Int64At(Field(*metadata, "createdTime"), row);
      snapshot->metadata = std::move(read);
    }
    if (txn && txn->IsValid(row)) {
      Txn read;
      read.app_id = StringAt(Field(*txn, "appId"), row);
      read.version = Int64At(Field(*txn, "version"), row).value_or(0);
      read.last_updated = Int64At(Field(*txn, "lastUpdated"), row);
      snapshot->txns[read.app_id] = read;
    }
    if (add && add->IsValid(row)) {
      if (auto vector = Field(*add, "deletionVector"); vector && vector->IsValid(row)) {
        return arrow::Status::Invalid("the checkpoint has a file with a deletion vector");
      }
      AddFile read;
      ARROW_ASSIGN_OR_RAISE(read.path, DecodePath(StringAt(Field(*add, "path"), row)));
      read.partition_values = MapAt(Field(*add, "partitionValues"), row);
      read.size = Int64At(Field(*add, "size"), row).value_or(0);
      read.modification_time = Int64At(Field(*add, "modificationTime"), row).value_or(0);
      read.data_change = BoolAt(Field(*add, "dataChange"), row);
      read.stats = StringAt(Field(*add, "stats"), row);
      std::string path = read.path;
      snapshot->files[path] = std::move(read);
    }
    if (remove && remove->IsValid(row)) {
      RemoveFile read;
      ARROW_ASSIGN_OR_RAISE(read.path, DecodePath(StringAt(Field(*remove, "path"), row)));
      read.deletion_timestamp = Int64At(Field(*remove, "deletionTimestamp"), row).value_or(0);
      read.data_change = BoolAt(Field(*remove, "dataChange"), row);
      read.partition_values = MapAt(Field(*remove, "partitionValues"), row);
      read.size = Int64At(Field(*remove, "size"), row);
      std::string path = read.path;
      snapshot->tombstones[path] = std::move(read);
    }
  }
  return arrow::Status::OK();
}

}  // namespace

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RandomHex(size_t digits) {
  std::random_device device;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  while (out.size() < digits) {
    uint32_t bits = device();
    for (int i = 0; i < 8 && out.size() < digits; ++i, bits >>= 4) out.push_back(kHex[bits & 0xF]);
  }
  return out;
}

std::string CommitPath(int64_t version) { return std::string(kLogDirectory) + "/" + VersionName(version) + ".json"; }

std::string CheckpointPath(int64_t version) {
  return std::string(kLogDirectory) + "/" + VersionName(version) + ".checkpoint.parquet";
}

arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeCheckpoint(const Snapshot& snapshot) {
  ARROW_ASSIGN_OR_RAISE(CheckpointRows rows, CheckpointRows::Make());
  if (snapshot.protocol) {
    const Protocol& protocol = *snapshot.protocol;
    ARROW_RETURN_NOT_OK(rows.Append(kProtocolColumn, [&](arrow::StructBuilder* builder) {
      ARROW_RETURN_NOT_OK(Child<arrow::Int32Builder>(builder, 0)->Append(protocol.min_reader_version));
      return Child<arrow::Int32Builder>(builder, 1)->Append(protocol.min_writer_version);
    }));
  }
  if (snapshot.metadata) {
    const Metadata& metadata = *snapshot.metadata;
    ARROW_RETURN_NOT_OK(rows.Append(kMetadataColumn, [&](arrow::StructBuilder* builder) -> arrow::Status {
      ARROW_RETURN_NOT_OK(AppendString(builder->field_builder(0), metadata.id));
      ARROW_RETURN_NOT_OK(builder->field_builder(1)->AppendNull());
      ARROW_RETURN_NOT_OK(builder->field_builder(2)->AppendNull());
      auto* format = static_cast<arrow::StructBuilder*>(builder->field_builder(3));
      ARROW_RETURN_NOT_OK(format->Append());
      ARROW_RETURN_NOT_OK(AppendString(format->field_builder(0), "parquet"));
      ARROW_RETURN_NOT_OK(AppendMap(format->field_builder(1), {}));
      ARROW_RETURN_NOT_OK(AppendString(builder->field_builder(4), metadata.schema_string));
      auto* columns = static_cast<arrow::ListBuilder*>(builder->field_builder(5));
      ARROW_RETURN_NOT_OK(columns->Append());
      for (const std::string& column : metadata.partition_columns) {
        ARROW_RETURN_NOT_OK(AppendString(columns->value_builder(), column));
      }
      ARROW_RETURN_NOT_OK(AppendMap(builder->field_builder(6), metadata.configuration));
      return AppendInt64(builder->field_builder(7), metadata.created_time);
    }));
  }
  for (const auto& [app_id, txn] : snapshot.txns) {
    ARROW_RETURN_NOT_OK(rows.Append(kTxnColumn, [&](arrow::StructBuilder* builder) -> arrow::Status {
      ARROW_RETURN_NOT_OK(AppendString(builder->field_builder(0), txn.app_id));
      ARROW_RETURN_NOT_OK(AppendInt64(builder->field_builder(1), txn.version));
      return AppendInt64(builder->field_builder(2), txn.last_updated);
    }));
  }
  for (const auto& [path, add] : snapshot.files) {
    ARROW_RETURN_NOT_OK(rows.Append(kAddColumn, [&](arrow::StructBuilder* builder) -> arrow::Status {
      ARROW_RETURN_NOT_OK(AppendString(builder->field_builder(0), EncodePath(add.path)));
      ARROW_RETURN_NOT_OK(AppendMap(builder->field_builder(1), add.partition_values));
      ARROW_RETURN_NOT_OK(AppendInt64(builder->field_builder(2), add.size));
      ARROW_RETURN_NOT_OK(AppendInt64(builder->field_builder(3), add.modification_time));
      ARROW_RETURN_NOT_OK(static_cast<arrow::BooleanBuilder*>(builder->field_builder(4))->Append(add.data_change));
      if (add.stats.empty()) return builder->field_builder(5)->AppendNull();
      return AppendString(builder->field_builder(5), add.stats);
    }));
  }
  // Tombstones stay in the checkpoint so that vacuum, reading only the newest checkpoint, still
  // knows which files were removed and when.
  for (const auto& [path, remove] : snapshot.tombstones) {
    ARROW_RETURN_NOT_OK(rows.Append(kRemoveColumn, [&](arrow::StructBuilder* builder) -> arrow::Status {
      ARROW_RETURN_NOT_OK(AppendString(builder->field_builder(0), EncodePath(remove.path)));
      ARROW_RETURN_NOT_OK(AppendInt64(builder->field_builder(1), remove.deletion_timestamp));
      ARROW_RETURN_NOT_OK(static_cast<arrow::BooleanBuilder*>(builder->field_builder(2))->Append(remove.data_change));
      ARROW_RETURN_NOT_OK(static_cast<arrow::BooleanBuilder*>(builder->field_builder(3))->Append(remove.size.has_value()));
      ARROW_RETURN_NOT_OK(AppendMap(builder->field_builder(4), remove.partition_values));
      return AppendInt64(builder->field_builder(5), remove.size);
    }));
  }
  ARROW_ASSIGN_OR_RAISE(auto table, rows.Finish());
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create(64 * 1024));
  const auto properties = parquet::WriterProperties::Builder().compression(arrow::Compression::ZSTD)->build();
  ARROW_RETURN_NOT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink,
                                                 std::max<int64_t>(table->num_rows(), 1), properties));
  return sink->Finish();
}

arrow::Result<Snapshot> DecodeCheckpoint(const std::shared_ptr<arrow::Buffer>& contents, int64_t version) {
  auto input = std::make_shared<arrow::io::BufferReader>(contents);
  ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  std::shared_ptr<arrow::Table> table;
  ARROW_RETURN_NOT_OK(reader->ReadTable(&table));
  Snapshot snapshot;
  snapshot.version = version;
  arrow::TableBatchReader batches(*table);
  std::shared_ptr<arrow::RecordBatch> batch;
  while (true) {
    ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
    if (!batch) break;
    ARROW_RETURN_NOT_OK(ReadCheckpointBatch(*batch, &snapshot));
  }
  return snapshot;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> TableLog::ReadIfExists(const std::string& path) {
  const auto filesystem = store_->filesystem();
  const std::string full = Joined(store_->root(), path);
  ARROW_ASSIGN_OR_RAISE(const auto info, filesystem->GetFileInfo(full));
  if (info.type() == arrow::fs::FileType::NotFound) return nullptr;
  ARROW_ASSIGN_OR_RAISE(auto input, filesystem->OpenInputFile(info));
  ARROW_ASSIGN_OR_RAISE(const int64_t size, input->GetSize());
  return input->ReadAt(0, size);
}

arrow::Result<std::shared_ptr<arrow::Buffer>> TableLog::ReadCommitFile(int64_t version) {
  return ReadIfExists(CommitPath(version));
}

arrow::Result<Snapshot> TableLog::ReadCheckpoint(int64_t version) {
  ARROW_ASSIGN_OR_RAISE(auto contents, ReadIfExists(CheckpointPath(version)));
  if (!contents) return arrow::Status::Invalid("checkpoint ", version, " vanished while the log was read");
  auto snapshot = DecodeCheckpoint(contents, version);
  if (!snapshot.ok()) return snapshot.status().WithMessage("checkpoint ", version, ": ", snapshot.status().message());
  return snapshot;
}

arrow::Result<Snapshot> TableLog::Load() {
  const auto filesystem = store_->filesystem();
  arrow::fs::FileSelector selector;
  selector.base_dir = Joined(store_->root(), kLogDirectory);
  selector.allow_not_found = true;
  ARROW_ASSIGN_OR_RAISE(const auto entries, filesystem->GetFileInfo(selector));
  std::set<int64_t> commits;
  std::set<int64_t> checkpoints;
  for (const auto& entry : entries) {
    const std::string name = entry.base_name();
    if (auto version = VersionOf(name, ".json")) commits.insert(*version);
    if (auto version = VersionOf(name, ".checkpoint.parquet")) checkpoints.insert(*version);
  }
  Snapshot snapshot;
  if (commits.empty() && checkpoints.empty()) return snapshot;
  // A checkpoint is only a shortcut; the newest one is as good as what _last_checkpoint names, and
  // a checkpoint is written whole under its name (a temp file renamed, or one upload), so any
  // listed one is complete.
  int64_t next = 0;
  if (!checkpoints.empty()) {
    const int64_t newest = *checkpoints.rbegin();
    ARROW_ASSIGN_OR_RAISE(snapshot, ReadCheckpoint(newest));
    next = newest + 1;
  } else if (*commits.begin() != 0) {
    return arrow::Status::Invalid("the log starts at version ", *commits.begin(),
                                  " and has no checkpoint to start from: versions before it were deleted");
  }
  const int64_t newest_commit = commits.empty() ? -1 : *commits.rbegin();
  for (int64_t version = next; version <= newest_commit; ++version) {
    if (!commits.contains(version)) {
      return arrow::Status::Invalid("version ", version, " is missing from the log (it holds versions up to ",
                                    newest_commit, ")");
    }
  }
  ARROW_RETURN_NOT_OK(CatchUp(&snapshot).status());
  return snapshot;
}

arrow::Result<std::vector<std::pair<int64_t, Commit>>> TableLog::CatchUp(Snapshot* snapshot) {
  std::vector<std::pair<int64_t, Commit>> read;
  for (int64_t version = snapshot->version + 1;; ++version) {
    ARROW_ASSIGN_OR_RAISE(auto contents, ReadCommitFile(version));
    if (!contents) break;
    auto commit = ParseCommit(std::string_view(reinterpret_cast<const char*>(contents->data()),
                                               static_cast<size_t>(contents->size())));
    if (!commit.ok()) {
      return arrow::Status::Invalid("commit ", version, " (", CommitPath(version), ") is corrupt: ",
                                    commit.status().message());
    }
    snapshot->Apply(version, *commit);
    read.emplace_back(version, std::move(*commit));
  }
  return read;
}

arrow::Result<bool> TableLog::TryCommit(int64_t version, const Commit& commit) {
  return store_->CreateExclusive(NewFile{CommitPath(version), arrow::Buffer::FromString(FormatCommit(commit))});
}

arrow::Status TableLog::WriteCheckpoint(const Snapshot& snapshot) {
  ARROW_ASSIGN_OR_RAISE(auto contents, EncodeCheckpoint(snapshot));
  ARROW_RETURN_NOT_OK(store_->Publish({{NewFile{CheckpointPath(snapshot.version), contents}}}));
  CrashPoint("delta-mid-checkpoint");
  const int64_t actions = static_cast<int64_t>((snapshot.protocol ? 1 : 0) + (snapshot.metadata ? 1 : 0) +
                                               snapshot.txns.size() + snapshot.files.size() +
                                               snapshot.tombstones.size());
  const std::string pointer =
      "{\"version\":" + std::to_string(snapshot.version) + ",\"size\":" + std::to_string(actions) + "}";
  return store_->Publish({{NewFile{std::string(kLogDirectory) + "/_last_checkpoint", arrow::Buffer::FromString(pointer)}}});
}

}  // namespace clickstream::sink::delta
