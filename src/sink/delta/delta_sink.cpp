#include "sink/delta/delta_sink.h"

#include <cstdio>
#include <utility>

#include <arrow/io/memory.h>
#include <fmt/format.h>
#include <parquet/arrow/writer.h>

#include "common/crash_point.h"
#include "common/log.h"
#include "event/timestamp.h"
#include "sink/delta/table_schema.h"
#include "sink/parquet/concurrency.h"
#include "sink/parquet/landed_files.h"
#include "sink/parquet/parquet_dataset.h"

namespace clickstream::sink::delta {

namespace {

// Encoding is CPU-bound; as in the Parquet dataset sink, a second encoder uses the time the
// consumer's own thread spends waiting.
constexpr size_t kEncodeThreads = 2;

// A random (version 4) UUID: the table's metaData id.
std::string RandomUuid() {
  std::string hex = RandomHex(32);
  hex[12] = '4';
  hex[16] = "89ab"[hex[16] % 4];
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

std::string CommitInfo(std::string_view operation, const std::string& member, int64_t round) {
  return "{\"timestamp\":" + std::to_string(NowMillis()) + ",\"operation\":\"" + std::string(operation) +
         "\",\"operationParameters\":{},\"isBlindAppend\":true,\"clientVersion\":\"clickstream-" CLICKSTREAM_VERSION
         "\",\"clickstreamMember\":\"" + member + "\",\"clickstreamRound\":" + std::to_string(round) + "}";
}

// One Parquet file of a round: a day's rows of every partition in the round, one row group per
// partition batch (each keeps its own dictionaries, so no column falls back to plain strings).
// The Arrow schema is not stored in the file: a Delta reader takes the types from the table's
// schema, and a stored dictionary type would only disagree with its `string`.
arrow::Result<std::shared_ptr<arrow::Buffer>> EncodeDataFile(const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows) {
  int64_t total = 0;
  for (const auto& batch : rows) total += batch->num_rows();
  const auto& schema = rows.front()->schema();
  const auto properties = LandedWriterProperties(*schema, total);
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create(64 * 1024));
  ARROW_ASSIGN_OR_RAISE(auto writer, parquet::arrow::FileWriter::Open(*schema->RemoveMetadata(),
                                                                      arrow::default_memory_pool(), sink, properties,
                                                                      parquet::default_arrow_writer_properties()));
  for (const auto& batch : rows) {
    ARROW_RETURN_NOT_OK(writer->NewBufferedRowGroup());
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
  }
  ARROW_RETURN_NOT_OK(writer->Close());
  return sink->Finish();
}

}  // namespace

std::string TxnAppId(const std::string& group, const std::string& topic, int32_t partition) {
  return "clickstream-" + group + "-" + topic + "-" + std::to_string(partition);
}

DeltaTableSink::DeltaTableSink(DeltaTableOptions options, std::unique_ptr<DatasetStore> store)
    : options_(std::move(options)), store_(std::move(store)), log_(store_.get()), member_token_(RandomHex(16)) {}

arrow::Result<std::unique_ptr<DeltaTableSink>> DeltaTableSink::Open(DeltaTableOptions options,
                                                                    std::unique_ptr<DatasetStore> store) {
  std::unique_ptr<DeltaTableSink> sink(new DeltaTableSink(std::move(options), std::move(store)));
  const arrow::Status ready = sink->CreateOrCheckTable();
  if (!ready.ok()) return arrow::Status::Invalid("Delta table ", sink->Describe(), ": ", ready.message());
  return sink;
}

std::string DeltaTableSink::Describe() const { return store_->Describe(); }

arrow::Status DeltaTableSink::CreateOrCheckTable() {
  ARROW_ASSIGN_OR_RAISE(snapshot_, log_.Load());
  if (snapshot_.version < 0) {
    Commit create;
    create.commit_info = CommitInfo("CREATE TABLE", member_token_, 0);
    create.protocol = Protocol{};
    create.metadata = Metadata{RandomUuid(), TableSchemaString(), PartitionColumns(options_.date_column), {},
                               NowMillis()};
    // Two members starting on an empty table race for version 0; the loser checks the winner's.
    ARROW_ASSIGN_OR_RAISE(const bool created, log_.TryCommit(0, create));
    if (created) {
      snapshot_.Apply(0, create);
    } else {
      ARROW_RETURN_NOT_OK(log_.CatchUp(&snapshot_).status());
    }
  }
  if (!snapshot_.protocol || !snapshot_.metadata) {
    return arrow::Status::Invalid("the log has no protocol or metaData action up to version ", snapshot_.version);
  }
  ARROW_RETURN_NOT_OK(CheckWritable(*snapshot_.protocol, *snapshot_.metadata));
  return CheckTableFits(*snapshot_.metadata, options_.date_column);
}

std::optional<int64_t> DeltaTableSink::LoggedVersion(int32_t partition) const {
  auto txn = snapshot_.txns.find(TxnAppId(options_.group, options_.topic, partition));
  if (txn == snapshot_.txns.end()) return std::nullopt;
  return txn->second.version;
}

arrow::Result<std::map<int32_t, PartitionResume>> DeltaTableSink::Recover(const std::set<int32_t>& partitions) {
  ARROW_RETURN_NOT_OK(log_.CatchUp(&snapshot_).status());
  std::map<int32_t, PartitionResume> resumes;
  for (int32_t partition : partitions) {
    const std::optional<int64_t> logged = LoggedVersion(partition);
    expected_[partition] = logged;
    PartitionResume resume;
    if (logged) resume.next_offset = *logged + 1;
    resumes[partition] = resume;
  }
  return resumes;
}

arrow::Result<std::vector<LandedBatch>> DeltaTableSink::Land(const std::vector<PartitionBatchData>& batches,
                                                             const std::string& write_time) {
  const int64_t round = ++rounds_;
  std::map<int32_t, std::vector<std::shared_ptr<arrow::RecordBatch>>> rows_by_day;
  std::map<int32_t, int64_t> last_offsets;
  for (const PartitionBatchData& batch : batches) {
    if (!expected_.contains(batch.partition)) {
      return arrow::Status::Invalid("partition ", batch.partition, " was not recovered before landing");
    }
    last_offsets[batch.partition] = std::max(last_offsets[batch.partition], batch.last_offset);
    for (const auto& [day, rows] : batch.rows_by_day) {
      if (rows->num_rows() > 0) rows_by_day[day].push_back(rows);
    }
  }

  struct DataFile {
    int32_t day = 0;
    std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
    std::string path;
    std::shared_ptr<arrow::Buffer> contents;
    std::string stats;
  };
  std::vector<DataFile> files;
  for (auto& [day, rows] : rows_by_day) {
    DataFile file;
    file.day = day;
    file.rows = std::move(rows);
    const std::string directory = options_.date_column == DateColumn::kInPath ? EventDateDirectory(day) + "/" : "";
    file.path = directory + "part-" + write_time + "-" + member_token_ + "-" + std::to_string(round) + "-" +
                std::to_string(files.size()) + ".parquet";
    files.push_back(std::move(file));
  }
  ARROW_RETURN_NOT_OK(RunConcurrently(files.size(), kEncodeThreads, [&files](size_t i) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(files[i].contents, EncodeDataFile(files[i].rows));
    ARROW_ASSIGN_OR_RAISE(files[i].stats, FileStats(files[i].rows));
    return arrow::Status::OK();
  }));
  std::vector<NewFile> to_publish;
  for (const DataFile& file : files) to_publish.push_back(NewFile{file.path, file.contents});
  // Unreferenced until the commit below: no Delta reader sees these files before it.
  if (!to_publish.empty()) ARROW_RETURN_NOT_OK(store_->Publish({to_publish}));
  CrashPoint("delta-after-data");

  Commit commit;
  commit.commit_info = CommitInfo("STREAMING UPDATE", member_token_, round);
  const int64_t now = NowMillis();
  std::set<int32_t> partitions;
  for (const auto& [partition, last_offset] : last_offsets) {
    partitions.insert(partition);
    commit.txns.push_back(Txn{TxnAppId(options_.group, options_.topic, partition), last_offset, now});
  }
  LandedBatch totals;
  for (const DataFile& file : files) {
    AddFile add;
    add.path = file.path;
    if (options_.date_column == DateColumn::kInPath) {
      add.partition_values[kPartitionColumn] = FormatDate(file.day * kSecondsPerDay);
    }
    add.size = file.contents->size();
    add.modification_time = now;
    add.data_change = true;
    add.stats = file.stats;
    commit.adds.push_back(std::move(add));
    ++totals.files;
    totals.bytes += file.contents->size();
  }
  ARROW_RETURN_NOT_OK(CommitRound(commit, partitions));
  for (const auto& [partition, last_offset] : last_offsets) expected_[partition] = last_offset;
  CheckpointIfDue();

  // The files hold several partitions' rows: the round's totals are reported on its first batch.
  std::vector<LandedBatch> landed(batches.size());
  if (!landed.empty()) landed.front() = totals;
  return landed;
}

arrow::Status DeltaTableSink::CheckStillOwned(const std::set<int32_t>& partitions) const {
  for (int32_t partition : partitions) {
    const std::optional<int64_t> logged = LoggedVersion(partition);
    const auto expected = expected_.find(partition);
    if (expected == expected_.end() || logged != expected->second) {
      const std::optional<int64_t> wanted = expected == expected_.end() ? std::nullopt : expected->second;
      return FencedError("partition " + std::to_string(partition) + " was landed up to offset " +
                         (logged ? std::to_string(*logged) : "none") + " by another member (this one expected " +
                         (wanted ? std::to_string(*wanted) : "none") + ")");
    }
  }
  return arrow::Status::OK();
}

arrow::Status DeltaTableSink::CommitRound(const Commit& commit, const std::set<int32_t>& partitions) {
  while (true) {
    // The snapshot may hold other writers' commits read since this member last committed (when
    // it lost an earlier race): each partition must still be where this member left it.
    ARROW_RETURN_NOT_OK(CheckStillOwned(partitions));
    CrashPoint("delta-before-commit");
    const int64_t version = snapshot_.version + 1;
    ARROW_ASSIGN_OR_RAISE(const bool created, log_.TryCommit(version, commit));
    if (created) {
      snapshot_.Apply(version, commit);
      CrashPoint("delta-after-commit");
      return arrow::Status::OK();
    }
    // Another writer took the version: read what it (and any later one) committed, then check
    // again before the next version.
    ARROW_ASSIGN_OR_RAISE(const auto newer, log_.CatchUp(&snapshot_));
    if (newer.empty()) return arrow::Status::IOError("version ", version, " exists but could not be read");
    for (const auto& [newer_version, newer_commit] : newer) {
      if (newer_commit.protocol || newer_commit.metadata) {
        const arrow::Status still = CheckWritable(*snapshot_.protocol, *snapshot_.metadata) &
                                    CheckTableFits(*snapshot_.metadata, options_.date_column);
        if (!still.ok()) {
          return arrow::Status::IOError("version ", newer_version, " changed the table: ", still.message());
        }
      }
    }
  }
}

void DeltaTableSink::CheckpointIfDue() {
  if (options_.checkpoint_interval <= 0 || snapshot_.version <= 0 ||
      snapshot_.version % options_.checkpoint_interval != 0) {
    return;
  }
  // A checkpoint only shortens what readers and recovery read; the table is complete without it,
  // so a failure is reported and the next due version tries again.
  const arrow::Status written = log_.WriteCheckpoint(snapshot_);
  if (!written.ok()) {
    WriteLog({LogLevel::kWarning, "consume",
              fmt::format("no checkpoint at version {} of {}: {}", snapshot_.version, Describe(), written.message()),
              {{"version", snapshot_.version}, {"destination", Describe()}},
              std::string("clickstream consume: warning: ")});
  }
}

void DeltaTableSink::Forget(const std::set<int32_t>& partitions) {
  for (int32_t partition : partitions) expected_.erase(partition);
}

}  // namespace clickstream::sink::delta
