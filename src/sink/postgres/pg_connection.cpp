#include "sink/postgres/pg_connection.h"

#include <algorithm>
#include <charconv>

namespace clickstream::sink::postgres {

namespace {

constexpr char kPgErrorDetailType[] = "clickstream::sink::postgres::PgError";
// COPY data goes to libpq in pieces of this size, so a large round never needs a second copy.
constexpr size_t kCopyChunkBytes = 1 << 20;

class PgErrorDetail : public arrow::StatusDetail {
 public:
  explicit PgErrorDetail(PgError error) : error_(std::move(error)) {}
  const char* type_id() const override { return kPgErrorDetailType; }
  std::string ToString() const override {
    return error_.sqlstate.empty() ? std::string() : "SQLSTATE " + error_.sqlstate;
  }
  const PgError& error() const { return error_; }

 private:
  PgError error_;
};

// libpq ends its messages with a newline and puts hints on further lines: keep them on one line.
std::string OneLine(std::string_view message) {
  std::string line;
  bool space = false;
  for (char c : message) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !line.empty()) line += ' ';
    space = false;
    line += c;
  }
  return line;
}

// Notices (e.g. "relation already exists, skipping") would go to stderr: the sink reports what
// matters itself.
void IgnoreNotice(void* /*arg*/, const char* /*message*/) {}

std::string OrEmpty(const char* text) { return text ? text : ""; }

// The statement's first three words ("UPDATE "s"."t" SET", "CREATE TABLE IF"): enough to say
// which one failed, without its whole text.
std::string StatementName(std::string_view sql) {
  size_t end = 0;
  for (int words = 0; words < 3 && end != std::string_view::npos; ++words) {
    end = sql.find_first_not_of(" \n", end);
    if (end != std::string_view::npos) end = sql.find_first_of(" \n", end);
  }
  return std::string(sql.substr(0, end));
}

}  // namespace

int64_t PgResult::AffectedRows() const {
  const char* text = PQcmdTuples(result_.get());
  int64_t rows = 0;
  if (text == nullptr || *text == '\0') return 0;
  std::from_chars(text, text + std::char_traits<char>::length(text), rows);
  return rows;
}

arrow::Status PgErrorStatus(const PgError& error, std::string_view context) {
  return arrow::Status(arrow::StatusCode::IOError, std::string(context) + ": " + error.message,
                       std::make_shared<PgErrorDetail>(error));
}

std::optional<PgError> ErrorOf(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (!detail || std::string_view(detail->type_id()) != kPgErrorDetailType) return std::nullopt;
  return static_cast<const PgErrorDetail&>(*detail).error();
}

PgConnection PgConnection::Open(const std::vector<std::pair<std::string, std::string>>& settings) {
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [keyword, value] : settings) {
    keywords.push_back(keyword.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PgConnection connection(PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1));
  if (connection.conn_) PQsetNoticeProcessor(connection.conn_.get(), IgnoreNotice, nullptr);
  return connection;
}

std::string PgConnection::ErrorMessage() const {
  std::string message = conn_ ? PQerrorMessage(conn_.get()) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

std::string PgConnection::host() const { return conn_ ? OrEmpty(PQhost(conn_.get())) : ""; }
std::string PgConnection::port() const { return conn_ ? OrEmpty(PQport(conn_.get())) : ""; }
std::string PgConnection::user() const { return conn_ ? OrEmpty(PQuser(conn_.get())) : ""; }
std::string PgConnection::database() const { return conn_ ? OrEmpty(PQdb(conn_.get())) : ""; }

std::string PgConnection::ParameterStatus(const char* name) const {
  return conn_ ? OrEmpty(PQparameterStatus(conn_.get(), name)) : "";
}

bool PgConnection::Reset() {
  if (!conn_) return false;
  PQreset(conn_.get());
  return ok();
}

arrow::Status PgConnection::FailureOf(PgResultPtr result, std::string_view context) const {
  PgError error;
  if (result) {
    error.sqlstate = OrEmpty(PQresultErrorField(result.get(), PG_DIAG_SQLSTATE));
    const std::string primary = OrEmpty(PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY));
    error.message = primary.empty() ? OneLine(PQresultErrorMessage(result.get())) : primary;
  }
  if (error.message.empty()) error.message = OneLine(ErrorMessage());
  if (error.message.empty()) error.message = "the connection failed";
  return PgErrorStatus(error, context);
}

arrow::Result<PgResult> PgConnection::Exec(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& param : params) values.push_back(param.c_str());
  PgResultPtr result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, /*resultFormat=*/0));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return FailureOf(std::move(result), StatementName(sql));
  }
  return PgResult(std::move(result));
}

arrow::Status PgConnection::CopyIn(const std::string& copy_sql, std::string_view payload) {
  PgResultPtr start(PQexec(conn_.get(), copy_sql.c_str()));
  if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) return FailureOf(std::move(start), "COPY");
  start.reset();
  for (size_t offset = 0; offset < payload.size(); offset += kCopyChunkBytes) {
    const size_t size = std::min(kCopyChunkBytes, payload.size() - offset);
    if (PQputCopyData(conn_.get(), payload.data() + offset, static_cast<int>(size)) != 1) {
      return FailureOf(nullptr, "COPY");
    }
  }
  if (PQputCopyEnd(conn_.get(), nullptr) != 1) return FailureOf(nullptr, "COPY");
  // COPY's outcome, then the end of the results (a null result).
  arrow::Status status = arrow::Status::OK();
  while (PGresult* raw = PQgetResult(conn_.get())) {
    PgResultPtr result(raw);
    if (status.ok() && PQresultStatus(result.get()) != PGRES_COMMAND_OK) status = FailureOf(std::move(result), "COPY");
  }
  return status;
}

std::string QuoteIdentifier(std::string_view name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

std::string QuoteLiteral(std::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'') quoted += '\'';
    quoted += c;
  }
  return quoted + '\'';
}

}  // namespace clickstream::sink::postgres
