// Who visits: the device / browser / operating-system combinations the generator can emit, with
// their share of new visitors. This table is the single list of allowed combinations; anything
// not in it (Safari on Android, iOS on a desktop) never appears in generated data.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace clickstream::generate {

struct Segment {
  std::string_view device;   // "desktop", "mobile", "tablet"
  std::string_view browser;  // "Chrome", "Safari", "Samsung Internet", …
  std::string_view os;       // "Windows", "macOS", "iOS", "Android", …
  double weight;             // relative share of new visitors
};

std::span<const Segment> Segments();

// Index into Segments() of the combination, if it is allowed.
std::optional<size_t> FindSegment(std::string_view device, std::string_view browser, std::string_view os);

// The segment the checkout bug hits: Safari on iOS, phone or tablet.
bool IsSafariOnIos(const Segment& segment);

}  // namespace clickstream::generate
