#include "event/json_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "event/fields.h"
#include "event/timestamp.h"

namespace clickstream {

namespace {

// Bytes each input byte takes inside a JSON string: 1, 2 for the short escapes, 6 for \u00XX.
constexpr std::array<uint8_t, 256> kEscapedWidth = [] {
  std::array<uint8_t, 256> width{};
  for (int c = 0; c < 256; ++c) width[c] = c < 0x20 ? 6 : 1;
  width['"'] = width['\\'] = width['\n'] = width['\r'] = width['\t'] = 2;
  return width;
}();

// Length of the text once quoted and escaped. (A word-at-a-time scan, as the decoder's, measured
// slower here: most values are shorter than a word.)
size_t JsonStringLength(std::string_view text) {
  size_t length = 2;
  for (const char c : text) length += kEscapedWidth[static_cast<unsigned char>(c)];
  return length;
}

size_t OptionalStringLength(std::string_view text) { return text.empty() ? 4 : JsonStringLength(text); }

// Writes into a buffer sized by the *Length functions: the encoder measures once, grows the output
// once and then copies, instead of appending piece by piece.
class JsonWriter {
 public:
  explicit JsonWriter(char* out) : out_(out) {}

  void Raw(std::string_view text) {
    std::memcpy(out_, text.data(), text.size());
    out_ += text.size();
  }

  void String(std::string_view text, size_t encoded_length) {
    *out_++ = '"';
    if (encoded_length == text.size() + 2) {
      Raw(text);  // nothing to escape
    } else {
      for (const char c : text) Escaped(static_cast<unsigned char>(c));
    }
    *out_++ = '"';
  }

  void OptionalString(std::string_view text, size_t encoded_length) {
    if (text.empty()) {
      Raw("null");
    } else {
      String(text, encoded_length);
    }
  }

 private:
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

// Each field's text (unescaped) and its encoded length: measured once, so the output grows once.
struct MeasuredFields {
  std::array<std::string_view, kEventFieldCount> values;
  std::array<size_t, kEventFieldCount> lengths;
  std::array<std::array<char, kScratchChars>, kEventFieldCount> scratch;  // formatted numbers and times
};

// The per-field steps are templates over the field's index, so the table's kinds and member pointers
// are resolved when compiling: the encoder is as direct as one written out field by field.
template <size_t I>
size_t MeasureField(const Event& event, MeasuredFields* fields) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  std::string_view& value = fields->values[I];
  size_t& length = fields->lengths[I];
  char* scratch = fields->scratch[I].data();
  if constexpr (spec.json == JsonKind::kInteger) {
    const auto written = std::to_chars(scratch, scratch + kScratchChars, event.*spec.number);
    value = std::string_view(scratch, static_cast<size_t>(written.ptr - scratch));
    length = value.size();
  } else if constexpr (spec.json == JsonKind::kTimestamp) {
    FormatTimestamp(event.*spec.number, scratch);
    value = std::string_view(scratch, kTimestampChars);
    length = kTimestampChars + 2;
  } else if constexpr (spec.text != nullptr) {
    value = event.*spec.text;
    length = OptionalStringLength(value);
  } else {
    value = EventTypeName(event.event_type);
    length = value.size() + 2;
  }
  return JsonKey<I>::kText.size() + length;
}

template <size_t I>
void WriteField(const MeasuredFields& fields, JsonWriter* writer) {
  constexpr const EventFieldSpec& spec = kEventFields[I];
  writer->Raw(JsonKey<I>::kText);
  if constexpr (spec.json == JsonKind::kInteger) {
    writer->Raw(fields.values[I]);
  } else if constexpr (spec.json == JsonKind::kTimestamp || spec.text == nullptr) {
    writer->String(fields.values[I], fields.lengths[I]);
  } else {
    writer->OptionalString(fields.values[I], fields.lengths[I]);
  }
}

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  MeasuredFields fields;
  const size_t length = [&]<size_t... I>(std::index_sequence<I...>) {
    return (MeasureField<I>(event, &fields) + ...) + 1;  // and the closing brace
  }(std::make_index_sequence<kEventFieldCount>());
  const size_t old_size = out->size();
  out->resize(old_size + length);
  JsonWriter writer(out->data() + old_size);
  [&]<size_t... I>(std::index_sequence<I...>) {
    (WriteField<I>(fields, &writer), ...);
  }(std::make_index_sequence<kEventFieldCount>());
  writer.Raw("}");
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

arrow::Status EventJsonDecoder::Decode(std::string_view payload, Event* out) {
  if (payload.empty()) return arrow::Status::Invalid("empty message");
  // One word-at-a-time pass over the whole message is several times cheaper than RapidJSON's
  // per-character encoding validation, which was the consumer's largest single cost.
  if (!IsValidUtf8(payload)) return arrow::Status::Invalid("message is not valid UTF-8 (encoding error)");
  // Its fields are slices of the message cut at ASCII quotes, so they are valid UTF-8 as it is.
  if (RawEvent raw; EncoderLayoutReader(payload).Read(&raw)) return BuildEvent(raw, out, Utf8Check::kKnownValidUtf8);

  buffers_->values.Clear();
  buffers_->stack.Clear();
  PooledDocument document(&buffers_->values, 1024, &buffers_->stack);
  document.Parse(payload.data(), payload.size());
  if (document.HasParseError()) {
    return arrow::Status::Invalid("invalid JSON at byte ", document.GetErrorOffset(), ": ",
                                  rapidjson::GetParseError_En(document.GetParseError()));
  }
  if (!document.IsObject()) return arrow::Status::Invalid("message is ", JsonTypeName(document), ", not an object");

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
