// The age flags of compact and vacuum (--min-age, --retention): "0", "90s", "15m", "1h", "2d".
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace clickstream::cli {

// A bare number is seconds; nullopt for anything else than digits and one unit.
std::optional<std::chrono::seconds> ParseAge(const std::string& text);

}  // namespace clickstream::cli
