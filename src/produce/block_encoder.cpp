#include "produce/block_encoder.h"

#include <utility>

#include "event/json_codec.h"

namespace clickstream::produce {

BlockEncoder::BlockEncoder(source::EventSource* source, size_t queue_blocks)
    : source_(source),
      queue_blocks_(queue_blocks < 1 ? 1 : queue_blocks),
      shortcut_([this](const RawEvent& raw, Utf8Check utf8_check, int64_t* epoch_seconds) {
        return AppendNormalForm(filling_, raw, utf8_check, epoch_seconds);
      }),
      thread_([this] { Run(); }) {}

BlockEncoder::~BlockEncoder() {
  Stop();
  thread_.join();
}

void BlockEncoder::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  room_.notify_all();
  ready_.notify_all();
}

std::unique_ptr<EncodedBlock> BlockEncoder::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [this] { return stop_ || !full_.empty() || finished_; });
  if (stop_ || full_.empty()) return nullptr;
  std::unique_ptr<EncodedBlock> block = std::move(full_.front());
  full_.pop_front();
  lock.unlock();
  room_.notify_one();
  return block;
}

void BlockEncoder::Recycle(std::unique_ptr<EncodedBlock> block) {
  block->rows.clear();
  block->bytes.clear();
  block->input_error = arrow::Status::OK();
  std::lock_guard<std::mutex> lock(mutex_);
  empty_.push_back(std::move(block));
}

std::unique_ptr<EncodedBlock> BlockEncoder::TakeEmptyBlock() {
  std::unique_lock<std::mutex> lock(mutex_);
  room_.wait(lock, [this] { return stop_ || full_.size() < queue_blocks_; });
  if (stop_) return nullptr;
  if (!empty_.empty()) {
    std::unique_ptr<EncodedBlock> block = std::move(empty_.back());
    empty_.pop_back();
    return block;
  }
  lock.unlock();
  auto block = std::make_unique<EncodedBlock>();
  block->rows.reserve(kBlockRows);
  block->bytes.reserve(kBlockBytes + 4096);
  return block;
}

void BlockEncoder::Run() {
  while (true) {
    std::unique_ptr<EncodedBlock> block = TakeEmptyBlock();
    if (!block) return;
    const bool more = Fill(block.get());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!block->rows.empty() || !block->input_error.ok()) full_.push_back(std::move(block));
      finished_ = !more;
    }
    ready_.notify_one();
    if (!more) return;
  }
}

bool BlockEncoder::Fill(EncodedBlock* block) {
  bool more = true;
  filling_ = block;
  while (block->rows.size() < kBlockRows && block->bytes.size() < kBlockBytes) {
    arrow::Result<bool> next = source_->Next(&event_, &row_, shortcut_);
    if (!next.ok()) {
      block->input_error = next.status();
      more = false;
      break;
    }
    if (!*next) {
      more = false;
      break;
    }
    if (row_.kind == source::SourceRow::Kind::kRejected) {
      AppendReject(block, row_);
    } else if (row_.taken_by_shortcut) {
      FinishNormalForm(block, row_);
    } else {
      Append(block, event_, row_);
    }
    block->rows.back().input_end = source_->bytes_consumed();
  }
  block->bytes_consumed = source_->bytes_consumed();
  return more;
}

void BlockEncoder::Append(EncodedBlock* block, const Event& event, const source::SourceRow& row) {
  EncodedRow& encoded = block->rows.emplace_back();
  encoded.kind = EncodedRow::Kind::kMessage;
  encoded.line = row.line;
  encoded.event_time_ms = row.event_time_ms;
  encoded.key_offset = static_cast<uint32_t>(block->bytes.size());
  encoded.key_size = static_cast<uint32_t>(event.visitor_id.size());
  block->bytes += event.visitor_id;
  encoded.text_offset = static_cast<uint32_t>(block->bytes.size());
  AppendEventJson(event, &block->bytes);
  encoded.text_size = static_cast<uint32_t>(block->bytes.size() - encoded.text_offset);
}

// Most rows: their fields are already what BuildEvent would make of them, so they go straight
// from the CSV to JSON (the value first, then the key) without being copied into an Event.
bool BlockEncoder::AppendNormalForm(EncodedBlock* block, const RawEvent& raw, Utf8Check utf8_check,
                                    int64_t* epoch_seconds) {
  const size_t value_offset = block->bytes.size();
  if (!AppendNormalFormEventJson(raw, utf8_check, &block->bytes, epoch_seconds)) return false;
  EncodedRow& encoded = block->rows.emplace_back();
  encoded.kind = EncodedRow::Kind::kMessage;
  encoded.text_offset = static_cast<uint32_t>(value_offset);
  encoded.text_size = static_cast<uint32_t>(block->bytes.size() - value_offset);
  encoded.key_offset = static_cast<uint32_t>(block->bytes.size());
  encoded.key_size = static_cast<uint32_t>(raw.visitor_id.size());
  block->bytes += raw.visitor_id;
  return true;
}

// The row's line and time, known once the source has finished with it.
void BlockEncoder::FinishNormalForm(EncodedBlock* block, const source::SourceRow& row) {
  EncodedRow& encoded = block->rows.back();
  encoded.line = row.line;
  encoded.event_time_ms = row.event_time_ms;
}

void BlockEncoder::AppendReject(EncodedBlock* block, const source::SourceRow& row) {
  EncodedRow& encoded = block->rows.emplace_back();
  encoded.kind = EncodedRow::Kind::kRejected;
  encoded.line = row.line;
  encoded.text_offset = static_cast<uint32_t>(block->bytes.size());
  encoded.text_size = static_cast<uint32_t>(row.reason.size());
  block->bytes += row.reason;
}

}  // namespace clickstream::produce
