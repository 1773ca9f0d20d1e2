// The Delta table's side of `compact`, and `vacuum` (a table's alone): what the commands do once
// the output is known to be a table.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace clickstream::cli {

// Whether the location holds a Delta table (a _delta_log directory at its root).
bool IsDeltaTableLocation(const std::string& location);

// `compact` on a table: one commit of removes and adds per run (sink/delta/table_compaction.h).
int RunCompactTable(const std::string& location, int64_t target_file_bytes, std::chrono::seconds min_age);

}  // namespace clickstream::cli
