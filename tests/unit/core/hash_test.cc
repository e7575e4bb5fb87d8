// ShortHash and SeededLongHash are xxHash's XXH3-64: the hashes the state keeps (the dossier
// filter's bits, applied event ids, alert ids, the source check's chain) must not change with
// the way they are computed. Each is compared with the shared library's own function, taken
// before iocstream/core/hash.h renames XXH3_64bits to its inlined copy.
#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace {
XXH64_hash_t (*const kLibraryHash)(const void*, size_t) = &XXH3_64bits;
XXH64_hash_t (*const kLibrarySeededHash)(const void*, size_t, XXH64_hash_t) = &XXH3_64bits_withSeed;
}  // namespace

#include <gtest/gtest.h>

#include "iocstream/core/hash.h"

namespace iocstream {
namespace {

TEST(HashTest, ShortHashIsXxh3) {
  // XXH3-64 of the empty input, seed 0: the value xxHash's own tests give.
  EXPECT_EQ(ShortHash(""), 0x2D06800538D394C2ULL);
  std::string bytes;
  // Every length path of XXH3 (0, 1-3, 4-8, 9-16, 17-128, 129-240, and the long loop).
  for (size_t n = 0; n <= 1100; ++n) {
    EXPECT_EQ(ShortHash(bytes), kLibraryHash(bytes.data(), bytes.size())) << n << " bytes";
    bytes.push_back(static_cast<char>('A' + n * 7 % 61));
  }
  EXPECT_EQ(ShortHash("H44.246-260105-0001"), kLibraryHash("H44.246-260105-0001", 19));
}

TEST(HashTest, SeededLongHashIsSeededXxh3) {
  std::string bytes;
  for (size_t n = 0; n <= 1100; n += 13) {
    for (const uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{0x9E3779B97F4A7C15}}) {
      EXPECT_EQ(SeededLongHash(seed, bytes), kLibrarySeededHash(bytes.data(), bytes.size(), seed))
          << n << " bytes, seed " << seed;
    }
    bytes.append(13, static_cast<char>('a' + n % 26));
  }
}

}  // namespace
}  // namespace iocstream
