// Start-up failures in words: which server, user and database, what went wrong and what fixes it,
// on one line and never with the password.
#pragma once

#include <string>
#include <string_view>

namespace clickstream::sink::postgres {

struct ConnectTarget {
  std::string host;
  std::string port;
  std::string user;
  std::string database;

  // "127.0.0.1:5432 as user alice, database shop"
  std::string Describe() const;
  // "postgresql://alice@127.0.0.1:5432/shop"
  std::string Uri() const;
};

// The URI with any password removed (from the user-info part and from a password= parameter).
std::string RedactUri(std::string_view uri);

// Every occurrence of `secret` in `text` replaced by "***" (nothing when the secret is empty).
std::string Scrub(std::string_view text, std::string_view secret);

// The one-line start-up message for a connection attempt libpq reported as failed (its message
// may span lines).
std::string ExplainConnectFailure(const ConnectTarget& target, std::string_view libpq_message);

}  // namespace clickstream::sink::postgres
