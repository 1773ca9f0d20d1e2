// The clickstream CSV source: recognises the layout from the header, turns every row into an
// Event (judged by event/BuildEvent) or a rejection with its line number, in input order.
//
// Layouts:
//   generator    timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os
//                (timestamp "YYYY-MM-DD HH:MM:SS" UTC)
//   RetailRocket timestamp,visitorid,event,itemid,transactionid  (timestamp in epoch milliseconds)
//
// event_id: 32 hex characters, two 64-bit hashes (different seeds) over the row's line number and
// its field texts as read. The same file replayed gives the same ids; two rows of one file never
// share one because their line numbers differ (a collision needs a 128-bit hash collision).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "event/event.h"
#include "source/csv_reader.h"

namespace clickstream::source {

enum class CsvLayout { kGenerator, kRetailRocket };

std::string_view CsvLayoutName(CsvLayout layout);

struct SourceRow {
  enum class Kind { kEvent, kRejected };
  Kind kind = Kind::kEvent;
  int64_t line = 0;
  int64_t event_time_ms = 0;  // the event's original time, for --speed replay
  std::string reason;         // why a rejected row was rejected
};

inline constexpr size_t kEventIdChars = 32;
// Writes the row's kEventIdChars hex characters to out.
void FormatEventId(int64_t line, const std::vector<std::string_view>& fields, char* out);
std::string MakeEventId(int64_t line, const std::vector<std::string_view>& fields);

class EventSource {
 public:
  // Opens the input ("-" for stdin) and reads its header. IOError when the input cannot be read,
  // Invalid when the header matches no known layout.
  static arrow::Result<std::unique_ptr<EventSource>> Open(const std::string& path);
  static arrow::Result<std::unique_ptr<EventSource>> FromReader(std::unique_ptr<CsvReader> reader);

  // Reads the next row into *event (when valid) and *row. Returns false at the end of input.
  arrow::Result<bool> Next(Event* event, SourceRow* row);

  CsvLayout layout() const { return layout_; }
  int64_t bytes_consumed() const { return reader_->bytes_consumed(); }
  int64_t size_bytes() const { return reader_->size_bytes(); }

 private:
  struct Columns {
    int timestamp = -1, visitor_id = -1, event_type = -1, item_id = -1, transaction_id = -1;
    int device = -1, browser = -1, os = -1;
  };
  EventSource(std::unique_ptr<CsvReader> reader, CsvLayout layout, Columns columns, size_t column_count);
  arrow::Status ToEvent(const CsvRecord& record, Event* event, SourceRow* row);

  std::unique_ptr<CsvReader> reader_;
  CsvLayout layout_;
  Columns columns_;
  size_t column_count_;
  CsvRecord record_;
  char timestamp_text_[32];  // RetailRocket milliseconds rendered as the event's timestamp text
  char event_id_[kEventIdChars];
};

}  // namespace clickstream::source
