#include "generate/random.h"

#include <numeric>

namespace clickstream::generate {

ScatterPermutation::ScatterPermutation(uint64_t size, uint64_t salt) : size_(size == 0 ? 1 : size) {
  uint64_t mixer = salt;
  // A multiplier near the golden ratio of the size spreads neighbours far apart; it must be coprime
  // with the size for the map to be a bijection.
  multiplier_ = static_cast<uint64_t>(static_cast<double>(size_) * 0.6180339887) | 1;
  while (std::gcd(multiplier_, size_) != 1) ++multiplier_;
  multiplier_ %= size_;
  if (size_ == 1) multiplier_ = 1;
  offset_ = SplitMix64(&mixer) % size_;
}

}  // namespace clickstream::generate
