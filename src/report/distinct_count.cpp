#include "report/distinct_count.h"

#include <bit>
#include <cmath>

namespace clickstream::report {

namespace {

constexpr int kSketchPrecision = 14;

}  // namespace

bool DistinctKeySet::Insert(uint64_t key) {
  if (key == 0) key = 1;
  // Keep the load at or under 3/4 so probe sequences stay short.
  if ((size_ + 1) * 4 > static_cast<int64_t>(slots_.size()) * 3) Grow();
  const size_t mask = slots_.size() - 1;
  for (size_t i = key & mask;; i = (i + 1) & mask) {
    if (slots_[i] == key) return false;
    if (slots_[i] == 0) {
      slots_[i] = key;
      ++size_;
      return true;
    }
  }
}

void DistinctKeySet::Grow() {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, 0);
  const size_t mask = slots_.size() - 1;
  for (uint64_t key : old) {
    if (key == 0) continue;
    size_t i = key & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = key;
  }
}

DistinctCountSketch::DistinctCountSketch() : registers_(size_t{1} << kSketchPrecision, 0) {}

void DistinctCountSketch::Add(uint64_t hash) {
  const size_t index = hash >> (64 - kSketchPrecision);
  // The rank of the first set bit among the remaining bits; the sentinel bounds it.
  const uint64_t rest = (hash << kSketchPrecision) | (uint64_t{1} << (kSketchPrecision - 1));
  const auto rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
  if (rank > registers_[index]) registers_[index] = rank;
}

int64_t DistinctCountSketch::Estimate() const {
  const auto m = static_cast<double>(registers_.size());
  double sum = 0;
  int64_t zeros = 0;
  for (uint8_t value : registers_) {
    sum += std::ldexp(1.0, -value);
    zeros += value == 0;
  }
  double estimate = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
  // Linear counting is the better estimate while many registers are still empty.
  if (estimate <= 2.5 * m && zeros > 0) estimate = m * std::log(m / static_cast<double>(zeros));
  return std::llround(estimate);
}

}  // namespace clickstream::report
