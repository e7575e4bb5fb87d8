// Eight-bytes-at-a-time byte tests, for the loops that run over every identifier and code: the
// event decoder's control-character check and the JSON string escaper (the "has zero byte" /
// "has less than" tricks from Bit Twiddling Hacks; exact for "any byte", which is all they are
// used for).
//
// Pure constexpr functions: thread-safe.
#pragma once

#include <cstdint>
#include <cstring>

namespace iocstream::byte_scan {

inline constexpr uint64_t kEachByte = 0x0101010101010101ULL;
inline constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Eight bytes starting at p, in memory order.
inline uint64_t LoadWord(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;
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
