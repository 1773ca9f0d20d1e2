// The operator's port: /metrics (the process registry's exposition), /health (the process runs)
// and /ready (it does its job: 503 with the reason when not). civetweb serves it on its own small
// thread pool, so a scrape never runs on, or waits for, a stage's thread.
//
// civetweb directly rather than prometheus-cpp's Exposer (which runs on civetweb too): the Exposer
// serves only registries, and /ready must be able to answer 503.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "metrics/readiness.h"
#include "metrics/registry.h"

struct mg_context;

namespace clickstream::http {

class StatusServer {
 public:
  // Listens on `listen` (HOST:PORT; port 0 picks a free one). A bad address or a busy port is an
  // Invalid status naming it. The registry and readiness must outlive the server.
  static arrow::Result<std::unique_ptr<StatusServer>> Start(std::string_view listen, const metrics::Registry* registry,
                                                             const metrics::Readiness* readiness);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Where it listens, HOST:PORT with the port actually bound.
  const std::string& address() const { return address_; }

  const metrics::Registry* registry() const { return registry_; }
  const metrics::Readiness* readiness() const { return readiness_; }

 private:
  StatusServer(const metrics::Registry* registry, const metrics::Readiness* readiness)
      : registry_(registry), readiness_(readiness) {}

  const metrics::Registry* registry_;
  const metrics::Readiness* readiness_;
  mg_context* context_ = nullptr;
  std::string address_;
};

// Splits HOST:PORT ("127.0.0.1:9464", "[::1]:9464", "0.0.0.0:0"); Invalid with the reason otherwise.
struct ListenAddress {
  std::string host;
  int port = 0;
};
arrow::Result<ListenAddress> ParseListenAddress(std::string_view listen);

}  // namespace clickstream::http
