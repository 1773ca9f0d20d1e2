// The PostgreSQL sink: events land in one table by binary COPY, and each partition's progress in
// clickstream_offsets(consumer_group, topic, partition, next_offset), in the same transaction.
//
// The invariant: the offsets table, not Kafka, records what has landed. A landing round is one
// transaction holding its rows and, per partition, the move of next_offset from where this member
// last left it to past the round. The move is guarded (`where next_offset = <what this member
// expects>`): when it matches nothing another member has landed the partition since, and the
// round is rolled back and reported fenced, so a stalled member never commits stale rows.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <arrow/api.h>

#include "sink/sink.h"

namespace clickstream::sink {

inline constexpr char kDefaultPostgresTable[] = "clickstream_events";

struct PostgresSinkOptions {
  std::string uri;  // any libpq connection string or URI; the password may come from PGPASSWORD or ~/.pgpass
  std::string table = kDefaultPostgresTable;  // TABLE or SCHEMA.TABLE
  std::string topic;
  std::string group;
  std::shared_ptr<arrow::Schema> schema;  // the landed schema of every batch
  int connect_timeout_s = 10;
};

// postgresql:// or postgres://
bool IsPostgresUri(std::string_view output);

// Connects, checks the encoding, creates the table (partitioned by day) and the offsets table
// when missing, or checks that an existing table fits. Every start-up failure is Invalid with a
// one-line message naming host, port, user and database.
arrow::Result<std::unique_ptr<Sink>> OpenPostgresSink(const PostgresSinkOptions& options);

}  // namespace clickstream::sink
