#include "event/event.h"

#include <array>
#include <charconv>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "event/fields.h"
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

// The index in kEventFields of the one field judged by `rule`.
constexpr size_t FieldWithRule(FieldRule rule) {
  size_t found = kEventFieldCount;
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    if (kEventFields[i].rule == rule) found = found == kEventFieldCount ? i : kEventFieldCount + 1;
  }
  return found;
}

constexpr size_t kIdentityIdField = FieldWithRule(FieldRule::kIdentityId);
constexpr size_t kIdentityLineField = FieldWithRule(FieldRule::kIdentityLine);
constexpr size_t kEventTypeField = FieldWithRule(FieldRule::kEventType);
static_assert(kIdentityIdField < kIdentityLineField && kIdentityLineField < kEventFieldCount,
              "one source_id and one source_line field, the id first: it judges the pair");
static_assert(kEventTypeField < FieldWithRule(FieldRule::kOnTransactions),
              "one event type and one transaction field, the type first: the transaction's rule needs it");

// Where each rule puts its value: numbers for the timestamp and the line, the EventType member for
// the event type (the table has no pointer to it), text for every other rule.
constexpr bool RuleFitsItsField(const EventFieldSpec& spec) {
  switch (spec.rule) {
    case FieldRule::kIdentityLine:
    case FieldRule::kTimestamp:
      return spec.number != nullptr && spec.text == nullptr;
    case FieldRule::kEventType:
      return spec.number == nullptr && spec.text == nullptr;
    default:
      return spec.number == nullptr && spec.text != nullptr;
  }
}
static_assert([] {
  for (const EventFieldSpec& spec : kEventFields) {
    if (!RuleFitsItsField(spec)) return false;
  }
  return true;
}());

// Every field's trimmed text, by its index in kEventFields, and what the rules made of it.
struct JudgedFields {
  std::array<std::string_view, kEventFieldCount> text;
  int64_t line = 0;
  int64_t epoch_seconds = 0;
  EventType type = EventType::kView;
};

// Applies field I's rule to its trimmed text; an earlier field's result is already in `fields`.
template <size_t I>
arrow::Status JudgeField(Utf8Check utf8_check, JudgedFields* fields) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  constexpr std::string_view name = spec.column.name;
  const std::string_view value = fields->text[I];
  if constexpr (spec.rule == FieldRule::kIdentityId) {
    // The identity comes whole or not at all: half of one could not be traced back or deduplicated.
    constexpr std::string_view line_name = kEventFields[kIdentityLineField].column.name;
    // AppendEventJson writes an event without identity as source_id null and source_line 0;
    // reading that back must give the same event, not half an identity (found by fuzzing).
    const std::string_view line_text = fields->text[kIdentityLineField];
    const bool has_line = !line_text.empty() && !(value.empty() && line_text == "0");
    if (value.empty()) return has_line ? arrow::Status::Invalid(line_name, " without ", name) : arrow::Status::OK();
    if (!has_line) return arrow::Status::Invalid(name, " without ", line_name);
    return CheckText(name, value, utf8_check);
  } else if constexpr (spec.rule == FieldRule::kIdentityLine) {
    // No identity at all (nothing, or the 0 an identity-less event is encoded with): the id's
    // rule saw to that.
    if (value.empty() || (fields->text[kIdentityIdField].empty() && value == "0")) {
      fields->line = 0;
      return arrow::Status::OK();
    }
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), fields->line);
    if (error != std::errc() || end != value.data() + value.size() || fields->line < 1) {
      return arrow::Status::Invalid(name, " ", Quote(value), " is not a line number");
    }
    return arrow::Status::OK();
  } else if constexpr (spec.rule == FieldRule::kTimestamp) {
    if (value.empty()) return arrow::Status::Invalid("missing ", name);
    const auto epoch_seconds = ParseTimestamp(value);
    if (!epoch_seconds) return arrow::Status::Invalid("unparsable ", name, " ", Quote(value));
    if (!IsAcceptedEventTime(*epoch_seconds)) {
      return arrow::Status::Invalid(name, " ", Quote(value), " is outside the accepted range ", kAcceptedEventTimes);
    }
    fields->epoch_seconds = *epoch_seconds;
    return arrow::Status::OK();
  } else if constexpr (spec.rule == FieldRule::kRequired) {
    return RequireText(name, value, utf8_check);
  } else if constexpr (spec.rule == FieldRule::kEventType) {
    if (value.empty()) return arrow::Status::Invalid("missing ", name);
    const auto type = ParseEventTypeIgnoringCase(value);
    if (!type) return arrow::Status::Invalid("unknown ", name, " ", Quote(value));
    fields->type = *type;
    return arrow::Status::OK();
  } else if constexpr (spec.rule == FieldRule::kOnTransactions) {
    if (fields->type == EventType::kTransaction) return RequireText(name, value, utf8_check);
    if (value.empty()) return arrow::Status::OK();
    return arrow::Status::Invalid(name, " ", Quote(value), " on a ", EventTypeName(fields->type),
                                  " event (only transactions have one)");
  } else {
    static_assert(spec.rule == FieldRule::kOptional || spec.rule == FieldRule::kOptionalLowered);
    return CheckText(name, value, utf8_check);
  }
}

// Stores field I's judged value into the event.
template <size_t I>
void StoreField(const JudgedFields& fields, Event* out) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  if constexpr (spec.rule == FieldRule::kIdentityLine) {
    out->*spec.number = fields.line;
  } else if constexpr (spec.rule == FieldRule::kTimestamp) {
    out->*spec.number = fields.epoch_seconds;
  } else if constexpr (spec.rule == FieldRule::kEventType) {
    out->event_type = fields.type;
  } else {
    std::string& text = out->*spec.text;
    text.assign(fields.text[I]);
    if constexpr (spec.rule == FieldRule::kOptionalLowered) LowerAsciiInPlace(&text);
  }
}

// Judges fields I, I+1, … in table order and stops at the first fault. Recursion rather than a
// fold over `status = …`: Status's move assignment is out of line in Arrow, and measured 3% of
// the CSV source's time.
template <size_t I>
arrow::Status JudgeFieldsFrom(Utf8Check utf8_check, JudgedFields* fields) {
  if constexpr (I == kEventFieldCount) {
    return arrow::Status::OK();
  } else {
    ARROW_RETURN_NOT_OK(JudgeField<I>(utf8_check, fields));
    return JudgeFieldsFrom<I + 1>(utf8_check, fields);
  }
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

// Every field, in table order: trimmed, judged by its rule (stopping at the first fault), then
// stored. The folds unroll at compile time, so no field costs a lookup or a branch on its kind.
arrow::Status BuildEvent(const RawEvent& raw, Event* out, Utf8Check utf8_check) {
  return [&]<size_t... I>(std::index_sequence<I...>) {
    JudgedFields fields;
    ((fields.text[I] = TrimBlanks(raw.*kEventFields[I].raw)), ...);
    ARROW_RETURN_NOT_OK(JudgeFieldsFrom<0>(utf8_check, &fields));
    (StoreField<I>(fields, out), ...);
    return arrow::Status::OK();
  }(std::make_index_sequence<kEventFieldCount>());
}

}  // namespace clickstream
