// --metrics-listen, shared by the commands that serve the operator's port (README, "Monitoring").
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <arrow/result.h>

#include "http/status_server.h"
#include "metrics/readiness.h"
#include "metrics/registry.h"

namespace clickstream::cli {

void AddMetricsListenFlag(CLI::App* app, std::string* listen);

// What a command reports through: the registry (with clickstream_build_info), its readiness, and
// the port serving both once Serve() was called with an address.
struct Monitoring {
  metrics::Registry registry;
  metrics::Readiness readiness;
  std::unique_ptr<http::StatusServer> server;

  Monitoring();
  // Starts the port when `listen` is set and says where on stderr ("<command>: metrics on
  // http://HOST:PORT/metrics"); an unusable address is an Invalid status naming it.
  arrow::Status Serve(const std::string& listen, std::string_view command);
};

}  // namespace clickstream::cli
