#include "app/changelog.h"

#include <gtest/gtest.h>

namespace iocstream::app {
namespace {

TEST(ChangelogMarkerTest, EncodesAndDecodesEveryField) {
  ChangelogMarker m;
  m.next_offset = Offset(123456789);
  m.watermark = FromEpochMillis(1767225600000);
  m.writer = 0xfedcba9876543210ULL;
  m.sequence = 42;
  const std::string bytes = m.Encode();
  const auto back = ChangelogMarker::Decode(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->next_offset, m.next_offset);
  EXPECT_EQ(back->watermark, m.watermark);
  EXPECT_EQ(back->writer, m.writer);
  EXPECT_EQ(back->sequence, m.sequence);
  // Two markers are the same record only when every field is: another commit differs.
  ChangelogMarker next = m;
  next.sequence = 43;
  EXPECT_NE(next.Encode(), bytes);
}

TEST(ChangelogMarkerTest, AbsentOffsetAndWatermarkStayAbsent) {
  const auto back = ChangelogMarker::Decode(ChangelogMarker{}.Encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->next_offset.has_value());
  EXPECT_FALSE(back->watermark.has_value());
}

TEST(ChangelogMarkerTest, BytesOfAnotherLayoutAreNotAMarker) {
  const std::string good = ChangelogMarker{}.Encode();
  EXPECT_FALSE(ChangelogMarker::Decode("").has_value());
  EXPECT_FALSE(ChangelogMarker::Decode(good.substr(1)).has_value());
  EXPECT_FALSE(ChangelogMarker::Decode(good + "x").has_value());
  std::string version = good;
  version[0] = 2;
  EXPECT_FALSE(ChangelogMarker::Decode(version).has_value());
  std::string flag = good;
  flag[9] = 7;
  EXPECT_FALSE(ChangelogMarker::Decode(flag).has_value());
}

}  // namespace
}  // namespace iocstream::app
