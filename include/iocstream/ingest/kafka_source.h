// KafkaSource: the consumer-group source of dossier events (librdkafka C API).
//
// - Polls with rd_kafka_consumer_poll (not the batch consume API, which can skip offsets
//   with seek/pause/rebalance in librdkafka 2.0.2; see DESIGN.md) and returns up to
//   `max_batch` records per Poll.
// - Read-ahead: each Poll first moves every record librdkafka has fetched into a buffer of
//   its own (`read_ahead_bytes`, keys and payloads copied into 1 MiB blocks), so that
//   librdkafka's pre-fetch queue (`fetch_queue_kbytes`) is emptied at every Poll and keeps
//   fetching. librdkafka before 2.2 stops fetching for up to a second whenever that queue
//   reaches its bound, and keeps each queued record at about 2.5 times its size; the copy
//   keeps it at about its size, so the same memory holds more records ahead.
// - Exactly-once state: on partition assignment it asks the OffsetStore for the next offset
//   stored with the state and starts there; the group's committed offset is only written
//   (CommitAsync) for lag tools, never read back.
// - On revocation it drops the read-ahead records of revoked partitions; they were not
//   applied, so the next owner consumes them from the stored offset.
//
// - Broker reachability: a thread of its own asks the cluster for its metadata every
//   `broker_check_interval` (BrokersUp): 0 while the cluster does not answer, which nothing
//   else shows (the lag is computed from cached watermarks and keeps its last value).
//
// Thread-safety: one thread owns a KafkaSource (poll, commit, close). Lag(), Assignment(),
// BrokersUp() and CheckBrokersNow() may be called from any thread.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "iocstream/core/result.h"
#include "iocstream/core/source_record.h"
#include "iocstream/core/types.h"

// librdkafka's consumer group metadata (rd_kafka_consumer_group_metadata_t).
struct rd_kafka_consumer_group_metadata_s;

namespace iocstream::ingest {

// A member's view of its consumer group (group, member id, generation) at one moment, for a
// transactional producer to commit offsets consumed under it (TransactionalTopic::Commit).
// Opaque outside this module; null: no group.
using ConsumerGroupMetadata = std::shared_ptr<rd_kafka_consumer_group_metadata_s>;

struct KafkaSourceOptions {
  std::string bootstrap_servers = "127.0.0.1:19092";
  std::string group_id = "iocstream";
  std::vector<std::string> topics = {"dossier-events"};
  // librdkafka consumer properties passed through as they are (e.g. fetch.max.bytes).
  std::map<std::string, std::string> properties;
  size_t max_batch = 5000;   // records per Poll at most
  Millis poll_timeout{100};  // wait for the first record of a batch
  // Bound of the records librdkafka pre-fetches ahead of Poll, in KiB of payload
  // (queued.max.messages.kbytes; it takes about 2.5x this in memory with its per-record
  // overhead). librdkafka before 2.2 (Debian 12 ships 2.0.2) stops fetching once the queue
  // reaches it and fetches again only after about one second, so a queue that holds less
  // than a second of processing leaves the consumer idle: at 32 MiB, consuming and decoding
  // the bench topic ran at 250k records/s, at 64 MiB 630k, at 128 MiB 930k. (From 2.2 the
  // pause is fetch.queue.backoff.ms, a consumer property that may be passed through.)
  size_t fetch_queue_kbytes = 64 * 1024;
  // Bound of the records moved out of librdkafka's queue ahead of Poll, in bytes of keys and
  // payloads (the blocks that hold them: at most one 1 MiB block more, and one record more
  // when Poll must serve librdkafka's callbacks with the buffer full). Catching up, the
  // consumer is idle whenever this and fetch_queue_kbytes together hold less than about a
  // second of processing.
  size_t read_ahead_bytes = size_t{64} << 20;
  // With a wait (`run` with a state changelog, app/changelog.h): before a newly assigned
  // partition's stored offset is asked for, waits until no transaction in flight commits
  // offsets of it to the group (the broker answers UNSTABLE_OFFSET_COMMIT to a read_committed
  // offset fetch meanwhile), at most this long, then goes on with a warning. So a previous
  // owner's changelog commit whose offsets the group accepted before it lost the partition is
  // either in the changelog or aborted before the new owner reads it (KIP-447). 0: no wait.
  Millis stable_offsets_wait{0};

  // How often BrokersUp asks the cluster for its metadata (a small request on the consumer's
  // connections). 0: never (BrokersUp stays nullopt).
  Millis broker_check_interval{5000};

  // Splits one read-ahead budget of `kbytes` (KiB of keys and payloads; `run`'s
  // kafka.fetch_queue_mb) between the two: half (at least 4 MiB, all of a smaller budget) for
  // librdkafka's queue, the rest for the source's buffer, which holds a record in about its
  // size where librdkafka takes about 2.5 times. librdkafka's half stays large: its fetcher
  // stops whenever its queue reaches the bound between two Polls (an eighth, 16 MiB of 128,
  // left `run` idle more often than 64 MiB of its own with no buffer: 11.4 and 14.7 s against
  // 10.2 and 9.8 s for the 4.57M-event bench topic with half).
  void SplitReadAhead(size_t kbytes) {
    fetch_queue_kbytes = std::min(kbytes, std::max<size_t>(4 * 1024, kbytes / 2));
    read_ahead_bytes = (kbytes - fetch_queue_kbytes) * 1024;
  }
};

// The librdkafka properties KafkaSource::Open configures: iocstream's consumer settings
// (offsets stored with the state, never auto-committed; earliest reset; a pre-fetch queue
// bounded by options.fetch_queue_kbytes) with options.properties over them.
[[nodiscard]] std::map<std::string, std::string> ConsumerProperties(
    const KafkaSourceOptions& options);

// Whether librdkafka accepts `key` = `value` as a client property (consumer or producer): nullopt
// if so, else its reason (an unknown property, a value out of range or of the wrong kind). For
// configuration checks before any client exists; creates nothing. Thread-safe.
[[nodiscard]] std::optional<std::string> CheckKafkaProperty(const std::string& key,
                                                            const std::string& value);

enum class KafkaClientKind { kConsumer, kProducer };

// Whether librdkafka accepts `properties` together as the configuration of a client of `kind`:
// nullopt if so, else its reason. Some of its rules join properties (max.poll.interval.ms at
// least session.timeout.ms; acks=all with idempotence) and are checked only when a client is
// created, which `run` does after it created its topics, in a message without the config file.
// For configuration checks: creates such a client without brokers (bootstrap.servers is left
// out, so it connects nowhere; its log lines are dropped) and destroys it at once, a few
// milliseconds. Thread-safe.
[[nodiscard]] std::optional<std::string> CheckKafkaClientProperties(
    KafkaClientKind kind, const std::map<std::string, std::string>& properties);

// Called on the polling thread during Poll when the group assigns or revokes partitions.
struct RebalanceHandler {
  // Next offset to consume for a newly assigned partition; nullopt → auto.offset.reset.
  std::function<std::optional<Offset>(const TopicPartition&)> stored_offset;
  // Partitions taken away: the handler must forget their in-memory state. `lost` is true when
  // the group took them without this member's part (its session timed out: a stalled process,
  // a network cut), so another member may own them already: nothing more may be written for
  // them.
  std::function<void(const std::vector<TopicPartition>&, bool lost)> revoked;
  // Partitions newly assigned (after their start offsets were set).
  std::function<void(const std::vector<TopicPartition>&)> assigned;
};

struct PartitionLag {
  TopicPartition partition;
  int64_t high_watermark = -1;  // broker's end offset as last seen (-1 unknown)
  int64_t next_offset = -1;     // next offset to consume (-1 unknown)
  [[nodiscard]] int64_t lag() const {
    return high_watermark < 0 || next_offset < 0 ? -1 : high_watermark - next_offset;
  }
};

class KafkaSource {
 public:
  [[nodiscard]] static Result<std::unique_ptr<KafkaSource>> Open(KafkaSourceOptions options,
                                                                 RebalanceHandler handler);
  ~KafkaSource();
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // Returns the next batch (possibly empty after poll_timeout). The records stay valid until
  // the next Poll or Close. Broker errors that librdkafka retries by itself are logged, not
  // returned; a fatal consumer error is returned (kUnavailable), and so is a setting the
  // cluster refuses at every try (kInvalidArgument: the group coordinator refuses the
  // consumer's session.timeout.ms, so no partition would ever be assigned).
  [[nodiscard]] Result<std::span<const SourceRecord>> Poll();

  // Nanoseconds (steady clock) that Poll has spent since Open waiting for librdkafka to fetch
  // records, with none read ahead: idle time, and the rebalance callbacks served meanwhile; not
  // the time it takes to move records already fetched into the read-ahead buffer (CPU work).
  // Owner thread only.
  [[nodiscard]] uint64_t PollWaitNanos() const;

  // Commits next offsets to the group (asynchronously), for lag tools and operators.
  void CommitAsync(std::span<const std::pair<TopicPartition, Offset>> next_offsets);

  // The group's metadata as this member knows it now (group, member id, generation), for a
  // transactional producer to commit offsets consumed under this generation
  // (rd_kafka_send_offsets_to_transaction): the broker refuses them once the group moved on
  // (KIP-447 fencing). Call on the owning thread; never null.
  [[nodiscard]] ConsumerGroupMetadata GroupMetadata() const;

  // Currently assigned partitions.
  [[nodiscard]] std::vector<TopicPartition> Assignment() const;

  // Consumer lag per assigned partition, from librdkafka's cached watermarks (no broker
  // round trip). Records in the read-ahead buffer count as not consumed yet.
  [[nodiscard]] std::vector<PartitionLag> Lag() const;

  // The first offset the log of each of `partitions` still holds (its low watermark: what a
  // consumer with no committed position starts from), asked of their leaders in one request
  // per leader (ListOffsets, earliest), not one round trip per partition. A partition whose
  // leader did not answer within `timeout` (or answered an error) is missing from the map.
  // Blocks up to `timeout` in all. Any thread.
  [[nodiscard]] std::map<TopicPartition, Offset> LogStartOffsets(
      std::span<const TopicPartition> partitions, Millis timeout) const;

  // The brokers the cluster's metadata listed at the latest broker check (its live brokers),
  // or 0 if it did not answer within min(broker_check_interval, 4 s). Checked on a thread of
  // its own, whether or not the owner polls. nullopt before the first answer, and with the
  // check off (broker_check_interval 0).
  [[nodiscard]] std::optional<int> BrokersUp() const;
  // Asks the cluster now, on the calling thread, waiting at most `timeout`: the brokers its
  // metadata lists, 0 when none answers in time; the answer is BrokersUp's from then on.
  // The periodic check's answer may be broker_check_interval + 4 s old: `run` asks afresh
  // when its partitions are lost, to tell a Kafka outage from a member that stalled.
  // Thread-safe.
  int CheckBrokersNow(Millis timeout);

  // Partitions of the subscribed topics on the broker (metadata request; cached after the
  // first answer). 0 when the broker did not answer.
  [[nodiscard]] int SubscribedPartitionCount();
  // The same asked again now (a topic may have grown since), leaving the cached count as it
  // is; 0 when the broker did not answer within `timeout`.
  [[nodiscard]] int CurrentPartitionCount(Millis timeout);

  // Leaves the group cleanly (revokes partitions, commits nothing more).
  void Close();

  class Impl;

 private:
  explicit KafkaSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iocstream::ingest
