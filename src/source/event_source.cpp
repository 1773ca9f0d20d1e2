#include "source/event_source.h"

#include <charconv>

#include "event/timestamp.h"

namespace clickstream::source {

namespace {

constexpr int64_t kMillisPerSecond = 1000;

std::string LowerTrimmed(std::string_view text) {
  std::string lowered(TrimBlanks(text));
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lowered;
}

std::string DescribeHeader(const std::vector<std::string_view>& fields) {
  std::string text;
  for (size_t i = 0; i < fields.size() && text.size() < 200; ++i) {
    if (i > 0) text += ',';
    text += IsValidUtf8(fields[i]) ? std::string(fields[i]) : std::string("?");
  }
  return text;
}

}  // namespace

std::string_view CsvLayoutName(CsvLayout layout) {
  return layout == CsvLayout::kGenerator ? "generator" : "RetailRocket";
}

arrow::Result<int64_t> ParseEpochMillis(std::string_view text) {
  if (text.empty()) return arrow::Status::Invalid("missing timestamp");
  int64_t millis = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), millis);
  if (error != std::errc() || end != text.data() + text.size()) {
    const std::string shown = IsValidUtf8(text) ? std::string(text.substr(0, 40)) : "(invalid UTF-8)";
    return arrow::Status::Invalid("unparsable timestamp '", shown, "' (expected epoch milliseconds)");
  }
  if (IsAcceptedEventTime(FloorDiv(millis, kMillisPerSecond))) return millis;
  // Name the likely unit mistake, so the fix is obvious; the row is rejected all the same.
  std::string hint;
  if (IsAcceptedEventTime(FloorDiv(millis, kMillisPerSecond * 1000))) {
    hint = " (it looks like epoch microseconds)";
  } else if (IsAcceptedEventTime(millis)) {
    hint = " (it looks like epoch seconds)";
  }
  return arrow::Status::Invalid("timestamp ", millis, " is outside the accepted range ", kAcceptedEventTimes,
                                " as epoch milliseconds", hint);
}

EventSource::EventSource(std::unique_ptr<CsvReader> reader, CsvLayout layout, Columns columns, size_t column_count,
                         std::string source_id)
    : reader_(std::move(reader)),
      layout_(layout),
      columns_(columns),
      column_count_(column_count),
      source_id_(std::move(source_id)) {}

arrow::Result<std::unique_ptr<EventSource>> EventSource::Open(const std::string& path) {
  if (path == "-") {
    ARROW_ASSIGN_OR_RAISE(SpooledInput spooled, SpoolAndFingerprint(stdin));
    ARROW_ASSIGN_OR_RAISE(auto source, FromReader(CsvReader::FromStream(spooled.file.get()), spooled.fingerprint));
    source->spooled_input_ = std::move(spooled.file);
    return source;
  }
  // Opening first gives the reader's messages for a missing file or a directory.
  ARROW_ASSIGN_OR_RAISE(auto reader, CsvReader::Open(path));
  ARROW_ASSIGN_OR_RAISE(std::string fingerprint, FingerprintFile(path));
  return FromReader(std::move(reader), std::move(fingerprint));
}

arrow::Result<std::unique_ptr<EventSource>> EventSource::FromReader(std::unique_ptr<CsvReader> reader,
                                                                    std::string source_id) {
  CsvRecord header;
  ARROW_ASSIGN_OR_RAISE(bool has_header, reader->Next(&header));
  if (!has_header) return arrow::Status::Invalid("the input is empty (expected a CSV header)");
  if (!header.error.empty()) return arrow::Status::Invalid("header on line ", header.line, ": ", header.error);

  Columns columns;
  columns.fill(-1);
  bool retail_rocket_names = false;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const std::string name = LowerTrimmed(header.fields[i]);
    for (size_t f = 0; f < kEventFieldCount; ++f) {
      const EventFieldSpec& spec = kEventFields[f];
      if (!spec.csv_header.empty() && name == spec.csv_header) columns[f] = static_cast<int>(i);
      if (!spec.retail_rocket_header.empty() && name == spec.retail_rocket_header) {
        columns[f] = static_cast<int>(i);
        retail_rocket_names |= spec.retail_rocket_header != spec.csv_header;
      }
    }
  }
  // A column both layouts have is required; the generator's extra ones (device, browser, os) are not.
  for (size_t f = 0; f < kEventFieldCount; ++f) {
    const EventFieldSpec& spec = kEventFields[f];
    if (!spec.csv_header.empty() && !spec.retail_rocket_header.empty() && columns[f] < 0) {
      return arrow::Status::Invalid("unrecognised CSV header '", DescribeHeader(header.fields), "': expected ",
                                    GeneratorCsvHeader(), " or RetailRocket's ", RetailRocketCsvHeader());
    }
  }
  const CsvLayout layout = retail_rocket_names ? CsvLayout::kRetailRocket : CsvLayout::kGenerator;
  return std::unique_ptr<EventSource>(
      new EventSource(std::move(reader), layout, columns, header.fields.size(), std::move(source_id)));
}

arrow::Result<bool> EventSource::Next(Event* event, SourceRow* row) { return Next(event, row, nullptr); }

arrow::Result<bool> EventSource::Next(Event* event, SourceRow* row, const RowShortcut& shortcut) {
  ARROW_ASSIGN_OR_RAISE(bool more, reader_->Next(&record_));
  if (!more) return false;
  row->line = record_.line;
  row->taken_by_shortcut = false;
  const arrow::Status status = ToEvent(record_, event, row, shortcut);
  if (status.ok()) {
    row->kind = SourceRow::Kind::kEvent;
    row->reason.clear();
  } else {
    row->kind = SourceRow::Kind::kRejected;
    row->reason = status.message();
  }
  return true;
}

arrow::Status EventSource::ToEvent(const CsvRecord& record, Event* event, SourceRow* row,
                                   const RowShortcut& shortcut) {
  if (!record.error.empty()) return arrow::Status::Invalid(record.error);
  const auto& fields = record.fields;
  if (fields.size() != column_count_) {
    return arrow::Status::Invalid("expected ", column_count_, " fields, found ", fields.size());
  }
  RawEvent raw;
  for (size_t f = 0; f < kEventFieldCount; ++f) {
    if (columns_[f] >= 0) raw.*kEventFields[f].raw = fields[columns_[f]];
  }
  raw.source_id = source_id_;
  const auto line_end = std::to_chars(line_text_, line_text_ + sizeof(line_text_), record.line).ptr;
  raw.source_line = std::string_view(line_text_, static_cast<size_t>(line_end - line_text_));
  if (layout_ == CsvLayout::kRetailRocket) {
    ARROW_ASSIGN_OR_RAISE(const int64_t millis, ParseEpochMillis(TrimBlanks(raw.timestamp)));
    FormatTimestamp(FloorDiv(millis, kMillisPerSecond), timestamp_text_);
    raw.timestamp = std::string_view(timestamp_text_, kTimestampChars);
    row->event_time_ms = millis;
  }
  // The fields not cut from the record (identity, RetailRocket's timestamp) are ASCII.
  const Utf8Check utf8_check = record.known_valid_utf8 ? Utf8Check::kKnownValidUtf8 : Utf8Check::kPerField;
  int64_t epoch_seconds = 0;
  if (shortcut && shortcut(raw, utf8_check, &epoch_seconds)) {
    row->taken_by_shortcut = true;
    if (layout_ == CsvLayout::kGenerator) row->event_time_ms = epoch_seconds * 1000;
    return arrow::Status::OK();
  }
  ARROW_RETURN_NOT_OK(BuildEvent(raw, event, utf8_check));
  if (layout_ == CsvLayout::kGenerator) row->event_time_ms = event->timestamp * 1000;
  return arrow::Status::OK();
}

}  // namespace clickstream::source
