// Eight-bytes-at-a-time byte tests, for the loops that run over every identifier and code: the
// event decoder's control-character check and the JSON string escaper (the "has zero byte" /
// "has less than" tricks from Bit Twiddling Hacks; exact for "any byte", which is all they are
// used for), and the comparison of short texts (Equal).
//
// Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace iocstream::byte_scan {

inline constexpr uint64_t kEachByte = 0x0101010101010101ULL;
inline constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Eight bytes starting at p, in memory order.
inline uint64_t LoadWord(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;
}

// a == b without a call to memcmp, for the short texts compared for every event (codes, wire
// names): two or three word loads from 4 bytes up, a byte loop below.
inline bool Equal(std::string_view a, std::string_view b) {
  const size_t size = a.size();
  if (b.size() != size) return false;
  const char* const x = a.data();
  const char* const y = b.data();
  if (size >= sizeof(uint64_t)) {
    for (size_t i = 0; i + sizeof(uint64_t) < size; i += sizeof(uint64_t)) {
      if (LoadWord(x + i) != LoadWord(y + i)) return false;
    }
    return LoadWord(x + size - 8) == LoadWord(y + size - 8);
  }
  if (size >= sizeof(uint32_t)) {
    uint32_t words[4];
    std::memcpy(&words[0], x, sizeof(uint32_t));
    std::memcpy(&words[1], y, sizeof(uint32_t));
    std::memcpy(&words[2], x + size - 4, sizeof(uint32_t));
    std::memcpy(&words[3], y + size - 4, sizeof(uint32_t));
    return words[0] == words[1] && words[2] == words[3];
  }
  for (size_t i = 0; i < size; ++i) {
    if (x[i] != y[i]) return false;
  }
  return true;
}

// True if some byte of `word` is below `limit` (limit <= 128).
constexpr bool HasByteBelow(uint64_t word, uint8_t limit) {
  return ((word - kEachByte * limit) & ~word & kHighBits) != 0;
}

// True if some byte of `word` equals `value`.
constexpr bool HasByte(uint64_t word, uint8_t value) {
  const uint64_t x = word ^ (kEachByte * value);
  return ((x - kEachByte) & ~x & kHighBits) != 0;
}

// True if some byte of `word` is 0x80 or above (not ASCII).
constexpr bool HasNonAscii(uint64_t word) { return (word & kHighBits) != 0; }

static_assert(HasByteBelow(0x4141414141414100ULL, 0x20));
static_assert(!HasByteBelow(0x2020202020202020ULL, 0x20));
static_assert(HasByte(0x41414141417F4141ULL, 0x7F));
static_assert(!HasByte(0x8080808080808080ULL, 0x7F));

}  // namespace iocstream::byte_scan
