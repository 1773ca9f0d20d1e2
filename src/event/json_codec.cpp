#include "event/json_codec.h"

#include <array>
#include <cstdint>
#include <cstring>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

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

constexpr std::string_view kEventIdKey = "{\"event_id\":";
constexpr std::string_view kTimestampKey = ",\"timestamp\":\"";
constexpr std::string_view kVisitorIdKey = "\",\"visitor_id\":";
constexpr std::string_view kEventTypeKey = ",\"event_type\":\"";
constexpr std::string_view kItemIdKey = "\",\"item_id\":";
constexpr std::string_view kTransactionIdKey = ",\"transaction_id\":";
constexpr std::string_view kDeviceKey = ",\"device\":";
constexpr std::string_view kBrowserKey = ",\"browser\":";
constexpr std::string_view kOsKey = ",\"os\":";

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  char timestamp[kTimestampChars];
  FormatTimestamp(event.timestamp, timestamp);
  const std::string_view type_name = EventTypeName(event.event_type);
  const size_t event_id_length = JsonStringLength(event.event_id);
  const size_t visitor_id_length = JsonStringLength(event.visitor_id);
  const size_t item_id_length = JsonStringLength(event.item_id);
  const size_t transaction_id_length = OptionalStringLength(event.transaction_id);
  const size_t device_length = OptionalStringLength(event.device);
  const size_t browser_length = OptionalStringLength(event.browser);
  const size_t os_length = OptionalStringLength(event.os);
  const size_t length = kEventIdKey.size() + event_id_length + kTimestampKey.size() + kTimestampChars +
                        kVisitorIdKey.size() + visitor_id_length + kEventTypeKey.size() + type_name.size() +
                        kItemIdKey.size() + item_id_length + kTransactionIdKey.size() + transaction_id_length +
                        kDeviceKey.size() + device_length + kBrowserKey.size() + browser_length + kOsKey.size() +
                        os_length + 1;

  const size_t old_size = out->size();
  out->resize(old_size + length);
  JsonWriter writer(out->data() + old_size);
  writer.Raw(kEventIdKey);
  writer.String(event.event_id, event_id_length);
  writer.Raw(kTimestampKey);
  writer.Raw(std::string_view(timestamp, kTimestampChars));
  writer.Raw(kVisitorIdKey);
  writer.String(event.visitor_id, visitor_id_length);
  writer.Raw(kEventTypeKey);
  writer.Raw(type_name);
  writer.Raw(kItemIdKey);
  writer.String(event.item_id, item_id_length);
  writer.Raw(kTransactionIdKey);
  writer.OptionalString(event.transaction_id, transaction_id_length);
  writer.Raw(kDeviceKey);
  writer.OptionalString(event.device, device_length);
  writer.Raw(kBrowserKey);
  writer.OptionalString(event.browser, browser_length);
  writer.Raw(kOsKey);
  writer.OptionalString(event.os, os_length);
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
  std::array<std::string, 9> number_text;  // text of identifiers sent as JSON integers
};

EventJsonDecoder::EventJsonDecoder() : buffers_(std::make_unique<Buffers>()) {}
EventJsonDecoder::~EventJsonDecoder() = default;

namespace {

enum class FieldKind { kText, kIdentifier };

struct FieldSpec {
  std::string_view name;
  std::string_view RawEvent::*member;
  FieldKind kind;
};

constexpr std::array<FieldSpec, 9> kFields = {{
    {"event_id", &RawEvent::event_id, FieldKind::kIdentifier},
    {"timestamp", &RawEvent::timestamp, FieldKind::kText},
    {"visitor_id", &RawEvent::visitor_id, FieldKind::kIdentifier},
    {"event_type", &RawEvent::event_type, FieldKind::kText},
    {"item_id", &RawEvent::item_id, FieldKind::kIdentifier},
    {"transaction_id", &RawEvent::transaction_id, FieldKind::kIdentifier},
    {"device", &RawEvent::device, FieldKind::kText},
    {"browser", &RawEvent::browser, FieldKind::kText},
    {"os", &RawEvent::os, FieldKind::kText},
}};

const char* JsonTypeName(const rapidjson::Value& value) {
  if (value.IsBool()) return "a boolean";
  if (value.IsNumber()) return "a number";
  if (value.IsObject()) return "an object";
  if (value.IsArray()) return "an array";
  return "a string";
}

// Reads one field's text into raw; null and absent both mean "empty".
arrow::Status ReadField(const rapidjson::Value& value, const FieldSpec& spec, std::string* number_text,
                        RawEvent* raw) {
  if (value.IsNull()) return arrow::Status::OK();
  if (value.IsString()) {
    raw->*spec.member = std::string_view(value.GetString(), value.GetStringLength());
    return arrow::Status::OK();
  }
  if (spec.kind == FieldKind::kIdentifier && (value.IsUint64() || value.IsInt64())) {
    *number_text = value.IsUint64() ? std::to_string(value.GetUint64()) : std::to_string(value.GetInt64());
    raw->*spec.member = *number_text;
    return arrow::Status::OK();
  }
  return arrow::Status::Invalid("field ", spec.name, " is ", JsonTypeName(value), ", expected ",
                                spec.kind == FieldKind::kIdentifier ? "a string or an integer" : "a string");
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
  for (size_t i = 0; i < kFields.size(); ++i) {
    const auto found = document.FindMember(rapidjson::StringRef(kFields[i].name.data(), kFields[i].name.size()));
    if (found == document.MemberEnd()) continue;
    ARROW_RETURN_NOT_OK(ReadField(found->value, kFields[i], &buffers_->number_text[i], &raw));
  }
  return BuildEvent(raw, out);
}

}  // namespace clickstream
