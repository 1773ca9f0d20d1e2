// The report as a person reads it in a terminal: the funnel by segment, then the ranked drops.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "report/detector.h"
#include "report/funnel.h"

namespace clickstream::report {

// "1,234,567"
std::string WithThousands(int64_t value);
// "31.2%"
std::string Percent(double fraction);
// "YYYY-MM-DD" of a table day index.
std::string DayLabel(const FunnelTable& table, int64_t day);
// "device / browser / os"
std::string DimensionsLabel(const std::vector<Dimension>& dimensions);
// The one-line verdict on a finding, e.g. "checkout likely broken: cart->purchase -90% against the
// rest of the site (z=14.2), ~640 purchases lost".
std::string Verdict(const Finding& finding);

void PrintFunnel(const FunnelTable& table, std::ostream& out);

// At most `top` flagged findings; when none is flagged, says so and names the closest candidate.
void PrintFindings(const FunnelTable& table, const std::vector<Finding>& findings, int top,
                   const DetectorOptions& options, std::ostream& out);

}  // namespace clickstream::report
