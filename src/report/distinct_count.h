// Counting distinct visitors in bounded memory: an exact set of 64-bit hashes where the count must
// be exact (per day and segment), and a HyperLogLog sketch where an exact set would have to hold
// every visitor of the site (whole-period totals).
#pragma once

#include <cstdint>
#include <vector>

namespace clickstream::report {

// A set of 64-bit keys with open addressing: it counts distinct visitors at about 16 bytes per
// distinct key, a third of what std::unordered_set needs.
class DistinctKeySet {
 public:
  // True when the key was not in the set yet.
  bool Insert(uint64_t key);
  int64_t size() const { return size_; }

 private:
  void Grow();
  std::vector<uint64_t> slots_;  // 0 marks an empty slot; key 0 is stored as 1
  int64_t size_ = 0;
};

// HyperLogLog with 2^14 registers: a distinct count within about 1% in 16 KiB.
class DistinctCountSketch {
 public:
  DistinctCountSketch();
  // `hash` must be well mixed: its top bits pick the register.
  void Add(uint64_t hash);
  int64_t Estimate() const;

 private:
  std::vector<uint8_t> registers_;
};

}  // namespace clickstream::report
