#include "collect/segment_calls.h"

#include <array>
#include <optional>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "event/timestamp.h"

namespace clickstream::collect {

namespace {

using rapidjson::Value;

struct TrackMapping {
  std::string_view name;
  EventType type;
};
// The e-commerce spec's names of what the events record.
constexpr std::array<TrackMapping, 3> kTrackMappings{{
    {"Product Viewed", EventType::kView},
    {"Product Added", EventType::kAddToCart},
    {"Order Completed", EventType::kTransaction},
}};

const Value* Member(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  const auto found = object.FindMember(name);
  return found == object.MemberEnd() ? nullptr : &found->value;
}

const Value* Path(const Value& object, std::initializer_list<const char*> names) {
  const Value* at = &object;
  for (const char* name : names) {
    at = Member(*at, name);
    if (at == nullptr) return nullptr;
  }
  return at;
}

// Identifiers arrive as strings or as numbers (product_id: 355908); either keeps its exact text.
std::optional<std::string> IdentifierText(const Value* value) {
  if (value == nullptr) return std::nullopt;
  if (value->IsString()) return std::string(value->GetString(), value->GetStringLength());
  if (value->IsInt64()) return std::to_string(value->GetInt64());
  if (value->IsUint64()) return std::to_string(value->GetUint64());
  return std::nullopt;
}

std::string_view StringAt(const Value& object, std::initializer_list<const char*> names) {
  const Value* value = Path(object, names);
  return value != nullptr && value->IsString() ? std::string_view(value->GetString(), value->GetStringLength())
                                               : std::string_view();
}

std::string Lowered(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lowered;
}

// context.device.type names a form factor in some trackers and the platform ("ios", "android") in
// Segment's mobile libraries: only a form factor says which device it was.
std::optional<std::string> FormFactor(std::string_view device_type) {
  const std::string lowered = Lowered(device_type);
  if (lowered == "desktop" || lowered == "mobile" || lowered == "tablet") return lowered;
  if (lowered == "phone" || lowered == "smartphone") return "mobile";
  return std::nullopt;
}

std::string_view EndpointType(SegmentEndpoint endpoint) {
  switch (endpoint) {
    case SegmentEndpoint::kTrack: return "track";
    case SegmentEndpoint::kPage: return "page";
    case SegmentEndpoint::kScreen: return "screen";
    case SegmentEndpoint::kIdentify: return "identify";
    case SegmentEndpoint::kGroup: return "group";
    case SegmentEndpoint::kAlias: return "alias";
    case SegmentEndpoint::kBatch: return "batch";
  }
  return "";
}

// What every event of one call shares: who, when, on what, and the call's identity.
struct CallFacts {
  std::string visitor_id;
  int64_t timestamp = 0;
  std::string source_id;
  UserAgentFacts agent;
};

class CallMapper {
 public:
  explicit CallMapper(const SegmentMappingOptions& options) : options_(options) {}

  MappedCall Map(const Value& call, std::string_view type) const {
    MappedCall mapped;
    mapped.type = std::string(type);
    if (!call.IsObject()) return Invalid(std::move(mapped), "a call must be a JSON object");
    const std::optional<EventType> event_type = EventTypeOf(call, type, &mapped);
    if (!event_type) return mapped;
    CallFacts facts;
    if (const std::string problem = ReadFacts(call, &facts); !problem.empty()) {
      return Invalid(std::move(mapped), problem);
    }
    if (*event_type == EventType::kTransaction) return MapOrder(call, facts, std::move(mapped));
    const Value* item = Path(call, {"properties", "product_id"});
    const std::optional<std::string> item_id = IdentifierText(item);
    if (!item_id) return Invalid(std::move(mapped), "properties.product_id must be a string or an integer");
    return Append(std::move(mapped), MakeEvent(facts, 1, *event_type, *item_id, ""));
  }

 private:
  // The event type the call records, or nothing when it records none (mapped is then filled in).
  static std::optional<EventType> EventTypeOf(const Value& call, std::string_view type, MappedCall* mapped) {
    if (type == "track") {
      const std::string_view name = StringAt(call, {"event"});
      if (name.empty()) {
        *mapped = Invalid(std::move(*mapped), "a track call needs an \"event\" name");
        return std::nullopt;
      }
      for (const TrackMapping& mapping : kTrackMappings) {
        if (mapping.name == name) return mapping.type;
      }
      *mapped = Unmapped(std::move(*mapped), "track \"" + std::string(name) + "\"");
      return std::nullopt;
    }
    if ((type == "page" || type == "screen") && Path(call, {"properties", "product_id"}) != nullptr) {
      return EventType::kView;
    }
    *mapped = Unmapped(std::move(*mapped), std::string(type));
    return std::nullopt;
  }

  // An empty string, or why the call cannot be an event.
  std::string ReadFacts(const Value& call, CallFacts* facts) const {
    std::optional<std::string> visitor = IdentifierText(Member(call, "anonymousId"));
    if (!visitor || visitor->empty()) visitor = IdentifierText(Member(call, "userId"));
    if (!visitor || visitor->empty()) return "a call needs an anonymousId or a userId";
    facts->visitor_id = std::move(*visitor);

    facts->timestamp = options_.received_at;
    if (const Value* timestamp = Member(call, "timestamp"); timestamp != nullptr && !timestamp->IsNull()) {
      const std::string_view text = timestamp->IsString() ? timestamp->GetString() : "";
      const auto parsed = ParseIsoInstant(text);
      if (!parsed) return "timestamp must be an ISO 8601 instant with its zone, e.g. 2026-12-04T18:30:00.000Z";
      facts->timestamp = *parsed;
    }

    std::optional<std::string> message_id = IdentifierText(Member(call, "messageId"));
    if (!message_id || message_id->empty()) {
      message_id = options_.new_message_id ? options_.new_message_id() : std::string();
    }
    facts->source_id = "segment:" + *message_id;

    const std::string_view user_agent = StringAt(call, {"context", "userAgent"});
    if (!user_agent.empty() && options_.classify_user_agent) facts->agent = options_.classify_user_agent(user_agent);
    if (const auto form = FormFactor(StringAt(call, {"context", "device", "type"}))) facts->agent.device = *form;
    if (const std::string_view os = StringAt(call, {"context", "os", "name"}); !os.empty()) {
      facts->agent.os = std::string(os);
    }
    return "";
  }

  // One transaction per product of the order, in the order's own order.
  static MappedCall MapOrder(const Value& call, const CallFacts& facts, MappedCall mapped) {
    const std::optional<std::string> order = IdentifierText(Path(call, {"properties", "order_id"}));
    if (!order || order->empty()) return Invalid(std::move(mapped), "Order Completed needs properties.order_id");
    const Value* products = Path(call, {"properties", "products"});
    if (products == nullptr || !products->IsArray() || products->Empty()) {
      return Invalid(std::move(mapped), "Order Completed needs a non-empty properties.products array");
    }
    int64_t position = 0;
    for (const Value& product : products->GetArray()) {
      ++position;
      const std::optional<std::string> item_id = IdentifierText(Member(product, "product_id"));
      if (!item_id) {
        return Invalid(std::move(mapped), "properties.products[" + std::to_string(position - 1) +
                                              "].product_id must be a string or an integer");
      }
      mapped = Append(std::move(mapped), MakeEvent(facts, position, EventType::kTransaction, *item_id, *order));
      if (mapped.outcome == MappedCall::Outcome::kInvalid) return mapped;
    }
    return mapped;
  }

  // Judged by the same rules as a CSV row or a Kafka message (BuildEvent).
  static arrow::Result<Event> MakeEvent(const CallFacts& facts, int64_t position, EventType type,
                                        const std::string& item_id, const std::string& transaction_id) {
    if (!IsAcceptedEventTime(facts.timestamp)) {
      return arrow::Status::Invalid("timestamp is outside ", kAcceptedEventTimes);
    }
    const std::string timestamp = FormatTimestamp(facts.timestamp);
    const std::string line = std::to_string(position);
    RawEvent raw;
    raw.source_id = facts.source_id;
    raw.source_line = line;
    raw.timestamp = timestamp;
    raw.visitor_id = facts.visitor_id;
    raw.event_type = EventTypeName(type);
    raw.item_id = item_id;
    raw.transaction_id = transaction_id;
    raw.device = facts.agent.device;
    raw.browser = facts.agent.browser;
    raw.os = facts.agent.os;
    Event event;
    ARROW_RETURN_NOT_OK(BuildEvent(raw, &event));
    return event;
  }

  static MappedCall Append(MappedCall mapped, arrow::Result<Event> event) {
    if (!event.ok()) return Invalid(std::move(mapped), event.status().message());
    mapped.events.push_back(std::move(*event));
    return mapped;
  }

  static MappedCall Invalid(MappedCall mapped, std::string reason) {
    mapped.outcome = MappedCall::Outcome::kInvalid;
    mapped.reason = std::move(reason);
    mapped.events.clear();
    return mapped;
  }

  static MappedCall Unmapped(MappedCall mapped, std::string what) {
    mapped.outcome = MappedCall::Outcome::kUnmapped;
    mapped.reason = std::move(what);
    return mapped;
  }

  const SegmentMappingOptions& options_;
};

}  // namespace

arrow::Result<std::vector<MappedCall>> MapSegmentBody(SegmentEndpoint endpoint, std::string_view body,
                                                      const SegmentMappingOptions& options) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (document.HasParseError()) {
    return arrow::Status::Invalid("the body is not JSON: ", rapidjson::GetParseError_En(document.GetParseError()),
                                  " at byte ", document.GetErrorOffset());
  }
  if (!document.IsObject()) return arrow::Status::Invalid("the body must be a JSON object");
  const CallMapper mapper(options);
  std::vector<MappedCall> calls;
  if (endpoint != SegmentEndpoint::kBatch) {
    calls.push_back(mapper.Map(document, EndpointType(endpoint)));
    return calls;
  }
  const Value* batch = Member(document, "batch");
  if (batch == nullptr || !batch->IsArray()) return arrow::Status::Invalid("a batch body needs a \"batch\" array");
  calls.reserve(batch->Size());
  for (const Value& call : batch->GetArray()) {
    const std::string_view type = StringAt(call, {"type"});
    if (type.empty() || type == "batch") {
      MappedCall refused;
      refused.outcome = MappedCall::Outcome::kInvalid;
      refused.reason = "a batch call needs a \"type\" (track, page, screen, identify, group or alias)";
      calls.push_back(std::move(refused));
      continue;
    }
    calls.push_back(mapper.Map(call, type));
  }
  return calls;
}

}  // namespace clickstream::collect
