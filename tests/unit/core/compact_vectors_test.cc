#include "iocstream/core/compact_vectors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "iocstream/core/optional_instant.h"

namespace iocstream {
namespace {

TEST(RareVectorTest, HoldsNoHeapBlockWhileEmpty) {
  static_assert(sizeof(RareVector<int>) == sizeof(void*));
  RareVector<int> v;
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.HeapBytes(), 0u);
  EXPECT_EQ(v.begin(), v.end());
  EXPECT_TRUE(static_cast<const std::vector<int>&>(v).empty());
  v.push_back(3);
  EXPECT_GT(v.HeapBytes(), 0u);
  v.pop_back();  // emptied: released
  EXPECT_EQ(v.HeapBytes(), 0u);
  v = {1, 2};
  v.clear();
  EXPECT_EQ(v.HeapBytes(), 0u);
}

TEST(RareVectorTest, ReadsAndChangesLikeAVector) {
  RareVector<int> v;
  // Inserting at the end of an empty one (its iterators are null) allocates it.
  v.insert(std::upper_bound(v.begin(), v.end(), 5), 5);
  v.insert(std::upper_bound(v.begin(), v.end(), 1), 1);
  v.insert(std::upper_bound(v.begin(), v.end(), 3), 3);
  v.push_back(9);
  EXPECT_EQ(v, (std::vector<int>{1, 3, 5, 9}));
  EXPECT_EQ(v.size(), 4u);
  EXPECT_EQ(v.front(), 1);
  EXPECT_EQ(v.back(), 9);
  EXPECT_EQ(v[2], 5);
  const std::vector<int>& as_vector = v;
  EXPECT_EQ(as_vector, (std::vector<int>{1, 3, 5, 9}));

  RareVector<int> copy = v;  // a deep copy
  copy[0] = 7;
  EXPECT_EQ(v[0], 1);
  EXPECT_FALSE(copy == v);
  RareVector<int> moved = std::move(copy);
  EXPECT_EQ(moved, (std::vector<int>{7, 3, 5, 9}));
  v.assign(as_vector.begin(), as_vector.begin());  // empty range: released
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v, RareVector<int>{});
}

TEST(InlineU64sTest, HoldsNInlineThenMovesToTheHeap) {
  static_assert(sizeof(InlineU64s<6>) == 8 + 8 * 6);
  InlineU64s<3> ids;
  EXPECT_EQ(ids.capacity(), 3u);
  for (uint64_t i = 1; i <= 3; ++i) ids.push_back(i);
  EXPECT_EQ(ids.capacity(), 3u);  // still inline
  EXPECT_EQ(ids.HeapBytes(), 0u);
  ids.push_back(4);
  EXPECT_GT(ids.capacity(), 3u);
  EXPECT_EQ(ids.HeapBytes(), ids.capacity() * sizeof(uint64_t));
  EXPECT_EQ(std::vector<uint64_t>(ids.begin(), ids.end()), (std::vector<uint64_t>{1, 2, 3, 4}));

  // Oldest first: the first removed, the rest moved down.
  ids.erase(ids.begin());
  EXPECT_EQ(std::vector<uint64_t>(ids.begin(), ids.end()), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(ids[0], 2u);

  InlineU64s<3> copy = ids;
  EXPECT_TRUE(copy == ids);
  copy.push_back(5);
  EXPECT_FALSE(copy == ids);
  InlineU64s<3> moved = std::move(copy);  // the heap block changes hands
  EXPECT_EQ(moved.size(), 4u);
  EXPECT_EQ(copy.size(), 0u);  // NOLINT: a moved-from one is empty
  InlineU64s<3> small = {7, 8};
  moved = std::move(small);  // inline bytes copied
  EXPECT_EQ(std::vector<uint64_t>(moved.begin(), moved.end()), (std::vector<uint64_t>{7, 8}));
  moved.resize(4);
  EXPECT_EQ(std::vector<uint64_t>(moved.begin(), moved.end()), (std::vector<uint64_t>{7, 8, 0, 0}));
  moved.clear();
  EXPECT_TRUE(moved.empty());
}

// Random operations on InlineU64s<4> and RareVector<uint64_t> agree with the same ones on
// std::vector, across the inline/heap boundary, copies and moves (a fixed seed: reproducible).
TEST(CompactVectorsTest, AgreeWithStdVectorUnderRandomOperations) {
  std::mt19937_64 rng(46);
  InlineU64s<4> inline_ids;
  RareVector<uint64_t> rare;
  std::vector<uint64_t> model;
  auto same = [&] {
    return std::vector<uint64_t>(inline_ids.begin(), inline_ids.end()) == model &&
           std::vector<uint64_t>(rare.begin(), rare.end()) == model;
  };
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 7) {
      case 0:
      case 1:
      case 2: {
        const uint64_t v = rng();
        inline_ids.push_back(v);
        rare.push_back(v);
        model.push_back(v);
        break;
      }
      case 3:
        if (!model.empty()) {
          inline_ids.erase(inline_ids.begin());
          const std::vector<uint64_t> rest(model.begin() + 1, model.end());
          rare.assign(rest.begin(), rest.end());
          model.erase(model.begin());
        }
        break;
      case 4: {  // copies, then moves back
        InlineU64s<4> inline_copy = inline_ids;
        RareVector<uint64_t> rare_copy = rare;
        inline_ids = std::move(inline_copy);
        rare = std::move(rare_copy);
        break;
      }
      case 5: {
        const size_t n = rng() % 9;
        inline_ids.resize(n);
        model.resize(n);
        rare.assign(model.begin(), model.end());
        break;
      }
      case 6:
        if (!model.empty()) {
          rare.pop_back();
          model.pop_back();
          inline_ids.resize(model.size());
        }
        break;
    }
    ASSERT_TRUE(same()) << "step " << step;
    ASSERT_EQ(rare.empty(), rare.HeapBytes() == 0) << "step " << step;
  }
}

TEST(OptionalMillisTest, ReadsLikeAnOptionalDuration) {
  static_assert(sizeof(OptionalMillis) == 8);
  OptionalMillis d;
  EXPECT_FALSE(d.has_value());
  EXPECT_EQ(static_cast<std::optional<Millis>>(d), std::nullopt);
  d = Millis(std::chrono::hours(40));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, Millis(40 * 3'600'000LL));
  EXPECT_EQ(d, std::chrono::hours(40));
  EXPECT_FALSE(d == Millis(0));
  EXPECT_EQ(OptionalMillis(std::optional<Millis>(Millis(5))), Millis(5));
  // Zero and negative durations are values; only Millis::min() is none.
  d = Millis(0);
  EXPECT_TRUE(d.has_value());
  d.reset();
  EXPECT_EQ(d, OptionalMillis());
  EXPECT_FALSE(d == Millis(0));
}

}  // namespace
}  // namespace iocstream
