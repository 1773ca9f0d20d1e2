// The PostgreSQL table the events land in, derived from the landed Arrow schema: one typed column
// per field, range-partitioned by day on the event time, keyed by the event identity. Pure text
// and checks, no connection: the DDL, the COPY statement, and whether an existing table fits.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/api.h>

namespace clickstream::sink::postgres {

// The columns that identify an event: the table's unique key (with the event time, which
// PostgreSQL requires in every unique key of a partitioned table). The one place to change when
// the identity changes.
std::vector<std::string> IdentityColumns();
// The event time: the partition key, one partition per UTC day.
std::string TimeColumn();

enum class PgType { kText, kInteger, kBigint, kTimestamptz, kTimestamp, kDate };

// "timestamp with time zone": how the DDL and the messages name it.
std::string_view PgTypeName(PgType type);

struct PgColumn {
  std::string name;
  PgType type = PgType::kText;
  bool nullable = true;
};

// Maps one Arrow field to its column: utf8 and dictionary<utf8> → text, int32 → integer,
// int64 → bigint, timestamp[us] with a zone → timestamptz (without → timestamp), date32 → date.
arrow::Result<PgColumn> ColumnFor(const arrow::Field& field);

struct TableName {
  std::string schema;
  std::string name;
  std::string Quoted() const;   // "schema"."name"
  std::string Display() const;  // schema.name
};

// "events" or "analytics.events"; the schema defaults to `default_schema`.
arrow::Result<TableName> ParseTableName(std::string_view text, std::string_view default_schema);

struct TableLayout {
  TableName table;
  std::vector<PgColumn> columns;  // in the Arrow schema's order, which is the COPY order
  std::vector<std::string> key;   // identity columns, then the time column
  int time_column_index = -1;     // in `columns`
};

arrow::Result<TableLayout> LayoutFor(const arrow::Schema& schema, TableName table);

std::string CreateTableSql(const TableLayout& layout);
// The partition holding one UTC day (days since the epoch), named <table>_pYYYYMMDD.
std::string DayPartitionName(const TableName& table, int32_t day);
std::string CreateDayPartitionSql(const TableLayout& layout, int32_t day);
std::string CopySql(const TableLayout& layout);

// Rows whose identity the table already holds (a replayed input) are skipped: the round then
// goes through this session's temporary staging table, emptied at every commit.
inline constexpr char kStagingTable[] = "clickstream_staging";
std::string CreateStagingTableSql(const TableLayout& layout);
std::string CopyIntoStagingSql(const TableLayout& layout);
std::string InsertNewFromStagingSql(const TableLayout& layout);

// The progress table: per consumer group, topic and partition, the next offset to consume.
inline constexpr char kOffsetsTable[] = "clickstream_offsets";
std::string CreateOffsetsTableSql(std::string_view schema);

// A column of an existing table as the catalog describes it.
struct ExistingColumn {
  std::string name;
  std::string type_name;  // pg_type.typname: text, varchar, int4, int8, timestamptz, date, …
  std::string display_type;  // format_type(): "character varying(20)", "bigint", …
  bool not_null = false;
  bool has_default = false;
};

// Empty when the events can be copied into a table with these columns; otherwise the first
// column that does not fit, in words ("column "item_id" is bigint, the events need text").
std::optional<std::string> FirstMisfit(const TableLayout& layout, const std::vector<ExistingColumn>& existing);

// The UTC days (since the epoch) of the batch's event times.
std::set<int32_t> DaysOf(const arrow::RecordBatch& batch, const TableLayout& layout);

}  // namespace clickstream::sink::postgres
