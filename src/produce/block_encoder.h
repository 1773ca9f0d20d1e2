// Reads and encodes ahead of the sender, on a thread of its own: rows of the CSV source become
// Kafka-ready keys and JSON values (or rejects with their reason) in blocks, handed over in input
// order through a small bounded queue. The sending thread then only talks to librdkafka, and
// hands it whole runs of messages at once; the two halves overlap on two cores.
//
// Memory is bounded: at most `queue_blocks` full blocks wait, each at most kBlockRows rows or
// about kBlockBytes bytes, and blocks are recycled rather than reallocated.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arrow/status.h>

#include "event/event.h"
#include "source/event_source.h"

namespace clickstream::produce {

struct EncodedRow {
  enum class Kind : uint8_t { kMessage, kRejected };
  Kind kind = Kind::kMessage;
  int64_t line = 0;
  int64_t event_time_ms = 0;  // the event's original time, for --speed replay
  int64_t input_end = 0;      // bytes of the input consumed once this row was read (progress)
  // Into EncodedBlock::bytes. A message's key is its visitor_id and its text is its JSON value; a
  // rejected row has no key and its text is the reason.
  uint32_t key_offset = 0;
  uint32_t key_size = 0;
  uint32_t text_offset = 0;
  uint32_t text_size = 0;
};

struct EncodedBlock {
  std::vector<EncodedRow> rows;
  std::string bytes;
  int64_t bytes_consumed = 0;  // of the input, once the block's last row was read
  arrow::Status input_error;   // reading failed after the block's rows: no block follows

  std::string_view Key(const EncodedRow& row) const { return {bytes.data() + row.key_offset, row.key_size}; }
  std::string_view Text(const EncodedRow& row) const { return {bytes.data() + row.text_offset, row.text_size}; }
};

class BlockEncoder {
 public:
  // 2048 rows of ~300 bytes: a block is a fraction of a librdkafka batch (batch.size 1 MB), large
  // enough that the hand-over costs nothing per row, small enough that a stop is honoured in a
  // millisecond.
  static constexpr size_t kBlockRows = 2048;
  static constexpr size_t kBlockBytes = 1 << 20;
  static constexpr size_t kDefaultQueueBlocks = 4;

  // Starts reading `source` at once; the source must not be read by anyone else until the
  // encoder is destroyed.
  explicit BlockEncoder(source::EventSource* source, size_t queue_blocks = kDefaultQueueBlocks);
  // Stops the thread (it finishes the block it is filling) and waits for it.
  ~BlockEncoder();
  BlockEncoder(const BlockEncoder&) = delete;
  BlockEncoder& operator=(const BlockEncoder&) = delete;

  // The next block in input order, waiting for it; nullptr once the input is exhausted (after the
  // block that carries an input error, if any) or after Stop().
  std::unique_ptr<EncodedBlock> Next();
  // Gives a block back once its rows are sent, so its storage is reused.
  void Recycle(std::unique_ptr<EncodedBlock> block);
  // Asks the thread to stop reading; idempotent. Next() returns nullptr afterwards.
  void Stop();

 private:
  void Run();
  // A block to fill (recycled when possible), once the queue has room; nullptr after Stop().
  std::unique_ptr<EncodedBlock> TakeEmptyBlock();
  // Reads rows into the block until it is full or the input ends; false at the end (or on error).
  bool Fill(EncodedBlock* block);
  void Append(EncodedBlock* block, const Event& event, const source::SourceRow& row);
  bool AppendNormalForm(EncodedBlock* block, const RawEvent& raw, Utf8Check utf8_check, int64_t* epoch_seconds);
  void FinishNormalForm(EncodedBlock* block, const source::SourceRow& row);
  void AppendReject(EncodedBlock* block, const source::SourceRow& row);

  source::EventSource* source_;
  const size_t queue_blocks_;
  Event event_;  // reused between rows: its strings keep their capacity
  source::SourceRow row_;
  EncodedBlock* filling_ = nullptr;  // the block Fill() is filling, for shortcut_
  source::RowShortcut shortcut_;

  std::mutex mutex_;
  std::condition_variable ready_;  // a block was queued, or the input ended
  std::condition_variable room_;   // a block was taken, or Stop()
  std::deque<std::unique_ptr<EncodedBlock>> full_;
  std::vector<std::unique_ptr<EncodedBlock>> empty_;
  bool finished_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace clickstream::produce
