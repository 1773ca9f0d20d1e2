// The generator's own pseudo-random numbers and distributions. std::mt19937 is portable but the
// std:: distributions are not (libstdc++ and libc++ draw differently), and the same arguments must
// give the same bytes everywhere, so every draw here is spelled out.
#pragma once

#include <cmath>
#include <cstdint>

namespace clickstream::generate {

// SplitMix64 step: spreads a seed (even 0 or 1) over a full 64-bit state.
inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman and Vigna): fast, small state, good enough for simulation.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t mixer = seed;
    for (uint64_t& word : state_) word = SplitMix64(&mixer);
  }

  uint64_t Next() {
    const uint64_t result = RotateLeft(state_[1] * 5, 7) * 9;
    const uint64_t shifted = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= shifted;
    state_[3] = RotateLeft(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, bound), bound > 0, without modulo bias (Lemire's multiply-and-reject).
  uint64_t Below(uint64_t bound) {
    unsigned __int128 product = static_cast<unsigned __int128>(Next()) * bound;
    uint64_t low = static_cast<uint64_t>(product);
    if (low < bound) {
      const uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(Next()) * bound;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }

  bool Chance(double probability) { return Uniform() < probability; }

  // Exponential with the given mean; 1 - U lies in (0, 1], so the logarithm is finite.
  double Exponential(double mean) { return -mean * std::log(1.0 - Uniform()); }

 private:
  static uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  uint64_t state_[4];
};

// A bijection of [0, size) that scatters consecutive numbers, so that popular items or early
// visitors do not get tell-tale small identifiers: x -> (x * multiplier + offset) mod size.
class ScatterPermutation {
 public:
  ScatterPermutation(uint64_t size, uint64_t salt);
  uint64_t operator()(uint64_t x) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * multiplier_ + offset_) % size_);
  }

 private:
  uint64_t size_;
  uint64_t multiplier_;
  uint64_t offset_;
};

}  // namespace clickstream::generate
