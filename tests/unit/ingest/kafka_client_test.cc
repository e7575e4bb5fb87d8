#include "iocstream/ingest/kafka_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "iocstream/ingest/kafka_source.h"

namespace iocstream::ingest {
namespace {

using ::testing::StartsWith;

// No broker needed: librdkafka checks properties and creates clients without connecting.

TEST(KafkaClientTest, NamesThePropertyLibrdkafkaRejects) {
  auto rk = NewKafkaClient(RD_KAFKA_PRODUCER, {{"linger.ms", "5"}, {"no.such.property", "1"}});
  ASSERT_FALSE(rk);
  EXPECT_EQ(rk.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(rk.error().message, StartsWith("kafka property no.such.property=1: "));
}

TEST(KafkaClientTest, ConfiguresBeforeCreatingTheClient) {
  int configured = 0;
  auto rk = NewKafkaClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", "127.0.0.1:1"}},
                           [&](rd_kafka_conf_t* conf) {
                             rd_kafka_conf_set_opaque(conf, &configured);
                             ++configured;
                           });
  ASSERT_TRUE(rk) << rk.error().message;
  EXPECT_EQ(configured, 1);
  EXPECT_EQ(rd_kafka_opaque(*rk), &configured);
  rd_kafka_destroy(*rk);
}

// A loopback port nothing listens on: bound by the kernel's choice, then closed.
int ClosedLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A producer pointed at ClosedLoopbackPort(), reconnecting every 10 to 50 ms.
Result<rd_kafka_t*> ProducerToAClosedPort() {
  return NewKafkaClient(RD_KAFKA_PRODUCER,
                        {{"bootstrap.servers", "127.0.0.1:" + std::to_string(ClosedLoopbackPort())},
                         {"reconnect.backoff.ms", "10"},
                         {"reconnect.backoff.max.ms", "50"}});
}

// librdkafka wrote its own lines to stderr ("%3|1796410702.702|FAIL|rdkafka#consumer-1| ...")
// beside the process's log (a QA finding): a client pointed at a closed port logs its failed
// connection through spdlog, naming the client, at error level, once while it keeps retrying.
TEST(KafkaClientTest, LibrdkafkaLogsGoThroughSpdlogOnceWhileTheyRepeat) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  auto rk = ProducerToAClosedPort();
  ASSERT_TRUE(rk) << rk.error().message;
  const std::string name = rd_kafka_name(*rk);
  const auto refused = [&] {
    std::vector<std::string> lines;
    for (const std::string& line : sink->last_formatted()) {
      if (line.find("Connection refused") != std::string::npos &&
          line.find(" FAIL ") != std::string::npos) {
        lines.push_back(line);
      }
    }
    return lines;
  };
  for (int wait = 0; wait < 100 && refused().empty(); ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Reconnecting every 10-50 ms: dozens of failures, one line.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  rd_kafka_destroy(*rk);
  spdlog::set_default_logger(previous);
  const std::vector<std::string> lines = refused();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("[error] kafka " + name + ": FAIL "), std::string::npos) << lines[0];
}

// A producer's connection failure was logged when it happened and once more, at error level,
// when the producer was next polled: for an idle alert producer minutes after the cluster
// answered again, read by on-call as a new outage (a QA finding). Polling the producer long
// after its failures logs nothing more at warn or above.
TEST(KafkaClientTest, AProducersPollDoesNotLogItsPastConnectionFailuresAgain) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  auto rk = ProducerToAClosedPort();
  ASSERT_TRUE(rk) << rk.error().message;
  const auto logged = [&](std::string_view what) {
    size_t n = 0;
    for (const std::string& line : sink->last_formatted()) {
      if (line.find(what) != std::string::npos) ++n;
    }
    return n;
  };
  for (int wait = 0; wait < 100 && logged("Connection refused") == 0; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const size_t before = sink->last_formatted().size();
  EXPECT_EQ(logged(" FAIL "), 1u);
  rd_kafka_poll(*rk, 100);  // serves the queued error operations
  const std::vector<std::string> after = sink->last_formatted();
  rd_kafka_destroy(*rk);
  spdlog::set_default_logger(previous);
  for (size_t i = before; i < after.size(); ++i) {
    EXPECT_EQ(after[i].find("Connection refused"), std::string::npos) << after[i];
    EXPECT_EQ(after[i].find(" ERROR "), std::string::npos) << after[i];
  }
}

TEST(KafkaClientTest, ConsumerPropertiesPutTheOptionsOverTheDefaults) {
  KafkaSourceOptions options;
  options.bootstrap_servers = "127.0.0.1:1";
  options.group_id = "g";
  options.properties = {{"auto.offset.reset", "latest"}, {"fetch.max.bytes", "1000"}};
  const auto props = ConsumerProperties(options);
  EXPECT_EQ(props.at("bootstrap.servers"), "127.0.0.1:1");
  EXPECT_EQ(props.at("group.id"), "g");
  EXPECT_EQ(props.at("enable.auto.commit"), "false");
  EXPECT_EQ(props.at("enable.auto.offset.store"), "false");
  EXPECT_EQ(props.at("auto.offset.reset"), "latest");
  EXPECT_EQ(props.at("fetch.max.bytes"), "1000");
}

TEST(KafkaClientTest, ThePrefetchQueueIsBoundedInBytesOnly) {
  KafkaSourceOptions options;
  EXPECT_EQ(ConsumerProperties(options).at("queued.max.messages.kbytes"), "65536");
  options.fetch_queue_kbytes = 8 * 1024;
  auto props = ConsumerProperties(options);
  EXPECT_EQ(props.at("queued.max.messages.kbytes"), "8192");
  // The count bound is librdkafka's largest: it must not stop fetching before the bytes do.
  EXPECT_EQ(props.at("queued.min.messages"), "10000000");
  // librdkafka accepts them, up to kafka.fetch_queue_mb's largest value (2047 MiB).
  options.bootstrap_servers = "127.0.0.1:1";
  for (size_t kbytes : {size_t{8} * 1024, size_t{2047} * 1024}) {
    options.fetch_queue_kbytes = kbytes;
    auto rk = NewKafkaClient(RD_KAFKA_CONSUMER, ConsumerProperties(options));
    ASSERT_TRUE(rk) << kbytes << ": " << rk.error().message;
    rd_kafka_destroy(*rk);
  }
  // A property given by the user still wins.
  options.properties = {{"queued.max.messages.kbytes", "1024"}};
  EXPECT_EQ(ConsumerProperties(options).at("queued.max.messages.kbytes"), "1024");
}

// kafka.fetch_queue_mb is split: half for librdkafka's queue (at least 4 MiB, or all of a
// smaller budget), the rest for the source's own read-ahead buffer.
TEST(KafkaClientTest, OneReadAheadBudgetIsSplitBetweenLibrdkafkaAndTheSource) {
  KafkaSourceOptions options;
  options.SplitReadAhead(128 * 1024);
  EXPECT_EQ(options.fetch_queue_kbytes, 64u * 1024);
  EXPECT_EQ(options.read_ahead_bytes, size_t{64} << 20);
  options.SplitReadAhead(6 * 1024);
  EXPECT_EQ(options.fetch_queue_kbytes, 4u * 1024);
  EXPECT_EQ(options.read_ahead_bytes, size_t{2} << 20);
  options.SplitReadAhead(2 * 1024);
  EXPECT_EQ(options.fetch_queue_kbytes, 2u * 1024);
  EXPECT_EQ(options.read_ahead_bytes, 0u);
}

}  // namespace
}  // namespace iocstream::ingest
