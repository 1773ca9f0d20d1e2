#include "event/json_codec.h"

#include <array>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "event/timestamp.h"

namespace clickstream {

namespace {

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.substr(run_start, i - run_start));
    run_start = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(escape, sizeof(escape));
      }
    }
  }
  out->append(text.substr(run_start));
  out->push_back('"');
}

void AppendOptionalString(std::string_view text, std::string* out) {
  if (text.empty()) {
    out->append("null");
  } else {
    AppendJsonString(text, out);
  }
}

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  char timestamp[kTimestampChars];
  FormatTimestamp(event.timestamp, timestamp);
  out->append("{\"event_id\":");
  AppendJsonString(event.event_id, out);
  out->append(",\"timestamp\":\"");
  out->append(timestamp, kTimestampChars);
  out->append("\",\"visitor_id\":");
  AppendJsonString(event.visitor_id, out);
  out->append(",\"event_type\":\"");
  out->append(EventTypeName(event.event_type));
  out->append("\",\"item_id\":");
  AppendJsonString(event.item_id, out);
  out->append(",\"transaction_id\":");
  AppendOptionalString(event.transaction_id, out);
  out->append(",\"device\":");
  AppendOptionalString(event.device, out);
  out->append(",\"browser\":");
  AppendOptionalString(event.browser, out);
  out->append(",\"os\":");
  AppendOptionalString(event.os, out);
  out->push_back('}');
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
  document.Parse<rapidjson::kParseValidateEncodingFlag>(payload.data(), payload.size());
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
