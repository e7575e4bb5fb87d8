#include "app/id_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "iocstream/core/hash.h"

namespace iocstream::app {
namespace {

struct Key {
  explicit Key(std::string_view id) : text(id) {}
  std::string text;
  [[nodiscard]] std::string_view view() const noexcept { return text; }
};

struct Value {
  explicit Value(int n) : number(n) {}
  int number;
};

using Index = IdIndex<Key, Value>;

std::pair<Value*, bool> Insert(Index& index, const std::string& id, uint64_t hash, int number) {
  return index.FindOrInsert(id, hash, [&] { return std::make_unique<Value>(number); });
}

TEST(IdIndexTest, FindsWhatWasInsertedAndNothingElse) {
  Index index;
  EXPECT_EQ(index.Find("a", ShortHash("a")), nullptr);
  EXPECT_FALSE(index.Erase(ShortHash("a"), nullptr));
  auto [a, inserted] = Insert(index, "a", ShortHash("a"), 1);
  ASSERT_TRUE(inserted);
  EXPECT_EQ(a->number, 1);
  auto [again, inserted_again] = Insert(index, "a", ShortHash("a"), 2);
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again, a);
  EXPECT_EQ(a->number, 1);
  EXPECT_EQ(index.Find("a", ShortHash("a")), a);
  EXPECT_EQ(index.Find("b", ShortHash("b")), nullptr);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.slot_count(), 16u);
}

// Ids whose hashes are equal (a hash of 0 among them, stored as 1) or share a home slot are
// told apart by their keys; values keep their addresses as the index grows.
TEST(IdIndexTest, CollidingHashesAndGrowthKeepEveryValue) {
  Index index;
  std::vector<Value*> values;
  constexpr int kCount = 1000;
  auto hash_of = [](int n) { return static_cast<uint64_t>(n % 3); };  // 0, 1, 2: one home
  for (int n = 0; n < kCount; ++n) {
    auto [v, inserted] = Insert(index, "id-" + std::to_string(n), hash_of(n), n);
    ASSERT_TRUE(inserted);
    values.push_back(v);
  }
  EXPECT_EQ(index.size(), size_t{kCount});
  EXPECT_GE(index.slot_count() * 3, size_t{kCount} * 4);  // at most 3/4 full
  for (int n = 0; n < kCount; ++n) {
    ASSERT_EQ(index.Find("id-" + std::to_string(n), hash_of(n)), values[n]);
    ASSERT_EQ(values[n]->number, n);
  }
  EXPECT_EQ(index.Find("id-1", 2), nullptr);  // its key, another hash (0 is stored as 1)
}

// Random inserts and erases against std::map, with hashes of a few bits so that probe runs
// are long, wrap around the array's end and are cut by erasures in every place.
TEST(IdIndexTest, MatchesAMapUnderRandomInsertsAndErases) {
  std::mt19937_64 rng(57);
  for (const uint64_t hash_bits : {2, 5, 64}) {
    Index index;
    std::map<std::string, std::pair<uint64_t, Value*>> reference;
    auto hash_of = [&](const std::string& id) {
      const uint64_t h = ShortHash(id);
      return hash_bits == 64 ? h : h << (64 - hash_bits) | (h & 1);  // top bits: the home
    };
    for (int step = 0; step < 20000; ++step) {
      const std::string id = "H44." + std::to_string(rng() % 600);
      const uint64_t hash = hash_of(id);
      auto known = reference.find(id);
      if (rng() % 3 != 0) {
        auto [v, inserted] = Insert(index, id, hash, step);
        ASSERT_EQ(inserted, known == reference.end()) << id;
        if (inserted) {
          reference[id] = {hash, v};
        } else {
          ASSERT_EQ(v, known->second.second);
        }
      } else if (known != reference.end()) {
        ASSERT_TRUE(index.Erase(known->second.first, known->second.second)) << id;
        ASSERT_FALSE(index.Erase(known->second.first, known->second.second)) << id;
        reference.erase(known);
      } else {
        ASSERT_EQ(index.Find(id, hash), nullptr);
      }
      ASSERT_EQ(index.size(), reference.size());
      if (step % 997 == 0) {
        for (const auto& [rid, hv] : reference) ASSERT_EQ(index.Find(rid, hv.first), hv.second);
      }
    }
    // A scan of the slots sees each value once.
    std::map<Value*, int> seen;
    for (size_t i = 0; i < index.slot_count(); ++i) {
      if (index.Occupied(i)) ++seen[index.ValueAt(i)];
    }
    ASSERT_EQ(seen.size(), reference.size());
    for (const auto& [rid, hv] : reference) {
      ASSERT_TRUE(seen.contains(hv.second)) << rid;
      ASSERT_EQ(seen[hv.second], 1) << rid;
    }
    const size_t slots = index.slot_count();
    index.Clear();
    EXPECT_TRUE(index.empty());
    EXPECT_EQ(index.slot_count(), slots);
    for (const auto& [rid, hv] : reference) ASSERT_EQ(index.Find(rid, hv.first), nullptr);
    auto [v, inserted] = Insert(index, "after", hash_of("after"), 1);
    EXPECT_TRUE(inserted);
    EXPECT_EQ(index.Find("after", hash_of("after")), v);
  }
}

TEST(IdIndexTest, EraseTakesTheValueNotTheHashAlone) {
  Index index;
  Value* a = Insert(index, "a", 7, 1).first;
  Value* b = Insert(index, "b", 7, 2).first;
  Value other(3);
  EXPECT_FALSE(index.Erase(7, &other));
  EXPECT_FALSE(index.Erase(8, a));
  EXPECT_TRUE(index.Erase(7, a));
  EXPECT_EQ(index.Find("a", 7), nullptr);
  EXPECT_EQ(index.Find("b", 7), b);
  EXPECT_EQ(b->number, 2);
}

}  // namespace
}  // namespace iocstream::app
