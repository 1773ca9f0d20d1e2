#include "sink/postgres/connect_errors.h"

#include <array>

#include <fmt/format.h>

namespace clickstream::sink::postgres {

namespace {

bool Contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// libpq says "connection to server at "h" (addr), port p failed: FATAL:  <reason>", then hints
// on further lines (and the same for each further address tried); the target is already named,
// so keep the first reason.
std::string_view Reason(std::string_view message) {
  message = message.substr(0, message.find('\n'));
  constexpr std::string_view kFailed = "failed: ";
  if (const size_t at = message.find(kFailed); at != std::string_view::npos) message.remove_prefix(at + kFailed.size());
  constexpr std::array<std::string_view, 2> kSeverities = {"FATAL:  ", "ERROR:  "};
  for (std::string_view severity : kSeverities) {
    if (message.substr(0, severity.size()) == severity) message.remove_prefix(severity.size());
  }
  while (!message.empty() && (message.back() == ' ' || message.back() == '\n')) message.remove_suffix(1);
  return message;
}

struct Explanation {
  std::string_view marker;  // a phrase of libpq's or the server's message
  std::string_view what;    // what it means for the user
  std::string_view fix;
};

// Checked in order: the first marker found explains the failure.
constexpr std::array<Explanation, 12> kExplanations = {{
    {"password authentication failed", "wrong password, or no such user",
     "check the user and set the password with PGPASSWORD, ~/.pgpass or the URI"},
    {"no password supplied", "the server wants a password and none was given",
     "set it with PGPASSWORD, ~/.pgpass or the URI"},
    {"permission denied for database", "the user may not connect to this database",
     "GRANT CONNECT ON DATABASE to the user"},
    {"database \"", "no such database", "create it (createdb), or name an existing database in the URI"},
    {"role \"", "no such user", "create the role, or name an existing user in the URI"},
    {"no pg_hba.conf entry", "the server does not accept this client",
     "add a host line for this user and database to the server's pg_hba.conf"},
    {"Connection refused", "the server is unreachable", "check the host and port, and that PostgreSQL runs there"},
    {"timeout expired", "the server is unreachable", "check the host and port, and that PostgreSQL runs there"},
    {"could not translate host name", "the server is unreachable", "check the host name in the URI"},
    {"No route to host", "the server is unreachable", "check the host and port, and the network"},
    {"Network is unreachable", "the server is unreachable", "check the host and port, and the network"},
    {"No such file or directory", "the server is unreachable",
     "check the socket directory or host, and that PostgreSQL runs there"},
}};

}  // namespace

std::string ConnectTarget::Describe() const {
  return fmt::format("{}:{} as user {}, database {}", host, port, user, database);
}

std::string ConnectTarget::Uri() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return fmt::format("postgresql://{}@{}{}{}:{}/{}", user, ipv6 ? "[" : "", host, ipv6 ? "]" : "", port, database);
}

std::string RedactUri(std::string_view uri) {
  std::string redacted(uri);
  const size_t scheme = redacted.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t end = redacted.find_first_of("/?", start);
    const size_t at = redacted.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at != std::string::npos && at >= start) {
      const size_t colon = redacted.find(':', start);
      if (colon != std::string::npos && colon < at) redacted.erase(colon, at - colon);
    }
  }
  // password=… as a URI parameter or a key=value setting.
  for (size_t at = redacted.find("password="); at != std::string::npos; at = redacted.find("password=", at + 1)) {
    const size_t value = at + 9;
    const size_t end = redacted.find_first_of("& ", value);
    redacted.replace(value, (end == std::string::npos ? redacted.size() : end) - value, "***");
  }
  return redacted;
}

std::string Scrub(std::string_view text, std::string_view secret) {
  std::string scrubbed(text);
  if (secret.empty()) return scrubbed;
  for (size_t at = scrubbed.find(secret); at != std::string::npos; at = scrubbed.find(secret, at + 3)) {
    scrubbed.replace(at, secret.size(), "***");
  }
  return scrubbed;
}

std::string ExplainConnectFailure(const ConnectTarget& target, std::string_view libpq_message) {
  const std::string_view reason = Reason(libpq_message);
  for (const Explanation& explanation : kExplanations) {
    if (Contains(reason, explanation.marker)) {
      return fmt::format("cannot connect to PostgreSQL at {}: {} ({}); {}", target.Describe(), explanation.what,
                         reason, explanation.fix);
    }
  }
  return fmt::format("cannot connect to PostgreSQL at {}: {}", target.Describe(), reason);
}

}  // namespace clickstream::sink::postgres
