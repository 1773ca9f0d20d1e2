// The event's fields, listed once. Each row says what a field is called, how it is typed in the
// landed Parquet file, how it travels as JSON, which CSV column feeds it and how Parquet encodes it.
// The CSV source, the validation (BuildEvent), the JSON codec, the landed Arrow schema and its
// builders and the Parquet writer all walk these tables instead of keeping lists of their own.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "event/event.h"

namespace clickstream {

// The Arrow type of a landed column.
enum class ArrowKind : uint8_t {
  kUtf8,             // utf8
  kDictionary,       // dictionary<int32, utf8>: few distinct values
  kInt32,            // int32
  kInt64,            // int64
  kDate32,           // date32 (days since the epoch)
  kTimestampMicros,  // timestamp[us, tz=UTC]
};

// How a field's value is written in the JSON event on the topic.
enum class JsonKind : uint8_t {
  kString,             // a JSON string
  kStringOrInteger,    // identifiers: a string, or an integer whose digits become the text
  kInteger,            // a JSON integer
  kTimestamp,          // a string "YYYY-MM-DD HH:MM:SS"
};

// The Parquet encoding chosen for a column; EncodeParquet (sink/) applies it.
enum class ParquetEncoding : uint8_t {
  kDictionary,         // dictionary pages: values that repeat within a file
  kPlain,              // no dictionary: values that (nearly) never repeat
  kDeltaBinaryPacked,  // integers and timestamps that rise within a file
};

// How BuildEvent judges a field's text once the blanks around it are trimmed; event.h states the
// rules in words. A row with several faults is named for the first of them in table order.
enum class FieldRule : uint8_t {
  kIdentityId,       // source_id: comes with source_line or not at all
  kIdentityLine,     // source_line: a line number from 1, or nothing (then source_id is empty too)
  kTimestamp,        // required: "YYYY-MM-DD HH:MM:SS" within the accepted range
  kRequired,         // required text
  kEventType,        // required: one of the names, in any case
  kOnTransactions,   // required on transactions, and absent on every other event
  kOptional,         // text or nothing
  kOptionalLowered,  // text or nothing, lower-cased
};

struct ColumnSpec {
  std::string_view name;
  ArrowKind arrow;
  bool nullable;
  ParquetEncoding encoding;
  std::string_view why;  // why this encoding: the measured or structural reason
};

struct EventFieldSpec {
  ColumnSpec column;
  JsonKind json;
  std::string_view RawEvent::*raw;  // the field's text before validation
  // The validated value: exactly one of these is set, except for event_type (an EventType).
  std::string Event::*text;
  int64_t Event::*number;
  std::string_view csv_header;            // the generator's CSV column; empty when not a CSV column
  std::string_view retail_rocket_header;  // RetailRocket's events.csv column; empty when it has none
  FieldRule rule;
};

inline constexpr std::array<EventFieldSpec, 10> kEventFields = {{
    {{"source_id", ArrowKind::kDictionary, false, ParquetEncoding::kDictionary,
      "one value per input file (or per Kafka partition for foreign messages): a dictionary of one entry"},
     JsonKind::kString, &RawEvent::source_id, &Event::source_id, nullptr, "", "", FieldRule::kIdentityId},
    {{"source_line", ArrowKind::kInt64, false, ParquetEncoding::kDeltaBinaryPacked,
      "input lines rise within a Kafka partition, so deltas are small: on the demo data 1.7 MB as deltas, 3.1 MB "
      "plain, 7.2 MB as a dictionary"},
     JsonKind::kInteger, &RawEvent::source_line, nullptr, &Event::source_line, "", "", FieldRule::kIdentityLine},
    {{"timestamp", ArrowKind::kTimestampMicros, false, ParquetEncoding::kDeltaBinaryPacked,
      "replayed in time order within a partition: on the demo data 6.8 MB as deltas, 12.0 MB plain, 16.5 MB "
      "as a dictionary (zstd, batches of 100000)"},
     JsonKind::kTimestamp, &RawEvent::timestamp, nullptr, &Event::timestamp, "timestamp", "timestamp",
     FieldRule::kTimestamp},
    {{"visitor_id", ArrowKind::kUtf8, false, ParquetEncoding::kPlain,
      "a session repeats the id, but zstd finds the repeats: on the demo data 8.5 MB plain, 9.1-9.6 MB as a "
      "dictionary (its indices cost more than they save)"},
     JsonKind::kStringOrInteger, &RawEvent::visitor_id, &Event::visitor_id, nullptr, "visitor_id", "visitorid",
     FieldRule::kRequired},
    {{"event_type", ArrowKind::kDictionary, false, ParquetEncoding::kDictionary, "three values"},
     JsonKind::kString, &RawEvent::event_type, nullptr, nullptr, "event_type", "event", FieldRule::kEventType},
    {{"item_id", ArrowKind::kUtf8, false, ParquetEncoding::kPlain,
      "heavy-tailed, yet most values are rare within a file: on the demo data 9.4 MB plain, 11.4-11.6 MB as a "
      "dictionary"},
     JsonKind::kStringOrInteger, &RawEvent::item_id, &Event::item_id, nullptr, "item_id", "itemid",
     FieldRule::kRequired},
    {{"transaction_id", ArrowKind::kUtf8, true, ParquetEncoding::kPlain,
      "unique per transaction and null elsewhere: a dictionary would only add bytes"},
     JsonKind::kStringOrInteger, &RawEvent::transaction_id, &Event::transaction_id, nullptr, "transaction_id",
     "transactionid", FieldRule::kOnTransactions},
    {{"device", ArrowKind::kDictionary, true, ParquetEncoding::kDictionary, "a handful of values"},
     JsonKind::kString, &RawEvent::device, &Event::device, nullptr, "device", "", FieldRule::kOptionalLowered},
    {{"browser", ArrowKind::kDictionary, true, ParquetEncoding::kDictionary, "a handful of values"},
     JsonKind::kString, &RawEvent::browser, &Event::browser, nullptr, "browser", "", FieldRule::kOptional},
    {{"os", ArrowKind::kDictionary, true, ParquetEncoding::kDictionary, "a handful of values"},
     JsonKind::kString, &RawEvent::os, &Event::os, nullptr, "os", "", FieldRule::kOptional},
}};

inline constexpr size_t kEventFieldCount = kEventFields.size();

// The columns the consumer adds to every landed row. event_date is only in the file when the date
// does not live in the event_date=… directory names.
inline constexpr ColumnSpec kEventDateColumn = {"event_date", ArrowKind::kDate32, false,
                                                ParquetEncoding::kDictionary, "one or a few days per file"};
inline constexpr std::array<ColumnSpec, 3> kLandingColumns = {{
    {"kafka_partition", ArrowKind::kInt32, false, ParquetEncoding::kDictionary, "one value per file"},
    {"kafka_offset", ArrowKind::kInt64, false, ParquetEncoding::kDeltaBinaryPacked,
     "offsets rise by one within a file: deltas pack to almost nothing"},
    {"ingested_at", ArrowKind::kTimestampMicros, false, ParquetEncoding::kDeltaBinaryPacked,
     "arrival times rise within a file: 0.5 MB as deltas, 7.1 MB as a dictionary on the demo data"},
}};

// The field of that name, or nullptr.
constexpr const EventFieldSpec* FindEventField(std::string_view name) {
  for (const EventFieldSpec& spec : kEventFields) {
    if (spec.column.name == name) return &spec;
  }
  return nullptr;
}

// The landed column of that name (an event field or a consumer column), or nullptr.
constexpr const ColumnSpec* FindLandedColumn(std::string_view name) {
  if (const EventFieldSpec* spec = FindEventField(name)) return &spec->column;
  if (name == kEventDateColumn.name) return &kEventDateColumn;
  for (const ColumnSpec& spec : kLandingColumns) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// "timestamp,visitor_id,…": the generator's CSV header, the fields that have a CSV column in table
// order.
std::string GeneratorCsvHeader();
// "timestamp,visitorid,…": the columns of RetailRocket's events.csv.
std::string RetailRocketCsvHeader();

}  // namespace clickstream
