#include "http/status_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include <civetweb.h>
#include <fmt/format.h>

namespace clickstream::http {

namespace {

// Two threads: a scrape and a probe can be answered at once, and a slow client holds one of them
// for at most the request timeout. Connections beyond that wait in the listen queue, so memory
// does not grow with the number of clients.
constexpr char kThreads[] = "2";
constexpr char kRequestTimeoutMs[] = "5000";

StatusServer* ServerOf(mg_connection* connection) {
  return static_cast<StatusServer*>(mg_get_request_info(connection)->user_data);
}

// `allow`: the Allow header of a 405, else null.
int Respond(mg_connection* connection, int status, std::string_view content_type, std::string_view body,
            const char* allow = nullptr) {
  mg_response_header_start(connection, status);
  mg_response_header_add(connection, "Content-Type", content_type.data(), static_cast<int>(content_type.size()));
  const std::string length = std::to_string(body.size());
  mg_response_header_add(connection, "Content-Length", length.c_str(), -1);
  mg_response_header_add(connection, "Cache-Control", "no-store", -1);
  if (allow != nullptr) mg_response_header_add(connection, "Allow", allow, -1);
  mg_response_header_send(connection);
  if (std::strcmp(mg_get_request_info(connection)->request_method, "HEAD") != 0) {
    mg_write(connection, body.data(), body.size());
  }
  return status;
}

bool IsReadMethod(mg_connection* connection) {
  const char* method = mg_get_request_info(connection)->request_method;
  return std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
}

int MethodNotAllowed(mg_connection* connection) {
  return Respond(connection, 405, "text/plain", "only GET and HEAD are served here\n", "GET, HEAD");
}

int ServeMetrics(mg_connection* connection, void*) {
  if (!IsReadMethod(connection)) return MethodNotAllowed(connection);
  return Respond(connection, 200, "text/plain; version=0.0.4; charset=utf-8", ServerOf(connection)->registry()->Exposition());
}

int ServeHealth(mg_connection* connection, void*) {
  if (!IsReadMethod(connection)) return MethodNotAllowed(connection);
  return Respond(connection, 200, "text/plain", "ok\n");
}

int ServeReady(mg_connection* connection, void*) {
  if (!IsReadMethod(connection)) return MethodNotAllowed(connection);
  const metrics::Readiness* readiness = ServerOf(connection)->readiness();
  return Respond(connection, readiness->ready() ? 200 : 503, "text/plain", readiness->Describe() + "\n");
}

int ServeNotFound(mg_connection* connection, void*) {
  return Respond(connection, 404, "text/plain", "not found: this port serves /metrics, /health and /ready\n");
}

// civetweb prints its own errors to stderr unless asked; they reach the user as the status of
// Start(), or not at all for one client's broken connection.
int QuietLog(const mg_connection*, const char*) { return 1; }

// civetweb 1.15's listening thread looks at its stop flag only between polls of up to 2 s, and
// mg_stop() waits for it: every command serving the port exited up to 2 s late (1.4-1.5 s
// measured per `consume --exit-when-idle-ms`). A connection to the port ends that poll at once,
// so until mg_stop() returns the port is knocked on every 10 ms (connect, close: no request).
void KnockUntilStopped(const std::string& address, const std::atomic<bool>& stopped) {
  const size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), address.substr(colon + 1).c_str(), &hints, &found) != 0) return;
  while (!stopped.load()) {
    for (const addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
      // Non-blocking: a full listen queue must not hold the stop up either.
      const int fd = socket(candidate->ai_family, candidate->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            candidate->ai_protocol);
      if (fd < 0) continue;
      (void)connect(fd, candidate->ai_addr, candidate->ai_addrlen);
      close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  freeaddrinfo(found);
}

}  // namespace

arrow::Result<ListenAddress> ParseListenAddress(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return arrow::Status::Invalid("--metrics-listen '", listen, "' is not HOST:PORT (e.g. 127.0.0.1:9464)");
  }
  ListenAddress address;
  address.host = std::string(listen.substr(0, colon));
  const std::string_view port = listen.substr(colon + 1);
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || address.port < 0 ||
      address.port > 65535) {
    return arrow::Status::Invalid("--metrics-listen '", listen, "': the port must be a number from 0 to 65535");
  }
  if (address.host.front() == '[' && address.host.back() != ']') {
    return arrow::Status::Invalid("--metrics-listen '", listen, "': an IPv6 host goes in brackets, e.g. [::1]:9464");
  }
  return address;
}

arrow::Result<std::unique_ptr<StatusServer>> StatusServer::Start(std::string_view listen,
                                                                 const metrics::Registry* registry,
                                                                 const metrics::Readiness* readiness) {
  ARROW_ASSIGN_OR_RAISE(const ListenAddress address, ParseListenAddress(listen));
  mg_init_library(0);
  std::unique_ptr<StatusServer> server(new StatusServer(registry, readiness));
  const std::string ports = fmt::format("{}:{}", address.host, address.port);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", kThreads,
                           "request_timeout_ms", kRequestTimeoutMs, "enable_keep_alive", "yes", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = QuietLog;
  mg_init_data init{&callbacks, server.get(), options};
  std::array<char, 256> error_text{};
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text.data(), error_text.size()};
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return arrow::Status::Invalid("cannot serve metrics on ", listen, ": ",
                                  error_text[0] != '\0' ? error_text.data() : "civetweb refused to start");
  }
  mg_set_request_handler(server->context_, "/metrics$", ServeMetrics, nullptr);
  mg_set_request_handler(server->context_, "/health$", ServeHealth, nullptr);
  mg_set_request_handler(server->context_, "/ready$", ServeReady, nullptr);
  mg_set_request_handler(server->context_, "/", ServeNotFound, nullptr);
  std::array<mg_server_port, 4> bound{};
  const int count = mg_get_server_ports(server->context_, static_cast<int>(bound.size()), bound.data());
  const int port = count > 0 ? bound[0].port : address.port;
  server->address_ = fmt::format("{}:{}", address.host, port);
  return server;
}

StatusServer::~StatusServer() {
  if (context_ == nullptr) return;
  std::atomic<bool> stopped{false};
  std::thread knocker(KnockUntilStopped, std::cref(address_), std::cref(stopped));
  mg_stop(context_);
  stopped.store(true);
  knocker.join();
}

}  // namespace clickstream::http
