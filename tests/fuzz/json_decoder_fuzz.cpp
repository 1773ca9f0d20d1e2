// Differential target for the JSON event decoder: Decode (the fast path for the encoder's own layout,
// falling back to RapidJSON) and DecodeWithParser (RapidJSON alone) must agree on every input:
// both accept with the same event, or both reject with the same reason. An accepted event must
// also survive the wire: encoded again, it decodes to itself by the fast path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "event/json_codec.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clickstream;
  // One decoder for the process, as in the consumer: its buffers are reused from message to message.
  static EventJsonDecoder decoder;
  const std::string_view payload(reinterpret_cast<const char*>(data), size);

  Event fast, general;
  const arrow::Status fast_status = decoder.Decode(payload, &fast);
  const arrow::Status general_status = decoder.DecodeWithParser(payload, &general);
  FUZZ_CHECK(fast_status.ok() == general_status.ok());
  if (!fast_status.ok()) {
    FUZZ_CHECK(fast_status.message() == general_status.message());
    return 0;
  }
  FUZZ_CHECK(fuzz::SameEvent(fast, general));

  std::string encoded;
  AppendEventJson(fast, &encoded);
  Event again;
  FUZZ_CHECK(decoder.Decode(encoded, &again).ok());
  FUZZ_CHECK(fuzz::SameEvent(fast, again));
  return 0;
}
