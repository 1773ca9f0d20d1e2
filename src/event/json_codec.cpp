#include "event/json_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "event/fields.h"
#include "event/timestamp.h"

namespace clickstream {

namespace {

// Most encoded bytes one input byte can take (\u00XX).
constexpr size_t kMaxEscapedWidth = 6;

// The high bit of each byte of the word that a JSON string cannot hold as it is (below 0x20, a
// quote, a backslash). A flag may be false only above a true one (a borrow runs upwards), so the
// lowest flag, and whether there is any, are exact.
uint64_t BytesToEscape(uint64_t word) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t quote = word ^ (kOnes * '"');
  const uint64_t backslash = word ^ (kOnes * '\\');
  return (((word - kOnes * 0x20) & ~word) | ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash)) & kHigh;
}

// True when one of the `size` bytes at `text` needs escaping. Reads whole words, up to 7 bytes past
// the end: callers guarantee that many readable bytes. Bytes past the end are masked off; a false
// flag there can only sit above a true one (see BytesToEscape), so the answer stays exact.
bool HasByteToEscape(const char* text, size_t size) {
  size_t i = 0;
  uint64_t word;
  for (; i + 8 <= size; i += 8) {
    std::memcpy(&word, text + i, sizeof(word));
    if (BytesToEscape(word) != 0) return true;
  }
  if (i == size) return false;
  std::memcpy(&word, text + i, sizeof(word));
  const uint64_t inside = (uint64_t{1} << (8 * (size - i))) - 1;
  return (BytesToEscape(word) & inside) != 0;
}

// Writes at a cursor into a buffer sized for the worst case (EncodedBound): one pass, where
// measuring first and writing second walked every string twice (callgrind: ~1,180 instructions per
// event before, the encoder being a third of the producer's own work).
class JsonWriter {
 public:
  explicit JsonWriter(char* out) : out_(out) {}
  char* position() const { return out_; }

  void Raw(std::string_view text) {
    std::memcpy(out_, text.data(), text.size());
    out_ += text.size();
  }

  // Copies the text whole, the common case, and checks the copy: the output always has room for
  // the word-wide reads (a text's bound is six bytes per byte, plus four). Only a text holding a
  // byte that needs it is written again, escaped.
  void String(std::string_view text) {
    *out_++ = '"';
    if (!CopiedShortText(text)) {
      std::memcpy(out_, text.data(), text.size());
      if (HasByteToEscape(out_, text.size())) {
        for (const char c : text) Escaped(static_cast<unsigned char>(c));
      } else {
        out_ += text.size();
      }
    }
    *out_++ = '"';
  }

  // Text known to need no escaping (the event type's names).
  void PlainString(std::string_view text) {
    *out_++ = '"';
    Raw(text);
    *out_++ = '"';
  }

  void OptionalString(std::string_view text) {
    if (text.empty()) {
      Raw("null");
    } else {
      String(text);
    }
  }

  void Integer(int64_t value) { out_ = std::to_chars(out_, out_ + 20, value).ptr; }

  void Timestamp(int64_t epoch_seconds) {
    *out_++ = '"';
    FormatTimestamp(epoch_seconds, out_);
    out_ += kTimestampChars;
    *out_++ = '"';
  }

 private:
  // Identifiers are mostly 4 to 16 bytes: two overlapping word loads cover them, are stored as
  // they are and checked in registers, without a call to memcpy (a third of the encoder's
  // instructions went to calls and masks for such short texts). False for other lengths and for
  // texts that need escaping, which the general path then writes.
  bool CopiedShortText(std::string_view text) {
    const char* data = text.data();
    const size_t size = text.size();
    if (size >= 8 && size <= 16) {
      uint64_t head, tail;
      std::memcpy(&head, data, 8);
      std::memcpy(&tail, data + size - 8, 8);
      if ((BytesToEscape(head) | BytesToEscape(tail)) != 0) return false;
      std::memcpy(out_, &head, 8);
      std::memcpy(out_ + size - 8, &tail, 8);
    } else if (size >= 4 && size < 8) {
      uint32_t head, tail;
      std::memcpy(&head, data, 4);
      std::memcpy(&tail, data + size - 4, 4);
      if (BytesToEscape(uint64_t{head} << 32 | tail) != 0) return false;
      std::memcpy(out_, &head, 4);
      std::memcpy(out_ + size - 4, &tail, 4);
    } else {
      return false;
    }
    out_ += size;
    return true;
  }

  void Escaped(unsigned char c) {
    static constexpr char kHex[] = "0123456789abcdef";
    switch (c) {
      case '"': Raw("\\\""); break;
      case '\\': Raw("\\\\"); break;
      case '\n': Raw("\\n"); break;
      case '\r': Raw("\\r"); break;
      case '\t': Raw("\\t"); break;
      default:
        if (c >= 0x20) {
          *out_++ = static_cast<char>(c);
        } else {
          const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          Raw(std::string_view(escape, sizeof(escape)));
        }
    }
  }

  char* out_;
};

// `{"source_id":` for the first field and `,"name":` for the others, spelled out when compiling.
template <size_t I>
struct JsonKey {
  static constexpr std::string_view kName = kEventFields[I].column.name;
  static constexpr std::array<char, kName.size() + 4> kChars = [] {
    std::array<char, kName.size() + 4> key{};
    key[0] = I == 0 ? '{' : ',';
    key[1] = '"';
    for (size_t i = 0; i < kName.size(); ++i) key[2 + i] = kName[i];
    key[kName.size() + 2] = '"';
    key[kName.size() + 3] = ':';
    return key;
  }();
  static constexpr std::string_view kText{kChars.data(), kChars.size()};
};

// Room for the widest value formatted here: an int64 (20 characters) or a timestamp (19).
constexpr size_t kScratchChars = 20;
static_assert(kTimestampChars <= kScratchChars);

// The per-field steps are templates over the field's index, so the table's kinds and member pointers
// are resolved when compiling: the encoder is as direct as one written out field by field.
template <size_t I>
size_t EncodedBound(const Event& event) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  size_t value_bound;
  if constexpr (spec.json == JsonKind::kInteger) {
    value_bound = kScratchChars;
  } else if constexpr (spec.json == JsonKind::kTimestamp) {
    value_bound = kTimestampChars + 2;
  } else if constexpr (spec.text != nullptr) {
    value_bound = kMaxEscapedWidth * (event.*spec.text).size() + 4;  // quotes, or "null"
  } else {
    value_bound = EventTypeName(event.event_type).size() + 2;
  }
  return JsonKey<I>::kText.size() + value_bound;
}

template <size_t I>
void WriteField(const Event& event, JsonWriter* writer) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  writer->Raw(JsonKey<I>::kText);
  if constexpr (spec.json == JsonKind::kInteger) {
    writer->Integer(event.*spec.number);
  } else if constexpr (spec.json == JsonKind::kTimestamp) {
    writer->Timestamp(event.*spec.number);
  } else if constexpr (spec.text != nullptr) {
    writer->OptionalString(event.*spec.text);
  } else {
    writer->PlainString(EventTypeName(event.event_type));
  }
}

// The same fields straight from text already in the form BuildEvent gives them (see
// AppendNormalFormEventJson): the identity's line is canonical digits, the timestamp canonical
// "YYYY-MM-DD HH:MM:SS" and the event type one of its names, so only texts may need escaping.
template <size_t I>
size_t RawEncodedBound(const RawEvent& raw) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  return JsonKey<I>::kText.size() + kMaxEscapedWidth * (raw.*spec.raw).size() + 4;
}

template <size_t I>
void WriteRawField(const RawEvent& raw, JsonWriter* writer) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  writer->Raw(JsonKey<I>::kText);
  if constexpr (spec.json == JsonKind::kInteger) {
    writer->Raw(raw.*spec.raw);
  } else if constexpr (spec.json == JsonKind::kTimestamp || spec.text == nullptr) {
    writer->PlainString(raw.*spec.raw);
  } else {
    writer->OptionalString(raw.*spec.raw);
  }
}

bool IsBlankByte(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// What BuildEvent's TrimBlanks would leave as it is.
bool IsTrimmed(std::string_view text) {
  return text.empty() || (!IsBlankByte(text.front()) && !IsBlankByte(text.back()));
}

bool HasUpperCaseAscii(std::string_view text) {
  for (const char c : text) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

// Decimal digits as std::to_chars writes a positive number: no sign, no leading zero, no more
// than an int64 surely holds.
bool IsCanonicalLineNumber(std::string_view text) {
  if (text.empty() || text.size() > 18 || text.front() < '1' || text.front() > '9') return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// True only when BuildEvent would accept the fields and keep every one of them as it is: each
// field trimmed, within kMaxFieldBytes and valid UTF-8; a "YYYY-MM-DD HH:MM:SS" timestamp in the
// accepted range; visitor_id and item_id present; event_type exactly one of its names; a
// transaction_id exactly on transactions; the identity whole, its line canonical; device already
// lower case. Anything else (even a row BuildEvent would accept after normalising) is false.
bool IsNormalForm(const RawEvent& raw, Utf8Check utf8_check, int64_t* epoch_seconds) {
  for (const EventFieldSpec& spec : kEventFields) {
    const std::string_view text = raw.*spec.raw;
    if (!IsTrimmed(text) || text.size() > kMaxFieldBytes) return false;
    if (utf8_check == Utf8Check::kPerField && !IsValidUtf8(text)) return false;
  }
  if (raw.timestamp.size() != kTimestampChars || raw.timestamp[10] != ' ') return false;
  const std::optional<int64_t> seconds = ParseTimestamp(raw.timestamp);
  if (!seconds || !IsAcceptedEventTime(*seconds)) return false;
  const std::optional<EventType> type = ParseEventType(raw.event_type);
  if (!type || raw.visitor_id.empty() || raw.item_id.empty()) return false;
  if ((*type == EventType::kTransaction) == raw.transaction_id.empty()) return false;
  if (raw.source_id.empty() || !IsCanonicalLineNumber(raw.source_line)) return false;
  if (HasUpperCaseAscii(raw.device)) return false;
  *epoch_seconds = *seconds;
  return true;
}

}  // namespace

bool AppendNormalFormEventJson(const RawEvent& raw, Utf8Check utf8_check, std::string* out, int64_t* epoch_seconds) {
  if (!IsNormalForm(raw, utf8_check, epoch_seconds)) return false;
  const size_t bound = [&]<size_t... I>(std::index_sequence<I...>) {
    return (RawEncodedBound<I>(raw) + ...) + 1;
  }(std::make_index_sequence<kEventFieldCount>());
  const size_t old_size = out->size();
  out->resize(old_size + bound);
  JsonWriter writer(out->data() + old_size);
  [&]<size_t... I>(std::index_sequence<I...>) {
    (WriteRawField<I>(raw, &writer), ...);
  }(std::make_index_sequence<kEventFieldCount>());
  writer.Raw("}");
  out->resize(static_cast<size_t>(writer.position() - out->data()));
  return true;
}

void AppendEventJson(const Event& event, std::string* out) {
  const size_t bound = [&]<size_t... I>(std::index_sequence<I...>) {
    return (EncodedBound<I>(event) + ...) + 1;  // and the closing brace
  }(std::make_index_sequence<kEventFieldCount>());
  const size_t old_size = out->size();
  out->resize(old_size + bound);
  JsonWriter writer(out->data() + old_size);
  [&]<size_t... I>(std::index_sequence<I...>) {
    (WriteField<I>(event, &writer), ...);
  }(std::make_index_sequence<kEventFieldCount>());
  writer.Raw("}");
  out->resize(static_cast<size_t>(writer.position() - out->data()));
}

using PooledDocument = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                                  rapidjson::MemoryPoolAllocator<>>;

// RapidJSON's Document keeps every value it ever parsed in its allocator unless that allocator is
// cleared; owning the allocators here and clearing them per message keeps memory flat.
struct EventJsonDecoder::Buffers {
  std::array<char, 16384> value_chunk;
  std::array<char, 4096> stack_chunk;
  rapidjson::MemoryPoolAllocator<> values{value_chunk.data(), value_chunk.size()};
  rapidjson::MemoryPoolAllocator<> stack{stack_chunk.data(), stack_chunk.size()};
  // Text of fields sent as JSON integers.
  std::array<std::array<char, kScratchChars>, kEventFieldCount> number_text;
};

EventJsonDecoder::EventJsonDecoder() : buffers_(std::make_unique<Buffers>()) {}
EventJsonDecoder::~EventJsonDecoder() = default;

namespace {

const char* JsonTypeName(const rapidjson::Value& value) {
  if (value.IsBool()) return "a boolean";
  if (value.IsNumber()) return "a number";
  if (value.IsObject()) return "an object";
  if (value.IsArray()) return "an array";
  return "a string";
}

std::string_view Expected(JsonKind kind) {
  switch (kind) {
    case JsonKind::kStringOrInteger: return "a string or an integer";
    case JsonKind::kInteger: return "an integer";
    case JsonKind::kString:
    case JsonKind::kTimestamp: break;
  }
  return "a string";
}

// Reads one field's text into raw; null and absent both mean "empty".
arrow::Status ReadField(const rapidjson::Value& value, const EventFieldSpec& spec,
                        std::array<char, kScratchChars>* number_text, RawEvent* raw) {
  if (value.IsNull()) return arrow::Status::OK();
  const bool integer_allowed = spec.json == JsonKind::kStringOrInteger || spec.json == JsonKind::kInteger;
  if (value.IsString() && spec.json != JsonKind::kInteger) {
    raw->*spec.raw = std::string_view(value.GetString(), value.GetStringLength());
    return arrow::Status::OK();
  }
  if (integer_allowed && (value.IsUint64() || value.IsInt64())) {
    char* begin = number_text->data();
    const auto written = value.IsUint64() ? std::to_chars(begin, begin + kScratchChars, value.GetUint64())
                                          : std::to_chars(begin, begin + kScratchChars, value.GetInt64());
    raw->*spec.raw = std::string_view(begin, static_cast<size_t>(written.ptr - begin));
    return arrow::Status::OK();
  }
  return arrow::Status::Invalid("field ", spec.column.name, " is ", JsonTypeName(value), ", expected ",
                                Expected(spec.json));
}

// Word-at-a-time tests for the bytes a JSON string cannot hold as they are: a quote, a backslash or
// a control character. Each returns the high bit of every such byte; a flag above a flagged byte
// may be false (a borrow), but the lowest one never is.
constexpr uint64_t kEachByte = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;
constexpr uint64_t kQuotes = kEachByte * '"';
constexpr uint64_t kBackslashes = kEachByte * '\\';

uint64_t ZeroBytes(uint64_t word) { return (word - kEachByte) & ~word & kHighBits; }
uint64_t BytesBelow(uint64_t word, uint8_t n) { return (word - kEachByte * n) & ~word & kHighBits; }
uint64_t SpecialBytes(uint64_t word) {
  return BytesBelow(word, 0x20) | ZeroBytes(word ^ kQuotes) | ZeroBytes(word ^ kBackslashes);
}
bool IsSpecialByte(char c) { return static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\'; }

// The encoder's own layout, read without building a document: every field of the table, in table
// order, no whitespace, strings without escapes, integers without sign or leading zero, nothing
// after the closing brace. Anything else (another tool's message, an escape, an error to explain)
// makes it return false, and the general parser below decides, so both paths give the same event
// and every reason still comes from one place. Every message `produce` writes takes this path.
class EncoderLayoutReader {
 public:
  explicit EncoderLayoutReader(std::string_view payload)
      : next_(payload.data()), end_(payload.data() + payload.size()) {}

  bool Read(RawEvent* raw) {
    const bool fields = [&]<size_t... I>(std::index_sequence<I...>) {
      return (ReadField<I>(raw) && ...);
    }(std::make_index_sequence<kEventFieldCount>());
    return fields && end_ - next_ == 1 && *next_ == '}';
  }

 private:
  // Unsigned, no leading zero and short enough for int64: RapidJSON would give the same digits.
  static constexpr ptrdiff_t kMaxDigits = 18;

  template <size_t I>
  bool ReadField(RawEvent* raw) {
    constexpr const EventFieldSpec& spec = kEventFields[I];
    constexpr std::string_view key = JsonKey<I>::kText;
    if (end_ - next_ <= static_cast<ptrdiff_t>(key.size()) || std::memcmp(next_, key.data(), key.size()) != 0) {
      return false;
    }
    next_ += key.size();
    if (*next_ == 'n') return ReadNull();
    if constexpr (spec.json != JsonKind::kInteger) {
      if (*next_ == '"') return ReadString(&(raw->*spec.raw));
    }
    if constexpr (spec.json == JsonKind::kInteger || spec.json == JsonKind::kStringOrInteger) {
      return ReadDigits(&(raw->*spec.raw));
    }
    return false;
  }

  bool ReadNull() {
    if (end_ - next_ < 4 || std::memcmp(next_, "null", 4) != 0) return false;
    next_ += 4;
    return true;
  }

  bool ReadString(std::string_view* value) {
    const char* begin = ++next_;
    // Eight bytes at a time to the first that needs a look: a quote, a backslash or a control
    // character. Byte by byte, this loop was a quarter of the decoder's instructions.
    if constexpr (std::endian::native == std::endian::little) {
      while (end_ - next_ >= 8) {
        uint64_t word;
        std::memcpy(&word, next_, sizeof(word));
        if (const uint64_t special = SpecialBytes(word); special != 0) {
          next_ += std::countr_zero(special) / 8;  // the lowest flag is exact; the first byte in memory
          return EndString(begin, value);
        }
        next_ += 8;
      }
    }
    while (next_ < end_ && !IsSpecialByte(*next_)) ++next_;
    return EndString(begin, value);
  }

  // At the byte that stopped the scan: the closing quote, or an escape to resolve or invalid JSON
  // to name, which the general parser does.
  bool EndString(const char* begin, std::string_view* value) {
    if (next_ == end_ || *next_ != '"') return false;
    *value = std::string_view(begin, static_cast<size_t>(next_ - begin));
    ++next_;
    return true;
  }

  bool ReadDigits(std::string_view* value) {
    const char* begin = next_;
    if (next_ < end_ && *next_ == '0') {
      ++next_;  // a digit after it is invalid JSON: the next key's check fails and the parser names it
    } else {
      while (next_ < end_ && *next_ >= '0' && *next_ <= '9' && next_ - begin < kMaxDigits) ++next_;
    }
    if (next_ == begin) return false;
    *value = std::string_view(begin, static_cast<size_t>(next_ - begin));
    return true;
  }

  const char* next_;
  const char* end_;
};

}  // namespace

namespace {

// Carries the DecodeFailure of a rejection about the message's shape.
class DecodeFailureDetail final : public arrow::StatusDetail {
 public:
  explicit DecodeFailureDetail(DecodeFailure failure) : failure_(failure) {}
  static constexpr char kTypeId[] = "clickstream::DecodeFailure";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return std::string(DecodeFailureCode(failure_)); }
  DecodeFailure failure() const { return failure_; }

 private:
  DecodeFailure failure_;
};

template <typename... Args>
arrow::Status Rejected(DecodeFailure failure, Args&&... args) {
  return arrow::Status::Invalid(std::forward<Args>(args)...).WithDetail(std::make_shared<DecodeFailureDetail>(failure));
}

arrow::Status CheckPayload(std::string_view payload) {
  if (payload.empty()) return Rejected(DecodeFailure::kEmpty, "empty message");
  // One word-at-a-time pass over the whole message is several times cheaper than RapidJSON's
  // per-character encoding validation, which was the consumer's largest single cost.
  if (!IsValidUtf8(payload)) return Rejected(DecodeFailure::kNotUtf8, "message is not valid UTF-8 (encoding error)");
  return arrow::Status::OK();
}

}  // namespace

std::string_view DecodeFailureCode(DecodeFailure failure) {
  switch (failure) {
    case DecodeFailure::kEmpty:
      return "empty";
    case DecodeFailure::kNotUtf8:
      return "not_utf8";
    case DecodeFailure::kInvalidJson:
      return "invalid_json";
    case DecodeFailure::kNotAnObject:
      return "not_an_object";
    case DecodeFailure::kInvalidField:
      break;
  }
  return "invalid_field";
}

DecodeFailure DecodeFailureOf(const arrow::Status& status) {
  const std::shared_ptr<arrow::StatusDetail>& detail = status.detail();
  if (detail && std::string_view(detail->type_id()) == DecodeFailureDetail::kTypeId) {
    return static_cast<const DecodeFailureDetail&>(*detail).failure();
  }
  return DecodeFailure::kInvalidField;
}

arrow::Status EventJsonDecoder::Decode(std::string_view payload, Event* out) {
  ARROW_RETURN_NOT_OK(CheckPayload(payload));
  // Its fields are slices of the message cut at ASCII quotes, so they are valid UTF-8 as it is.
  if (RawEvent raw; EncoderLayoutReader(payload).Read(&raw)) return BuildEvent(raw, out, Utf8Check::kKnownValidUtf8);
  return ParseAndBuild(payload, out);
}

arrow::Status EventJsonDecoder::DecodeWithParser(std::string_view payload, Event* out) {
  ARROW_RETURN_NOT_OK(CheckPayload(payload));
  return ParseAndBuild(payload, out);
}

arrow::Status EventJsonDecoder::ParseAndBuild(std::string_view payload, Event* out) {
  buffers_->values.Clear();
  buffers_->stack.Clear();
  PooledDocument document(&buffers_->values, 1024, &buffers_->stack);
  document.Parse(payload.data(), payload.size());
  if (document.HasParseError()) {
    return Rejected(DecodeFailure::kInvalidJson, "invalid JSON at byte ", document.GetErrorOffset(), ": ",
                    rapidjson::GetParseError_En(document.GetParseError()));
  }
  if (!document.IsObject()) {
    return Rejected(DecodeFailure::kNotAnObject, "message is ", JsonTypeName(document), ", not an object");
  }

  RawEvent raw;
  // The encoder writes the fields in table order: the member at the field's position is looked at
  // first, and the object searched only when another tool ordered (or omitted) fields differently.
  const size_t member_count = document.MemberCount();
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    const std::string_view name = kEventFields[i].column.name;
    auto found = document.MemberBegin() + static_cast<ptrdiff_t>(std::min(i, member_count));
    if (found == document.MemberEnd() ||
        std::string_view(found->name.GetString(), found->name.GetStringLength()) != name) {
      found = document.FindMember(rapidjson::StringRef(name.data(), name.size()));
    }
    if (found == document.MemberEnd()) continue;
    ARROW_RETURN_NOT_OK(ReadField(found->value, kEventFields[i], &buffers_->number_text[i], &raw));
  }
  return BuildEvent(raw, out);
}

}  // namespace clickstream
