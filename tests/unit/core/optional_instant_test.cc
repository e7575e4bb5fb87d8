#include "iocstream/core/optional_instant.h"

#include <gtest/gtest.h>

#include <optional>

namespace iocstream {
namespace {

constexpr Instant kT = FromEpochMillis(1'772'413'200'000);  // 2026-03-02T01:00:00Z

TEST(OptionalInstant, IsEightBytes) { static_assert(sizeof(OptionalInstant) == 8); }

TEST(OptionalInstant, ReadsLikeStdOptional) {
  OptionalInstant empty;
  EXPECT_FALSE(empty.has_value());
  EXPECT_FALSE(static_cast<bool>(empty));
  EXPECT_EQ(empty.value_or(kT), kT);
  EXPECT_THROW((void)empty.value(), std::bad_optional_access);

  OptionalInstant t = kT;
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, kT);
  EXPECT_EQ(t.value(), kT);
  t = std::nullopt;
  EXPECT_FALSE(t.has_value());
  t = std::optional<Instant>(kT);
  EXPECT_EQ(t, kT);
  t.reset();
  EXPECT_EQ(t, std::nullopt);
  // Instant::min() is the empty marker.
  EXPECT_FALSE(OptionalInstant(Instant::min()).has_value());
  // Epoch 0 and negative instants are values.
  EXPECT_TRUE(OptionalInstant(FromEpochMillis(0)).has_value());
  EXPECT_TRUE(OptionalInstant(FromEpochMillis(-1)).has_value());
}

TEST(OptionalInstant, ConvertsToAndFromStdOptional) {
  const std::optional<Instant> none = OptionalInstant();
  EXPECT_FALSE(none.has_value());
  const std::optional<Instant> some = OptionalInstant(kT);
  EXPECT_EQ(some, kT);
  EXPECT_EQ(OptionalInstant(std::optional<Instant>()).ToOptional(), std::nullopt);
}

// Every comparison agrees with std::optional<Instant>'s, whatever the operand types.
TEST(OptionalInstant, ComparesAsStdOptionalDoes) {
  const std::optional<Instant> values[] = {std::nullopt, FromEpochMillis(-5), FromEpochMillis(0),
                                           kT, kT + Millis(1)};
  for (const auto& a : values) {
    for (const auto& b : values) {
      const OptionalInstant ca(a);
      const OptionalInstant cb(b);
      EXPECT_EQ(ca == cb, a == b);
      EXPECT_EQ(ca < cb, a < b);
      EXPECT_EQ(ca >= cb, a >= b);
      EXPECT_EQ(ca == b, a == b);  // with a std::optional: never std::optional's templates
      EXPECT_EQ(a == cb, a == b);
      EXPECT_EQ(ca < b, a < b);
      EXPECT_EQ(a < cb, a < b);
      EXPECT_EQ(a > cb, a > b);
      if (b) {
        EXPECT_EQ(ca == *b, a == *b);  // with an Instant
        EXPECT_EQ(ca < *b, a < *b);
        EXPECT_EQ(*b < ca, *b < a);
      }
    }
  }
}

}  // namespace
}  // namespace iocstream
