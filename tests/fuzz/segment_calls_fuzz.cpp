// Target for the Segment request mapping (collect/segment_calls.h), which reads what any site's
// tracker posts. Besides not crashing: a refused call carries a reason and no event, a mapped one
// at least one event, and every event it makes survives the wire: encoded as `collect` sends it,
// `consume`'s decoder reads the same event back (so nothing collected becomes a dead letter).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "collect/segment_calls.h"
#include "event/json_codec.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clickstream;
  if (size == 0) return 0;
  static EventJsonDecoder decoder;
  // The first byte picks the endpoint, the rest is the body.
  const auto endpoint = static_cast<collect::SegmentEndpoint>(data[0] % 7);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  collect::SegmentMappingOptions options;
  options.received_at = 1'764'871'200;  // 2025-12-04 18:00:00
  options.new_message_id = [] { return std::string("fuzz"); };
  options.classify_user_agent = [](std::string_view agent) {
    return collect::UserAgentFacts{"mobile", std::string(agent.substr(0, 40)), "iOS"};
  };
  const auto calls = collect::MapSegmentBody(endpoint, body, options);
  if (!calls.ok()) {
    FUZZ_CHECK(calls.status().IsInvalid());
    return 0;
  }
  for (const collect::MappedCall& call : *calls) {
    using Outcome = collect::MappedCall::Outcome;
    FUZZ_CHECK(call.outcome == Outcome::kEvents ? !call.events.empty() : call.events.empty());
    FUZZ_CHECK(call.outcome != Outcome::kInvalid || !call.reason.empty());
    for (const Event& event : call.events) {
      std::string encoded;
      AppendEventJson(event, &encoded);
      Event decoded;
      FUZZ_CHECK(decoder.Decode(encoded, &decoded).ok());
      FUZZ_CHECK(fuzz::SameEvent(event, decoded));
    }
  }
  return 0;
}
