#include "iocstream/ingest/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>

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
  return props;
}

class KafkaSource::Impl {
 public:
  Impl(KafkaSourceOptions options, RebalanceHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  ~Impl() {
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
    revoked_during_poll_.clear();
    int timeout_ms = static_cast<int>(options_.poll_timeout.count());
    while (records_.size() < options_.max_batch) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
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
        spdlog::warn("kafka consumer: {} ({})", what, rd_kafka_err2name(err));
        continue;
      }
      messages_.push_back(m);
      SourceRecord r;
      r.topic = rd_kafka_topic_name(m->rkt);
      r.partition = PartitionId(m->partition);
      r.offset = Offset(m->offset);
      rd_kafka_timestamp_type_t ts_type;
      const int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
      r.timestamp = FromEpochMillis(ts < 0 ? 0 : ts);
      r.key = m->key == nullptr ? std::string_view()
                                : std::string_view(static_cast<const char*>(m->key), m->key_len);
      r.payload = m->payload == nullptr
                      ? std::string_view()
                      : std::string_view(static_cast<const char*>(m->payload), m->len);
      // librdkafka reads each partition forward from the offset set at assignment; a record
      // behind it means it reset the position itself (auto.offset.reset: the log no longer
      // reached it).
      int64_t& floor = Floor(r.topic, m->partition);
      if (floor >= 0 && m->offset < floor) r.position_reset = true;
      floor = m->offset + 1;
      records_.push_back(r);
    }
    if (!revoked_during_poll_.empty()) {
      // Records of partitions revoked while this batch was built are not ours to apply.
      std::erase_if(records_, [&](const SourceRecord& r) {
        return revoked_during_poll_.count(TopicPartition{std::string(r.topic), r.partition}) > 0;
      });
    }
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

  std::vector<TopicPartition> Assignment() const {
    std::lock_guard lock(mu_);
    return {assigned_.begin(), assigned_.end()};
  }

  std::vector<PartitionLag> Lag() const {
    std::vector<PartitionLag> out;
    std::vector<TopicPartition> parts = Assignment();
    if (parts.empty() || rk_ == nullptr) return out;
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
    for (const auto& tp : parts) {
      rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition.value());
    }
    rd_kafka_position(rk_, list);
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      PartitionLag lag;
      lag.partition = TopicPartition{e.topic, PartitionId(e.partition)};
      int64_t low = -1;
      int64_t high = -1;
      if (rd_kafka_get_watermark_offsets(rk_, e.topic, e.partition, &low, &high) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        lag.high_watermark = high;
      }
      if (e.offset >= 0) {
        lag.next_offset = e.offset;  // consumed something in this session
      } else {
        // Nothing consumed yet: the start offset set at assignment, or the partition's start.
        std::lock_guard lock(mu_);
        auto start = start_offsets_.find(lag.partition);
        lag.next_offset = start != start_offsets_.end() && start->second >= 0 ? start->second : low;
      }
      out.push_back(lag);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return out;
  }

  int SubscribedPartitionCount() {
    if (partition_count_ > 0) return partition_count_;
    int total = 0;
    for (const auto& topic : options_.topics) {
      rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
      const rd_kafka_metadata_t* md = nullptr;
      const rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, t, &md, 5000);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
          md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        total += md->topics[0].partition_cnt;
      } else {
        total = -1;
      }
      if (md != nullptr) rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(t);
      if (total < 0) return 0;
    }
    partition_count_ = total;
    return partition_count_;
  }

  void Close() {
    if (closed_ || rk_ == nullptr) return;
    ReleaseBatch();
    rd_kafka_consumer_close(rk_);
    closed_ = true;
  }

 private:
  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(rk, err, partitions);
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
      for (int i = 0; i < partitions->cnt; ++i) {
        std::optional<Offset> stored;
        if (handler_.stored_offset) stored = handler_.stored_offset(tps[static_cast<size_t>(i)]);
        // Resume where the state store says, never from the group's committed offset.
        partitions->elems[i].offset = stored ? stored->value() : RD_KAFKA_OFFSET_BEGINNING;
        Floor(tps[static_cast<size_t>(i)].topic, partitions->elems[i].partition) =
            stored ? stored->value() : -1;
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
      for (const auto& tp : tps) revoked_during_poll_.erase(tp);
      spdlog::info("kafka: assigned {} partition(s)", tps.size());
      if (handler_.assigned) handler_.assigned(tps);
    } else {
      if (handler_.revoked) handler_.revoked(tps);
      revoked_during_poll_.insert(tps.begin(), tps.end());
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

  // The offset each assigned partition is expected to go on from (-1: any), for Poll to tell a
  // reset of its position. Poll and the rebalance callbacks run on the polling thread.
  // Called for every record: the topic's entry is looked up only when the topic changes.
  int64_t& Floor(std::string_view topic, int32_t partition) {
    if (last_floors_ == nullptr || topic != last_topic_) {
      auto it = floors_.find(topic);
      if (it == floors_.end()) {
        it = floors_.emplace(std::string(topic), std::vector<int64_t>()).first;
      }
      last_topic_ = it->first;  // map nodes stay put: the view and pointer hold
      last_floors_ = &it->second;
    }
    std::vector<int64_t>& by_partition = *last_floors_;
    const auto p = static_cast<size_t>(std::max(partition, 0));
    if (by_partition.size() <= p) by_partition.resize(p + 1, -1);
    return by_partition[p];
  }

  void ReleaseBatch() {
    records_.clear();
    for (rd_kafka_message_t* m : messages_) rd_kafka_message_destroy(m);
    messages_.clear();
  }

  KafkaSourceOptions options_;
  RebalanceHandler handler_;
  rd_kafka_t* rk_ = nullptr;
  bool closed_ = false;
  int partition_count_ = 0;
  std::vector<rd_kafka_message_t*> messages_;
  std::vector<SourceRecord> records_;
  std::set<TopicPartition> revoked_during_poll_;
  mutable std::mutex mu_;
  std::set<TopicPartition> assigned_;
  std::map<TopicPartition, int64_t> start_offsets_;  // offset set at assignment (may be < 0)
  std::map<std::string, std::vector<int64_t>, std::less<>> floors_;  // see Floor
  std::string_view last_topic_;                                      // the entry Floor found last
  std::vector<int64_t>* last_floors_ = nullptr;
};

Result<std::unique_ptr<KafkaSource>> KafkaSource::Open(KafkaSourceOptions options,
                                                       RebalanceHandler handler) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  if (Status s = impl->Init(); !s) return s.error();
  return std::unique_ptr<KafkaSource>(new KafkaSource(std::move(impl)));
}

KafkaSource::KafkaSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSource::~KafkaSource() = default;
Result<std::span<const SourceRecord>> KafkaSource::Poll() { return impl_->Poll(); }
void KafkaSource::CommitAsync(std::span<const std::pair<TopicPartition, Offset>> next_offsets) {
  impl_->CommitAsync(next_offsets);
}
std::vector<TopicPartition> KafkaSource::Assignment() const { return impl_->Assignment(); }
std::vector<PartitionLag> KafkaSource::Lag() const { return impl_->Lag(); }
int KafkaSource::SubscribedPartitionCount() { return impl_->SubscribedPartitionCount(); }
void KafkaSource::Close() { impl_->Close(); }

}  // namespace iocstream::ingest
