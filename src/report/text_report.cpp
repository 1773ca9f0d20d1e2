#include "report/text_report.h"

#include <algorithm>

#include <fmt/format.h>

#include "event/time_units.h"
#include "event/timestamp.h"

namespace clickstream::report {

namespace {

size_t SegmentColumnWidth(const FunnelTable& table) {
  size_t width = std::string_view("all segments").size();
  for (const std::string& name : table.segment_names) width = std::max(width, name.size());
  return width;
}

void PrintFunnelRow(const std::string& name, const FunnelCounts& counts, size_t width, std::ostream& out) {
  out << fmt::format("{:<{}}  {:>10}  {:>10}  {:>8}  {:>9}  {:>9}  {:>14}\n", name, width,
                     WithThousands(counts.visitors), WithThousands(counts.views), WithThousands(counts.carts),
                     WithThousands(counts.transactions), Percent(ViewToCart(counts)),
                     Percent(CartToPurchase(counts)));
}

}  // namespace

std::string WithThousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::string Percent(double fraction) { return fmt::format("{:.1f}%", fraction * 100.0); }

std::string DayLabel(const FunnelTable& table, int64_t day) {
  return FormatDate((table.first_day + day) * kSecondsPerDay);
}

std::string DimensionsLabel(const std::vector<Dimension>& dimensions) {
  std::string label;
  for (Dimension dimension : dimensions) {
    if (!label.empty()) label += " / ";
    label += DimensionColumn(dimension);
  }
  return label;
}

std::string Verdict(const Finding& finding) {
  const std::string change =
      fmt::format("cart->purchase {:+.0f}% against the rest of the site (z={:.1f})", -finding.relative_drop * 100.0,
                  finding.z);
  if (!finding.flagged) return "within noise: " + change;
  const char* what = finding.relative_drop >= 0.75 ? "checkout likely broken" : "conversion dropped";
  return fmt::format("{}: {}, ~{} purchases lost", what, change,
                     WithThousands(static_cast<int64_t>(finding.lost_purchases + 0.5)));
}

void PrintFunnel(const FunnelTable& table, std::ostream& out) {
  const size_t width = SegmentColumnWidth(table);
  out << "Funnel by segment (" << DimensionsLabel(table.dimensions) << "), "
      << DayLabel(table, 0) << " .. " << DayLabel(table, table.day_count - 1) << "\n";
  out << fmt::format("{:<{}}  {:>10}  {:>10}  {:>8}  {:>9}  {:>9}  {:>14}\n", "segment", width, "visitors",
                     "views", "carts", "purchases", "view->cart", "cart->purchase");
  for (size_t s = 0; s < table.segment_names.size(); ++s) {
    PrintFunnelRow(table.segment_names[s], table.segment_totals[s], width, out);
  }
  PrintFunnelRow("all segments", table.site_total, width, out);
}

void PrintFindings(const FunnelTable& table, const std::vector<Finding>& findings, int top,
                   const DetectorOptions& options, std::ostream& out) {
  out << "\nCart->purchase drops, each segment against the rest of the site on the same days\n";
  const auto flagged = std::count_if(findings.begin(), findings.end(), [](const Finding& f) { return f.flagged; });
  if (flagged == 0) {
    out << fmt::format("No drop found in {} segments (a drop needs z >= {:.0f} and >= {:.0f}% against the rest of "
                       "the site).\n",
                       table.segment_names.size(), options.min_z, options.min_relative_drop * 100.0);
    if (!findings.empty() && findings.front().z > 0) {
      const Finding& closest = findings.front();
      out << fmt::format("Closest: {} from {}: {}\n", table.segment_names[closest.segment],
                         DayLabel(table, closest.split_day), Verdict(closest));
    }
    return;
  }
  const size_t width = SegmentColumnWidth(table);
  out << fmt::format("{:>2}  {:<{}}  {:>11}  {:>10}  {:<10}  {:>15}  {}\n", "#", "segment", width, "rate before",
                     "rate after", "since", "events affected", "verdict");
  int rank = 0;
  for (const Finding& finding : findings) {
    if (!finding.flagged || rank >= top) break;
    ++rank;
    out << fmt::format("{:>2}  {:<{}}  {:>11}  {:>10}  {:<10}  {:>15}  {}\n", rank,
                       table.segment_names[finding.segment], width, Percent(finding.rate_before),
                       Percent(finding.rate_after), DayLabel(table, finding.split_day),
                       WithThousands(finding.events_after), Verdict(finding));
  }
  if (flagged > rank) out << fmt::format("({} more flagged; raise --top to see them)\n", flagged - rank);
}

}  // namespace clickstream::report
