// The start-up check of produce and consume: one metadata request against the cluster, bounded by
// a deadline. librdkafka retries a wrong password, a TLS mismatch or an unreachable address
// forever in the background; this turns each into one error naming its cause, within seconds.
#pragma once

#include <chrono>

#include <arrow/status.h>

#include "kafka/config.h"

namespace clickstream::kafka {

// How long the check waits for a broker to answer. Authentication and TLS failures end it at once:
// retrying cannot fix them.
inline constexpr std::chrono::milliseconds kConnectionCheckTimeout{15'000};

// OK once any bootstrap broker answered a metadata request with the configuration `options`
// describes (-b, -F, -X). Otherwise an IOError such as
//   "cannot use Kafka at HOST:PORT: authentication failed: <librdkafka's reason>"
// whose reason never contains a configured secret.
arrow::Status CheckConnection(const KafkaOptions& options,
                              std::chrono::milliseconds timeout = kConnectionCheckTimeout);

}  // namespace clickstream::kafka
