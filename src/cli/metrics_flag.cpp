#include "cli/metrics_flag.h"

#include <fmt/format.h>

#include "common/log.h"
#include "kafka/config.h"

namespace clickstream::cli {

void AddMetricsListenFlag(CLI::App* app, std::string* listen) {
  app->add_option("--metrics-listen", *listen,
                  "Serve Prometheus metrics at http://HOST:PORT/metrics, with /health and /ready (HOST:PORT; port 0 "
                  "picks a free one)");
}

Monitoring::Monitoring() {
  registry
      .AddGauge("clickstream_build_info", "The running binary's version and the librdkafka it runs with (always 1).",
                {{"version", CLICKSTREAM_VERSION}, {"librdkafka", std::string(kafka::LibrdkafkaVersion())}})
      .Set(1);
}

arrow::Status Monitoring::Serve(const std::string& listen, std::string_view command) {
  if (listen.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(server, http::StatusServer::Start(listen, &registry, &readiness));
  Log(LogLevel::kInfo, command, fmt::format("metrics on http://{}/metrics", server->address()),
      {{"address", server->address()}});
  return arrow::Status::OK();
}

}  // namespace clickstream::cli
