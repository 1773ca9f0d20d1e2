// The 64-bit bit mixer shared by every hash the program computes over event values (event ids,
// distinct visitor counts), so that each keeps one well-tested finaliser instead of its own copy.
#pragma once

#include <cstdint>

namespace clickstream {

// murmur3's 64-bit finaliser: a bijection that spreads every input bit over the output, so keys
// combined by xor or multiplication stay distinct and the top bits alone are well distributed.
inline uint64_t Mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace clickstream
