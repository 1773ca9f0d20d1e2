#include "report/detector.h"

#include <algorithm>
#include <cmath>

namespace clickstream::report {

namespace {

// Running totals, so every split is judged in O(1).
template <typename T>
struct Prefix {
  std::vector<T> sums;
  explicit Prefix(const std::vector<T>& values) : sums(values.size() + 1, 0) {
    for (size_t i = 0; i < values.size(); ++i) sums[i + 1] = sums[i] + values[i];
  }
  T Before(size_t split) const { return sums[split]; }
  T After(size_t split) const { return sums.back() - sums[split]; }
};

double Rate(double purchases, double carts) { return carts > 0 ? purchases / carts : 0.0; }

// The purchases each day's carts would bring at the rest of the site's rate of that day. Comparing
// the segment with this (rather than with a constant) is what makes a site-wide dip - a promotion
// ending, a payment provider outage - cancel out instead of looking like a segment bug.
std::vector<double> SitePacedPurchases(const RateSeries& series) {
  const auto rest_carts = static_cast<double>(Prefix<int64_t>(series.rest_carts).After(0));
  const auto rest_purchases = static_cast<double>(Prefix<int64_t>(series.rest_purchases).After(0));
  // Without a rest of the site (one segment only) the segment is judged against a constant rate.
  const double overall = rest_purchases > 0 ? Rate(rest_purchases, rest_carts) : 1.0;
  std::vector<double> expected(series.carts.size());
  for (size_t day = 0; day < series.carts.size(); ++day) {
    const bool has_rest = series.rest_carts[day] > 0 && rest_purchases > 0;
    const double rate = has_rest ? Rate(static_cast<double>(series.rest_purchases[day]),
                                        static_cast<double>(series.rest_carts[day]))
                                 : overall;
    expected[day] = static_cast<double>(series.carts[day]) * rate;
  }
  return expected;
}

double XLogXOverY(double x, double y) { return x > 0 && y > 0 ? x * std::log(x / y) : 0.0; }

// Observed purchases against site-paced ones on both sides of a split.
struct Split {
  double purchases_before = 0, paced_before = 0, purchases_after = 0, paced_after = 0;
  double ratio_before() const { return Rate(purchases_before, paced_before); }
  double ratio_after() const { return Rate(purchases_after, paced_after); }
  // Poisson log-likelihood ratio of "the segment's pace against the site changed here" over "it
  // never changed". Its maximum is the estimate of when the change began; unlike a z-score it is
  // not pulled towards the middle of the series by its own standard error.
  double LogLikelihoodRatio() const {
    return XLogXOverY(purchases_before, paced_before) + XLogXOverY(purchases_after, paced_after) -
           XLogXOverY(purchases_before + purchases_after, paced_before + paced_after);
  }
};

// A pooled (score) z-score for the drop at a split. Given the segment's purchases on both sides,
// and had it kept pace with the site, each purchase lands after the split with probability
// share = paced_after / paced_total, so purchases after the split are Binomial(purchases, share).
// The rest of the site's own sampling error (it sets the pace) is added by the delta method.
double PooledDropZ(const Split& s, double rest_purchases_before, double rest_purchases_after) {
  const double purchases = s.purchases_before + s.purchases_after;
  const double paced = s.paced_before + s.paced_after;
  if (purchases <= 0 || paced <= 0) return 0;
  const double share = s.paced_after / paced;
  const double spread = purchases * share * (1.0 - share);
  double variance = spread;
  if (rest_purchases_before > 0 && rest_purchases_after > 0) {
    variance += spread * spread * (1.0 / rest_purchases_before + 1.0 / rest_purchases_after);
  }
  if (variance <= 0) return 0;
  return (purchases * share - s.purchases_after) / std::sqrt(variance);
}

// Observed day-to-day variance of the segment's purchases over what a binomial around the fitted
// (site-paced, piecewise constant) rate predicts: Pearson's chi-square per degree of freedom,
// never below 1. Traffic burstier than coin flips must show a bigger drop before it counts.
double Dispersion(const RateSeries& series, const std::vector<double>& paced, const Split& split, size_t split_day) {
  double chi_square = 0;
  int64_t days = 0;
  for (size_t day = 0; day < series.carts.size(); ++day) {
    const double ratio = day < split_day ? split.ratio_before() : split.ratio_after();
    const auto carts = static_cast<double>(series.carts[day]);
    const double rate = std::min(0.999, Rate(paced[day] * ratio, carts));
    const double variance = carts * rate * (1.0 - rate);
    if (variance <= 0) continue;
    const double residual = static_cast<double>(series.purchases[day]) - carts * rate;
    chi_square += residual * residual / variance;
    ++days;
  }
  if (days <= 2) return 1.0;
  return std::max(1.0, chi_square / static_cast<double>(days - 2));
}

}  // namespace

Finding DetectDrop(const RateSeries& series, const DetectorOptions& options) {
  Finding best;
  const auto days = static_cast<int64_t>(series.carts.size());
  const std::vector<double> paced = SitePacedPurchases(series);
  const Prefix<int64_t> carts(series.carts), purchases(series.purchases);
  const Prefix<int64_t> rest_carts(series.rest_carts), rest_purchases(series.rest_purchases);
  const Prefix<double> paced_sums(paced);
  double best_llr = 0;
  Split chosen;
  for (int64_t k = options.min_days_each_side; k <= days - options.min_days_each_side; ++k) {
    const auto day = static_cast<size_t>(k);
    const Split s{static_cast<double>(purchases.Before(day)), paced_sums.Before(day),
                  static_cast<double>(purchases.After(day)), paced_sums.After(day)};
    if (s.paced_before <= 0 || s.paced_after <= 0 || s.ratio_after() >= s.ratio_before()) continue;
    const double llr = s.LogLikelihoodRatio();
    if (llr > best_llr) {
      best_llr = llr;
      best.split_day = k;
      chosen = s;
    }
  }
  if (best_llr <= 0) return best;

  const auto split_day = static_cast<size_t>(best.split_day);
  best.rate_before = Rate(chosen.purchases_before, static_cast<double>(carts.Before(split_day)));
  best.rate_after = Rate(chosen.purchases_after, static_cast<double>(carts.After(split_day)));
  const auto rest_before = static_cast<double>(rest_purchases.Before(split_day));
  const auto rest_after = static_cast<double>(rest_purchases.After(split_day));
  best.rest_rate_before = Rate(rest_before, static_cast<double>(rest_carts.Before(split_day)));
  best.rest_rate_after = Rate(rest_after, static_cast<double>(rest_carts.After(split_day)));
  // What the segment would have bought after the split had it kept its own pace against the site.
  const double expected_after = chosen.paced_after * chosen.ratio_before();
  best.relative_drop = expected_after > 0 ? 1.0 - chosen.purchases_after / expected_after : 0.0;
  best.lost_purchases = expected_after - chosen.purchases_after;
  best.carts_after = carts.After(split_day);
  best.dispersion = Dispersion(series, paced, chosen, split_day);
  best.z = PooledDropZ(chosen, rest_before, rest_after) / std::sqrt(best.dispersion);
  best.flagged = best.z >= options.min_z && best.relative_drop >= options.min_relative_drop &&
                 expected_after >= options.min_expected_purchases_after &&
                 carts.Before(split_day) >= options.min_carts_before;
  return best;
}

std::vector<Finding> DetectDrops(const FunnelTable& table, const DetectorOptions& options) {
  std::vector<Finding> findings;
  for (size_t s = 0; s < table.segment_names.size(); ++s) {
    RateSeries series;
    for (int64_t day = 0; day < table.day_count; ++day) {
      const FunnelCounts& own = table.daily[s][day];
      const FunnelCounts& site = table.site_daily[day];
      series.carts.push_back(own.carts);
      series.purchases.push_back(own.transactions);
      series.rest_carts.push_back(site.carts - own.carts);
      series.rest_purchases.push_back(site.transactions - own.transactions);
    }
    Finding finding = DetectDrop(series, options);
    finding.segment = static_cast<int>(s);
    for (int64_t day = finding.split_day; day < table.day_count && finding.z > 0; ++day) {
      const FunnelCounts& own = table.daily[s][day];
      finding.events_after += own.views + own.carts + own.transactions;
    }
    findings.push_back(finding);
  }
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.flagged != b.flagged) return a.flagged;
    if (a.flagged) return a.lost_purchases > b.lost_purchases;
    return a.z > b.z;
  });
  return findings;
}

}  // namespace clickstream::report
