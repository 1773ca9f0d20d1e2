// THE clickstream event, defined once: what a row of the CSV becomes, what travels through Kafka as
// JSON and what lands in Parquet. Every other module speaks of events through this header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace clickstream {

enum class EventType : uint8_t { kView = 0, kAddToCart = 1, kTransaction = 2 };

inline constexpr int kEventTypeCount = 3;

// "view", "addtocart", "transaction": the RetailRocket names, used on the wire and in Parquet.
std::string_view EventTypeName(EventType type);
// Exact (already normalised) names only.
std::optional<EventType> ParseEventType(std::string_view name);

// The event's identity is (source_id, source_line): the input it was read from and the line it
// started on. Replaying the same input gives the same pairs, two inputs never share a source_id, and
// the line leads back to the row. Both compress to almost nothing in Parquet (one dictionary entry
// per input; rising lines as deltas), unlike a per-row hash. src/event/fields.h lists every field.
struct Event {
  std::string source_id;   // fingerprint of the input's content; empty when the message had none
  int64_t source_line = 0;  // 1-based line of the input on which the event's row starts
  int64_t timestamp = 0;    // seconds since the Unix epoch, UTC
  std::string visitor_id;
  EventType event_type = EventType::kView;
  std::string item_id;
  std::string transaction_id;  // non-empty exactly on transactions
  std::string device;          // empty when the source does not know it
  std::string browser;
  std::string os;
};

// The fields of an event as text, before validation. Both the CSV source and the JSON codec fill
// one of these, so a row and a message are judged by the same rules.
struct RawEvent {
  std::string_view source_id;
  std::string_view source_line;  // decimal digits
  std::string_view timestamp;  // "YYYY-MM-DD HH:MM:SS" (a 'T' and a trailing 'Z' are accepted)
  std::string_view visitor_id;
  std::string_view event_type;
  std::string_view item_id;
  std::string_view transaction_id;
  std::string_view device;
  std::string_view browser;
  std::string_view os;
};

// Longest identifier or enumeration value accepted; longer text is a sign of a broken row.
inline constexpr size_t kMaxFieldBytes = 256;

// Validates and normalises: trims blanks around every field, lower-cases event_type and device,
// requires timestamp, visitor_id, event_type and item_id, and a transaction_id exactly on
// transactions. All text must be valid UTF-8. On failure the Status message is the reason,
// phrased for a person ("unknown event_type 'click'"), for the first faulty field in the order of
// kEventFields, whose rows give each field's rule (fields.h). kKnownValidUtf8 skips the per-field
// UTF-8 checks when the caller has already checked all of the text the fields point into.
enum class Utf8Check : uint8_t { kPerField, kKnownValidUtf8 };
arrow::Status BuildEvent(const RawEvent& raw, Event* out, Utf8Check utf8_check = Utf8Check::kPerField);

// True when the bytes are well-formed UTF-8.
bool IsValidUtf8(std::string_view text);

std::string_view TrimBlanks(std::string_view text);

}  // namespace clickstream
