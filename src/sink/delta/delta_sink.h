// The Delta Lake table as a landing sink (see docs/delta-lake-design.md). The log, not Kafka and
// not file names, records what has landed: each landing round is one commit that holds the
// round's data files and, per Kafka partition, a `txn` whose version is the last offset landed.
// Versions are created put-if-absent; a writer that loses the race re-reads the log and is fenced
// when another member moved one of its partitions meanwhile.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "event/landed_schema.h"
#include "sink/delta/delta_log.h"
#include "sink/delta/table_log.h"
#include "sink/parquet/dataset_store.h"
#include "sink/sink.h"

namespace clickstream::sink::delta {

struct DeltaTableOptions {
  std::string topic;
  std::string group;
  DateColumn date_column = DateColumn::kInPath;
  int64_t checkpoint_interval = 10;  // a checkpoint every this many versions, as Delta does
};

// "clickstream-<group>-<topic>-<partition>": the txn appId of one partition of the topic, as landed
// by one consumer group.
std::string TxnAppId(const std::string& group, const std::string& topic, int32_t partition);

class DeltaTableSink final : public Sink {
 public:
  // Reads the table's log and creates the table (version 0) when the log is empty. Invalid, with
  // one line, for a table this writer cannot append to: another protocol or table features, a
  // schema that does not fit the events, a corrupt or incomplete log.
  static arrow::Result<std::unique_ptr<DeltaTableSink>> Open(DeltaTableOptions options,
                                                             std::unique_ptr<DatasetStore> store);

  std::string Describe() const override;
  arrow::Result<std::map<int32_t, PartitionResume>> Recover(const std::set<int32_t>& partitions) override;
  arrow::Result<std::vector<LandedBatch>> Land(const std::vector<PartitionBatchData>& batches,
                                               const std::string& write_time) override;
  void Forget(const std::set<int32_t>& partitions) override;

  int64_t version() const { return snapshot_.version; }

 private:
  DeltaTableSink(DeltaTableOptions options, std::unique_ptr<DatasetStore> store);

  arrow::Status CreateOrCheckTable();
  // The txn version the log holds for the partition, if any.
  std::optional<int64_t> LoggedVersion(int32_t partition) const;
  // Commits `commit` at the next free version. Fenced when a newer commit moved one of `partitions`
  // away from where this member expects it.
  arrow::Status CommitRound(const Commit& commit, const std::set<int32_t>& partitions);
  // Fenced unless the snapshot holds, for each partition, the txn version this member expects.
  arrow::Status CheckStillOwned(const std::set<int32_t>& partitions) const;
  void CheckpointIfDue();

  DeltaTableOptions options_;
  std::unique_ptr<DatasetStore> store_;
  TableLog log_;
  Snapshot snapshot_;
  // Per partition this member owns: the txn version it expects in the log (nullopt: none yet).
  std::map<int32_t, std::optional<int64_t>> expected_;
  std::string member_token_;  // random per process: data file names never collide between writers
  int64_t rounds_ = 0;        // landing attempts so far: each attempt's files get names of their own
};

}  // namespace clickstream::sink::delta
