// Change detection on daily cart -> purchase rates: for each segment, the split date of the
// largest sustained drop RELATIVE to the rest of the site, and whether it is strong enough to
// call a bug.
//
// Each day's carts in the segment are paced by the rest of the site's rate that day (so a
// site-wide dip cancels out). The split maximises the Poisson likelihood ratio of observed over
// site-paced purchases ("the segment's pace changed here"); a pooled binomial z-score at that
// split, deflated by the segment's own day-to-day overdispersion, says whether it is real.
#pragma once

#include <cstdint>
#include <vector>

#include "report/funnel.h"

namespace clickstream::report {

struct DetectorOptions {
  // The best split is the maximum over every day of ~20-30 segments, so a plain z of 2 or 3 would
  // flag noise on most runs. On ten generated data sets without the bug the strongest segment
  // scored at most z = 3.0; the default bug scores z = 11 (mobile) and 6 (tablet) at 500k events
  // and 25 and 16 on the full 2.7M.
  double min_z = 5.0;
  // Relative drop of the segment's rate against the rest of the site's, from before to after.
  double min_relative_drop = 0.30;
  // A drop must last: at least this many days on each side of the split.
  int64_t min_days_each_side = 3;
  // Minimum volume: purchases the segment would have made after the split had it kept pace
  // with the rest of the site, and carts before the split.
  double min_expected_purchases_after = 10.0;
  int64_t min_carts_before = 50;
};

// The daily carts and purchases of one segment and of the rest of the site, on the same days.
struct RateSeries {
  std::vector<int64_t> carts;
  std::vector<int64_t> purchases;
  std::vector<int64_t> rest_carts;
  std::vector<int64_t> rest_purchases;
};

struct Finding {
  int segment = -1;       // index into FunnelTable::segment_names
  int64_t split_day = 0;  // index of the first day after the change
  bool flagged = false;
  double rate_before = 0;  // the segment's cart -> purchase rate
  double rate_after = 0;
  double rest_rate_before = 0;
  double rest_rate_after = 0;
  double relative_drop = 0;  // 1 - (after/before) / (rest after / rest before)
  double z = 0;              // pooled z at the split, after correction for the segment's own noise
  double dispersion = 1;     // that correction: observed daily variance / binomial variance (>= 1)
  int64_t carts_after = 0;   // add-to-carts exposed to the change
  int64_t events_after = 0;  // every event of the segment from the split on
  double lost_purchases = 0; // expected - observed purchases after the split
};

// The strongest relative drop in the series (flagged or not); segment and events_after are left
// for the caller. Without a drop candidate (too few days) z stays 0 and nothing is flagged.
Finding DetectDrop(const RateSeries& series, const DetectorOptions& options);

// Runs the detector on every segment of the table and returns all findings: the flagged ones
// first, by estimated lost purchases, then the rest by z, strongest first.
std::vector<Finding> DetectDrops(const FunnelTable& table, const DetectorOptions& options);

}  // namespace clickstream::report
