// Reads the consumer's landed Parquet (Hive-style event_date=… directories or a flat layout), or
// the current snapshot of a Delta table `consume --format delta` wrote (a directory with a
// _delta_log/), through Arrow's dataset API, projecting only the columns the funnel needs.
#pragma once

#include <string>
#include <vector>

#include <arrow/result.h>

#include "report/funnel.h"

namespace clickstream::report {

// Every failure is about the input (missing or empty directory, a file without the expected
// columns, an unreadable file) and its message names the path.
arrow::Result<FunnelTable> ReadFunnel(const std::string& input_dir, const std::vector<Dimension>& dimensions);

}  // namespace clickstream::report
