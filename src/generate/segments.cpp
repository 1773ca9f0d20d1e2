#include "generate/segments.h"

namespace clickstream::generate {

namespace {

// Shares loosely follow 2015 e-commerce traffic: half desktop, mostly Chrome on Windows; on phones
// iOS Safari and Android Chrome lead. Safari on iOS (phone + tablet) carries about a fifth of the
// visitors, enough for its conversion to be read day by day.
constexpr Segment kSegments[] = {
    {"desktop", "Chrome", "Windows", 22.0},
    {"desktop", "Firefox", "Windows", 5.0},
    {"desktop", "Edge", "Windows", 5.0},
    {"desktop", "Opera", "Windows", 1.0},
    {"desktop", "Chrome", "macOS", 4.0},
    {"desktop", "Safari", "macOS", 5.0},
    {"desktop", "Firefox", "macOS", 1.0},
    {"desktop", "Chrome", "Linux", 1.5},
    {"desktop", "Firefox", "Linux", 1.0},
    {"desktop", "Chrome", "ChromeOS", 1.5},
    {"mobile", "Safari", "iOS", 15.0},
    {"mobile", "Chrome", "iOS", 2.0},
    {"mobile", "Chrome", "Android", 16.0},
    {"mobile", "Samsung Internet", "Android", 4.0},
    {"mobile", "Firefox", "Android", 1.0},
    {"mobile", "Opera", "Android", 1.0},
    {"tablet", "Safari", "iOS", 5.0},
    {"tablet", "Chrome", "iOS", 0.5},
    {"tablet", "Chrome", "Android", 2.5},
    {"tablet", "Samsung Internet", "Android", 1.0},
};

}  // namespace

std::span<const Segment> Segments() { return kSegments; }

std::optional<size_t> FindSegment(std::string_view device, std::string_view browser, std::string_view os) {
  for (size_t i = 0; i < std::size(kSegments); ++i) {
    const Segment& segment = kSegments[i];
    if (segment.device == device && segment.browser == browser && segment.os == os) return i;
  }
  return std::nullopt;
}

bool IsSafariOnIos(const Segment& segment) { return segment.browser == "Safari" && segment.os == "iOS"; }

}  // namespace clickstream::generate
