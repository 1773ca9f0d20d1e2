// Target for the timestamp parser (event/timestamp.h): what ParseTimestamp and ParseDate accept
// formats back to the same text (in its canonical spelling), and what they reject never crashes.
// The input is parsed twice, since both parsers remember the last day they saw on the thread.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "event/timestamp.h"
#include "fuzz_support.h"

namespace {

using namespace clickstream;

// "YYYY-MM-DD HH:MM:SS" as FormatTimestamp writes it: a 'T' becomes the space, a 'Z' goes.
std::string Canonical(std::string_view text) {
  std::string canonical(text.substr(0, kTimestampChars));
  canonical[10] = ' ';
  return canonical;
}

void CheckTimestamp(std::string_view text) {
  const std::optional<int64_t> seconds = ParseTimestamp(text);
  FUZZ_CHECK(ParseTimestamp(text) == seconds);
  if (!seconds) return;
  FUZZ_CHECK(text.size() == kTimestampChars || text.size() == kTimestampChars + 1);
  FUZZ_CHECK(FormatTimestamp(*seconds) == Canonical(text));
}

void CheckDate(std::string_view text) {
  const std::optional<int64_t> days = ParseDate(text);
  FUZZ_CHECK(ParseDate(text) == days);
  if (!days) return;
  FUZZ_CHECK(FormatDate(*days * kSecondsPerDay) == text);
  const CivilDate date = CivilFromDays(*days);
  FUZZ_CHECK(DaysFromCivil(date.year, date.month, date.day) == *days);
}

// Any instant of the four-digit years (0000-9999) formats to text that parses back to it.
void CheckInstant(std::string_view bytes) {
  if (bytes.size() < sizeof(int64_t)) return;
  int64_t raw;
  std::memcpy(&raw, bytes.data(), sizeof(raw));
  constexpr int64_t kYear0 = -62'167'219'200;       // 0000-01-01 00:00:00
  constexpr int64_t kYear10000 = 253'402'300'800;   // 10000-01-01 00:00:00
  const int64_t span = kYear10000 - kYear0;
  const int64_t seconds = kYear0 + (raw % span + span) % span;
  const std::string text = FormatTimestamp(seconds);
  FUZZ_CHECK(ParseTimestamp(text) == seconds);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckTimestamp(text);
  CheckDate(text);
  CheckInstant(text);
  return 0;
}
