#include "report/html_report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "report/text_report.h"

namespace clickstream::report {

namespace {

constexpr char kSegmentColor[] = "#d62728";
constexpr char kRestColor[] = "#1f77b4";

std::string Escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::optional<double> DailyRate(int64_t purchases, int64_t carts) {
  if (carts <= 0) return std::nullopt;
  return static_cast<double>(purchases) / static_cast<double>(carts);
}

// One line of a chart: a rate per day, absent on days without carts.
struct Line {
  std::vector<std::optional<double>> rates;
};

// Plot geometry: maps day indices and rates to SVG coordinates.
struct Frame {
  double width = 1000, height = 320, left = 56, right = 40, top = 28, bottom = 44;
  int64_t days = 1;
  double max_rate = 1;
  double X(double day) const {
    return left + (days > 1 ? day / static_cast<double>(days - 1) : 0.5) * (width - left - right);
  }
  double Y(double rate) const { return top + (1.0 - rate / max_rate) * (height - top - bottom); }
};

std::string Polyline(const Frame& frame, const Line& line, const char* color, double stroke_width) {
  std::string out;
  std::string points;
  auto flush = [&] {
    if (!points.empty()) {
      out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" points=\"{}\"/>\n", color,
                         stroke_width, points);
    }
    points.clear();
  };
  for (size_t day = 0; day < line.rates.size(); ++day) {
    if (!line.rates[day]) {
      flush();
      continue;
    }
    points += fmt::format("{:.1f},{:.1f} ", frame.X(static_cast<double>(day)), frame.Y(*line.rates[day]));
  }
  flush();
  return out;
}

std::string Axes(const Frame& frame, const FunnelTable& table) {
  std::string out;
  const double step = frame.max_rate > 0.5 ? 0.2 : frame.max_rate > 0.2 ? 0.1 : 0.05;
  for (double rate = 0; rate <= frame.max_rate + 1e-9; rate += step) {
    out += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\" class=\"tick\">{5:.0f}%</text>\n",
        frame.left, frame.width - frame.right, frame.Y(rate), frame.left - 6, frame.Y(rate) + 4, rate * 100);
  }
  const int64_t label_every = std::max<int64_t>(1, frame.days / 8);
  for (int64_t day = 0; day < frame.days; day += label_every) {
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" class=\"tick\">{}</text>\n",
                       frame.X(static_cast<double>(day)), frame.height - frame.bottom + 18, DayLabel(table, day));
  }
  out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#999\"/>\n",
                     frame.left, frame.top, frame.width - frame.left - frame.right,
                     frame.height - frame.top - frame.bottom);
  return out;
}

double NiceMax(const std::vector<const Line*>& lines) {
  double max_rate = 0;
  for (const Line* line : lines) {
    for (const auto& rate : line->rates) {
      if (rate) max_rate = std::max(max_rate, *rate);
    }
  }
  max_rate = std::min(1.0, std::max(0.05, max_rate));
  return std::ceil(max_rate * 10.0) / 10.0;
}

// The segment's daily rate (dots and a thin line), its before/after levels, the rest of the site,
// and the split.
std::string FindingChart(const FunnelTable& table, const Finding& finding, int index) {
  Line own, rest;
  for (int64_t day = 0; day < table.day_count; ++day) {
    const FunnelCounts& counts = table.daily[finding.segment][day];
    const FunnelCounts& site = table.site_daily[day];
    own.rates.push_back(DailyRate(counts.transactions, counts.carts));
    rest.rates.push_back(DailyRate(site.transactions - counts.transactions, site.carts - counts.carts));
  }
  Frame frame;
  frame.days = table.day_count;
  frame.max_rate = NiceMax({&own, &rest});
  const std::string& name = table.segment_names[finding.segment];
  std::string svg = fmt::format(
      "<svg id=\"rate-chart-{}\" class=\"chart\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"daily cart to purchase rate of {}\">\n",
      index, frame.width, frame.height, frame.width, frame.height, Escape(name));
  svg += Axes(frame, table);
  svg += Polyline(frame, rest, kRestColor, 2);
  svg += Polyline(frame, own, kSegmentColor, 1);
  for (size_t day = 0; day < own.rates.size(); ++day) {
    if (!own.rates[day]) continue;
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>", frame.X(static_cast<double>(day)),
                       frame.Y(*own.rates[day]), kSegmentColor);
  }
  const double split_x = frame.X(static_cast<double>(finding.split_day) - 0.5);
  svg += fmt::format(
      "\n<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{6}\" stroke-width=\"4\"/>"
      "<line x1=\"{1:.1f}\" x2=\"{3:.1f}\" y1=\"{4:.1f}\" y2=\"{4:.1f}\" stroke=\"{6}\" stroke-width=\"4\"/>"
      "<line x1=\"{1:.1f}\" x2=\"{1:.1f}\" y1=\"{5:.1f}\" y2=\"{7:.1f}\" stroke=\"#333\" stroke-dasharray=\"6 4\"/>\n",
      frame.X(0), split_x, frame.Y(finding.rate_before), frame.X(static_cast<double>(frame.days - 1)),
      frame.Y(finding.rate_after), frame.top, kSegmentColor, frame.height - frame.bottom);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"note\">since {}</text>\n", split_x + 6, frame.top + 16,
                     DayLabel(table, finding.split_day));
  svg += fmt::format(
      "<text x=\"{0}\" y=\"18\" class=\"legend\"><tspan fill=\"{1}\">&#9679; {2} (daily; thick: before/after "
      "level)</tspan>  <tspan fill=\"{3}\">&#9644; rest of the site</tspan></text>\n",
      frame.left, kSegmentColor, Escape(name), kRestColor);
  svg += "</svg>\n";
  return svg;
}

// Without a finding there is nothing to compare: show the site's own rate, so the page still
// answers "did anything happen?".
std::string SiteChart(const FunnelTable& table) {
  Line site;
  for (const FunnelCounts& counts : table.site_daily) site.rates.push_back(DailyRate(counts.transactions, counts.carts));
  Frame frame;
  frame.days = table.day_count;
  frame.max_rate = NiceMax({&site});
  std::string svg = fmt::format(
      "<svg id=\"rate-chart-0\" class=\"chart\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"daily cart to purchase rate of the whole site\">\n",
      frame.width, frame.height, frame.width, frame.height);
  svg += Axes(frame, table);
  svg += Polyline(frame, site, kRestColor, 2);
  svg += fmt::format("<text x=\"{}\" y=\"18\" class=\"legend\" fill=\"{}\">&#9644; whole site</text>\n</svg>\n",
                     frame.left, kRestColor);
  return svg;
}

std::string RateCell(double rate, double max_rate) {
  const double width = max_rate > 0 ? 80.0 * rate / max_rate : 0;
  return fmt::format("<td class=\"num\">{}<span class=\"bar\" style=\"width:{:.0f}px\"></span></td>", Percent(rate),
                     width);
}

std::string FunnelSection(const FunnelTable& table, const std::vector<Finding>& findings) {
  std::vector<bool> flagged(table.segment_names.size(), false);
  for (const Finding& finding : findings) {
    if (finding.flagged) flagged[finding.segment] = true;
  }
  double max_view_to_cart = 0, max_cart_to_purchase = 0;
  for (const FunnelCounts& counts : table.segment_totals) {
    max_view_to_cart = std::max(max_view_to_cart, ViewToCart(counts));
    max_cart_to_purchase = std::max(max_cart_to_purchase, CartToPurchase(counts));
  }
  std::string html = fmt::format(
      "<h2>Funnel by segment ({})</h2>\n<table>\n<tr><th>segment</th><th>visitors</th><th>views</th><th>carts</th>"
      "<th>purchases</th><th>view&rarr;cart</th><th>cart&rarr;purchase</th></tr>\n",
      Escape(DimensionsLabel(table.dimensions)));
  auto row = [&](const std::string& name, const FunnelCounts& counts, const char* css) {
    html += fmt::format("<tr class=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                        "<td class=\"num\">{}</td><td class=\"num\">{}</td>{}{}</tr>\n",
                        css, Escape(name), WithThousands(counts.visitors), WithThousands(counts.views),
                        WithThousands(counts.carts), WithThousands(counts.transactions),
                        RateCell(ViewToCart(counts), max_view_to_cart),
                        RateCell(CartToPurchase(counts), max_cart_to_purchase));
  };
  for (size_t s = 0; s < table.segment_names.size(); ++s) {
    row(table.segment_names[s], table.segment_totals[s], flagged[s] ? "flagged" : "");
  }
  row("all segments", table.site_total, "total");
  return html + "</table>\n";
}

std::string FindingsSection(const FunnelTable& table, const std::vector<Finding>& findings, int top,
                            const DetectorOptions& options) {
  std::string html = "<h2>Cart&rarr;purchase drops against the rest of the site</h2>\n";
  std::string rows;
  int rank = 0;
  for (const Finding& finding : findings) {
    if (!finding.flagged || rank >= top) break;
    ++rank;
    rows += fmt::format(
        "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>"
        "<td class=\"num\">{}</td><td class=\"verdict\">{}</td></tr>\n",
        rank, Escape(table.segment_names[finding.segment]), Percent(finding.rate_before), Percent(finding.rate_after),
        DayLabel(table, finding.split_day), WithThousands(finding.events_after), Escape(Verdict(finding)));
  }
  if (rank == 0) {
    return html + fmt::format("<p id=\"no-findings\">No drop found in {} segments (a drop needs z &ge; {:.0f} and "
                              "&ge; {:.0f}% against the rest of the site).</p>\n",
                              table.segment_names.size(), options.min_z, options.min_relative_drop * 100.0);
  }
  return html +
         "<table id=\"findings\">\n<tr><th>#</th><th>segment</th><th>rate before</th><th>rate after</th><th>since</th>"
         "<th>events affected</th><th>verdict</th></tr>\n" +
         rows + "</table>\n";
}

constexpr char kStyle[] = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}td.verdict{white-space:normal}
td.num{text-align:right;white-space:nowrap}tr.flagged td{background:#fde8e8}tr.total td{font-weight:bold}
.bar{display:inline-block;height:9px;margin-left:6px;background:#1f77b4;vertical-align:middle}
tr.flagged .bar{background:#d62728}
.chart{display:block;margin:8px 0 20px 0}.tick{font-size:11px;fill:#555}.legend{font-size:13px}.note{font-size:12px;fill:#333}
)";

}  // namespace

std::string RenderHtmlReport(const FunnelTable& table, const std::vector<Finding>& findings, int top,
                             const DetectorOptions& options) {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<title>clickstream report</title>\n<style>\n";
  html += kStyle;
  html += "</style>\n</head>\n<body>\n<h1>clickstream report</h1>\n";
  html += fmt::format("<p>{} events, {} .. {} ({} days), {} segments by {}.</p>\n", WithThousands(table.events),
                      DayLabel(table, 0), DayLabel(table, table.day_count - 1), table.day_count,
                      table.segment_names.size(), Escape(DimensionsLabel(table.dimensions)));
  html += "<h2>Daily cart&rarr;purchase rate</h2>\n";
  int charted = 0;
  for (const Finding& finding : findings) {
    if (!finding.flagged || charted >= top) break;
    html += fmt::format("<h3>{}</h3>\n", Escape(table.segment_names[finding.segment]));
    html += FindingChart(table, finding, charted++);
  }
  if (charted == 0) html += "<p>No segment was flagged; the whole site's rate:</p>\n" + SiteChart(table);
  html += FindingsSection(table, findings, top, options);
  html += FunnelSection(table, findings);
  html += "</body>\n</html>\n";
  return html;
}

arrow::Status WriteHtmlReport(const std::string& path, const FunnelTable& table, const std::vector<Finding>& findings,
                              int top, const DetectorOptions& options) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return arrow::Status::IOError("cannot write ", temporary, ": ", std::strerror(errno));
    out << RenderHtmlReport(table, findings, top, options);
    out.close();
    if (!out) {
      std::remove(temporary.c_str());
      return arrow::Status::IOError("cannot write ", temporary, ": ", std::strerror(errno));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    return arrow::Status::IOError("cannot write ", path, ": ", std::strerror(error));
  }
  return arrow::Status::OK();
}

}  // namespace clickstream::report
