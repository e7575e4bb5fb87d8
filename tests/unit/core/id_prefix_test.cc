#include "iocstream/core/id_prefix.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace iocstream {
namespace {

int Sign(int c) { return c < 0 ? -1 : c > 0 ? 1 : 0; }

// Ids of every length around the prefix sizes, over bytes that exercise the zero padding (NUL),
// unsigned order (0xFF) and shared prefixes (the standard format's agency and day).
std::vector<std::string> Ids() {
  std::vector<std::string> ids = {"",
                                  std::string(1, '\0'),
                                  "ab",
                                  std::string("ab\0", 3),
                                  std::string("ab\0\0", 4),
                                  "ab\xff",
                                  "H44.246-260105-0001",
                                  "H44.246-260105-0002",
                                  "H44.246-260105-00010",
                                  "H44.246-260105-0001" + std::string(5, '\0'),
                                  "H44.246-260105-0001" + std::string(13, '\0'),
                                  "H44.246-260105-0001-with-a-long-suffix-a",
                                  "H44.246-260105-0001-with-a-long-suffix-b"};
  std::mt19937 rng(7);
  const std::string alphabet(
      "\0\x01"
      "09AZaz.-\xfe\xff",
      12);
  for (int n = 0; n < 400; ++n) {
    std::string id(rng() % 41, ' ');
    for (char& c : id) c = alphabet[rng() % alphabet.size()];
    // Half of them share the first 16 to 24 bytes with the previous one.
    if (n % 2 == 1 && ids.back().size() >= 24 && id.size() >= 24) {
      id.replace(0, 16 + rng() % 9, ids.back(), 0, 16 + rng() % 9);
    }
    ids.push_back(id);
  }
  return ids;
}

template <size_t kWords>
void ExpectStringViewOrder() {
  const std::vector<std::string> ids = Ids();
  for (const std::string& a : ids) {
    const IdPrefix<kWords> pa = MakeIdPrefix<kWords>(a);
    for (const std::string& b : ids) {
      const IdPrefix<kWords> pb = MakeIdPrefix<kWords>(b);
      const int expected = Sign(std::string_view(a).compare(b));
      ASSERT_EQ(CompareIds(pa, a, pb, b), expected)
          << kWords << " words: '" << a << "' vs '" << b << "'";
      // The prefixes alone never contradict the ids' order.
      const int by_prefix = ComparePrefix(pa, pb);
      if (by_prefix != 0) {
        ASSERT_EQ(by_prefix, expected);
      }
      if constexpr (kWords >= 2) {
        ASSERT_EQ(IdLess(pa, a, pb, b), expected < 0)
            << kWords << " words: '" << a << "' vs '" << b << "'";
      }
    }
  }
}

TEST(IdPrefix, CompareIdsAndIdLessAreStringViewOrder) {
  ExpectStringViewOrder<1>();
  ExpectStringViewOrder<2>();
  ExpectStringViewOrder<3>();
  ExpectStringViewOrder<4>();
}

TEST(IdPrefix, ZeroPaddedBigEndianWords) {
  const IdPrefix<2> p = MakeIdPrefix<2>("H44.246-260105-0001");
  EXPECT_EQ(p[0], 0x4834342E3234362DULL);  // "H44.246-"
  EXPECT_EQ(p[1], 0x3236303130352D30ULL);  // "260105-0"
  EXPECT_EQ(MakeIdPrefix<1>("ab")[0], 0x6162000000000000ULL);
  // Ids that differ only in NUL padding tie on their prefixes; CompareIds puts the shorter first.
  const std::string padded("ab\0", 3);
  EXPECT_EQ(ComparePrefix(MakeIdPrefix<1>("ab"), MakeIdPrefix<1>(padded)), 0);
  EXPECT_LT(CompareIds(MakeIdPrefix<1>("ab"), "ab", MakeIdPrefix<1>(padded), padded), 0);
}

}  // namespace
}  // namespace iocstream
