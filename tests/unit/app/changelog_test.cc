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

// An administrator's changelog topic: compacted, with a partition per events partition, or
// refused with the setting to change (a QA trial lost 100 of 201 dossiers to one with Kafka's
// default delete policy).
TEST(CheckChangelogTopicTest, AcceptsACompactedTopicAndRefusesOneThatDeletesOrIsTooSmall) {
  const auto check = [](int partitions, std::map<std::string, std::string> config) {
    return CheckChangelogTopic("cl", partitions, config, 6, "events");
  };
  EXPECT_TRUE(check(6, {{"cleanup.policy", "compact"}, {"retention.ms", "604800000"}}).ok());
  EXPECT_TRUE(check(8, {{"cleanup.policy", "compact"}}).ok());  // more partitions: unused
  EXPECT_TRUE(check(6, {{"cleanup.policy", "compact, delete"},
                        {"retention.ms", "-1"},
                        {"retention.bytes", "-1"}})
                  .ok());

  const Status deletes = check(6, {{"cleanup.policy", "delete"}, {"retention.ms", "604800000"}});
  ASSERT_FALSE(deletes.ok());
  EXPECT_EQ(deletes.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(deletes.error().message.find(
                "cleanup.policy=delete (retention.ms=604800000, retention.bytes=(not reported))"),
            std::string::npos)
      << deletes.error().message;
  EXPECT_NE(deletes.error().message.find("--add-config cleanup.policy=compact"), std::string::npos);
  // Compacted and deleted past retention.ms: the same loss, later.
  EXPECT_FALSE(check(6, {{"cleanup.policy", "compact,delete"},
                         {"retention.ms", "604800000"},
                         {"retention.bytes", "-1"}})
                   .ok());
  EXPECT_FALSE(check(6, {}).ok());  // no policy reported: not known to keep the records
  // The size bound decides too, and is named.
  const Status bytes = check(6, {{"cleanup.policy", "compact,delete"},
                                 {"retention.ms", "-1"},
                                 {"retention.bytes", "100000000"}});
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.error().message.find("(retention.ms=-1, retention.bytes=100000000)"),
            std::string::npos)
      << bytes.error().message;
  EXPECT_NE(check(6, {{"cleanup.policy", ""}}).error().message.find("cleanup.policy='' ("),
            std::string::npos);

  const Status small = check(3, {{"cleanup.policy", "compact"}});
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().message.find("has 3 partition(s), fewer than the 6 of events topic "
                                       "events"),
            std::string::npos)
      << small.error().message;
  EXPECT_NE(small.error().message.find("--partitions 6"), std::string::npos);
}

}  // namespace
}  // namespace iocstream::app
