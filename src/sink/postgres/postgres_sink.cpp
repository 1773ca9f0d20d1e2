#include "sink/postgres/postgres_sink.h"

#include <map>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "common/crash_point.h"
#include "sink/postgres/connect_errors.h"
#include "sink/postgres/copy_binary.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/table_layout.h"

namespace clickstream::sink {

namespace {

using postgres::ConnectTarget;
using postgres::PgConnection;
using postgres::PgResult;
using postgres::TableLayout;

// A member stopped in the middle of a landing transaction holds the row locks of its partitions'
// progress; the server ends such a transaction after this long, so the partitions' new owner is
// not blocked for good.
constexpr char kSessionSetup[] = "SET idle_in_transaction_session_timeout = '60s'";

// The password of a connection string or URI, to keep it out of every message.
std::string PasswordOf(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return "";
  std::string password;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (std::string_view(option->keyword) == "password" && option->val != nullptr) password = option->val;
  }
  PQconninfoFree(options);
  return password;
}

ConnectTarget TargetOf(const PgConnection& connection) {
  return ConnectTarget{connection.host(), connection.port(), connection.user(), connection.database()};
}

// BEGIN … COMMIT; a transaction left without Commit() is rolled back (when the connection is
// still there to hear it: a lost connection rolls back on the server by itself).
class Transaction {
 public:
  static arrow::Result<Transaction> Begin(PgConnection* connection) {
    ARROW_RETURN_NOT_OK(connection->Exec("BEGIN"));
    return Transaction(connection);
  }
  Transaction(Transaction&& other) noexcept : connection_(std::exchange(other.connection_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() { Rollback(); }

  arrow::Status Commit() {
    PgConnection* connection = std::exchange(connection_, nullptr);
    return connection->Exec("COMMIT").status();
  }
  void Rollback() {
    PgConnection* connection = std::exchange(connection_, nullptr);
    if (connection != nullptr && connection->ok()) (void)connection->Exec("ROLLBACK");
  }

 private:
  explicit Transaction(PgConnection* connection) : connection_(connection) {}
  PgConnection* connection_;
};

struct PartitionRound {
  std::optional<int64_t> expected;  // the partition's next_offset as this member last left it
  int64_t target = 0;               // its next_offset once the round has landed
};

class PostgresSink final : public Sink {
 public:
  PostgresSink(PostgresSinkOptions options, PgConnection connection, TableLayout layout, bool partitioned,
               std::string password)
      : options_(std::move(options)),
        connection_(std::move(connection)),
        target_(TargetOf(connection_)),
        layout_(std::move(layout)),
        partitioned_(partitioned),
        password_(std::move(password)),
        offsets_table_(postgres::QuoteIdentifier(layout_.table.schema) + "." +
                       postgres::QuoteIdentifier(postgres::kOffsetsTable)),
        copy_sql_(postgres::CopySql(layout_)) {}

  std::string Describe() const override {
    return fmt::format("PostgreSQL table {} at {}", layout_.table.Display(), target_.Uri());
  }

  arrow::Result<std::map<int32_t, PartitionResume>> Recover(const std::set<int32_t>& partitions) override;
  arrow::Result<std::vector<LandedBatch>> Land(const std::vector<PartitionBatchData>& batches,
                                               const std::string& write_time) override;
  void Forget(const std::set<int32_t>& partitions) override {
    for (int32_t partition : partitions) expected_next_.erase(partition);
  }

 private:
  arrow::Status EnsureConnected();
  arrow::Result<std::map<int32_t, int64_t>> ReadProgress(const std::set<int32_t>& partitions);
  arrow::Status EnsureDayPartitions(const std::vector<PartitionBatchData>& batches);
  arrow::Result<bool> MoveProgress(int32_t partition, const PartitionRound& round);
  arrow::Status LandedElsewhereOrFenced(const std::map<int32_t, PartitionRound>& rounds);
  // `payload` null: no rows, only progress.
  arrow::Status Transact(const std::map<int32_t, PartitionRound>& rounds, const std::string* payload,
                         bool through_staging);
  arrow::Status Clean(const arrow::Status& status) const;

  const PostgresSinkOptions options_;
  PgConnection connection_;
  const ConnectTarget target_;
  const TableLayout layout_;
  const bool partitioned_;  // a partitioned table: day partitions are created as events need them
  const std::string password_;
  const std::string offsets_table_;
  const std::string copy_sql_;
  std::set<int32_t> known_days_;
  // Per assigned partition, its next_offset as this member last read or wrote it; nullopt when the
  // table had no row for it.
  std::map<int32_t, std::optional<int64_t>> expected_next_;
};

// Messages from the server or libpq never carry the password, but a connection string echoed in
// one would: scrub it anyway.
arrow::Status PostgresSink::Clean(const arrow::Status& status) const {
  if (status.ok() || password_.empty()) return status;
  return status.WithMessage(postgres::Scrub(status.message(), password_));
}

arrow::Status PostgresSink::EnsureConnected() {
  if (connection_.ok()) return arrow::Status::OK();
  if (!connection_.Reset()) {
    return arrow::Status::IOError(postgres::Scrub(
        postgres::ExplainConnectFailure(target_, connection_.ErrorMessage()), password_));
  }
  return connection_.Exec(kSessionSetup).status();
}

arrow::Result<std::map<int32_t, int64_t>> PostgresSink::ReadProgress(const std::set<int32_t>& partitions) {
  std::string list = "{";
  for (int32_t partition : partitions) list += (list.size() > 1 ? "," : "") + std::to_string(partition);
  list += "}";
  ARROW_ASSIGN_OR_RAISE(PgResult result,
                        connection_.Exec(fmt::format("SELECT \"partition\", next_offset FROM {} WHERE consumer_group = "
                                                     "$1 AND topic = $2 AND \"partition\" = ANY($3::integer[])",
                                                     offsets_table_),
                                         {options_.group, options_.topic, list}));
  std::map<int32_t, int64_t> progress;
  for (int row = 0; row < result.rows(); ++row) {
    progress[std::stoi(std::string(result.Value(row, 0)))] = std::stoll(std::string(result.Value(row, 1)));
  }
  return progress;
}

arrow::Result<std::map<int32_t, PartitionResume>> PostgresSink::Recover(const std::set<int32_t>& partitions) {
  ARROW_RETURN_NOT_OK(Clean(EnsureConnected()));
  std::map<int32_t, PartitionResume> resumes;
  if (partitions.empty()) return resumes;
  auto progress = ReadProgress(partitions);
  ARROW_RETURN_NOT_OK(Clean(progress.status()));
  for (int32_t partition : partitions) {
    auto found = progress->find(partition);
    std::optional<int64_t> next;
    if (found != progress->end()) next = found->second;
    expected_next_[partition] = next;
    resumes[partition].next_offset = next;
  }
  return resumes;
}

// Each day gets its partition in a transaction of its own, before the landing transaction: DDL
// there would hold a lock on the whole table until the round commits. The advisory lock keeps
// two members from racing on the same CREATE.
arrow::Status PostgresSink::EnsureDayPartitions(const std::vector<PartitionBatchData>& batches) {
  if (!partitioned_) return arrow::Status::OK();
  std::set<int32_t> days;
  for (const PartitionBatchData& batch : batches) {
    for (const auto& [day, rows] : batch.rows_by_day) {
      for (int32_t found : postgres::DaysOf(*rows, layout_)) {
        if (!known_days_.count(found)) days.insert(found);
      }
    }
  }
  for (int32_t day : days) {
    ARROW_ASSIGN_OR_RAISE(auto transaction, Transaction::Begin(&connection_));
    ARROW_RETURN_NOT_OK(connection_.Exec("SELECT pg_advisory_xact_lock(hashtext($1))", {layout_.table.Quoted()}));
    const arrow::Status created = connection_.Exec(postgres::CreateDayPartitionSql(layout_, day)).status();
    const auto error = postgres::ErrorOf(created);
    if (error && error->sqlstate == postgres::sqlstate::kInvalidObjectDefinition) {
      // A partition of the user's own (e.g. monthly) already covers the day.
      transaction.Rollback();
    } else {
      ARROW_RETURN_NOT_OK(created);
      ARROW_RETURN_NOT_OK(transaction.Commit());
    }
    known_days_.insert(day);
  }
  return arrow::Status::OK();
}

// The guarded move of one partition's progress; false when it matched nothing.
arrow::Result<bool> PostgresSink::MoveProgress(int32_t partition, const PartitionRound& round) {
  const std::vector<std::string> params = {options_.group, options_.topic, std::to_string(partition),
                                           std::to_string(round.target)};
  if (round.expected) {
    auto with_expected = params;
    with_expected.push_back(std::to_string(*round.expected));
    ARROW_ASSIGN_OR_RAISE(PgResult result,
                          connection_.Exec(fmt::format("UPDATE {} SET next_offset = $4 WHERE consumer_group = $1 AND "
                                                       "topic = $2 AND \"partition\" = $3 AND next_offset = $5",
                                                       offsets_table_),
                                           with_expected));
    return result.AffectedRows() == 1;
  }
  // No row yet: the first member to insert one owns the partition's start.
  ARROW_ASSIGN_OR_RAISE(PgResult result,
                        connection_.Exec(fmt::format("INSERT INTO {} (consumer_group, topic, \"partition\", "
                                                     "next_offset) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                                                     offsets_table_),
                                         params));
  return result.AffectedRows() == 1;
}

// A guarded move matched nothing. Either an earlier attempt of this very round committed while
// its connection broke (every partition already stands at its target: the rows are in), or
// another member moved a partition: fenced.
arrow::Status PostgresSink::LandedElsewhereOrFenced(const std::map<int32_t, PartitionRound>& rounds) {
  std::set<int32_t> partitions;
  for (const auto& [partition, round] : rounds) partitions.insert(partition);
  ARROW_ASSIGN_OR_RAISE(auto progress, ReadProgress(partitions));
  for (const auto& [partition, round] : rounds) {
    auto found = progress.find(partition);
    if (found == progress.end() || found->second != round.target) {
      return FencedError(fmt::format(
          "partition {} of {} moved on in {}: its progress is {} where this member expected {}; another member owns "
          "it now",
          partition, options_.topic, offsets_table_,
          found == progress.end() ? std::string("absent") : std::to_string(found->second),
          round.expected ? std::to_string(*round.expected) : std::string("no row")));
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::vector<LandedBatch>> PostgresSink::Land(const std::vector<PartitionBatchData>& batches,
                                                           const std::string& /*write_time*/) {
  ARROW_RETURN_NOT_OK(Clean(EnsureConnected()));
  ARROW_RETURN_NOT_OK(Clean(EnsureDayPartitions(batches)));

  std::map<int32_t, PartitionRound> rounds;
  for (const PartitionBatchData& batch : batches) {
    auto [it, first] = rounds.try_emplace(batch.partition);
    if (first) {
      auto expected = expected_next_.find(batch.partition);
      if (expected != expected_next_.end()) it->second.expected = expected->second;
    }
    it->second.target = batch.last_offset + 1;
  }
  std::string payload;
  std::vector<LandedBatch> landed(batches.size());
  postgres::AppendCopyHeader(&payload);
  for (size_t i = 0; i < batches.size(); ++i) {
    const size_t before = payload.size();
    for (const auto& [day, rows] : batches[i].rows_by_day) {
      ARROW_RETURN_NOT_OK(postgres::AppendCopyTuples(*rows, layout_, &payload));
    }
    landed[i].bytes = static_cast<int64_t>(payload.size() - before);
  }
  postgres::AppendCopyTrailer(&payload);
  const bool has_rows = std::any_of(landed.begin(), landed.end(), [](const LandedBatch& b) { return b.bytes > 0; });

  arrow::Status status = Transact(rounds, has_rows ? &payload : nullptr, /*through_staging=*/false);
  const auto error = postgres::ErrorOf(status);
  if (error && error->sqlstate == postgres::sqlstate::kUniqueViolation) {
    // An identity already in the table (the same input replayed into the topic): the round goes
    // again through a staging table that skips the rows the key already holds. Only then, so the
    // usual round pays for no second copy.
    status = Transact(rounds, &payload, /*through_staging=*/true);
  }
  ARROW_RETURN_NOT_OK(Clean(status));
  for (const auto& [partition, round] : rounds) expected_next_[partition] = round.target;
  return landed;
}

// One landing transaction. OK also when the round turns out to have landed already.
arrow::Status PostgresSink::Transact(const std::map<int32_t, PartitionRound>& rounds, const std::string* payload,
                                     bool through_staging) {
  ARROW_ASSIGN_OR_RAISE(auto transaction, Transaction::Begin(&connection_));
  // Progress first: its row locks order the members, so a fenced one stops before copying rows.
  // Partitions in ascending order, so two members never wait on each other's locks.
  for (const auto& [partition, round] : rounds) {
    ARROW_ASSIGN_OR_RAISE(const bool moved, MoveProgress(partition, round));
    if (!moved) {
      transaction.Rollback();
      return LandedElsewhereOrFenced(rounds);
    }
  }
  CrashPoint("postgres-after-progress");
  if (payload != nullptr && !through_staging) ARROW_RETURN_NOT_OK(connection_.CopyIn(copy_sql_, *payload));
  if (payload != nullptr && through_staging) {
    ARROW_RETURN_NOT_OK(connection_.Exec(postgres::CreateStagingTableSql(layout_)));
    ARROW_RETURN_NOT_OK(connection_.CopyIn(postgres::CopyIntoStagingSql(layout_), *payload));
    ARROW_RETURN_NOT_OK(connection_.Exec(postgres::InsertNewFromStagingSql(layout_)));
  }
  CrashPoint("postgres-after-copy");
  ARROW_RETURN_NOT_OK(transaction.Commit());
  CrashPoint("postgres-after-commit");
  return arrow::Status::OK();
}

// --- start-up ---

arrow::Status CheckEncoding(const PgConnection& connection, const ConnectTarget& target) {
  const std::string server = connection.ParameterStatus("server_encoding");
  if (server != "UTF8") {
    return arrow::Status::Invalid("PostgreSQL at ", target.Describe(), ": the database is encoded ", server,
                                  ", clickstream needs UTF8; create it with ENCODING 'UTF8' (and TEMPLATE template0)");
  }
  const std::string client = connection.ParameterStatus("client_encoding");
  if (client != "UTF8") {
    return arrow::Status::Invalid("PostgreSQL at ", target.Describe(), ": the client encoding is ", client,
                                  ", clickstream sends UTF8; drop client_encoding from the URI and PGCLIENTENCODING");
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> CurrentSchema(PgConnection* connection, const ConnectTarget& target) {
  ARROW_ASSIGN_OR_RAISE(PgResult result, connection->Exec("SELECT current_schema()"));
  if (result.rows() != 1 || result.IsNull(0, 0)) {
    return arrow::Status::Invalid("PostgreSQL at ", target.Describe(),
                                  ": no schema of the search_path exists; name one with --table SCHEMA.TABLE");
  }
  return std::string(result.Value(0, 0));
}

arrow::Result<std::vector<postgres::ExistingColumn>> ExistingColumns(PgConnection* connection, const std::string& oid) {
  ARROW_ASSIGN_OR_RAISE(
      PgResult result,
      connection->Exec("SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef "
                       "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                       "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                       {oid}));
  std::vector<postgres::ExistingColumn> columns;
  for (int row = 0; row < result.rows(); ++row) {
    columns.push_back({std::string(result.Value(row, 0)), std::string(result.Value(row, 1)),
                       std::string(result.Value(row, 2)), result.Value(row, 3) == "t", result.Value(row, 4) == "t"});
  }
  return columns;
}

// Turns "permission denied" into the start-up message that says what to grant.
arrow::Status ExplainPermission(const arrow::Status& status, const ConnectTarget& target, const std::string& what,
                                const std::string& grant) {
  const auto error = postgres::ErrorOf(status);
  if (!error || error->sqlstate != postgres::sqlstate::kInsufficientPrivilege) return status;
  return arrow::Status::Invalid("PostgreSQL at ", target.Describe(), ": no permission to ", what, " (",
                                error->message, "); ", grant);
}

// Creates the events table when missing or checks the existing one; creates the offsets table.
// Returns whether the events table is partitioned (then day partitions are created as needed).
arrow::Result<bool> PrepareTables(PgConnection* connection, const ConnectTarget& target, const TableLayout& layout) {
  ARROW_ASSIGN_OR_RAISE(auto transaction, Transaction::Begin(connection));
  // Two members starting together must not both create the table.
  ARROW_RETURN_NOT_OK(connection->Exec("SELECT pg_advisory_xact_lock(hashtext($1))", {layout.table.Quoted()}));
  ARROW_ASSIGN_OR_RAISE(PgResult found,
                        connection->Exec("SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                         "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                                         {layout.table.schema, layout.table.name}));
  bool partitioned = true;
  if (found.rows() == 0) {
    ARROW_RETURN_NOT_OK(ExplainPermission(
        connection->Exec(postgres::CreateTableSql(layout)).status(), target,
        "create table " + layout.table.Display(),
        fmt::format("GRANT CREATE ON SCHEMA {} TO {}, or create the table as its owner", layout.table.schema,
                    target.user)));
  } else {
    const std::string oid(found.Value(0, 0));
    partitioned = found.Value(0, 1) == "p";
    ARROW_ASSIGN_OR_RAISE(auto columns, ExistingColumns(connection, oid));
    if (auto misfit = postgres::FirstMisfit(layout, columns)) {
      return arrow::Status::Invalid("PostgreSQL at ", target.Describe(), ": table ", layout.table.Display(),
                                    " does not fit the events: ", *misfit);
    }
  }
  ARROW_RETURN_NOT_OK(ExplainPermission(
      connection->Exec(postgres::CreateOffsetsTableSql(layout.table.schema)).status(), target,
      fmt::format("create table {}.{}", layout.table.schema, postgres::kOffsetsTable),
      fmt::format("GRANT CREATE ON SCHEMA {} TO {}", layout.table.schema, target.user)));
  const std::string offsets = layout.table.schema + "." + postgres::kOffsetsTable;
  ARROW_ASSIGN_OR_RAISE(PgResult allowed,
                        connection->Exec("SELECT has_table_privilege($1, 'INSERT'), has_table_privilege($2, "
                                         "'SELECT, INSERT, UPDATE')",
                                         {layout.table.Quoted(), postgres::QuoteIdentifier(layout.table.schema) + "." +
                                                                     postgres::QuoteIdentifier(postgres::kOffsetsTable)}));
  if (allowed.Value(0, 0) != "t" || allowed.Value(0, 1) != "t") {
    const bool events = allowed.Value(0, 0) != "t";
    return arrow::Status::Invalid("PostgreSQL at ", target.Describe(), ": no permission to write table ",
                                  events ? layout.table.Display() : offsets, "; GRANT ",
                                  events ? "INSERT" : "SELECT, INSERT, UPDATE", " ON ",
                                  events ? layout.table.Display() : offsets, " TO ", target.user);
  }
  ARROW_RETURN_NOT_OK(transaction.Commit());
  return partitioned;
}

}  // namespace

bool IsPostgresUri(std::string_view output) {
  return output.rfind("postgresql://", 0) == 0 || output.rfind("postgres://", 0) == 0;
}

arrow::Result<std::unique_ptr<Sink>> OpenPostgresSink(const PostgresSinkOptions& options) {
  if (!options.schema) return arrow::Status::Invalid("the PostgreSQL sink needs the landed schema");
  const std::string password = PasswordOf(options.uri);
  // Settings before "dbname" are defaults the URI may override.
  PgConnection connection = PgConnection::Open({
      {"connect_timeout", std::to_string(options.connect_timeout_s)},
      {"client_encoding", "UTF8"},
      {"application_name", "clickstream"},
      {"dbname", options.uri},
  });
  const ConnectTarget target = TargetOf(connection);
  if (!connection.ok()) {
    return arrow::Status::Invalid(
        postgres::Scrub(postgres::ExplainConnectFailure(target, connection.ErrorMessage()), password));
  }
  auto prepared = [&]() -> arrow::Result<std::unique_ptr<Sink>> {
    ARROW_RETURN_NOT_OK(CheckEncoding(connection, target));
    ARROW_RETURN_NOT_OK(connection.Exec(kSessionSetup));
    ARROW_ASSIGN_OR_RAISE(const std::string schema, CurrentSchema(&connection, target));
    ARROW_ASSIGN_OR_RAISE(postgres::TableName table, postgres::ParseTableName(options.table, schema));
    ARROW_ASSIGN_OR_RAISE(TableLayout layout, postgres::LayoutFor(*options.schema, std::move(table)));
    ARROW_ASSIGN_OR_RAISE(const bool partitioned, PrepareTables(&connection, target, layout));
    return std::make_unique<PostgresSink>(options, std::move(connection), std::move(layout), partitioned, password);
  }();
  if (!prepared.ok()) return prepared.status().WithMessage(postgres::Scrub(prepared.status().message(), password));
  return prepared;
}

}  // namespace clickstream::sink
