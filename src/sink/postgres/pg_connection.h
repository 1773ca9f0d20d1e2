// RAII over libpq: a connection, a result, and the few calls the PostgreSQL sink makes (commands,
// parameterised queries, COPY FROM STDIN). Every failure is an arrow::Status carrying the server's
// message; the SQLSTATE stays available for the callers that decide by it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/api.h>
#include <libpq-fe.h>

namespace clickstream::sink::postgres {

// Well-known SQLSTATEs the sink reacts to.
namespace sqlstate {
inline constexpr char kInsufficientPrivilege[] = "42501";
inline constexpr char kInvalidObjectDefinition[] = "42P17";  // e.g. an overlapping partition
inline constexpr char kUniqueViolation[] = "23505";
}  // namespace sqlstate

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// A statement's outcome: the rows it returned (as text) or the number of rows it touched.
class PgResult {
 public:
  explicit PgResult(PgResultPtr result) : result_(std::move(result)) {}

  int rows() const { return PQntuples(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string_view Value(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
  // Rows inserted, updated or deleted by the command.
  int64_t AffectedRows() const;

 private:
  PgResultPtr result_;
};

// The error of a failed statement: its SQLSTATE (empty when the connection itself failed) and
// the server's one-line message.
struct PgError {
  std::string sqlstate;
  std::string message;
};

// The status a failed statement maps to, with the statement's error in its detail so callers can
// read the SQLSTATE back with ErrorOf().
arrow::Status PgErrorStatus(const PgError& error, std::string_view context);
std::optional<PgError> ErrorOf(const arrow::Status& status);

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};

class PgConnection {
 public:
  // Opens a connection from keyword/value pairs; a "dbname" value may be a full connection URI
  // (libpq's expand_dbname), whose settings override the pairs before it. Never fails: check
  // ok(), and ErrorMessage() when it is not.
  static PgConnection Open(const std::vector<std::pair<std::string, std::string>>& settings);

  bool ok() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  // libpq's message as it is (hints on further lines).
  std::string ErrorMessage() const;
  // The settings in use (also known after a failed attempt), for messages.
  std::string host() const;
  std::string port() const;
  std::string user() const;
  std::string database() const;
  std::string ParameterStatus(const char* name) const;

  // Reconnects with the same settings after the connection was lost.
  bool Reset();

  // Runs one statement; text parameters, text results.
  arrow::Result<PgResult> Exec(const std::string& sql, const std::vector<std::string>& params = {});
  // COPY … FROM STDIN with the whole payload, then its completion.
  arrow::Status CopyIn(const std::string& copy_sql, std::string_view payload);

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  arrow::Status FailureOf(PgResultPtr result, std::string_view context) const;

  std::unique_ptr<PGconn, PgConnDeleter> conn_;
};

// Quotes an SQL identifier ("a""b" for a"b), as the DDL needs it without a connection.
std::string QuoteIdentifier(std::string_view name);
// Quotes an SQL string literal ('it''s').
std::string QuoteLiteral(std::string_view value);

}  // namespace clickstream::sink::postgres
