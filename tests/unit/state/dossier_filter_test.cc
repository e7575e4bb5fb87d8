#include "state/dossier_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace iocstream::state {
namespace {

// Ids shaped as the simulator's and the national ones ("H44.42-260105-0008").
std::string Id(size_t i, char office = 'H') {
  return std::string(1, office) + "44.42-2601" + std::to_string(10 + i % 20) + "-" +
         std::to_string(i);
}

TEST(DossierFilter, NeverForgetsAnInsertedId) {
  DossierFilter filter(size_t{1} << 20);
  for (size_t i = 0; i < 200'000; ++i) filter.Insert(Id(i));
  for (size_t i = 0; i < 200'000; ++i) ASSERT_TRUE(filter.MayContain(Id(i))) << Id(i);
  // Empty and odd ids too.
  filter.Insert("");
  filter.Insert(std::string("A\0B", 3));
  EXPECT_TRUE(filter.MayContain(""));
  EXPECT_TRUE(filter.MayContain(std::string("A\0B", 3)));
}

TEST(DossierFilter, RulesOutMostIdsNeverInsertedAtItsDesignLoad) {
  // 10 bits per id: Parquet's split block filter gives about 1% false positives there.
  constexpr size_t kIds = 100'000;
  DossierFilter filter(kIds * 10 / 8);
  for (size_t i = 0; i < kIds; ++i) filter.Insert(Id(i));
  size_t maybe = 0;
  for (size_t i = 0; i < kIds; ++i) maybe += filter.MayContain(Id(i, 'G')) ? 1 : 0;
  EXPECT_LT(maybe, kIds * 2 / 100) << maybe << " false positives of " << kIds;
  EXPECT_GT(maybe, 0u);  // a filter of this size cannot be exact
}

TEST(DossierFilter, OverloadedItAnswersMaybeNotWrong) {
  DossierFilter filter(64);  // two blocks: everything saturates
  EXPECT_EQ(filter.bytes(), 64u);
  for (size_t i = 0; i < 10'000; ++i) filter.Insert(Id(i));
  for (size_t i = 0; i < 10'000; ++i) ASSERT_TRUE(filter.MayContain(Id(i)));
  EXPECT_TRUE(filter.MayContain("never inserted"));
  EXPECT_EQ(DossierFilter(0).bytes(), 32u);  // at least one block
}

TEST(DossierFilter, ConcurrentInsertsAreAllKept) {
  DossierFilter filter(size_t{256} << 10);
  std::vector<std::thread> threads;
  for (char office : {'A', 'B', 'C', 'D'}) {
    threads.emplace_back([&filter, office] {
      for (size_t i = 0; i < 50'000; ++i) {
        filter.Insert(Id(i, office));
        (void)filter.MayContain(Id(i + 1, office));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (char office : {'A', 'B', 'C', 'D'}) {
    for (size_t i = 0; i < 50'000; ++i) ASSERT_TRUE(filter.MayContain(Id(i, office)));
  }
}

}  // namespace
}  // namespace iocstream::state
