// UTC civil time <-> seconds since the epoch, without the C library's time-zone state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "event/time_units.h"

namespace clickstream {

// Event times are accepted from 2000-01-01 (inclusive) to 2100-01-01 (exclusive), UTC. Clickstreams
// are recent; a time outside is a unit mistake (epoch seconds read as milliseconds land in 1970,
// microseconds past the year 9999), and formatting it as "YYYY-MM-DD" would silently misdate it.
inline constexpr int64_t kEarliestEventSeconds = 946'684'800;    // 2000-01-01 00:00:00
inline constexpr int64_t kEndOfEventSeconds = 4'102'444'800;     // 2100-01-01 00:00:00
inline constexpr char kAcceptedEventTimes[] = "2000-01-01 .. 2099-12-31";
inline constexpr bool IsAcceptedEventTime(int64_t epoch_seconds) {
  return epoch_seconds >= kEarliestEventSeconds && epoch_seconds < kEndOfEventSeconds;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int year, unsigned month, unsigned day);

struct CivilDate {
  int year;
  unsigned month;
  unsigned day;
};
CivilDate CivilFromDays(int64_t days);

// "YYYY-MM-DD HH:MM:SS"; a 'T' may stand for the space and a 'Z' may follow. Rejects impossible
// dates (2015-02-30) and times (24:00:00).
std::optional<int64_t> ParseTimestamp(std::string_view text);

// An ISO 8601 instant as trackers send it: "YYYY-MM-DDTHH:MM:SS", optional fractional seconds
// (truncated: events are stored to the second) and a zone, "Z" or "+HH:MM" / "-HH:MM" / "+HHMM",
// required, since a local time without its offset names no instant. Seconds since the epoch.
std::optional<int64_t> ParseIsoInstant(std::string_view text);

// "YYYY-MM-DD"
std::optional<int64_t> ParseDate(std::string_view text);

inline constexpr size_t kTimestampChars = 19;
// Writes exactly kTimestampChars characters, "YYYY-MM-DD HH:MM:SS".
void FormatTimestamp(int64_t epoch_seconds, char* out);
std::string FormatTimestamp(int64_t epoch_seconds);
// "YYYY-MM-DD" of the UTC day holding the instant.
std::string FormatDate(int64_t epoch_seconds);

inline int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace clickstream
