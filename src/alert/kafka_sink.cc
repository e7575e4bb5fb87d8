#include "iocstream/alert/kafka_sink.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "iocstream/ingest/kafka_client.h"

namespace iocstream::alert {
namespace {

// Per-message delivery slot for PublishAll (opaque pointer of the message).
struct DeliverySlot {
  std::atomic<int> state{0};                           // 0 pending, 1 delivered, 2 failed
  std::atomic<int> error{RD_KAFKA_RESP_ERR_NO_ERROR};  // why it failed
};

// A message the producer or the broker refuses for its size: kInvalidArgument (the message,
// not the broker, has to change); other failures kUnavailable.
Error ProduceError(rd_kafka_resp_err_t err, std::string message) {
  return Error{err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? ErrorCode::kInvalidArgument
                                                           : ErrorCode::kUnavailable,
               std::move(message)};
}

}  // namespace

std::map<std::string, std::string> SinkProperties(const KafkaSinkOptions& options) {
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"enable.idempotence", "true"},
      {"linger.ms", "5"},
      {"compression.codec", "lz4"},
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "500000"},
  };
  for (const auto& [k, v] : options.properties) props[k] = v;
  return props;
}

class KafkaSink::Impl {
 public:
  explicit Impl(KafkaSinkOptions options) : options_(std::move(options)) {}
  ~Impl() {
    if (rk_ != nullptr) {
      rd_kafka_flush(rk_, 10000);
      rd_kafka_destroy(rk_);
    }
  }

  Status Init() {
    auto rk = ingest::NewKafkaClient(RD_KAFKA_PRODUCER, SinkProperties(options_),
                                     [this](rd_kafka_conf_t* conf) {
                                       rd_kafka_conf_set_opaque(conf, this);
                                       rd_kafka_conf_set_dr_msg_cb(conf, &Impl::DeliveryCallback);
                                     });
    if (!rk) return rk.error();
    rk_ = *rk;
    return {};
  }

  Status EnsureTopics(std::span<const TopicSpec> topics, Millis timeout) {
    if (topics.empty()) return {};
    std::vector<rd_kafka_NewTopic_t*> new_topics;
    char errstr[512];
    for (const auto& t : topics) {
      rd_kafka_NewTopic_t* nt =
          rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, 1, errstr, sizeof errstr);
      if (nt == nullptr) {
        for (auto* p : new_topics) rd_kafka_NewTopic_destroy(p);
        return InvalidArgument("topic " + t.name + ": " + errstr);
      }
      for (const auto& [k, v] : t.config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
      new_topics.push_back(nt);
    }
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
    rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, static_cast<int>(timeout.count()), errstr,
                                                sizeof errstr);
    rd_kafka_CreateTopics(rk_, new_topics.data(), new_topics.size(), opts, queue);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 2000);
    Status status;
    if (ev == nullptr) {
      status = Error{ErrorCode::kUnavailable, "create topics: no answer from the brokers at " +
                                                  options_.bootstrap_servers +
                                                  " (kafka.bootstrap_servers) within " +
                                                  std::to_string((timeout.count() + 2000) / 1000) +
                                                  " s: is the cluster up and reachable?"};
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = Error{ErrorCode::kUnavailable,
                     std::string("create topics: ") + rd_kafka_event_error_string(ev)};
    } else {
      const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
      size_t n = 0;
      const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
      for (size_t i = 0; i < n; ++i) {
        const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          status = Error{ErrorCode::kUnavailable, std::string("create topic ") +
                                                      rd_kafka_topic_result_name(results[i]) +
                                                      ": " + rd_kafka_err2str(err)};
          break;
        }
      }
    }
    if (ev != nullptr) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(queue);
    for (auto* p : new_topics) rd_kafka_NewTopic_destroy(p);
    return status;
  }

  Result<TopicSpec> DescribeTopic(const std::string& name, Millis timeout) {
    const int ms = static_cast<int>(timeout.count());
    const Result<int> partitions = ingest::TopicPartitionCount(rk_, name, timeout);
    if (!partitions) return partitions.error();
    TopicSpec out{name, *partitions, {}};
    char errstr[512];
    rd_kafka_ConfigResource_t* resource =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
    rd_kafka_AdminOptions_t* opts =
        rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opts, ms, errstr, sizeof errstr);
    rd_kafka_DescribeConfigs(rk_, &resource, 1, opts, queue);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, ms + 2000);
    std::optional<Error> failed;
    if (ev == nullptr) {
      failed = Error{ErrorCode::kUnavailable, "describe topic " + name +
                                                  ": no answer from the brokers within " +
                                                  std::to_string((ms + 2000) / 1000) + " s"};
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failed = Error{ErrorCode::kUnavailable,
                     "describe topic " + name + ": " + rd_kafka_event_error_string(ev)};
    } else {
      size_t n = 0;
      const rd_kafka_ConfigResource_t** resources =
          rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
      for (size_t i = 0; i < n && !failed; ++i) {
        if (const rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(resources[i]);
            err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* why = rd_kafka_ConfigResource_error_string(resources[i]);
          failed =
              Error{ErrorCode::kUnavailable, "describe topic " + name + ": " +
                                                 (why != nullptr ? why : rd_kafka_err2str(err))};
          break;
        }
        size_t count = 0;
        const rd_kafka_ConfigEntry_t** entries =
            rd_kafka_ConfigResource_configs(resources[i], &count);
        for (size_t k = 0; k < count; ++k) {
          const char* value = rd_kafka_ConfigEntry_value(entries[k]);
          out.config[rd_kafka_ConfigEntry_name(entries[k])] = value != nullptr ? value : "";
        }
      }
    }
    if (ev != nullptr) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(queue);
    rd_kafka_ConfigResource_destroy(resource);
    if (failed) return *failed;
    return out;
  }

  Status Produce(const OutgoingMessage& m, Instant timestamp, void* opaque) {
    // Kafka 4 brokers reject records stamped more than log.message.timestamp.after.max.ms
    // (1 h by default) in the future: a future event time (simulations, clock skew) is
    // stamped with the producer's clock instead; the event time stays in the payload.
    const Instant now = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
    if (timestamp > now) timestamp = Instant{};
    rd_kafka_headers_t* headers = nullptr;
    if (!m.headers.empty()) {
      headers = rd_kafka_headers_new(m.headers.size());
      for (const auto& [name, value] : m.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      }
    }
    while (true) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
          RD_KAFKA_V_TIMESTAMP(ToEpochMillis(timestamp)), RD_KAFKA_V_HEADERS(headers),
          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};  // headers now owned by librdkafka
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_, 50);
        continue;
      }
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
      return ProduceError(err, "produce to " + m.topic + ": " + rd_kafka_err2str(err));
    }
  }

  Status Flush(Millis timeout) {
    const rd_kafka_resp_err_t err = rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      return Error{ErrorCode::kUnavailable, "kafka flush timed out"};
    }
    const uint64_t failed_now = failed_.load();
    if (failed_now != failed_at_last_flush_) {
      failed_at_last_flush_ = failed_now;
      return Error{ErrorCode::kUnavailable, "kafka delivery failed: " + first_failure_};
    }
    return {};
  }

  // A producer with a fatal error produces nothing more: a new one takes over. Nothing is
  // lost: what it had not delivered is still in the outbox, published again.
  Status RenewIfFatal() {
    char reason[512];
    const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk_, reason, sizeof reason);
    if (fatal == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    spdlog::warn(
        "kafka producer: fatal error ({}: {}): a new producer takes over; what was not "
        "acknowledged is published again",
        rd_kafka_err2name(fatal), reason);
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_, 0);  // the purged messages' delivery reports
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    renewed_.fetch_add(1);
    return Init();
  }

  void InjectFatalErrorForTest(const std::string& reason) {
    rd_kafka_test_fatal_error(rk_, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason.c_str());
  }

  uint64_t renewed() const { return renewed_.load(); }

  Result<size_t> PublishAll(std::span<const OutgoingMessage> messages, Millis timeout,
                            std::vector<bool>* delivered) {
    if (Status s = RenewIfFatal(); !s) return s.error();
    failed_at_last_flush_ = failed_.load();  // this page's first failure is its own
    std::vector<DeliverySlot> slots(messages.size());
    size_t produced = 0;
    Status refused;  // why the producer refused messages[produced], if it did
    for (; produced < messages.size(); ++produced) {
      if (refused = Produce(messages[produced], Instant{}, &slots[produced]); !refused) break;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pending = [&] {
      for (size_t i = 0; i < produced; ++i) {
        if (slots[i].state.load() == 0) return true;
      }
      return false;
    };
    // librdkafka's flush sends what is queued at once, without waiting out linger.ms (5 ms:
    // a page of one large dead letter waited for it, about half of its time); the page is
    // all queued by now, so nothing is sent in smaller batches than before.
    if (pending()) rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
    while (pending() && std::chrono::steady_clock::now() < deadline) rd_kafka_poll(rk_, 20);
    if (pending()) {
      // Messages still in flight keep pointers to `slots`: wait them out before returning.
      rd_kafka_flush(rk_, 30000);
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(rk_, 100);
    }
    if (delivered != nullptr) {
      delivered->assign(messages.size(), false);
      for (size_t i = 0; i < produced; ++i) (*delivered)[i] = slots[i].state.load() == 1;
    }
    size_t acked = 0;
    while (acked < produced && slots[acked].state.load() == 1) ++acked;
    if (acked == 0 && !messages.empty()) {
      // The first message refused by the producer itself (e.g. over message.max.bytes), or
      // the delivery failure the broker reported.
      if (produced == 0 && !refused) return refused.error();
      const auto err = static_cast<rd_kafka_resp_err_t>(slots[0].error.load());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ProduceError(
            err, "kafka: " + messages[0].topic + " refused the message: " + rd_kafka_err2str(err));
      }
      return Error{ErrorCode::kUnavailable, "kafka: nothing acknowledged: " + first_failure_};
    }
    return acked;
  }

  uint64_t delivered() const { return delivered_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  static void DeliveryCallback(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    auto* slot = static_cast<DeliverySlot*>(m->_private);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->delivered_.fetch_add(1);
      if (slot != nullptr) slot->state.store(1);
    } else {
      // The first failure of a flush or a page is logged; the rest share its cause (a stop
      // during a broker outage logged 2,000 identical lines in one millisecond: a QA trial).
      // The same cause again is logged once a minute, with the failed flushes since: a topic
      // that refuses the alerts had a line every second, as the relay tried again (a
      // helper's trial).
      if (self->failed_.fetch_add(1) == self->failed_at_last_flush_) {
        self->first_failure_ = rd_kafka_err2str(m->err);
        const std::string cause =
            std::string(rd_kafka_topic_name(m->rkt)) + " failed: " + self->first_failure_;
        const auto now = std::chrono::steady_clock::now();
        if (cause != self->last_logged_cause_ ||
            now - self->last_logged_ >= kRepeatedFailureLogInterval) {
          spdlog::warn(
              "kafka delivery to {} (the messages after it that fail with it are not logged one "
              "by one{})",
              cause,
              self->flushes_unlogged_ > 0
                  ? fmt::format("; {} more flushes failed so since the last line",
                                self->flushes_unlogged_)
                  : std::string());
          self->last_logged_cause_ = cause;
          self->last_logged_ = now;
          self->flushes_unlogged_ = 0;
        } else {
          ++self->flushes_unlogged_;
        }
      }
      if (slot != nullptr) {
        slot->error.store(m->err);
        slot->state.store(2);
      }
    }
  }

  KafkaSinkOptions options_;
  rd_kafka_t* rk_ = nullptr;
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> renewed_{0};
  uint64_t failed_at_last_flush_ = 0;
  std::string first_failure_;
  // The last delivery failure logged (topic and cause), when, and the flushes that failed
  // with it since, not logged (the delivery callback: one thread at a time, as Flush).
  static constexpr auto kRepeatedFailureLogInterval = std::chrono::seconds(60);
  std::string last_logged_cause_;
  std::chrono::steady_clock::time_point last_logged_{};
  uint64_t flushes_unlogged_ = 0;
};

Result<std::unique_ptr<KafkaSink>> KafkaSink::Open(KafkaSinkOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (Status s = impl->Init(); !s) return s.error();
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(impl)));
}

KafkaSink::KafkaSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSink::~KafkaSink() = default;
Status KafkaSink::EnsureTopics(std::span<const TopicSpec> topics, Millis timeout) {
  return impl_->EnsureTopics(topics, timeout);
}
Result<TopicSpec> KafkaSink::DescribeTopic(const std::string& topic, Millis timeout) {
  return impl_->DescribeTopic(topic, timeout);
}
Status KafkaSink::Produce(const OutgoingMessage& message, Instant timestamp) {
  return impl_->Produce(message, timestamp, nullptr);
}
Status KafkaSink::Flush(Millis timeout) { return impl_->Flush(timeout); }
Result<size_t> KafkaSink::PublishAll(std::span<const OutgoingMessage> messages, Millis timeout,
                                     std::vector<bool>* delivered) {
  return impl_->PublishAll(messages, timeout, delivered);
}
uint64_t KafkaSink::delivered() const { return impl_->delivered(); }
uint64_t KafkaSink::failed() const { return impl_->failed(); }
uint64_t KafkaSink::renewed() const { return impl_->renewed(); }
void KafkaSink::InjectFatalErrorForTest(const std::string& reason) {
  impl_->InjectFatalErrorForTest(reason);
}

}  // namespace iocstream::alert
