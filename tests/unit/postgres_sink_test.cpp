#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "event/landed_schema.h"
#include "result_assertions.h"
#include "sink/postgres/connect_errors.h"
#include "sink/postgres/copy_binary.h"
#include "sink/postgres/pg_connection.h"
#include "sink/postgres/postgres_sink.h"
#include "sink/postgres/table_layout.h"

namespace clickstream::sink::postgres {
namespace {

std::shared_ptr<arrow::DataType> UtcMicros() { return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"); }
std::shared_ptr<arrow::DataType> Enumeration() { return arrow::dictionary(arrow::int32(), arrow::utf8()); }

// Every type the sink maps, in a schema of the test's own.
std::shared_ptr<arrow::Schema> SmallSchema() {
  return arrow::schema({
      arrow::field("source_id", arrow::utf8(), false),
      arrow::field("source_line", arrow::int64(), false),
      arrow::field("timestamp", UtcMicros(), false),
      arrow::field("event_type", Enumeration(), false),
      arrow::field("transaction_id", arrow::utf8(), true),
      arrow::field("kafka_partition", arrow::int32(), false),
      arrow::field("kafka_offset", arrow::int64(), false),
      arrow::field("event_date", arrow::date32(), false),
  });
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 0xf];
  }
  return hex;
}

TEST(PostgresTableLayout, DdlFollowsTheArrowSchema) {
  ASSERT_OK_AND_ASSIGN(auto layout, LayoutFor(*SmallSchema(), TableName{"public", "events"}));
  EXPECT_EQ(CreateTableSql(layout),
            "CREATE TABLE \"public\".\"events\" (\n"
            "  \"source_id\" text NOT NULL,\n"
            "  \"source_line\" bigint NOT NULL,\n"
            "  \"timestamp\" timestamp with time zone NOT NULL,\n"
            "  \"event_type\" text NOT NULL,\n"
            "  \"transaction_id\" text,\n"
            "  \"kafka_partition\" integer NOT NULL,\n"
            "  \"kafka_offset\" bigint NOT NULL,\n"
            "  \"event_date\" date NOT NULL,\n"
            "  PRIMARY KEY (\"source_id\", \"source_line\", \"timestamp\")\n"
            ") PARTITION BY RANGE (\"timestamp\")");
  EXPECT_EQ(CopySql(layout),
            "COPY \"public\".\"events\" (\"source_id\", \"source_line\", \"timestamp\", \"event_type\", \"transaction_id\", "
            "\"kafka_partition\", \"kafka_offset\", \"event_date\") FROM STDIN (FORMAT binary)");
  EXPECT_EQ(CreateStagingTableSql(layout),
            "CREATE TEMPORARY TABLE IF NOT EXISTS \"clickstream_staging\" (LIKE \"public\".\"events\") ON COMMIT DELETE "
            "ROWS");
  EXPECT_EQ(InsertNewFromStagingSql(layout),
            "INSERT INTO \"public\".\"events\" (\"source_id\", \"source_line\", \"timestamp\", \"event_type\", \"transaction_id\", "
            "\"kafka_partition\", \"kafka_offset\", \"event_date\") SELECT \"source_id\", \"source_line\", \"timestamp\", \"event_type\", "
            "\"transaction_id\", \"kafka_partition\", \"kafka_offset\", \"event_date\" FROM "
            "pg_temp.\"clickstream_staging\" ON CONFLICT DO NOTHING");
  // 16617 days after the epoch is 2015-07-01.
  EXPECT_EQ(CreateDayPartitionSql(layout, 16617),
            "CREATE TABLE IF NOT EXISTS \"public\".\"events_p20150701\" PARTITION OF \"public\".\"events\" FOR VALUES "
            "FROM ('2015-07-01 00:00:00+00') TO ('2015-07-02 00:00:00+00')");
}

TEST(PostgresTableLayout, EveryLandedSchemaMaps) {
  for (DateColumn date_column : {DateColumn::kInPath, DateColumn::kInFile}) {
    ASSERT_OK_AND_ASSIGN(auto layout, LayoutFor(*LandedSchema(date_column), TableName{"s", "t"}));
    EXPECT_EQ(layout.columns.size(), static_cast<size_t>(LandedSchema(date_column)->num_fields()));
    EXPECT_EQ(layout.key.back(), TimeColumn());
  }
}

TEST(PostgresTableLayout, NamesAndUnsupportedTypes) {
  ASSERT_OK_AND_ASSIGN(auto plain, ParseTableName("events", "public"));
  EXPECT_EQ(plain.Quoted(), "\"public\".\"events\"");
  ASSERT_OK_AND_ASSIGN(auto qualified, ParseTableName("analytics.Events", "public"));
  EXPECT_EQ(qualified.Display(), "analytics.Events");
  EXPECT_TRUE(ParseTableName("a.b.c", "public").status().IsInvalid());
  EXPECT_TRUE(ParseTableName("", "public").status().IsInvalid());
  EXPECT_EQ(QuoteIdentifier("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_FALSE(ColumnFor(*arrow::field("f", arrow::float64())).ok());
  EXPECT_FALSE(ColumnFor(*arrow::field("t", arrow::timestamp(arrow::TimeUnit::NANO, "UTC"))).ok());
  ASSERT_OK_AND_ASSIGN(auto naive, ColumnFor(*arrow::field("t", arrow::timestamp(arrow::TimeUnit::MICRO))));
  EXPECT_EQ(naive.type, PgType::kTimestamp);
}

struct FitCase {
  std::string name;
  std::vector<ExistingColumn> table;
  std::string misfit;  // empty: fits
};

TEST(PostgresTableLayout, ExistingTablesFitOrNameTheColumn) {
  ASSERT_OK_AND_ASSIGN(auto layout, LayoutFor(*SmallSchema(), TableName{"public", "events"}));
  const std::vector<ExistingColumn> fitting = {
      {"source_id", "varchar", "character varying(64)", true, false},
      {"source_line", "int8", "bigint", true, false},
      {"timestamp", "timestamptz", "timestamp with time zone", true, false},
      {"event_type", "text", "text", false, false},
      {"transaction_id", "text", "text", false, false},
      {"kafka_partition", "int4", "integer", false, false},
      {"kafka_offset", "int8", "bigint", false, false},
      {"event_date", "date", "date", false, false},
  };
  auto with = [&](size_t index, ExistingColumn column) {
    auto columns = fitting;
    columns[index] = std::move(column);
    return columns;
  };
  auto plus = [&](ExistingColumn column) {
    auto columns = fitting;
    columns.push_back(std::move(column));
    return columns;
  };
  const std::vector<FitCase> cases = {
      {"fits, varchar for text", fitting, ""},
      {"extra nullable column", plus({"note", "text", "text", false, false}), ""},
      {"extra column with a default", plus({"id", "int8", "bigint", true, true}), ""},
      {"missing column", std::vector<ExistingColumn>(fitting.begin(), fitting.end() - 1),
       "it has no column \"event_date\" (date)"},
      {"wrong type", with(5, {"kafka_partition", "int8", "bigint", false, false}),
       "column \"kafka_partition\" is bigint, the events need integer"},
      {"naive timestamp", with(2, {"timestamp", "timestamp", "timestamp without time zone", true, false}),
       "column \"timestamp\" is timestamp without time zone, the events need timestamp with time zone"},
      {"not null where events have nulls", with(4, {"transaction_id", "text", "text", true, false}),
       "column \"transaction_id\" is NOT NULL, but events may have no transaction_id"},
      {"extra not null column", plus({"tenant", "text", "text", true, false}),
       "column \"tenant\" is NOT NULL without a default, and the events do not carry it"},
  };
  for (const FitCase& c : cases) {
    const auto misfit = FirstMisfit(layout, c.table);
    EXPECT_EQ(misfit.value_or(""), c.misfit) << c.name;
  }
}

TEST(PostgresCopyBinary, EncodesEveryTypeBigEndianFromThe2000Epoch) {
  arrow::StringBuilder ids;
  arrow::Int64Builder lines;
  arrow::TimestampBuilder times(UtcMicros(), arrow::default_memory_pool());
  arrow::StringDictionary32Builder types;
  arrow::StringBuilder transactions;
  arrow::Int32Builder partitions;
  arrow::Int64Builder offsets;
  arrow::Date32Builder dates;
  // 2000-01-01 00:00:01 UTC, and the Unix epoch (before PostgreSQL's).
  ASSERT_TRUE(ids.AppendValues({"e1", "e2"}).ok());
  ASSERT_TRUE(lines.AppendValues({2, 3}).ok());
  ASSERT_TRUE(times.AppendValues({946'684'801'000'000, 0}).ok());
  ASSERT_TRUE(types.Append("view").ok() && types.Append("transaction").ok());
  ASSERT_TRUE(transactions.AppendNull().ok() && transactions.Append("tx").ok());
  ASSERT_TRUE(partitions.AppendValues({3, -1}).ok());
  ASSERT_TRUE(offsets.AppendValues({258, 1}).ok());
  ASSERT_TRUE(dates.AppendValues({10'958, 0}).ok());
  arrow::ArrayVector columns(8);
  ASSERT_TRUE(ids.Finish(&columns[0]).ok() && lines.Finish(&columns[1]).ok() && times.Finish(&columns[2]).ok() &&
              types.Finish(&columns[3]).ok() && transactions.Finish(&columns[4]).ok() &&
              partitions.Finish(&columns[5]).ok() && offsets.Finish(&columns[6]).ok() && dates.Finish(&columns[7]).ok());
  const auto batch = arrow::RecordBatch::Make(SmallSchema(), 2, columns);
  ASSERT_OK_AND_ASSIGN(auto layout, LayoutFor(*SmallSchema(), TableName{"public", "events"}));

  std::string out;
  AppendCopyHeader(&out);
  ASSERT_TRUE(AppendCopyTuples(*batch, layout, &out).ok());
  AppendCopyTrailer(&out);
  EXPECT_EQ(Hex(out),
            "5047434f50590aff0d0a00"  // PGCOPY\n\377\r\n\0
            "00000000" "00000000"     // flags, header extension
            "0008"                                  // row 1: 8 fields
            "00000002" "6531"                       // "e1"
            "00000008" "0000000000000002"           // line 2
            "00000008" "00000000000f4240"           // 1 s after 2000-01-01
            "00000004" "76696577"                   // "view" through the dictionary
            "ffffffff"                              // NULL
            "00000004" "00000003"                   // 3
            "00000008" "0000000000000102"           // 258
            "00000004" "00000001"                   // 2000-01-02
            "0008"                                  // row 2
            "00000002" "6532"                       // "e2"
            "00000008" "0000000000000003"           // line 3
            "00000008" "fffca2fec4c82000"           // 1970-01-01: -946684800 s
            "0000000b" "7472616e73616374696f6e"     // "transaction"
            "00000002" "7478"                       // "tx"
            "00000004" "ffffffff"                   // -1
            "00000008" "0000000000000001"           // 1
            "00000004" "ffffd533"                   // 1970-01-01: -10957 days
            "ffff");                                // trailer
}

TEST(PostgresCopyBinary, RefusesABatchOfAnotherShape) {
  ASSERT_OK_AND_ASSIGN(auto layout, LayoutFor(*SmallSchema(), TableName{"public", "events"}));
  auto other = arrow::RecordBatch::MakeEmpty(LandedSchema(DateColumn::kInPath)).ValueOrDie();
  std::string out;
  EXPECT_TRUE(AppendCopyTuples(*other, layout, &out).IsInvalid());
}

TEST(PostgresTableLayout, DaysOfTheEventTimes) {
  arrow::TimestampBuilder times(UtcMicros(), arrow::default_memory_pool());
  const int64_t day = 86'400'000'000;
  ASSERT_TRUE(times.AppendValues({16617 * day, 16617 * day + day - 1, 16618 * day, 16617 * day + 5, 1, -1}).ok());
  std::shared_ptr<arrow::Array> column;
  ASSERT_TRUE(times.Finish(&column).ok());
  auto schema = arrow::schema({arrow::field("source_id", arrow::utf8()), arrow::field("source_line", arrow::int64()),
                               arrow::field("timestamp", UtcMicros())});
  auto ids = arrow::MakeArrayOfNull(arrow::utf8(), 6).ValueOrDie();
  auto lines = arrow::MakeArrayOfNull(arrow::int64(), 6).ValueOrDie();
  ASSERT_OK_AND_ASSIGN(auto layout, LayoutFor(*schema, TableName{"public", "events"}));
  EXPECT_EQ(DaysOf(*arrow::RecordBatch::Make(schema, 6, {ids, lines, column}), layout),
            (std::set<int32_t>{-1, 0, 16617, 16618}));
}

TEST(PostgresConnectErrors, UrisLoseTheirPassword) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"postgresql://alice:s3cret@db:5432/shop", "postgresql://alice@db:5432/shop"},
      {"postgres://alice:p%40ss@[::1]:5432/shop?sslmode=require", "postgres://alice@[::1]:5432/shop?sslmode=require"},
      {"postgresql://alice@db/shop", "postgresql://alice@db/shop"},
      {"postgresql://db:5432/shop?password=s3cret&sslmode=disable",
       "postgresql://db:5432/shop?password=***&sslmode=disable"},
      {"host=db user=alice password=s3cret dbname=shop", "host=db user=alice password=*** dbname=shop"},
  };
  for (const auto& [uri, redacted] : cases) EXPECT_EQ(RedactUri(uri), redacted) << uri;
  EXPECT_EQ(Scrub("bad s3cret here, s3cret", "s3cret"), "bad *** here, ***");
  EXPECT_EQ(Scrub("nothing", ""), "nothing");
}

TEST(PostgresConnectErrors, LibpqMessagesBecomeOneLineWithTheFix) {
  const ConnectTarget target{"127.0.0.1", "5432", "alice", "shop"};
  EXPECT_EQ(target.Uri(), "postgresql://alice@127.0.0.1:5432/shop");
  struct Case {
    std::string libpq;
    std::string expected_start;
  };
  const std::string prefix = "cannot connect to PostgreSQL at 127.0.0.1:5432 as user alice, database shop: ";
  const std::vector<Case> cases = {
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication failed for user "
       "\"alice\"",
       "wrong password, or no such user (password authentication failed for user \"alice\"); check the user"},
      {"connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n\tIs the server running on that "
       "host and accepting TCP/IP connections?\nconnection to server at \"::1\", port 5432 failed: Connection refused",
       "the server is unreachable (Connection refused); check the host and port"},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"shop\" does not exist",
       "no such database (database \"shop\" does not exist); create it"},
      {"connection to server at \"127.0.0.1\", port 5432 failed: fe_sendauth: no password supplied",
       "the server wants a password and none was given"},
      {"connection to server at \"127.0.0.1\", port 5432 failed: timeout expired", "the server is unreachable"},
      {"could not translate host name \"nowhere\" to address: Name or service not known",
       "the server is unreachable (could not translate host name"},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  no pg_hba.conf entry for host \"127.0.0.1\"",
       "the server does not accept this client"},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  permission denied for database \"shop\"",
       "the user may not connect to this database"},
      {"something new", "something new"},
  };
  for (const Case& c : cases) {
    const std::string message = ExplainConnectFailure(target, c.libpq);
    EXPECT_EQ(message.rfind(prefix + c.expected_start, 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
}

TEST(PostgresSink, RecognisesItsUris) {
  EXPECT_TRUE(IsPostgresUri("postgresql://u@h/db"));
  EXPECT_TRUE(IsPostgresUri("postgres://u@h/db"));
  EXPECT_FALSE(IsPostgresUri("/data/postgresql://x"));
  EXPECT_FALSE(IsPostgresUri("s3://bucket/prefix"));
}

// Against a real server, whose URI tests/e2e/test_postgres.py passes in after starting one with
// scripts/local-postgres; skipped when run without it.
class PostgresSinkAgainstServer : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* uri = std::getenv("CLICKSTREAM_TEST_POSTGRES_URI");
    if (uri == nullptr) GTEST_SKIP() << "CLICKSTREAM_TEST_POSTGRES_URI is not set";
    uri_ = uri;
    name_ = "sink_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++);
    admin_.emplace(PgConnection::Open({{"dbname", uri_}}));
    ASSERT_TRUE(admin_->ok()) << admin_->ErrorMessage();
  }

  PostgresSinkOptions Options() const {
    PostgresSinkOptions options;
    options.uri = uri_;
    options.table = name_;
    options.topic = name_;  // a topic of its own keeps the test's progress rows apart
    options.group = "g";
    options.schema = LandedSchema(DateColumn::kInPath);
    return options;
  }

  std::unique_ptr<Sink> Open() {
    auto sink = OpenPostgresSink(Options());
    EXPECT_TRUE(sink.ok()) << sink.status().ToString();
    return sink.ok() ? std::move(*sink) : nullptr;
  }

  std::string Query(const std::string& sql) {
    auto result = admin_->Exec(sql);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() && result->rows() > 0 ? std::string(result->Value(0, 0)) : "";
  }

  // Events with source p<id_partition> and line <offset> (by default the batch's own partition), `days` UTC days
  // apart from 2015-07-01, grouped by day.
  static PartitionBatchData Batch(int32_t partition, int64_t first, int64_t last, int days = 1,
                                  int32_t id_partition = -1) {
    if (id_partition < 0) id_partition = partition;
    PartitionBatchData data{partition, first, last, {}};
    for (int day = 0; day < days; ++day) {
      LandedBatchBuilder builder(DateColumn::kInPath);
      for (int64_t offset = first; offset <= last; ++offset) {
        if (offset % days != day) continue;
        Event event;
        event.source_id = "p" + std::to_string(id_partition);
        event.source_line = offset;
        event.timestamp = (16617 + day) * 86400 + offset;
        event.visitor_id = "v";
        event.item_id = "i";
        event.browser = "Ünïcode\tand\\more";
        EXPECT_TRUE(builder.Append(event, LandingInfo{partition, offset, 0}).ok());
      }
      data.rows_by_day.emplace_back(16617 + day, builder.Finish().ValueOrDie());
    }
    return data;
  }

  std::string Rows() { return Query("SELECT count(*) FROM " + QuoteIdentifier(name_)); }
  std::string Progress(int32_t partition) {
    return Query("SELECT next_offset FROM clickstream_offsets WHERE topic = " + QuoteLiteral(name_) +
                 " AND \"partition\" = " + std::to_string(partition));
  }

  static inline int counter_ = 0;
  std::string uri_;
  std::string name_;
  std::optional<PgConnection> admin_;
};

TEST_F(PostgresSinkAgainstServer, LandsRoundsAndResumesFromTheTable) {
  auto sink = Open();
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->Describe().find("throw-away-password"), std::string::npos) << sink->Describe();
  ASSERT_OK_AND_ASSIGN(auto resumes, sink->Recover({0, 1}));
  EXPECT_FALSE(resumes[0].next_offset.has_value());
  ASSERT_OK_AND_ASSIGN(auto landed, sink->Land({Batch(0, 0, 9, 2), Batch(1, 0, 4), Batch(0, 10, 19, 3)}, "t"));
  EXPECT_EQ(landed.size(), 3u);
  EXPECT_EQ(Rows(), "25");
  EXPECT_EQ(Progress(0), "20");
  EXPECT_EQ(Progress(1), "5");
  // Three days, three partitions; text comes back byte for byte.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_inherits WHERE inhparent = " + QuoteLiteral(name_) + "::regclass"), "3");
  EXPECT_EQ(Query("SELECT browser FROM " + QuoteIdentifier(name_) + " LIMIT 1"), "Ünïcode\tand\\more");
  EXPECT_EQ(Query("SELECT \"timestamp\" FROM " + QuoteIdentifier(name_) + " WHERE source_id = 'p1' AND source_line = 3"),
            "2015-07-01 00:00:03+00");

  // A dead-letter-only batch has no rows but moves the progress.
  ASSERT_OK_AND_ASSIGN(landed, sink->Land({PartitionBatchData{1, 5, 7, {}}}, "t"));
  EXPECT_EQ(Progress(1), "8");

  auto restarted = Open();
  ASSERT_OK_AND_ASSIGN(resumes, restarted->Recover({0, 1, 2}));
  EXPECT_EQ(resumes[0].next_offset, 20);
  EXPECT_EQ(resumes[1].next_offset, 8);
  EXPECT_FALSE(resumes[2].next_offset.has_value());
}

TEST_F(PostgresSinkAgainstServer, AMemberWhosePartitionMovedIsFenced) {
  auto stale = Open();
  auto owner = Open();
  ASSERT_TRUE(stale && owner);
  ASSERT_TRUE(stale->Recover({0}).ok());
  ASSERT_TRUE(owner->Recover({0}).ok());
  ASSERT_TRUE(owner->Land({Batch(0, 0, 9)}, "t").ok());
  // Both started from nothing; the owner landed first.
  auto fenced = stale->Land({Batch(0, 0, 14)}, "t");
  ASSERT_FALSE(fenced.ok());
  EXPECT_TRUE(IsFenced(fenced.status())) << fenced.status().ToString();
  ASSERT_TRUE(stale->Recover({0}).ok());  // re-reads the truth: 10
  ASSERT_TRUE(owner->Land({Batch(0, 10, 19)}, "t").ok());
  fenced = stale->Land({Batch(0, 10, 14)}, "t");
  EXPECT_TRUE(IsFenced(fenced.status())) << fenced.status().ToString();
  EXPECT_EQ(Rows(), "20");
  EXPECT_EQ(Progress(0), "20");
}

TEST_F(PostgresSinkAgainstServer, ARoundAnotherAttemptAlreadyLandedIsNotDuplicated) {
  // As after a COMMIT whose answer was lost: the round is in, this member does not know it.
  auto first = Open();
  auto retry = Open();
  ASSERT_TRUE(first->Recover({0, 1}).ok() && retry->Recover({0, 1}).ok());
  const std::vector<PartitionBatchData> round = {Batch(0, 0, 9), Batch(1, 0, 9)};
  ASSERT_TRUE(first->Land(round, "t").ok());
  auto again = retry->Land(round, "t");
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Rows(), "20");
  ASSERT_TRUE(retry->Land({Batch(0, 10, 11)}, "t").ok());
  EXPECT_EQ(Progress(0), "12");
}

TEST_F(PostgresSinkAgainstServer, EventsWhoseIdentityLandedBeforeAreSkipped) {
  // The same input replayed into the topic: the same identities and times at later offsets.
  auto sink = Open();
  ASSERT_TRUE(sink->Recover({0, 1}).ok());
  ASSERT_TRUE(sink->Land({Batch(0, 0, 9)}, "t").ok());
  auto replayed = sink->Land({Batch(1, 0, 14, 1, /*id_partition=*/0), Batch(0, 10, 11)}, "t");
  ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
  EXPECT_EQ(Rows(), "15");  // the first 10, and 5 new among the replay; p0-o10 and o11 were in it
  EXPECT_EQ(Progress(1), "15");
  EXPECT_EQ(Progress(0), "12");
  // The next round takes the direct path again.
  ASSERT_TRUE(sink->Land({Batch(1, 15, 16)}, "t").ok());
  EXPECT_EQ(Rows(), "17");
}

TEST_F(PostgresSinkAgainstServer, ALostConnectionIsReopenedByTheNextAttempt) {
  auto sink = Open();
  ASSERT_TRUE(sink->Recover({0}).ok());
  ASSERT_TRUE(sink->Land({Batch(0, 0, 9)}, "t").ok());
  Query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'clickstream' AND "
        "pid <> pg_backend_pid()");
  auto attempt = sink->Land({Batch(0, 10, 19)}, "t");
  for (int retries = 0; !attempt.ok() && retries < 3; ++retries) attempt = sink->Land({Batch(0, 10, 19)}, "t");
  EXPECT_TRUE(attempt.ok()) << attempt.status().ToString();
  EXPECT_EQ(Rows(), "20");
  EXPECT_EQ(Progress(0), "20");
}

TEST_F(PostgresSinkAgainstServer, StartUpFailuresAreOneLineWithoutThePassword) {
  auto expect_invalid = [&](PostgresSinkOptions options, const std::string& words) {
    auto sink = OpenPostgresSink(options);
    ASSERT_FALSE(sink.ok());
    const std::string message = sink.status().message();
    EXPECT_TRUE(sink.status().IsInvalid()) << message;
    EXPECT_NE(message.find(words), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.find("throw-away-password"), std::string::npos) << message;
    EXPECT_EQ(message.find("not-the-password"), std::string::npos) << message;
  };
  auto replace = [](std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.rfind(from);
    return at == std::string::npos ? text : text.replace(at, from.size(), to);
  };
  PostgresSinkOptions wrong_password = Options();
  wrong_password.uri = replace(uri_, "throw-away-password", "not-the-password");
  expect_invalid(wrong_password, "wrong password");
  PostgresSinkOptions no_database = Options();
  no_database.uri = replace(uri_, "/clickstream", "/no_such_db");
  expect_invalid(no_database, "no such database");
  Query("CREATE TABLE " + QuoteIdentifier(name_) + " (source_id text, source_line bigint, \"timestamp\" timestamptz, item_id bigint)");
  expect_invalid(Options(), "column \"visitor_id\"");
}

}  // namespace
}  // namespace clickstream::sink::postgres
