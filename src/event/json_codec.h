// The wire format of an event: one flat JSON object per Kafka message, with the original
// project's field names plus the identity (source_id, source_line), in src/event/fields.h order.
//   {"source_id":"3f…","source_line":2,"timestamp":"2015-06-01 12:00:00","visitor_id":"257597",
//    "event_type":"view","item_id":"355908","transaction_id":null,"device":"mobile","browser":"Safari",
//    "os":"iOS"}
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/status.h>

#include "event/event.h"

namespace clickstream {

// Appends the event's JSON to *out (no newline). Empty optional fields are written as null.
void AppendEventJson(const Event& event, std::string* out);

// The producer's shortcut past the Event: when the raw fields are already exactly what BuildEvent
// would make of them (trimmed, lower-case event_type and device, a "YYYY-MM-DD HH:MM:SS" timestamp,
// every rule met), appends the same bytes AppendEventJson would write for the built event, sets
// *epoch_seconds and returns true. Otherwise appends nothing and returns false: the caller then
// takes BuildEvent (which also gives the reason for a bad row) and AppendEventJson. Most rows of a
// clean export qualify, and skip copying every field into an Event and back out.
bool AppendNormalFormEventJson(const RawEvent& raw, Utf8Check utf8_check, std::string* out, int64_t* epoch_seconds);

// Why a message is not an event, as a bounded set for counting (the status message says the rest):
// the message as a whole (empty, not UTF-8, not JSON, not an object) or one of its fields.
enum class DecodeFailure { kEmpty, kNotUtf8, kInvalidJson, kNotAnObject, kInvalidField };

// "empty", "not_utf8", "invalid_json", "not_an_object", "invalid_field".
std::string_view DecodeFailureCode(DecodeFailure failure);

// What a failed Decode() status says went wrong: the message's shape when it carries that, else a
// field (every other rejection is about one).
DecodeFailure DecodeFailureOf(const arrow::Status& status);

// Decodes and validates messages; keeps its parse buffers between calls, so one decoder per thread.
class EventJsonDecoder {
 public:
  EventJsonDecoder();
  ~EventJsonDecoder();
  EventJsonDecoder(const EventJsonDecoder&) = delete;
  EventJsonDecoder& operator=(const EventJsonDecoder&) = delete;

  // Identifiers may arrive as JSON strings or integers and keep their exact text; unknown fields
  // are ignored. On failure the Status message is the reason, for the dead-letter headers.
  arrow::Status Decode(std::string_view payload, Event* out);

  // Decode without the fast path for the encoder's own layout: the general parser alone. Decode
  // must give the same result either way; the differential fuzz target (tests/fuzz/) holds them
  // to it on every input.
  arrow::Status DecodeWithParser(std::string_view payload, Event* out);

 private:
  arrow::Status ParseAndBuild(std::string_view payload, Event* out);

  struct Buffers;
  std::unique_ptr<Buffers> buffers_;
};

}  // namespace clickstream
