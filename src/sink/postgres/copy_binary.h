// PostgreSQL's binary COPY format for the landed rows: a fixed header, one tuple per row (a field
// count, then each field as a big-endian length and its bytes, -1 for NULL) and a trailer. Binary
// keeps text byte-exact (no escaping of tabs, backslashes or newlines in identifiers) and skips
// the server's parsing of numbers and timestamps.
#pragma once

#include <string>

#include <arrow/api.h>

#include "sink/postgres/table_layout.h"

namespace clickstream::sink::postgres {

// PostgreSQL counts time from 2000-01-01 UTC, Arrow from 1970-01-01.
inline constexpr int64_t kPgEpochDays = 10'957;
inline constexpr int64_t kPgEpochMicros = kPgEpochDays * 86'400'000'000;

void AppendCopyHeader(std::string* out);
void AppendCopyTrailer(std::string* out);

// Appends one tuple per row of `batch`, whose fields must map to `layout`'s columns in order.
arrow::Status AppendCopyTuples(const arrow::RecordBatch& batch, const TableLayout& layout, std::string* out);

}  // namespace clickstream::sink::postgres
