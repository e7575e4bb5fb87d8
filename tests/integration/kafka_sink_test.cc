// KafkaSink against the real broker (IOCSTREAM_NEEDS_KAFKA): the alerts' producer.
#include "iocstream/alert/kafka_sink.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

std::vector<alert::OutgoingMessage> Messages(const std::string& topic, int first, int count) {
  std::vector<alert::OutgoingMessage> out;
  for (int i = first; i < first + count; ++i) {
    out.push_back({topic, "D-" + std::to_string(i), "alert-" + std::to_string(i), {}});
  }
  return out;
}

// A fatal producer error (as the idempotent producer's after a long outage: purged in-flight
// messages leave a sequence gap the broker refuses) used to stop every later publish until a
// restart (a helper saw the relay retry once a second with 1,956 alerts waiting). The next
// PublishAll replaces the producer and delivers.
TEST(KafkaSinkTest, APublishAfterAFatalProducerErrorGoesThroughANewProducer) {
  const std::string topic = UniqueName("sink-fatal");
  CreateTopic(topic, 1);
  alert::KafkaSinkOptions options;
  options.bootstrap_servers = Bootstrap();
  auto sink = alert::KafkaSink::Open(options);
  ASSERT_TRUE(sink.has_value()) << sink.error().message;
  auto first = (*sink)->PublishAll(Messages(topic, 0, 3), Millis(30000));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(*first, 3u);

  (*sink)->InjectFatalErrorForTest("test: out of order sequence");
  auto second = (*sink)->PublishAll(Messages(topic, 3, 2), Millis(30000));
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(*second, 2u);
  EXPECT_EQ((*sink)->renewed(), 1u);

  const auto records = ConsumeAll(topic, 5, std::chrono::seconds(30));
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(records[i].value, "alert-" + std::to_string(i));
}

}  // namespace
}  // namespace iocstream::testing
