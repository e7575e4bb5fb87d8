// KafkaSink: an idempotent Kafka producer for iocstream's outputs — alert events, dead
// letters, and the `import` command's dossier events (librdkafka C API).
//
// Delivery: enable.idempotence=true (acks=all, ordered, no duplicates from producer retries).
// A message counts as delivered only when the broker acknowledged it; callers that must not
// lose anything (the outbox relay) delete their copy only after PublishAll reported it.
//
// Thread-safety: Produce, Flush and PublishAll may be called from one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "iocstream/core/result.h"
#include "iocstream/core/types.h"

namespace iocstream::alert {

struct KafkaSinkOptions {
  std::string bootstrap_servers = "127.0.0.1:19092";
  std::map<std::string, std::string> properties;  // librdkafka producer properties
};

// The librdkafka properties KafkaSink::Open configures: iocstream's producer settings
// (idempotent, lz4, short linger, large batches) with options.properties over them.
[[nodiscard]] std::map<std::string, std::string> SinkProperties(const KafkaSinkOptions& options);

struct OutgoingMessage {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct TopicSpec {
  std::string name;
  int partitions = 6;
  std::map<std::string, std::string> config;  // e.g. cleanup.policy=compact
};

class KafkaSink {
 public:
  [[nodiscard]] static Result<std::unique_ptr<KafkaSink>> Open(KafkaSinkOptions options);
  ~KafkaSink();
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  // Creates the topics that do not exist yet (an existing topic is left as it is).
  [[nodiscard]] Status EnsureTopics(std::span<const TopicSpec> topics, Millis timeout);

  // An existing topic's partition count and its configuration as the brokers report it (every
  // entry DescribeConfigs returns, defaults included; a value the broker hides is ""), each
  // within `timeout`. Errors: kNotFound for a topic the brokers do not list; kUnavailable when
  // they do not answer or refuse (e.g. no DescribeConfigs permission).
  [[nodiscard]] Result<TopicSpec> DescribeTopic(const std::string& topic, Millis timeout);

  // Queues one message (copied), waiting while librdkafka's local queue is full.
  // `timestamp` (UTC) sets the record's timestamp; zero, or a time in the future (which
  // Kafka 4 brokers reject beyond an hour), → the producer's clock.
  [[nodiscard]] Status Produce(const OutgoingMessage& message, Instant timestamp = Instant{});

  // Waits until every queued message is acknowledged or failed. Error if any failed since
  // the last Flush (with the first failure's reason) or on timeout.
  [[nodiscard]] Status Flush(Millis timeout);

  // Produces `messages` in order and waits for the broker: returns how many leading messages
  // were acknowledged (== size on success). Never reports a message delivered that was not.
  // Errors (nothing acknowledged): kInvalidArgument when the first message is refused for its
  // size (the producer's message.max.bytes or the topic's max.message.bytes), kUnavailable
  // for every other failure.
  //
  // A producer that hit a fatal error is replaced first: the idempotent producer's
  // in-flight messages, purged when the broker does not answer within `timeout`, leave a gap
  // in its sequence that the broker refuses once it is back (OUT_OF_ORDER_SEQUENCE_NUMBER),
  // which is fatal: without a new producer, nothing was published again until a restart.
  //
  // `delivered`, if given, gets one flag per message, true for each the broker acknowledged,
  // including those after the first that was not (a message to another topic may fail alone).
  [[nodiscard]] Result<size_t> PublishAll(std::span<const OutgoingMessage> messages, Millis timeout,
                                          std::vector<bool>* delivered = nullptr);

  [[nodiscard]] uint64_t delivered() const;
  [[nodiscard]] uint64_t failed() const;
  // Producers replaced after a fatal error (PublishAll).
  [[nodiscard]] uint64_t renewed() const;

  // For tests: raises a fatal error in the producer as librdkafka would
  // (rd_kafka_test_fatal_error).
  void InjectFatalErrorForTest(const std::string& reason);

  class Impl;

 private:
  explicit KafkaSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iocstream::alert
