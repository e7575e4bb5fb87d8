// TransactionalTopic: writes keyed records to chosen partitions of one topic in Kafka
// transactions, and reads a partition back (read_committed). The state changelog
// (app/changelog.h) is its user; this module keeps librdkafka to itself.
//
// Writes: Begin, Produce any number of records, then Commit, which first commits consumer
// offsets to the group with the group metadata given (rd_kafka_send_offsets_to_transaction:
// refused once the group moved to another generation, KIP-447), then ends the transaction and
// waits until the broker committed it; on any error the transaction is aborted and none of its
// records is ever visible to read_committed readers. The transactional id fences an earlier
// producer with the same id and aborts what it left open (at Open).
//
// Reads: each Last or ReadAll creates a consumer of its own, assigned (never subscribed) to
// the partition, reading committed records only, up to the partition's end at the call (its
// last stable offset).
//
// Thread-safety: Begin/Produce/Commit/Abort from one thread at a time; Last and ReadAll from
// any thread. Errors: kUnavailable (the broker did not answer within `timeout`, refused a
// record or the offsets, or the producer was fenced), kInvalidArgument (no topic).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "iocstream/core/result.h"
#include "iocstream/core/types.h"
#include "iocstream/ingest/kafka_source.h"

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace iocstream::ingest {

struct TransactionalTopicOptions {
  std::string bootstrap_servers = "127.0.0.1:19092";
  std::string topic;
  std::string transactional_id;
  // librdkafka properties passed through; what transactions need (idempotence, acks=all, at
  // most 5 requests in flight) is kept whatever they say.
  std::map<std::string, std::string> producer;
  std::map<std::string, std::string> consumer;
  Millis timeout{60000};              // one transaction's calls, and a read's silence
  Millis transaction_timeout{60000};  // transaction.timeout.ms: the broker aborts after this
};

class TransactionalTopic {
 public:
  [[nodiscard]] static Result<std::unique_ptr<TransactionalTopic>> Open(
      TransactionalTopicOptions options);
  ~TransactionalTopic();
  TransactionalTopic(const TransactionalTopic&) = delete;
  TransactionalTopic& operator=(const TransactionalTopic&) = delete;

  [[nodiscard]] Status Begin();
  // Queues one record (copied) in the open transaction; waits while the queue is full.
  [[nodiscard]] Status Produce(PartitionId partition, std::string_view key, std::string_view value);
  // Commits `offsets` (next offsets of `offsets_topic`'s partitions) to `group` in the
  // transaction, when `group` is not null and `offsets` not empty, then commits the
  // transaction. A refused offset commit is "fenced" in the error.
  [[nodiscard]] Status Commit(std::span<const std::pair<PartitionId, Offset>> offsets,
                              const std::string& offsets_topic, const ConsumerGroupMetadata& group);
  // Aborts the open transaction (its records are never visible); returns `why`.
  [[nodiscard]] Status Abort(Status why);

  struct Record {
    std::string key;
    std::string value;
  };
  // The last committed record of `partition` (transaction markers are not records); nullopt
  // when the partition holds none.
  [[nodiscard]] Result<std::optional<Record>> Last(PartitionId partition);
  // Reads `partition` from its start to its end as of the call, in order. A visit error stops
  // the read and is returned.
  using Visit = std::function<Status(std::string_view key, std::string_view value)>;
  [[nodiscard]] Status ReadAll(PartitionId partition, const Visit& visit);

  // Records acknowledged by the broker since Open.
  [[nodiscard]] uint64_t delivered() const { return delivered_.load(); }
  [[nodiscard]] const std::string& topic() const { return options_.topic; }

 private:
  explicit TransactionalTopic(TransactionalTopicOptions options);
  static void OnDelivery(rd_kafka_s* rk, const rd_kafka_message_s* m, void* opaque);
  struct Opened;
  [[nodiscard]] Result<Opened> Reader(PartitionId partition, std::optional<int64_t> from_end);

  TransactionalTopicOptions options_;
  rd_kafka_s* producer_ = nullptr;
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> failed_{0};
  uint64_t failed_at_begin_ = 0;
  std::string first_failure_;  // written by the delivery callback, read after the commit
};

}  // namespace iocstream::ingest
