// The clickstream CSV source: recognises the layout from the header, turns every row into an
// Event (judged by event/BuildEvent) or a rejection with its line number, in input order.
//
// Layouts:
//   generator    timestamp,visitor_id,event_type,item_id,transaction_id,device,browser,os
//                (timestamp "YYYY-MM-DD HH:MM:SS" UTC)
//   RetailRocket timestamp,visitorid,event,itemid,transactionid  (timestamp in epoch milliseconds)
//
// Identity: every event carries source_id, the fingerprint of the whole input (source/fingerprint.h),
// and source_line, the line its row starts on. The same file replayed gives the same pairs; two rows
// of one file differ in their line, two different files in their fingerprint. Standard input is
// spooled to a temporary file first, so a pipe gets the same identities as the file it came from.
//
// RetailRocket timestamps are epoch milliseconds within IsAcceptedEventTime; a value that is in
// range only as seconds or microseconds is rejected with that diagnosis, never misread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "event/event.h"
#include "event/fields.h"
#include "event/timestamp.h"
#include "source/csv_reader.h"
#include "source/fingerprint.h"

namespace clickstream::source {

enum class CsvLayout { kGenerator, kRetailRocket };

std::string_view CsvLayoutName(CsvLayout layout);

struct SourceRow {
  enum class Kind { kEvent, kRejected };
  Kind kind = Kind::kEvent;
  int64_t line = 0;
  int64_t event_time_ms = 0;  // the event's original time, for --speed replay
  std::string reason;         // why a rejected row was rejected
  bool taken_by_shortcut = false;  // a valid row its RowShortcut took as it was: no Event was built
};

// A look at a row's fields before they are built into an Event (the producer writes rows already in
// normal form straight to JSON). Returns true when it took the row as it is, with the event's time
// in seconds; it may only do so for a row BuildEvent would accept. False: the row goes on to
// BuildEvent as usual.
using RowShortcut = std::function<bool(const RawEvent& raw, Utf8Check utf8_check, int64_t* epoch_seconds)>;

// RetailRocket's epoch milliseconds, checked against the accepted event times, or the reason why not.
arrow::Result<int64_t> ParseEpochMillis(std::string_view text);

class EventSource {
 public:
  // Opens the input ("-" for stdin) and reads its header. IOError when the input cannot be read,
  // Invalid when the header matches no known layout.
  static arrow::Result<std::unique_ptr<EventSource>> Open(const std::string& path);
  // source_id is the fingerprint given to every event of the input.
  static arrow::Result<std::unique_ptr<EventSource>> FromReader(std::unique_ptr<CsvReader> reader,
                                                                std::string source_id);

  // Reads the next row into *event (when valid) and *row. Returns false at the end of input.
  arrow::Result<bool> Next(Event* event, SourceRow* row);
  // The same, offering each well-formed row to `shortcut` first: when it takes the row,
  // row->taken_by_shortcut is set and *event is left as it was.
  arrow::Result<bool> Next(Event* event, SourceRow* row, const RowShortcut& shortcut);

  CsvLayout layout() const { return layout_; }
  const std::string& source_id() const { return source_id_; }
  int64_t bytes_consumed() const { return reader_->bytes_consumed(); }
  int64_t size_bytes() const { return reader_->size_bytes(); }

 private:
  // The CSV column of each field of kEventFields, -1 when the layout has none.
  using Columns = std::array<int, kEventFieldCount>;
  EventSource(std::unique_ptr<CsvReader> reader, CsvLayout layout, Columns columns, size_t column_count,
              std::string source_id);
  arrow::Status ToEvent(const CsvRecord& record, Event* event, SourceRow* row, const RowShortcut& shortcut);

  FilePtr spooled_input_;  // standard input's copy, which reader_ reads; closed after it
  std::unique_ptr<CsvReader> reader_;
  CsvLayout layout_;
  Columns columns_;
  size_t column_count_;
  std::string source_id_;
  CsvRecord record_;
  char timestamp_text_[kTimestampChars];  // RetailRocket milliseconds rendered as the event's timestamp text
  char line_text_[20];                    // the row's line number as source_line text
};

}  // namespace clickstream::source
