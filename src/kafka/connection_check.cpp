#include "kafka/connection_check.h"

#include "kafka/handle.h"

#include <memory>
#include <string>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

namespace clickstream::kafka {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One metadata attempt at a time, so error callbacks are looked at between attempts.
constexpr milliseconds kAttempt{500};

// What librdkafka's error callback reported while the check ran.
struct ObservedErrors {
  rd_kafka_resp_err_t definitive = RD_KAFKA_RESP_ERR_NO_ERROR;  // retrying cannot help
  std::string definitive_reason;
  std::string transport_reason;  // the latest connection failure, for the time-out message
};

bool IsDefinitive(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL ||
         code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED || code == RD_KAFKA_RESP_ERR__FATAL;
}

void OnError(rd_kafka_t* /*handle*/, int error, const char* reason, void* opaque) {
  auto* observed = static_cast<ObservedErrors*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(error);
  if (IsDefinitive(code)) {
    if (observed->definitive == RD_KAFKA_RESP_ERR_NO_ERROR) {
      observed->definitive = code;
      observed->definitive_reason = reason;
    }
  } else if (code != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    // "N/N brokers are down" says less than the connection failure that preceded it.
    observed->transport_reason = reason;
  }
}

// The check reports through the error callback alone: librdkafka's log lines would repeat each
// failure on stderr before the one line that names it.
void IgnoreLog(const rd_kafka_t* /*handle*/, int /*level*/, const char* /*facility*/, const char* /*message*/) {}

std::string Cause(rd_kafka_resp_err_t code) {
  switch (code) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return "authentication failed";
    case RD_KAFKA_RESP_ERR__SSL:
      return "TLS failed";
    default:
      return rd_kafka_err2name(code);
  }
}

}  // namespace

arrow::Status CheckConnection(const KafkaOptions& options, milliseconds timeout) {
  ARROW_ASSIGN_OR_RAISE(ConfPtr conf, MakeConf(options, {{"client.id", "clickstream-check"}}));
  const std::string where = "cannot use Kafka at " + ConfiguredBootstrapServers(conf.get()) + ": ";
  ObservedErrors observed;
  rd_kafka_conf_set_opaque(conf.get(), &observed);
  rd_kafka_conf_set_error_cb(conf.get(), &OnError);
  rd_kafka_conf_set_log_cb(conf.get(), &IgnoreLog);
  ARROW_ASSIGN_OR_RAISE(HandlePtr handle, NewHandle(RD_KAFKA_PRODUCER, &conf, "client"));

  const Clock::time_point deadline = Clock::now() + timeout;
  rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
  while (true) {
    const rd_kafka_metadata_t* metadata = nullptr;
    last = rd_kafka_metadata(handle.get(), /*all_topics=*/0, nullptr, &metadata, static_cast<int>(kAttempt.count()));
    if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(metadata);
      return arrow::Status::OK();
    }
    rd_kafka_poll(handle.get(), 0);  // serves the error callback
    if (observed.definitive != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return arrow::Status::IOError(where, Cause(observed.definitive), ": ", observed.definitive_reason);
    }
    if (Clock::now() >= deadline) break;
  }
  const std::string reason = observed.transport_reason.empty() ? rd_kafka_err2str(last) : observed.transport_reason;
  return arrow::Status::IOError(where, "no broker answered within ",
                                fmt::format("{:g}", static_cast<double>(timeout.count()) / 1000), " s: ", reason);
}

}  // namespace clickstream::kafka
