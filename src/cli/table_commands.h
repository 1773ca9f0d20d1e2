// The Delta table's side of `compact`, and `vacuum` (a table's alone): what the commands do once
// the output is known to be a table.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "sink/parquet/compaction.h"

namespace clickstream::cli {

// Whether the location holds a Delta table (a _delta_log directory at its root).
bool IsDeltaTableLocation(const std::string& location);

// `compact` on a table: one commit of removes and adds per run (sink/delta/table_compaction.h).
// `on_committed` hears what the commit rewrote, as one CompactionProgress for all its days.
int RunCompactTable(const std::string& location, int64_t target_file_bytes, std::chrono::seconds min_age,
                    const std::function<void(const sink::CompactionProgress&)>& on_committed);

}  // namespace clickstream::cli
