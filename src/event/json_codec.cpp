#include "event/json_codec.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

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

// Length of the text once quoted and escaped.
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

// `{"source_id":` for the first field and `,"name":` for the others, built once from the table.
const std::array<std::string, kEventFieldCount>& JsonKeys() {
  static const std::array<std::string, kEventFieldCount> keys = [] {
    std::array<std::string, kEventFieldCount> built;
    for (size_t i = 0; i < kEventFieldCount; ++i) {
      built[i] = (i == 0 ? "{\"" : ",\"") + std::string(kEventFields[i].column.name) + "\":";
    }
    return built;
  }();
  return keys;
}

std::string_view TextOf(const EventFieldSpec& spec, const Event& event) {
  return spec.text != nullptr ? std::string_view(event.*spec.text) : EventTypeName(event.event_type);
}

constexpr size_t kMaxIntegerChars = 20;

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  const auto& keys = JsonKeys();
  char timestamp[kTimestampChars];
  std::array<std::array<char, kMaxIntegerChars>, kEventFieldCount> integers;
  // Each field's text (unescaped) and its encoded length: measured once, so the output grows once.
  std::array<std::string_view, kEventFieldCount> values;
  std::array<size_t, kEventFieldCount> lengths;
  size_t length = 1;  // the closing brace
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    const EventFieldSpec& spec = kEventFields[i];
    switch (spec.json) {
      case JsonKind::kInteger: {
        char* begin = integers[i].data();
        const auto written = std::to_chars(begin, begin + kMaxIntegerChars, event.*spec.number);
        values[i] = std::string_view(begin, static_cast<size_t>(written.ptr - begin));
        lengths[i] = values[i].size();
        break;
      }
      case JsonKind::kTimestamp:
        FormatTimestamp(event.*spec.number, timestamp);
        values[i] = std::string_view(timestamp, kTimestampChars);
        lengths[i] = kTimestampChars + 2;
        break;
      case JsonKind::kString:
      case JsonKind::kStringOrInteger:
        values[i] = TextOf(spec, event);
        lengths[i] = OptionalStringLength(values[i]);
        break;
    }
    length += keys[i].size() + lengths[i];
  }

  const size_t old_size = out->size();
  out->resize(old_size + length);
  JsonWriter writer(out->data() + old_size);
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    writer.Raw(keys[i]);
    switch (kEventFields[i].json) {
      case JsonKind::kInteger:
        writer.Raw(values[i]);
        break;
      case JsonKind::kTimestamp:
        writer.String(values[i], lengths[i]);
        break;
      case JsonKind::kString:
      case JsonKind::kStringOrInteger:
        writer.OptionalString(values[i], lengths[i]);
        break;
    }
  }
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
  std::array<std::string, kEventFieldCount> number_text;  // text of fields sent as JSON integers
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
arrow::Status ReadField(const rapidjson::Value& value, const EventFieldSpec& spec, std::string* number_text,
                        RawEvent* raw) {
  if (value.IsNull()) return arrow::Status::OK();
  const bool integer_allowed = spec.json == JsonKind::kStringOrInteger || spec.json == JsonKind::kInteger;
  if (value.IsString() && spec.json != JsonKind::kInteger) {
    raw->*spec.raw = std::string_view(value.GetString(), value.GetStringLength());
    return arrow::Status::OK();
  }
  if (integer_allowed && (value.IsUint64() || value.IsInt64())) {
    *number_text = value.IsUint64() ? std::to_string(value.GetUint64()) : std::to_string(value.GetInt64());
    raw->*spec.raw = *number_text;
    return arrow::Status::OK();
  }
  return arrow::Status::Invalid("field ", spec.column.name, " is ", JsonTypeName(value), ", expected ",
                                Expected(spec.json));
}

}  // namespace

arrow::Status EventJsonDecoder::Decode(std::string_view payload, Event* out) {
  if (payload.empty()) return arrow::Status::Invalid("empty message");
  buffers_->values.Clear();
  buffers_->stack.Clear();
  PooledDocument document(&buffers_->values, 1024, &buffers_->stack);
  // One word-at-a-time pass over the whole message is several times cheaper than RapidJSON's
  // per-character encoding validation, which was the consumer's largest single cost.
  if (!IsValidUtf8(payload)) return arrow::Status::Invalid("message is not valid UTF-8 (encoding error)");
  document.Parse(payload.data(), payload.size());
  if (document.HasParseError()) {
    return arrow::Status::Invalid("invalid JSON at byte ", document.GetErrorOffset(), ": ",
                                  rapidjson::GetParseError_En(document.GetParseError()));
  }
  if (!document.IsObject()) return arrow::Status::Invalid("message is ", JsonTypeName(document), ", not an object");

  RawEvent raw;
  for (size_t i = 0; i < kEventFieldCount; ++i) {
    const std::string_view name = kEventFields[i].column.name;
    const auto found = document.FindMember(rapidjson::StringRef(name.data(), name.size()));
    if (found == document.MemberEnd()) continue;
    ARROW_RETURN_NOT_OK(ReadField(found->value, kEventFields[i], &buffers_->number_text[i], &raw));
  }
  return BuildEvent(raw, out);
}

}  // namespace clickstream
