// The landing seam: where a consumed batch becomes durable, and where an assigned partition's
// progress is recovered from. One consumer loop (src/consume/) drives every implementation — a
// Parquet dataset on local disk or in an object store (sink/parquet/), a PostgreSQL table
// (sink/postgres/) — and each states its own invariant: the destination, not Kafka, records what
// has landed, so a restart resumes from it and Kafka's committed offsets only serve lag tools.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <arrow/api.h>

#include "event/landed_schema.h"

namespace clickstream::sink {

// One partition's batch, ready to land: the rows consumed since its previous batch, grouped by
// event date (days since the epoch; with DateColumn::kInFile one group whose day is ignored), and
// the offset range they and any dead letters among them cover. A batch of dead letters only has
// no rows but still moves the partition's progress past them.
struct PartitionBatchData {
  int32_t partition = 0;
  int64_t first_offset = 0;
  int64_t last_offset = 0;  // inclusive
  std::vector<std::pair<int32_t, std::shared_ptr<arrow::RecordBatch>>> rows_by_day;

  int64_t num_rows() const;
};

// What landing one batch produced, for the consumer's stats.
struct LandedBatch {
  int64_t files = 0;  // files or objects written (0 for a database)
  int64_t bytes = 0;  // bytes written
};

struct PartitionResume {
  // The next offset to consume; empty when the sink holds nothing of the partition, and then the
  // group's committed offset (else auto.offset.reset) decides.
  std::optional<int64_t> next_offset;
  int64_t removed_leftovers = 0;  // files an interrupted run left behind and recovery deleted
};

class Sink {
 public:
  virtual ~Sink() = default;

  // Where the sink lands, for messages (never with a password in it).
  virtual std::string Describe() const = 0;

  // The partitions were just assigned to this member. Cleans up what an interrupted run left and
  // says where each resumes. Never called while Land() runs.
  virtual arrow::Result<std::map<int32_t, PartitionResume>> Recover(const std::set<int32_t>& partitions) = 0;

  // Makes every batch durable, then returns one LandedBatch per batch in the same order. Batches
  // of one partition come in offset order, each continuing where the previous one (or the
  // recovered point) ended. On error nothing is reported durable; the consumer retries the same
  // batches with the same write_time (a "YYYYMMDD_HHMMSS_mmm" UTC stamp), so an attempt that
  // failed half-way must be harmless to repeat. An error for which IsFenced() holds means another
  // member owns a partition now: it is not retried, and nothing of that attempt may be durable.
  // Runs on the consumer's landing thread.
  virtual arrow::Result<std::vector<LandedBatch>> Land(const std::vector<PartitionBatchData>& batches,
                                                       const std::string& write_time) = 0;

  // The partitions left this member (revoked after their batches landed, or lost): forget any
  // state kept for them. Never called while Land() runs.
  virtual void Forget(const std::set<int32_t>& partitions) = 0;
};

// "YYYYMMDD_HHMMSS_mmm" of the instant, UTC: the write time a landing round is named by.
std::string FormatWriteTime(std::chrono::system_clock::time_point when);

// Fencing: the destination says another member took over a partition since this one recovered it.
// A Cancelled status that carries a detail saying so (its ToString() ends "Detail: fenced"). IsFenced()
// reads the detail only: a message reworded with Status::WithMessage stays fenced, and no other
// status, whatever its words, is taken for one.
arrow::Status FencedError(const std::string& message);
bool IsFenced(const arrow::Status& status);

}  // namespace clickstream::sink
