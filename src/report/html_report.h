// The report as one self-contained HTML file: inline SVG charts and inline CSS, no scripts and
// no external URL, so it opens offline and can be mailed as an attachment.
#pragma once

#include <string>
#include <vector>

#include <arrow/status.h>

#include "report/detector.h"
#include "report/funnel.h"

namespace clickstream::report {

std::string RenderHtmlReport(const FunnelTable& table, const std::vector<Finding>& findings, int top,
                             const DetectorOptions& options);

// Writes RenderHtmlReport's page to `path` (through a temporary file, so a reader never sees half).
arrow::Status WriteHtmlReport(const std::string& path, const FunnelTable& table, const std::vector<Finding>& findings,
                              int top, const DetectorOptions& options);

}  // namespace clickstream::report
