#include "iocstream/core/byte_scan.h"

#include <gtest/gtest.h>

#include <string>

namespace iocstream {
namespace {

// Equal against std::string_view's ==, for every length the word loads split differently
// (below 4, 4 to 7, 8, between words, several words) and a difference at every position.
TEST(ByteScanTest, EqualIsStringEquality) {
  for (size_t size = 0; size <= 40; ++size) {
    std::string a(size, 'x');
    for (size_t i = 0; i < size; ++i) a[i] = static_cast<char>('a' + (i * 7) % 26);
    const std::string same = a;
    EXPECT_TRUE(byte_scan::Equal(a, same)) << size;
    for (size_t i = 0; i < size; ++i) {
      std::string other = a;
      other[i] = static_cast<char>(other[i] ^ 0x40);
      EXPECT_FALSE(byte_scan::Equal(a, other)) << size << " at " << i;
    }
    EXPECT_FALSE(byte_scan::Equal(a, a + "x")) << size;
    EXPECT_FALSE(byte_scan::Equal(a + "x", a)) << size;
  }
}

}  // namespace
}  // namespace iocstream
