#include "iocstream/core/code.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace iocstream {
namespace {

TEST(Code, EqualTextsShareOneInternedCopy) {
  const std::string text = "2.002349.000.00.00.H44";
  const Code a(text);
  const Code b(std::string_view("2.002349.000.00.00.H44"));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.data(), b.data());  // one copy: equality is a pointer compare
  EXPECT_NE(a.data(), text.data());
  EXPECT_EQ(a.str(), text);
  EXPECT_EQ(a, text);
  EXPECT_EQ(a, "2.002349.000.00.00.H44");
  EXPECT_NE(a, Code("2.002349.000.00.00.H45"));
}

TEST(Code, DefaultIsTheEmptyText) {
  const Code empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.size(), 0U);
  EXPECT_EQ(empty, Code(""));
  EXPECT_EQ(empty, std::string_view());
  EXPECT_FALSE(Code("x").empty());
}

TEST(Code, OrdersByTextAsStringsDo) {
  // Ordering must not depend on the pool's addresses (state keys and exports sort by it).
  const std::vector<std::string> texts = {"xa-vinh-hung", "ubnd-xa-lac-luong", "", "a",
                                          "ab",           "000.00.12.H44",     "Z"};
  std::set<Code> codes(texts.begin(), texts.end());
  std::set<std::string> strings(texts.begin(), texts.end());
  ASSERT_EQ(codes.size(), strings.size());
  auto s = strings.begin();
  for (const Code& c : codes) EXPECT_EQ(c.view(), *s++);
}

TEST(Code, ComparingWithATextDoesNotInternIt) {
  const Code held("b-so-noi-vu");
  const size_t before = Code::PoolSize();
  const std::string text = "code-test-never-interned";
  EXPECT_FALSE(held == text);
  EXPECT_TRUE(held != std::string_view(text));
  EXPECT_TRUE(held < text);
  EXPECT_TRUE(held > "a");
  EXPECT_TRUE(std::string_view("zzz") > held);
  EXPECT_EQ(Code::PoolSize(), before);
}

TEST(Code, OrdersNonAsciiBytesAfterAscii) {
  // UTF-8 bytes of Vietnamese letters (>= 0x80) order after ASCII, as std::string does.
  const Code ascii("xa-vinh-hung");
  const Code vietnamese("xã-vĩnh-hưng");
  EXPECT_LT(ascii, vietnamese);
  EXPECT_EQ(ascii < vietnamese, std::string("xa-vinh-hung") < std::string("xã-vĩnh-hưng"));
}

TEST(Code, KeepsAnyBytes) {
  const std::string bytes("x\0y\xff", 4);
  const Code c(bytes);
  EXPECT_EQ(c.size(), 4U);
  EXPECT_EQ(c.view(), bytes);
  EXPECT_NE(c, Code("x"));
}

TEST(Code, PoolHoldsEachDistinctTextOnce) {
  const size_t before = Code::PoolSize();
  const std::string unique = "code-test-unique-" + std::to_string(before);
  for (int i = 0; i < 100; ++i) (void)Code(unique);
  EXPECT_EQ(Code::PoolSize(), before + 1);
}

TEST(Code, ThreadsInterningTheSameTextsAgree) {
  constexpr int kThreads = 4;
  constexpr int kTexts = 2003;  // prime: each stride below walks every text
  std::vector<std::vector<const char*>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    seen[t].resize(kTexts);
    threads.emplace_back([t, &seen] {
      for (int i = 0; i < kTexts; ++i) {
        // Each thread walks the texts in another order.
        const int n = (i * (2 * t + 1)) % kTexts;
        seen[t][n] = Code("threaded-" + std::to_string(n)).data();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t], seen[0]);
}

// The empty text is held from the start and is no code: it is not counted, so a process admits
// kMaxAdmittedCodes codes, as too_many_codes' detail says ("65536 distinct codes are held
// already" was said with 65,535 admitted: a QA finding).
TEST(Code, AdmitsTheLimitOfCodesTheEmptyTextNotCounted) {
  const size_t before = Code::PoolSize();
  const Code empty;
  EXPECT_TRUE(Code::Admitted("").has_value());
  EXPECT_EQ(Code::PoolSize(), before);
  // ctest runs each test in a process of its own: nothing is held yet but the empty text.
  if (::testing::UnitTest::GetInstance()->test_to_run_count() == 1) {
    EXPECT_EQ(before, 0u);
  }
  size_t admitted = 0;
  while (admitted <= kMaxAdmittedCodes &&
         Code::Admitted("code-test-limit-" + std::to_string(admitted)).has_value()) {
    ++admitted;
  }
  EXPECT_EQ(before + admitted, kMaxAdmittedCodes);
  EXPECT_EQ(Code::PoolSize(), kMaxAdmittedCodes);
  EXPECT_TRUE(Code::Admitted("").has_value());  // the empty code is always there
}

}  // namespace
}  // namespace iocstream
