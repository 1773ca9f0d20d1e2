#include "sink/postgres/table_layout.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "event/landed_schema.h"
#include "event/timestamp.h"
#include "sink/postgres/pg_connection.h"

namespace clickstream::sink::postgres {

namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000;

// The pg_type names a column of this type may have for binary COPY to accept the encoding:
// varchar shares text's wire format.
std::vector<std::string_view> AcceptedTypeNames(PgType type) {
  switch (type) {
    case PgType::kText: return {"text", "varchar"};
    case PgType::kInteger: return {"int4"};
    case PgType::kBigint: return {"int8"};
    case PgType::kTimestamptz: return {"timestamptz"};
    case PgType::kTimestamp: return {"timestamp"};
    case PgType::kDate: return {"date"};
  }
  return {};
}

std::string IsoDate(int32_t day) {
  const CivilDate date = CivilFromDays(day);
  return fmt::format("{:04d}-{:02d}-{:02d}", date.year, date.month, date.day);
}

std::string QuotedList(const std::vector<std::string>& names) {
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "" : ", ") + QuoteIdentifier(name);
  return list;
}

}  // namespace

std::vector<std::string> IdentityColumns() { return {column::kSourceId, column::kSourceLine}; }
std::string TimeColumn() { return column::kTimestamp; }

std::string_view PgTypeName(PgType type) {
  switch (type) {
    case PgType::kText: return "text";
    case PgType::kInteger: return "integer";
    case PgType::kBigint: return "bigint";
    case PgType::kTimestamptz: return "timestamp with time zone";
    case PgType::kTimestamp: return "timestamp without time zone";
    case PgType::kDate: return "date";
  }
  return "?";
}

arrow::Result<PgColumn> ColumnFor(const arrow::Field& field) {
  PgColumn column{field.name(), PgType::kText, field.nullable()};
  const arrow::DataType& type = *field.type();
  switch (type.id()) {
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING: return column;
    case arrow::Type::DICTIONARY: {
      const auto& value_type = *static_cast<const arrow::DictionaryType&>(type).value_type();
      if (value_type.id() == arrow::Type::STRING || value_type.id() == arrow::Type::LARGE_STRING) return column;
      break;
    }
    case arrow::Type::INT32: column.type = PgType::kInteger; return column;
    case arrow::Type::INT64: column.type = PgType::kBigint; return column;
    case arrow::Type::DATE32: column.type = PgType::kDate; return column;
    case arrow::Type::TIMESTAMP: {
      const auto& timestamp = static_cast<const arrow::TimestampType&>(type);
      if (timestamp.unit() != arrow::TimeUnit::MICRO) break;
      column.type = timestamp.timezone().empty() ? PgType::kTimestamp : PgType::kTimestamptz;
      return column;
    }
    default: break;
  }
  return arrow::Status::NotImplemented("no PostgreSQL column type for field ", field.ToString());
}

std::string TableName::Quoted() const { return QuoteIdentifier(schema) + "." + QuoteIdentifier(name); }
std::string TableName::Display() const { return schema + "." + name; }

arrow::Result<TableName> ParseTableName(std::string_view text, std::string_view default_schema) {
  TableName table;
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) {
    table.schema = default_schema;
    table.name = text;
  } else {
    table.schema = text.substr(0, dot);
    table.name = text.substr(dot + 1);
  }
  if (table.schema.empty() || table.name.empty() || table.name.find('.') != std::string::npos) {
    return arrow::Status::Invalid("--table must be TABLE or SCHEMA.TABLE, got '", text, "'");
  }
  return table;
}

arrow::Result<TableLayout> LayoutFor(const arrow::Schema& schema, TableName table) {
  TableLayout layout;
  layout.table = std::move(table);
  for (const auto& field : schema.fields()) {
    ARROW_ASSIGN_OR_RAISE(PgColumn column, ColumnFor(*field));
    layout.columns.push_back(std::move(column));
  }
  layout.time_column_index = schema.GetFieldIndex(TimeColumn());
  if (layout.time_column_index < 0 || (layout.columns[layout.time_column_index].type != PgType::kTimestamptz &&
                                       layout.columns[layout.time_column_index].type != PgType::kTimestamp)) {
    return arrow::Status::Invalid("the landed schema has no timestamp column '", TimeColumn(), "'");
  }
  layout.key = IdentityColumns();
  for (const std::string& name : layout.key) {
    if (schema.GetFieldIndex(name) < 0) return arrow::Status::Invalid("the landed schema has no identity column '", name, "'");
  }
  if (std::find(layout.key.begin(), layout.key.end(), TimeColumn()) == layout.key.end()) layout.key.push_back(TimeColumn());
  return layout;
}

std::string CreateTableSql(const TableLayout& layout) {
  std::string sql = fmt::format("CREATE TABLE {} (\n", layout.table.Quoted());
  for (const PgColumn& column : layout.columns) {
    sql += fmt::format("  {} {}{},\n", QuoteIdentifier(column.name), PgTypeName(column.type),
                       column.nullable ? "" : " NOT NULL");
  }
  sql += fmt::format("  PRIMARY KEY ({})\n) PARTITION BY RANGE ({})", QuotedList(layout.key),
                     QuoteIdentifier(layout.columns[layout.time_column_index].name));
  return sql;
}

std::string DayPartitionName(const TableName& table, int32_t day) {
  const CivilDate date = CivilFromDays(day);
  return fmt::format("{}_p{:04d}{:02d}{:02d}", table.name, date.year, date.month, date.day);
}

std::string CreateDayPartitionSql(const TableLayout& layout, int32_t day) {
  // Bounds in UTC whatever the session's time zone; a naive timestamp column takes them as they are.
  const bool zoned = layout.columns[layout.time_column_index].type == PgType::kTimestamptz;
  const std::string suffix = zoned ? " 00:00:00+00" : " 00:00:00";
  return fmt::format("CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {} FOR VALUES FROM ({}) TO ({})",
                     QuoteIdentifier(layout.table.schema), QuoteIdentifier(DayPartitionName(layout.table, day)),
                     layout.table.Quoted(), QuoteLiteral(IsoDate(day) + suffix),
                     QuoteLiteral(IsoDate(day + 1) + suffix));
}

namespace {

std::vector<std::string> ColumnNames(const TableLayout& layout) {
  std::vector<std::string> names;
  for (const PgColumn& column : layout.columns) names.push_back(column.name);
  return names;
}

std::string QuotedStaging() { return "pg_temp." + QuoteIdentifier(kStagingTable); }

}  // namespace

std::string CopySql(const TableLayout& layout) {
  return fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", layout.table.Quoted(), QuotedList(ColumnNames(layout)));
}

std::string CopyIntoStagingSql(const TableLayout& layout) {
  return fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", QuotedStaging(), QuotedList(ColumnNames(layout)));
}

std::string CreateStagingTableSql(const TableLayout& layout) {
  return fmt::format("CREATE TEMPORARY TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS",
                     QuoteIdentifier(kStagingTable), layout.table.Quoted());
}

std::string InsertNewFromStagingSql(const TableLayout& layout) {
  const std::string columns = QuotedList(ColumnNames(layout));
  return fmt::format("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING", layout.table.Quoted(), columns,
                     columns, QuotedStaging());
}

std::string CreateOffsetsTableSql(std::string_view schema) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {}.{} (\n"
      "  consumer_group text NOT NULL,\n"
      "  topic text NOT NULL,\n"
      "  \"partition\" integer NOT NULL,\n"
      "  next_offset bigint NOT NULL,\n"
      "  PRIMARY KEY (consumer_group, topic, \"partition\")\n"
      ")",
      QuoteIdentifier(schema), QuoteIdentifier(kOffsetsTable));
}

std::optional<std::string> FirstMisfit(const TableLayout& layout, const std::vector<ExistingColumn>& existing) {
  for (const PgColumn& column : layout.columns) {
    auto found = std::find_if(existing.begin(), existing.end(),
                              [&](const ExistingColumn& candidate) { return candidate.name == column.name; });
    if (found == existing.end()) {
      return fmt::format("it has no column \"{}\" ({})", column.name, PgTypeName(column.type));
    }
    const auto accepted = AcceptedTypeNames(column.type);
    if (std::find(accepted.begin(), accepted.end(), found->type_name) == accepted.end()) {
      return fmt::format("column \"{}\" is {}, the events need {}", column.name, found->display_type,
                         PgTypeName(column.type));
    }
    if (column.nullable && found->not_null) {
      return fmt::format("column \"{}\" is NOT NULL, but events may have no {}", column.name, column.name);
    }
  }
  for (const ExistingColumn& extra : existing) {
    const bool known = std::any_of(layout.columns.begin(), layout.columns.end(),
                                   [&](const PgColumn& column) { return column.name == extra.name; });
    if (!known && extra.not_null && !extra.has_default) {
      return fmt::format("column \"{}\" is NOT NULL without a default, and the events do not carry it", extra.name);
    }
  }
  return std::nullopt;
}

std::set<int32_t> DaysOf(const arrow::RecordBatch& batch, const TableLayout& layout) {
  std::set<int32_t> days;
  const auto& times = static_cast<const arrow::TimestampArray&>(*batch.column(layout.time_column_index));
  bool in_a_day = false;
  int64_t current_day_start = 0;
  for (int64_t row = 0; row < times.length(); ++row) {
    if (times.IsNull(row)) continue;
    const int64_t micros = times.Value(row);
    // Rows come roughly in time order: skip the division while they stay in one day.
    if (in_a_day && micros >= current_day_start && micros < current_day_start + kMicrosPerDay) continue;
    in_a_day = true;
    const int64_t day = FloorDiv(micros, kMicrosPerDay);
    current_day_start = day * kMicrosPerDay;
    days.insert(static_cast<int32_t>(day));
  }
  return days;
}

}  // namespace clickstream::sink::postgres
