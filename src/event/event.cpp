#include "event/event.h"

#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "event/timestamp.h"

namespace clickstream {

namespace {

constexpr std::string_view kEventTypeNames[kEventTypeCount] = {"view", "addtocart", "transaction"};

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char LowerAsciiChar(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Lower-cases ASCII letters in place; enumeration values are ASCII by construction.
void LowerAsciiInPlace(std::string* text) {
  for (char& c : *text) c = LowerAsciiChar(c);
}

// ParseEventType of the lower-cased text, without building the lower-cased copy.
std::optional<EventType> ParseEventTypeIgnoringCase(std::string_view text) {
  for (int i = 0; i < kEventTypeCount; ++i) {
    const std::string_view name = kEventTypeNames[i];
    if (name.size() != text.size()) continue;
    size_t j = 0;
    while (j < text.size() && LowerAsciiChar(text[j]) == name[j]) ++j;
    if (j == text.size()) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

// Shows a bad value in an error message without flooding it.
std::string Quote(std::string_view value) {
  constexpr size_t kShown = 40;
  if (!IsValidUtf8(value)) return "(invalid UTF-8)";
  return value.size() <= kShown ? fmt::format("'{}'", value) : fmt::format("'{}...'", value.substr(0, kShown));
}

arrow::Status CheckText(std::string_view name, std::string_view value, Utf8Check utf8_check) {
  if (value.size() > kMaxFieldBytes) {
    return arrow::Status::Invalid(name, " is ", value.size(), " bytes long (at most ", kMaxFieldBytes, ")");
  }
  if (utf8_check == Utf8Check::kPerField && !IsValidUtf8(value)) {
    return arrow::Status::Invalid(name, " is not valid UTF-8");
  }
  return arrow::Status::OK();
}

arrow::Status RequireText(std::string_view name, std::string_view value, Utf8Check utf8_check) {
  if (value.empty()) return arrow::Status::Invalid("missing ", name);
  return CheckText(name, value, utf8_check);
}

// The identity comes whole or not at all: half of one could not be traced back or deduplicated.
arrow::Status ParseIdentity(std::string_view source_id, std::string_view line_text, Utf8Check utf8_check,
                            int64_t* line) {
  // AppendEventJson writes an event without identity as source_id null and source_line 0; reading
  // that back must give the same event, not a half identity (found by fuzzing the decoder).
  if (source_id.empty() && (line_text.empty() || line_text == "0")) {
    *line = 0;
    return arrow::Status::OK();
  }
  if (source_id.empty()) return arrow::Status::Invalid("source_line without source_id");
  if (line_text.empty()) return arrow::Status::Invalid("source_id without source_line");
  ARROW_RETURN_NOT_OK(CheckText("source_id", source_id, utf8_check));
  const auto [end, error] = std::from_chars(line_text.data(), line_text.data() + line_text.size(), *line);
  if (error != std::errc() || end != line_text.data() + line_text.size() || *line < 1) {
    return arrow::Status::Invalid("source_line ", Quote(line_text), " is not a line number");
  }
  return arrow::Status::OK();
}

}  // namespace

std::string_view EventTypeName(EventType type) { return kEventTypeNames[static_cast<int>(type)]; }

std::optional<EventType> ParseEventType(std::string_view name) {
  for (int i = 0; i < kEventTypeCount; ++i) {
    if (kEventTypeNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  // Identifiers are nearly always ASCII: skip eight ASCII bytes at a time.
  while (end - p >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    if ((word & 0x8080808080808080ULL) != 0) break;
    p += 8;
  }
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t code_point;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code_point = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kMinimum[extra] || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

arrow::Status BuildEvent(const RawEvent& raw, Event* out, Utf8Check utf8_check) {
  const std::string_view timestamp = TrimBlanks(raw.timestamp);
  const std::string_view visitor_id = TrimBlanks(raw.visitor_id);
  const std::string_view type_text = TrimBlanks(raw.event_type);
  const std::string_view item_id = TrimBlanks(raw.item_id);
  const std::string_view transaction_id = TrimBlanks(raw.transaction_id);
  const std::string_view source_id = TrimBlanks(raw.source_id);
  const std::string_view source_line = TrimBlanks(raw.source_line);
  const std::string_view device = TrimBlanks(raw.device);
  const std::string_view browser = TrimBlanks(raw.browser);
  const std::string_view os = TrimBlanks(raw.os);

  if (timestamp.empty()) return arrow::Status::Invalid("missing timestamp");
  const auto epoch_seconds = ParseTimestamp(timestamp);
  if (!epoch_seconds) return arrow::Status::Invalid("unparsable timestamp ", Quote(timestamp));
  if (!IsAcceptedEventTime(*epoch_seconds)) {
    return arrow::Status::Invalid("timestamp ", Quote(timestamp), " is outside the accepted range ",
                                  kAcceptedEventTimes);
  }
  ARROW_RETURN_NOT_OK(RequireText("visitor_id", visitor_id, utf8_check));
  if (type_text.empty()) return arrow::Status::Invalid("missing event_type");
  const auto type = ParseEventTypeIgnoringCase(type_text);
  if (!type) return arrow::Status::Invalid("unknown event_type ", Quote(type_text));
  ARROW_RETURN_NOT_OK(RequireText("item_id", item_id, utf8_check));
  if (*type == EventType::kTransaction) {
    ARROW_RETURN_NOT_OK(RequireText("transaction_id", transaction_id, utf8_check));
  } else if (!transaction_id.empty()) {
    return arrow::Status::Invalid("transaction_id ", Quote(transaction_id), " on a ", EventTypeName(*type),
                                  " event (only transactions have one)");
  }
  int64_t line = 0;
  ARROW_RETURN_NOT_OK(ParseIdentity(source_id, source_line, utf8_check, &line));
  ARROW_RETURN_NOT_OK(CheckText("device", device, utf8_check));
  ARROW_RETURN_NOT_OK(CheckText("browser", browser, utf8_check));
  ARROW_RETURN_NOT_OK(CheckText("os", os, utf8_check));

  out->source_id.assign(source_id);
  out->source_line = line;
  out->timestamp = *epoch_seconds;
  out->visitor_id.assign(visitor_id);
  out->event_type = *type;
  out->item_id.assign(item_id);
  out->transaction_id.assign(transaction_id);
  out->device.assign(device);
  LowerAsciiInPlace(&out->device);
  out->browser.assign(browser);
  out->os.assign(os);
  return arrow::Status::OK();
}

}  // namespace clickstream
