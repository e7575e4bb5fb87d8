#include "iocstream/core/dossier_event.h"

#include <gtest/gtest.h>

#include "iocstream/core/dossier_state.h"

namespace iocstream {
namespace {

TEST(DossierEventTest, EventTypeNamesRoundTrip) {
  for (int i = 0; i < kEventTypeCount; ++i) {
    const auto type = static_cast<EventType>(i);
    const auto parsed = ParseEventType(ToString(type));
    ASSERT_TRUE(parsed.has_value()) << ToString(type);
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_FALSE(ParseEventType("closed").has_value());
}

TEST(DossierEventTest, ChannelNamesRoundTrip) {
  for (int i = 0; i < kChannelCount; ++i) {
    const auto channel = static_cast<Channel>(i);
    EXPECT_EQ(ParseChannel(ToString(channel)), channel);
  }
  EXPECT_EQ(ParseChannel("online"), Channel::kOnline);
  EXPECT_FALSE(ParseChannel("fax").has_value());
}

TEST(DossierStateTest, OutcomeNames) {
  EXPECT_EQ(ToString(Outcome::kOnTime), "on_time");
  EXPECT_EQ(ToString(AlertKind::kDeadlineBreached), "deadline_breached");
}

}  // namespace
}  // namespace iocstream
