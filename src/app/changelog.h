// StateChangelog: a compacted Kafka topic that holds a copy of every partition's dossier
// states, so that a partition's state moves with it to another instance of the consumer group
// (DESIGN.md "Scale-out"). `run` uses one when `kafka.changelog_topic` is set.
//
// Topic: cleanup.policy=compact, as many partitions as the events topic; changelog partition p
// holds the dossiers of events partition p. Records (keys are bytes, not text):
//   key "d" + dossier id  value: fixed64 writer (little-endian), then the dossier's stored
//                         value (state::DecodeDossierValue)
//   key "m"               value: the partition's marker (ChangelogMarker::Encode)
// The writer is the id of the state store that wrote the record (one per state directory,
// StateStore::GetChangelogWriter), so that a restarted process knows its own records.
// Compaction keeps each dossier's newest state and the newest marker. Dossiers are never
// deleted, so the topic holds every dossier of the partition.
//
// Writes (Pipeline::Commit, on the state-writer thread): once a commit is in the state store
// (which records its markers), its changed dossiers and then, per partition it changed, the
// partition's marker are written to the changelog in one Kafka transaction, and the writer
// waits until the broker committed it. So the changelog is never ahead of the store that
// writes it: a commit whose alerts are in no store is not in the
// changelog either (if it were, a restore would hold the commit's dossiers, the events consumed
// again would be duplicates that raise nothing, and the alerts would be lost). After a crash
// between the two, the changelog is behind by that commit.
//
// Fencing (the transaction, KIP-98 and KIP-447): a process that stalls (stopped, frozen,
// swapped out) may lose its partitions to another member, wake up and send what it had queued
// after the new owner's records. So each commit's transaction also commits the commit's events
// offsets to the consumer group, with the group generation the pipeline consumed them in
// (captured when the commit was built, GroupMetadata): once the group moved on, the group
// coordinator refuses those offsets, the transaction is aborted, and readers (read_committed)
// never see its records; the log cleaner drops them too. The transactional id is fixed per
// state directory ("<topic>.<writer>"), so a restarted process aborts whatever its previous
// incarnation left open. A ticker thread also watches for a stall longer than the session
// timeout and refuses every later write (stalled()): the run stops and a restart syncs.
//
// Sync (Pipeline::SyncWithChangelog, when the group assigns a partition):
// - the store's marker equals the changelog's last record: the store is current;
// - the last record was written by this store (a restart after a crash between a commit and
//   its changelog write, or in the middle of one): the store is ahead, and its state of the
//   partition is written to the changelog whole ("seeded");
// - the changelog is empty, or its last marker's offset is before the store's (a topic
//   created again): seeded likewise;
// - otherwise another instance moved the partition on: every record is read from the
//   changelog's start to its end, each dossier set as the store's state (its timers and
//   aggregate counts follow), and the offset and watermark taken from the last marker
//   ("restored"). Dossiers written after that marker (a writer killed between a commit's
//   dossiers and its marker) are set too: the events from the marker's offset on are then
//   consumed again, and a dossier that already holds one of them recognizes it as a duplicate
//   (its applied event ids), so the state ends the same. Their alerts are in the outbox of the
//   store that committed them, sent when it runs again.
//
// Thread-safety: Write is called by one thread at a time; CaptureGroup on the thread that polls
// the consumer; Last and ReadAll create a consumer
// of their own per call and may run on any thread. Errors: kUnavailable when the broker does
// not answer or refuses a record (the commit then fails: the Pipeline stops, nothing is
// lost), kCorruption for records that are not of this layout.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "iocstream/core/result.h"
#include "iocstream/core/types.h"
#include "iocstream/ingest/transactional_topic.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

// Where a partition's changelog stands after a commit: the events partition's next offset and
// watermark then, and which commit of which writer wrote it (so that two markers are equal only
// when they are the same record).
struct ChangelogMarker {
  std::optional<Offset> next_offset;
  std::optional<Instant> watermark;  // UTC, ms
  uint64_t writer = 0;               // random per process
  uint64_t sequence = 0;             // the writer's commit count

  // u8 version (1), fixed64 next offset (-1: none), u8 has watermark, fixed64 watermark epoch
  // ms, fixed64 writer, fixed64 sequence; integers little-endian.
  [[nodiscard]] std::string Encode() const;
  // nullopt when `bytes` is not a marker of this layout.
  [[nodiscard]] static std::optional<ChangelogMarker> Decode(std::string_view bytes);
};

inline constexpr std::string_view kChangelogMarkerKey = "m";
inline constexpr char kChangelogDossierKeyTag = 'd';

// The consumer group generation a commit's events were consumed in; null: no group (no
// fencing by the group coordinator).
using GroupMetadata = ingest::ConsumerGroupMetadata;

struct ChangelogOptions {
  std::string bootstrap_servers = "127.0.0.1:19092";
  std::string topic;
  // The events topic: the markers' next offsets are its partitions' offsets, committed to the
  // group with each transaction (fencing); empty: none committed.
  std::string source_topic;
  uint64_t writer = 0;  // the state store's id (StateStore::GetChangelogWriter)
  std::map<std::string, std::string> producer;  // librdkafka properties, passed through
  std::map<std::string, std::string> consumer;  // librdkafka properties, passed through
  Millis timeout{60000};  // for one commit's transaction, and a read's silence
  // transaction.timeout.ms: the broker aborts a transaction left open longer (a writer that
  // died in the middle); a restore reads past it only then.
  Millis transaction_timeout{60000};
  // The group's session timeout (session.timeout.ms). A process stalled longer than this
  // (stopped, frozen, swapped out: its heartbeats stopped too) may have lost its partitions to
  // another member, which may have restored them already; what it wrote after waking, before
  // it heard of the loss, would put older states after the new owner's. So a ticker thread
  // watches for such a stall, and once it saw one every later Write is refused (the Pipeline
  // stops; a restart rejoins the group and syncs). 0: no watch.
  Millis stall_limit{0};
};

class StateChangelog {
 public:
  [[nodiscard]] static Result<std::unique_ptr<StateChangelog>> Open(ChangelogOptions options);
  ~StateChangelog();
  StateChangelog(const StateChangelog&) = delete;
  StateChangelog& operator=(const StateChangelog&) = delete;

  // Sets where CaptureGroup takes the group's metadata from (KafkaSource::GroupMetadata).
  // Call before the first CaptureGroup.
  void SetGroup(std::function<GroupMetadata()> group) { group_ = std::move(group); }
  // The group's metadata now (null without SetGroup): take it when a commit is built, on the
  // thread that consumed its events.
  [[nodiscard]] GroupMetadata CaptureGroup() const { return group_ ? group_() : nullptr; }

  // Writes one commit in one transaction: every dossier of `dossiers`, each to its partition,
  // then the markers (partition, ChangelogMarker bytes), with the markers' next offsets
  // committed to `group` (when not null and options.source_topic is set), and waits until the
  // broker committed it. Errors (kUnavailable; the transaction is aborted, nothing of it is
  // visible): the broker's (a refused record, the group's generation moved on: "fenced"), a
  // timeout, and with `check_stall` a stall longer than stall_limit, checked before, while
  // records are queued and before the commit.
  [[nodiscard]] Status Write(const state::EncodedDossiers& dossiers,
                             std::span<const std::pair<PartitionId, std::string>> markers,
                             const GroupMetadata& group, bool check_stall = true);

  // True once the ticker saw a stall longer than stall_limit: every later Write is refused,
  // and `run` stops.
  [[nodiscard]] bool stalled() const { return stall_ns_.load() != 0; }

  using Record = ingest::TransactionalTopic::Record;
  // The last record of `partition` (committed; transaction markers are not records); nullopt
  // when the partition holds none.
  [[nodiscard]] Result<std::optional<Record>> Last(PartitionId partition);
  // Reads `partition` from its start to its end as of the call, in order. A visit error stops
  // the read and is returned.
  using Visit = ingest::TransactionalTopic::Visit;
  [[nodiscard]] Status ReadAll(PartitionId partition, const Visit& visit);

  // The writer of a record (its marker's, or the dossier value's prefix); nullopt if it has
  // neither layout.
  [[nodiscard]] static std::optional<uint64_t> WriterOf(const Record& record);
  // A dossier record's stored value (without the writer); nullopt if too short.
  [[nodiscard]] static std::optional<std::string_view> DossierValue(std::string_view value);

  // Records acknowledged by the broker since Open.
  [[nodiscard]] uint64_t written() const { return topic_->delivered(); }
  // The writer id of this store (ChangelogOptions::writer).
  [[nodiscard]] uint64_t writer_id() const { return options_.writer; }
  [[nodiscard]] const std::string& topic() const { return options_.topic; }

 private:
  explicit StateChangelog(ChangelogOptions options);
  [[nodiscard]] Status CheckStall();
  void Tick();

  ChangelogOptions options_;
  std::unique_ptr<ingest::TransactionalTopic> topic_;
  std::function<GroupMetadata()> group_;
  // Steady-clock nanoseconds of the ticker's last tick, and of the first stall it saw (0: none).
  std::atomic<int64_t> tick_ns_{std::chrono::steady_clock::now().time_since_epoch().count()};
  std::atomic<int64_t> stall_ns_{0};
  std::atomic<bool> stop_ticker_{false};
  std::thread ticker_;
  std::string key_;                                      // reused
  std::string value_;                                    // reused
  std::vector<std::pair<PartitionId, Offset>> offsets_;  // reused
};

// Whether an existing changelog topic (`topic`, with `partitions` and its `config` as the
// brokers describe it) can keep the state of `events_topic`'s `events_partitions`
// partitions: one changelog partition per events partition at least, and records kept until
// a newer one of their key replaces them (cleanup.policy compact; compact,delete only with
// retention.ms and retention.bytes -1). A topic that deletes old records drops the dossiers
// no event changed for its retention time, and a partition restored from it lacks them
// without a word. Errors (kInvalidArgument) name the setting and how to change it. Pure.
[[nodiscard]] Status CheckChangelogTopic(const std::string& topic, int partitions,
                                         const std::map<std::string, std::string>& config,
                                         int events_partitions, const std::string& events_topic);

}  // namespace iocstream::app
