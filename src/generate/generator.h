// The synthetic clickstream: visitors arrive in sessions following a daily and weekly rhythm, view
// heavy-tailed popular items, add some to a cart and sometimes buy them. From the bug start on,
// Safari on iOS loses most purchases at checkout while everything before the checkout is unchanged.
//
// Streams in time order one hour at a time; memory holds one hour of events plus the sessions still
// open across its end, never the whole run.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "event/event.h"

namespace clickstream::generate {

// The RetailRocket e-commerce dataset's shape, which the defaults mirror.
inline constexpr int64_t kDefaultEvents = 2756101;
inline constexpr char kDefaultStartDate[] = "2015-05-03";
inline constexpr int64_t kDefaultDays = 139;  // 2015-05-03 .. 2015-09-18 inclusive
inline constexpr uint64_t kDefaultSeed = 20150503;
inline constexpr double kDefaultBugSeverity = 0.9;
// Without --bug-start the bug begins this far into the range (2015-07-27 for the default range).
inline constexpr double kDefaultBugStartFraction = 0.616;

// No session lasts longer; it bounds how far events of one window spill into the next.
inline constexpr int64_t kMaxSessionSeconds = 4 * 3600;

enum class Bug { kNone, kSafariIos };

struct GenerateOptions {
  int64_t events = kDefaultEvents;
  uint64_t seed = kDefaultSeed;
  int64_t start_day = 0;  // days since 1970-01-01 of the first generated day
  int64_t days = kDefaultDays;
  Bug bug = Bug::kSafariIos;
  int64_t bug_start_day = 0;  // days since 1970-01-01; the bug is active from 00:00:00 UTC that day
  double bug_severity = kDefaultBugSeverity;
};

// The command line's view of the options, before parsing.
struct GenerateFlags {
  int64_t events = kDefaultEvents;
  uint64_t seed = kDefaultSeed;
  std::string start_date = kDefaultStartDate;
  int64_t days = kDefaultDays;
  std::string bug = "safari-ios";
  std::string bug_start;  // empty: kDefaultBugStartFraction into the range
  double bug_severity = kDefaultBugSeverity;
};

// Checks every flag; the error message names the flag and says what is expected.
arrow::Result<GenerateOptions> ResolveGenerateOptions(const GenerateFlags& flags);

// One generated row. Identifiers are numbers here; the CSV writer formats them.
struct GeneratedEvent {
  int64_t timestamp = 0;  // seconds since the epoch, UTC
  uint64_t sequence = 0;  // generation order: breaks timestamp ties so a session keeps its order
  int64_t visitor_id = 0;
  int64_t item_id = 0;
  int64_t transaction_id = -1;  // >= 0 exactly on transactions
  EventType type = EventType::kView;
  uint8_t segment = 0;  // index into Segments()

  bool operator==(const GeneratedEvent&) const = default;
};

class ClickstreamGenerator {
 public:
  // The options must have passed ResolveGenerateOptions (or be equally valid).
  explicit ClickstreamGenerator(const GenerateOptions& options);
  ~ClickstreamGenerator();
  ClickstreamGenerator(const ClickstreamGenerator&) = delete;
  ClickstreamGenerator& operator=(const ClickstreamGenerator&) = delete;

  // Replaces *batch with the next events in time order (possibly none, for a quiet hour). Returns
  // false once every event has been handed out.
  bool NextBatch(std::vector<GeneratedEvent>* batch);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clickstream::generate
