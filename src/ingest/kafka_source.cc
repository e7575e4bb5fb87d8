#include "iocstream/ingest/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "iocstream/ingest/kafka_client.h"

namespace iocstream::ingest {

std::map<std::string, std::string> ConsumerProperties(const KafkaSourceOptions& options) {
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},
      {"auto.offset.reset", "earliest"},
      {"fetch.min.bytes", "1"},
      // The pre-fetch queue is bounded in bytes only (fetch_queue_kbytes, part of the memory
      // budget): a count bound of librdkafka's 100k default stops fetching at ~27 MB of
      // these events, and librdkafka 2.0 resumes a stopped fetch only after about a second.
      {"queued.min.messages", "10000000"},
      {"queued.max.messages.kbytes", std::to_string(options.fetch_queue_kbytes)},
  };
  for (const auto& [k, v] : options.properties) props[k] = v;
  // The offset fetch asks for stable offsets only when reading committed records.
  if (options.stable_offsets_wait.count() > 0) props["isolation.level"] = "read_committed";
  return props;
}

class KafkaSource::Impl {
 public:
  Impl(KafkaSourceOptions options, RebalanceHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  ~Impl() {
    StopBrokerCheck();
    ReleaseBatch();
    if (rk_ != nullptr) {
      if (!closed_) rd_kafka_consumer_close(rk_);
      rd_kafka_destroy(rk_);
    }
  }

  Status Init() {
    auto rk = NewKafkaClient(RD_KAFKA_CONSUMER, ConsumerProperties(options_),
                             [this](rd_kafka_conf_t* conf) {
                               rd_kafka_conf_set_opaque(conf, this);
                               rd_kafka_conf_set_rebalance_cb(conf, &Impl::RebalanceCallback);
                             });
    if (!rk) return rk.error();
    rk_ = *rk;
    rd_kafka_poll_set_consumer(rk_);
    rd_kafka_topic_partition_list_t* topics =
        rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size()));
    for (const auto& t : options_.topics) {
      rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Error{ErrorCode::kUnavailable,
                   std::string("kafka subscribe: ") + rd_kafka_err2str(err)};
    }
    return {};
  }

  Result<std::span<const SourceRecord>> Poll() {
    ReleaseBatch();
    // Move what librdkafka has fetched into the read-ahead buffer, so that its queue stays
    // below its bound (see the header). librdkafka is polled at least once per Poll even
    // with the buffer full: its callbacks (rebalances, errors) are served in the poll.
    int timeout_ms = ahead_.empty() ? static_cast<int>(options_.poll_timeout.count()) : 0;
    for (bool first = true;
         first || ahead_bytes_ < options_.read_ahead_bytes || ahead_.size() < options_.max_batch;
         first = false) {
      // Read only when the poll may wait: a clock read per record was 1.5% of `run`'s pipeline
      // thread (perf), most polls taking a record already fetched.
      const auto poll_start = timeout_ms > 0 ? std::chrono::steady_clock::now()
                                             : std::chrono::steady_clock::time_point{};
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
      if (timeout_ms > 0) {  // waited for records, not taken those already fetched
        poll_wait_ns_ += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   std::chrono::steady_clock::now() - poll_start)
                                                   .count());
      }
      if (m == nullptr) break;
      timeout_ms = 0;  // the first record opens the batch; take what is already buffered
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const rd_kafka_resp_err_t err = m->err;
        std::string what = rd_kafka_message_errstr(m);
        rd_kafka_message_destroy(m);
        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
          return Error{ErrorCode::kUnavailable, "kafka consumer fatal error: " + what};
        }
        // The group coordinator refuses the member's session timeout at every JoinGroup: the
        // group would never assign anything, and `run` waited for it without end (a helper's
        // finding). A configuration error, not an outage to wait out.
        if (err == RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT) {
          return InvalidArgument(
              "the consumer group's coordinator refuses the consumer's session.timeout.ms (" +
              what +
              "): brokers accept group.min.session.timeout.ms to group.max.session.timeout.ms, "
              "6000 to 1800000 ms unless their configuration says otherwise");
        }
        spdlog::warn("kafka consumer: {} ({})", what, rd_kafka_err2name(err));
        continue;
      }
      ReadAhead(m);
      rd_kafka_message_destroy(m);
    }
    const size_t n = std::min(options_.max_batch, ahead_.size());
    records_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const SourceRecord& r = ahead_.front().record;
      Slot(r.topic, r.partition.value()).handed_next = r.offset.value() + 1;
      records_.push_back(r);
      ahead_.pop_front();
    }
    if (ahead_.empty()) StepOverSkippedOffsets();
    PublishHandedNext();
    return std::span<const SourceRecord>(records_);
  }

  void CommitAsync(std::span<const std::pair<TopicPartition, Offset>> next_offsets) {
    if (next_offsets.empty()) return;
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
    for (const auto& [tp, off] : next_offsets) {
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition.value())->offset =
          off.value();
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, /*async=*/1);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      spdlog::debug("kafka offset commit: {}", rd_kafka_err2str(err));
    }
  }

  std::shared_ptr<rd_kafka_consumer_group_metadata_t> GroupMetadata() const {
    return {rd_kafka_consumer_group_metadata(rk_), &rd_kafka_consumer_group_metadata_destroy};
  }

  std::vector<TopicPartition> Assignment() const {
    std::lock_guard lock(mu_);
    return {assigned_.begin(), assigned_.end()};
  }

  std::map<TopicPartition, Offset> LogStartOffsets(std::span<const TopicPartition> partitions,
                                                   Millis timeout) const {
    std::map<TopicPartition, Offset> out;
    if (rk_ == nullptr || partitions.empty()) return out;
    // offsets_for_times with the timestamp RD_KAFKA_OFFSET_BEGINNING (-2): the ListOffsets
    // request's "earliest", the one rd_kafka_query_watermark_offsets sends for the low
    // watermark, for every partition at once (that one asks for one partition per call).
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
    for (const TopicPartition& tp : partitions) {
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition.value())->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rd_kafka_offsets_for_times(rk_, list, static_cast<int>(timeout.count())) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& p = list->elems[i];
        if (p.err == RD_KAFKA_RESP_ERR_NO_ERROR && p.offset >= 0) {
          out.emplace(TopicPartition{p.topic, PartitionId(p.partition)}, Offset(p.offset));
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }

  std::vector<PartitionLag> Lag() const {
    std::vector<PartitionLag> out;
    std::vector<TopicPartition> parts = Assignment();
    if (parts.empty() || rk_ == nullptr) return out;
    for (const TopicPartition& tp : parts) {
      PartitionLag lag;
      lag.partition = tp;
      int64_t low = -1;
      int64_t high = -1;
      if (rd_kafka_get_watermark_offsets(rk_, tp.topic.c_str(), tp.partition.value(), &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        lag.high_watermark = high;
      }
      std::lock_guard lock(mu_);
      if (auto handed = handed_next_.find(tp); handed != handed_next_.end()) {
        // Handed out something since it was assigned: the record after the last one. (Not
        // librdkafka's position, which is past the records read ahead, and moves while a
        // Poll fills the buffer.)
        lag.next_offset = handed->second;
      } else {
        // Nothing handed out yet: the start offset set at assignment, or the partition's start.
        auto start = start_offsets_.find(tp);
        lag.next_offset = start != start_offsets_.end() && start->second >= 0 ? start->second : low;
      }
      out.push_back(lag);
    }
    return out;
  }

  uint64_t PollWaitNanos() const { return poll_wait_ns_; }

  std::optional<int> BrokersUp() const {
    const int up = brokers_up_.load();
    if (up < 0) return std::nullopt;
    return up;
  }

  // Asks the cluster for its metadata (rd_kafka_metadata: thread-safe, on the consumer's
  // connections), records the answer for BrokersUp and returns it: the brokers listed, 0 when
  // none answers within `timeout`.
  int CheckBrokersNow(Millis timeout) {
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk_, 0, nullptr, &md, static_cast<int>(timeout.count()));
    int up = 0;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      up = md->broker_cnt;
      rd_kafka_metadata_destroy(md);
    }
    const int before = brokers_up_.exchange(up);
    if (up == 0 && before != 0) {
      spdlog::warn("kafka: the cluster does not answer (bootstrap {}): {}",
                   options_.bootstrap_servers, rd_kafka_err2str(err));
    } else if (up > 0 && before == 0) {
      spdlog::info("kafka: the cluster answers again ({} broker(s))", up);
    }
    return up;
  }

  // KafkaSourceOptions::broker_check_interval: a thread of its own asks the cluster for its
  // metadata, so that the answer does not wait for the owner's next Poll: `run`'s pipeline
  // thread can be held up for a minute by a state commit that waits for the broker (a helper
  // saw librdkafka's statistics, delivered in Poll, report an outage only after it ended).
  void StartBrokerCheck() {
    if (options_.broker_check_interval.count() <= 0) return;
    broker_check_ = std::thread([this] {
      const Millis interval = options_.broker_check_interval;
      const Millis timeout = std::min<Millis>(interval, Millis(4000));
      std::unique_lock lock(broker_check_mu_);
      while (!broker_check_stop_) {
        lock.unlock();
        CheckBrokersNow(timeout);
        lock.lock();
        broker_check_cv_.wait_for(lock, interval, [this] { return broker_check_stop_; });
      }
    });
  }

  void StopBrokerCheck() {
    {
      std::lock_guard lock(broker_check_mu_);
      broker_check_stop_ = true;
    }
    broker_check_cv_.notify_all();
    if (broker_check_.joinable()) broker_check_.join();
  }

  int SubscribedPartitionCount() {
    if (partition_count_ > 0) return partition_count_;
    partition_count_ = CurrentPartitionCount(Millis(5000));
    return partition_count_;
  }

  int CurrentPartitionCount(Millis timeout) {
    int total = 0;
    for (const auto& topic : options_.topics) {
      const Result<int> count = TopicPartitionCount(rk_, topic, timeout);
      if (!count) return 0;
      total += *count;
    }
    return total;
  }

  void Close() {
    if (closed_ || rk_ == nullptr) return;
    StopBrokerCheck();
    ReleaseBatch();
    rd_kafka_consumer_close(rk_);
    closed_ = true;
  }

 private:
  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(rk, err, partitions);
  }

  // KafkaSourceOptions::stable_offsets_wait.
  void AwaitStableOffsets(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* partitions) {
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + options_.stable_offsets_wait;
    bool said = false;
    while (true) {
      rd_kafka_topic_partition_list_t* committed = rd_kafka_topic_partition_list_copy(partitions);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      // librdkafka retries unstable offsets within the call: short calls, so that the wait is
      // logged within a second (a helper saw the line 5 s late).
      const rd_kafka_resp_err_t err = rd_kafka_committed(
          rk, committed, static_cast<int>(std::clamp<int64_t>(left.count(), 100, 1000)));
      bool unstable = err == RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT;
      for (int i = 0; i < committed->cnt; ++i) {
        unstable |= committed->elems[i].err == RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT;
      }
      rd_kafka_topic_partition_list_destroy(committed);
      if (!unstable && err != RD_KAFKA_RESP_ERR__TIMED_OUT) {
        if (said) {
          spdlog::info(
              "kafka: the previous owner's transaction ended after {:.1f} s",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        }
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        spdlog::warn(
            "kafka: a transaction committing offsets of the assigned partitions did not end "
            "within {} ms ({}); going on",
            options_.stable_offsets_wait.count(), rd_kafka_err2str(err));
        return;
      }
      if (!said) {
        said = true;
        spdlog::info(
            "kafka: a transaction of the partitions' previous owner is in flight (its offsets "
            "are not stable yet): waiting for it to end (at most {} ms)",
            options_.stable_offsets_wait.count());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                   rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    std::vector<TopicPartition> tps;
    for (int i = 0; i < partitions->cnt; ++i) {
      tps.push_back(
          TopicPartition{partitions->elems[i].topic, PartitionId(partitions->elems[i].partition)});
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (options_.stable_offsets_wait.count() > 0) AwaitStableOffsets(rk, partitions);
      for (int i = 0; i < partitions->cnt; ++i) {
        std::optional<Offset> stored;
        if (handler_.stored_offset) stored = handler_.stored_offset(tps[static_cast<size_t>(i)]);
        // Resume where the state store says, never from the group's committed offset.
        partitions->elems[i].offset = stored ? stored->value() : RD_KAFKA_OFFSET_BEGINNING;
        PartitionSlot& slot =
            Slot(tps[static_cast<size_t>(i)].topic, partitions->elems[i].partition);
        slot.floor = stored ? stored->value() : -1;
        slot.handed_next = -1;
        std::lock_guard lock(mu_);
        start_offsets_[tps[static_cast<size_t>(i)]] = partitions->elems[i].offset;
      }
      rd_kafka_error_t* error = nullptr;
      if (cooperative) {
        error = rd_kafka_incremental_assign(rk, partitions);
      } else {
        const rd_kafka_resp_err_t e = rd_kafka_assign(rk, partitions);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
          spdlog::error("kafka assign: {}", rd_kafka_err2str(e));
        }
      }
      if (error != nullptr) {
        spdlog::error("kafka assign: {}", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
      }
      {
        std::lock_guard lock(mu_);
        if (!cooperative) assigned_.clear();
        assigned_.insert(tps.begin(), tps.end());
      }
      for (const TopicPartition& tp : tps) {
        Slot(tp.topic, tp.partition.value()).position_at_assignment = -1;
      }
      for (const auto& [tp, position] : Positions(tps)) {
        Slot(tp.topic, tp.partition.value()).position_at_assignment = position;
      }
      spdlog::info("kafka: assigned {} partition(s)", tps.size());
      if (handler_.assigned) handler_.assigned(tps);
    } else {
      const bool lost = rd_kafka_assignment_lost(rk) != 0;
      if (lost) {
        spdlog::warn(
            "kafka: {} partition(s) lost (this member's session expired): changes not yet "
            "committed for them are dropped",
            tps.size());
      }
      if (handler_.revoked) handler_.revoked(tps, lost);
      // Read ahead, not applied: the partitions' next owner consumes them from the store's
      // offset (this instance too, if they come back: librdkafka starts them there again).
      const std::set<TopicPartition> revoked(tps.begin(), tps.end());
      std::erase_if(ahead_, [&](const AheadRecord& a) {
        return revoked.count(TopicPartition{std::string(a.record.topic), a.record.partition}) > 0;
      });
      for (const auto& tp : tps) Slot(tp.topic, tp.partition.value()).handed_next = -1;
      PublishHandedNext();
      {
        std::lock_guard lock(mu_);
        for (const auto& tp : tps) assigned_.erase(tp);
      }
      if (cooperative) {
        rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk, partitions);
        if (error != nullptr) rd_kafka_error_destroy(error);
      } else {
        rd_kafka_assign(rk, nullptr);
      }
      spdlog::info("kafka: revoked {} partition(s)", tps.size());
    }
  }

  // What Poll keeps per partition: the offset it is expected to go on from (-1: any), to tell
  // a reset of its position, and the next offset it hands out (for Lag). Poll and the
  // rebalance callbacks run on the polling thread. Called for every record: the topic's
  // entry is looked up only when the topic changes.
  struct PartitionSlot {
    int64_t floor = -1;
    int64_t handed_next = -1;  // after the last record handed out since assignment (-1: none)
    int64_t position_at_assignment = -1;  // librdkafka's then (StepOverSkippedOffsets)
  };
  PartitionSlot& Slot(std::string_view topic, int32_t partition) {
    if (last_slots_ == nullptr || topic != last_topic_) {
      auto it = slots_.find(topic);
      if (it == slots_.end()) {
        it = slots_.emplace(std::string(topic), std::vector<PartitionSlot>()).first;
      }
      last_topic_ = it->first;  // map nodes stay put: the view and pointer hold
      last_slots_ = &it->second;
    }
    std::vector<PartitionSlot>& by_partition = *last_slots_;
    const auto p = static_cast<size_t>(std::max(partition, 0));
    if (by_partition.size() <= p) by_partition.resize(p + 1);
    return by_partition[p];
  }

  // Copies a record's key and payload into the read-ahead blocks (`m` may be destroyed
  // then); its topic is the name held by slots_.
  void ReadAhead(const rd_kafka_message_t* m) {
    const size_t need = m->key_len + m->len;
    if (blocks_.empty() || blocks_.back().capacity - blocks_.back().used < need) {
      Block block;
      if (!spare_.empty() && spare_.back().capacity >= need) {
        block = std::move(spare_.back());
        spare_.pop_back();
      } else {
        block.capacity = std::max(kBlockBytes, need);
        block.data = std::make_unique<char[]>(block.capacity);
      }
      block.used = 0;
      ahead_bytes_ += block.capacity;
      blocks_.push_back(std::move(block));
    }
    Block& block = blocks_.back();
    char* const key = block.data.get() + block.used;
    if (m->key_len > 0) std::memcpy(key, m->key, m->key_len);
    char* const payload = key + m->key_len;
    if (m->len > 0) std::memcpy(payload, m->payload, m->len);
    block.used += need;
    block.last_seq = next_seq_;

    SourceRecord r;
    PartitionSlot& slot = Slot(rd_kafka_topic_name(m->rkt), m->partition);
    r.topic = last_topic_;
    r.partition = PartitionId(m->partition);
    r.offset = Offset(m->offset);
    rd_kafka_timestamp_type_t ts_type;
    const int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
    r.timestamp = FromEpochMillis(ts < 0 ? 0 : ts);
    r.key = m->key == nullptr ? std::string_view() : std::string_view(key, m->key_len);
    r.keyed = true;
    r.payload = m->payload == nullptr ? std::string_view() : std::string_view(payload, m->len);
    // librdkafka reads each partition forward from the offset set at assignment; a record
    // behind it means it reset the position itself (auto.offset.reset: the log no longer
    // reached it).
    if (slot.floor >= 0 && m->offset < slot.floor) r.position_reset = true;
    slot.floor = m->offset + 1;
    ahead_.push_back(AheadRecord{r, next_seq_++});
  }

  // The records handed out by the last Poll are done with: their blocks are freed (a couple
  // kept for reuse) once no record in them is read ahead either.
  void ReleaseBatch() {
    records_.clear();
    const uint64_t live = ahead_.empty() ? next_seq_ : ahead_.front().seq;
    while (!blocks_.empty() && blocks_.front().last_seq < live) {
      ahead_bytes_ -= blocks_.front().capacity;
      if (spare_.size() < kSpareBlocks && blocks_.front().capacity == kBlockBytes) {
        spare_.push_back(std::move(blocks_.front()));
      }
      blocks_.pop_front();
    }
  }

  // With nothing read ahead, every record librdkafka returned has been handed out, so its
  // position (which steps over the offsets it never returns: transaction markers, records of
  // aborted transactions) is where each partition goes on. A partition whose last offset is a
  // commit marker otherwise kept a lag of 1 for good, and "caught up" never came (a helper's
  // finding). Not while records wait: librdkafka's position is then past them.
  void StepOverSkippedOffsets() {
    for (const auto& [tp, position] : Positions(Assignment())) {
      PartitionSlot& slot = Slot(tp.topic, tp.partition.value());
      // Also with nothing handed out since assignment: librdkafka has a position only once it
      // returned or stepped over something from the offset it was assigned at, unless it kept
      // the one of an earlier assignment (librdkafka#1767): that one is not trusted.
      if (slot.handed_next < 0 && position == slot.position_at_assignment) continue;
      if (position > slot.handed_next) slot.handed_next = position;
    }
  }

  // librdkafka's position of each of `parts` that has one (>= 0).
  std::vector<std::pair<TopicPartition, int64_t>> Positions(
      const std::vector<TopicPartition>& parts) const {
    std::vector<std::pair<TopicPartition, int64_t>> out;
    if (parts.empty()) return out;
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
    for (const TopicPartition& tp : parts) {
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition.value());
    }
    if (rd_kafka_position(rk_, list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& p = list->elems[i];
        if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR || p.offset < 0) continue;
        out.emplace_back(TopicPartition{p.topic, PartitionId(p.partition)}, p.offset);
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }

  // The next offset to hand out per partition, for Lag() on other threads: published once
  // per Poll (and rebalance), so a Lag() never sees a buffer half filled.
  void PublishHandedNext() {
    std::lock_guard lock(mu_);
    handed_next_.clear();
    for (const auto& [topic, by_partition] : slots_) {
      for (size_t p = 0; p < by_partition.size(); ++p) {
        if (by_partition[p].handed_next >= 0) {
          handed_next_[TopicPartition{topic, PartitionId(static_cast<int32_t>(p))}] =
              by_partition[p].handed_next;
        }
      }
    }
  }

  static constexpr size_t kBlockBytes = size_t{1} << 20;
  static constexpr size_t kSpareBlocks = 2;
  struct Block {
    std::unique_ptr<char[]> data;
    size_t capacity = 0;
    size_t used = 0;
    uint64_t last_seq = 0;  // of the last record copied into it
  };
  struct AheadRecord {
    SourceRecord record;  // key and payload in blocks_, topic in slots_
    uint64_t seq;
  };

  KafkaSourceOptions options_;
  RebalanceHandler handler_;
  rd_kafka_t* rk_ = nullptr;
  bool closed_ = false;
  int partition_count_ = 0;
  std::vector<SourceRecord> records_;  // the batch handed out by the last Poll
  uint64_t poll_wait_ns_ = 0;          // see KafkaSource::PollWaitNanos
  std::deque<AheadRecord> ahead_;      // read ahead, in the order librdkafka gave them
  std::deque<Block> blocks_;           // their keys and payloads (and the batch's)
  std::vector<Block> spare_;
  size_t ahead_bytes_ = 0;  // capacity of blocks_
  uint64_t next_seq_ = 0;
  mutable std::mutex mu_;
  // The broker check's latest answer (-1: none yet), its thread and its stop.
  std::atomic<int> brokers_up_{-1};
  std::thread broker_check_;
  std::mutex broker_check_mu_;
  std::condition_variable broker_check_cv_;
  bool broker_check_stop_ = false;
  std::set<TopicPartition> assigned_;
  std::map<TopicPartition, int64_t> start_offsets_;  // offset set at assignment (may be < 0)
  std::map<TopicPartition, int64_t> handed_next_;    // PublishHandedNext's copy, for Lag()
  std::map<std::string, std::vector<PartitionSlot>, std::less<>> slots_;  // see Slot
  std::string_view last_topic_;  // the entry Slot found last
  std::vector<PartitionSlot>* last_slots_ = nullptr;
};

Result<std::unique_ptr<KafkaSource>> KafkaSource::Open(KafkaSourceOptions options,
                                                       RebalanceHandler handler) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  if (Status s = impl->Init(); !s) return s.error();
  impl->StartBrokerCheck();
  return std::unique_ptr<KafkaSource>(new KafkaSource(std::move(impl)));
}

KafkaSource::KafkaSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSource::~KafkaSource() = default;
Result<std::span<const SourceRecord>> KafkaSource::Poll() { return impl_->Poll(); }
uint64_t KafkaSource::PollWaitNanos() const { return impl_->PollWaitNanos(); }
void KafkaSource::CommitAsync(std::span<const std::pair<TopicPartition, Offset>> next_offsets) {
  impl_->CommitAsync(next_offsets);
}
std::vector<TopicPartition> KafkaSource::Assignment() const { return impl_->Assignment(); }
ConsumerGroupMetadata KafkaSource::GroupMetadata() const { return impl_->GroupMetadata(); }
std::vector<PartitionLag> KafkaSource::Lag() const { return impl_->Lag(); }

std::optional<int> KafkaSource::BrokersUp() const { return impl_->BrokersUp(); }
int KafkaSource::CheckBrokersNow(Millis timeout) { return impl_->CheckBrokersNow(timeout); }

std::map<TopicPartition, Offset> KafkaSource::LogStartOffsets(
    std::span<const TopicPartition> partitions, Millis timeout) const {
  return impl_->LogStartOffsets(partitions, timeout);
}
int KafkaSource::SubscribedPartitionCount() { return impl_->SubscribedPartitionCount(); }
int KafkaSource::CurrentPartitionCount(Millis timeout) {
  return impl_->CurrentPartitionCount(timeout);
}
void KafkaSource::Close() { impl_->Close(); }

}  // namespace iocstream::ingest
