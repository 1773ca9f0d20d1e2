// Writes generated events as the clickstream CSV that `produce` replays.
#pragma once

#include <cstdio>
#include <string>

#include <arrow/status.h>

#include "generate/generator.h"

namespace clickstream::generate {

// Appends one row, newline included, in the column order of GeneratorCsvHeader() (event/fields.h).
// Formats by hand: this runs once per generated event.
void AppendCsvRow(const GeneratedEvent& event, std::string* out);

// Generates the whole clickstream into `out` (a file or stdout), header first, in blocks of about
// 1 MiB. Fails only when writing fails.
arrow::Status WriteClickstreamCsv(const GenerateOptions& options, std::FILE* out);

// As above into a file path, or stdout for "-". A file is written under a temporary name and renamed
// into place, so a failed or interrupted run never leaves a truncated CSV behind.
arrow::Status WriteClickstreamCsv(const GenerateOptions& options, const std::string& path);

}  // namespace clickstream::generate
