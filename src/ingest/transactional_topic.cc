#include "iocstream/ingest/transactional_topic.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "iocstream/ingest/kafka_client.h"

namespace iocstream::ingest {
namespace {

Error Unavailable(std::string message) {
  return Error{ErrorCode::kUnavailable, std::move(message)};
}

// Calls `call` (a librdkafka transactional API call) again while its error is retriable and
// time is left; returns the last error (null: done), which the caller destroys.
template <typename Call>
rd_kafka_error_t* Retried(Millis timeout, const Call& call) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    rd_kafka_error_t* error = call();
    if (error == nullptr || !rd_kafka_error_is_retriable(error) ||
        std::chrono::steady_clock::now() > deadline) {
      return error;
    }
    rd_kafka_error_destroy(error);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The error's text, with what it means for the transaction; destroys `error`.
std::string Described(rd_kafka_error_t* error) {
  std::string text = fmt::format("{} ({})", rd_kafka_error_string(error),
                                 rd_kafka_err2name(rd_kafka_error_code(error)));
  if (rd_kafka_error_is_fatal(error)) text += "; fatal to the producer";
  rd_kafka_error_destroy(error);
  return text;
}

bool ProducerFenced(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH || code == RD_KAFKA_RESP_ERR__FENCED;
}

std::string ProducerFencedMessage(const TransactionalTopicOptions& options,
                                  rd_kafka_error_t* error) {
  // Another producer opened this transactional id since: the state directory that names it is
  // used by another process too, most often a copy of it (a helper's two instances fenced each
  // other in turn, the log blaming the group).
  return fmt::format(
      "{}: this commit is not written: the changelog writer of this state directory "
      "(transactional id '{}') was fenced, by a process that opened the same writer since (a "
      "copy of the state directory running elsewhere: a cloned machine, a restored backup, a "
      "copied directory; each instance needs a state directory of its own, and a new one "
      "starts empty and is restored from the changelog), or by the brokers after a "
      "transaction stayed open past its timeout (this process stalled): {}",
      options.topic, options.transactional_id, Described(error));
}

// Reads from `rk` until the record before `end` (or the partition's end) has been visited.
Status ReadUntil(rd_kafka_t* rk, int64_t end, Millis timeout, const std::string& topic,
                 PartitionId partition, const TransactionalTopic::Visit& visit) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t next = -1;
  while (next < end) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) {
      if (std::chrono::steady_clock::now() > deadline) {
        return Unavailable(fmt::format("{}[{}]: no record for {} ms at offset {} of {}", topic,
                                       partition.value(), timeout.count(), next, end));
      }
      continue;
    }
    deadline = std::chrono::steady_clock::now() + timeout;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      next = std::max(next, m->offset);
      rd_kafka_message_destroy(m);
      if (next >= end) break;
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Error e = Unavailable(
          fmt::format("{}[{}]: {}", topic, partition.value(), rd_kafka_message_errstr(m)));
      rd_kafka_message_destroy(m);
      return e;
    }
    next = m->offset + 1;
    Status s = visit(std::string_view(static_cast<const char*>(m->key), m->key_len),
                     std::string_view(static_cast<const char*>(m->payload), m->len));
    rd_kafka_message_destroy(m);
    if (!s) return s;
  }
  return {};
}

}  // namespace

struct TransactionalTopic::Opened {
  rd_kafka_t* rk;
  int64_t low;
  int64_t high;
};

TransactionalTopic::TransactionalTopic(TransactionalTopicOptions options)
    : options_(std::move(options)) {}

TransactionalTopic::~TransactionalTopic() {
  if (producer_ != nullptr) {
    rd_kafka_flush(producer_, 10000);
    rd_kafka_destroy(producer_);
  }
}

Result<std::unique_ptr<TransactionalTopic>> TransactionalTopic::Open(
    TransactionalTopicOptions options) {
  if (options.topic.empty()) {
    return Error{ErrorCode::kInvalidArgument, "transactional topic: no topic named"};
  }
  std::unique_ptr<TransactionalTopic> log(new TransactionalTopic(std::move(options)));
  // Transactional, so idempotent: ordered, without duplicates from retries; batches of a
  // transaction go out together.
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", log->options_.bootstrap_servers},
      {"linger.ms", "5"},
      {"compression.type", "lz4"},
      {"queue.buffering.max.kbytes", "262144"}};
  for (const auto& [k, v] : log->options_.producer) props[k] = v;
  // What transactions need, whatever the properties passed through say.
  props["enable.idempotence"] = "true";
  props["acks"] = "all";
  for (const char* in_flight : {"max.in.flight.requests.per.connection", "max.in.flight"}) {
    if (auto it = props.find(in_flight); it != props.end() && std::atoi(it->second.c_str()) > 5) {
      it->second = "5";
    }
  }
  props["transactional.id"] = log->options_.transactional_id;
  props["transaction.timeout.ms"] = std::to_string(log->options_.transaction_timeout.count());
  TransactionalTopic* self = log.get();
  auto rk = NewKafkaClient(RD_KAFKA_PRODUCER, props, [self](rd_kafka_conf_t* conf) {
    rd_kafka_conf_set_opaque(conf, self);
    rd_kafka_conf_set_dr_msg_cb(conf, &TransactionalTopic::OnDelivery);
  });
  if (!rk) return rk.error();
  log->producer_ = *rk;
  // Fences an earlier producer with this transactional id and aborts what it left open.
  if (rd_kafka_error_t* error = Retried(log->options_.timeout, [&] {
        return rd_kafka_init_transactions(log->producer_,
                                          static_cast<int>(log->options_.timeout.count()));
      })) {
    return Unavailable(fmt::format(
        "{}: starting its transactional producer: {} (the brokers must allow "
        "transactions: transaction.state.log.replication.factor and min.isr at most the number "
        "of brokers)",
        log->options_.topic, Described(error)));
  }
  return log;
}

void TransactionalTopic::OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<TransactionalTopic*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->delivered_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (self->failed_.fetch_add(1) == 0) self->first_failure_ = rd_kafka_err2str(m->err);
}

Status TransactionalTopic::Produce(PartitionId partition, std::string_view key,
                                   std::string_view value) {
  while (true) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC(options_.topic.c_str()),
        RD_KAFKA_V_PARTITION(partition.value()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer_, 10);
      continue;
    }
    return Unavailable(
        fmt::format("{}[{}]: {}", options_.topic, partition.value(), rd_kafka_err2str(err)));
  }
}

Status TransactionalTopic::Abort(Status why) {
  if (rd_kafka_error_t* error = Retried(options_.timeout, [&] {
        return rd_kafka_abort_transaction(producer_, static_cast<int>(options_.timeout.count()));
      })) {
    spdlog::error("{}: aborting a transaction: {}", options_.topic, Described(error));
  }
  return why;
}

Status TransactionalTopic::Begin() {
  failed_at_begin_ = failed_.load();
  if (rd_kafka_error_t* error = rd_kafka_begin_transaction(producer_)) {
    return Unavailable(
        fmt::format("{}: beginning a transaction: {}", options_.topic, Described(error)));
  }
  return {};
}

Status TransactionalTopic::Commit(std::span<const std::pair<PartitionId, Offset>> offsets,
                                  const std::string& offsets_topic,
                                  const ConsumerGroupMetadata& group) {
  if (group && !offsets.empty()) {
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
    for (const auto& [partition, offset] : offsets) {
      rd_kafka_topic_partition_list_add(list, offsets_topic.c_str(), partition.value())->offset =
          offset.value();
    }
    rd_kafka_error_t* error = Retried(options_.timeout, [&] {
      return rd_kafka_send_offsets_to_transaction(producer_, list, group.get(),
                                                  static_cast<int>(options_.timeout.count()));
    });
    rd_kafka_topic_partition_list_destroy(list);
    if (error != nullptr) {
      // Fenced (KIP-447) only when the group said so: a broker outage times the offsets out
      // (a helper's 25 s outage read as "fenced" in the log).
      const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
      if (ProducerFenced(code)) return Abort(Unavailable(ProducerFencedMessage(options_, error)));
      const bool fenced = code == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                          code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
                          code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
      return Abort(Unavailable(
          fenced ? fmt::format("{}: the group refused this commit's offsets, so the commit is not "
                               "written (fenced: the group has moved on since its events were "
                               "consumed, and another member may own their partitions): {}",
                               options_.topic, Described(error))
                 : fmt::format("{}: this commit's offsets did not reach the group, so the commit "
                               "is not written: {}",
                               options_.topic, Described(error))));
    }
  }
  if (rd_kafka_error_t* error = Retried(options_.timeout, [&] {
        return rd_kafka_commit_transaction(producer_, static_cast<int>(options_.timeout.count()));
      })) {
    const bool abortable = rd_kafka_error_txn_requires_abort(error) != 0;
    Error e = Unavailable(
        ProducerFenced(rd_kafka_error_code(error))
            ? ProducerFencedMessage(options_, error)
            : fmt::format("{}: committing a transaction: {}", options_.topic, Described(error)));
    return abortable ? Abort(e) : Status(e);
  }
  if (failed_.load() != failed_at_begin_) {
    // Not expected: a failed record makes the commit fail.
    return Unavailable(
        fmt::format("{}: a record was not delivered: {}", options_.topic, first_failure_));
  }
  return {};
}

Result<TransactionalTopic::Opened> TransactionalTopic::Reader(PartitionId partition,
                                                              std::optional<int64_t> from_end) {
  std::map<std::string, std::string> props;
  for (const auto& [k, v] : options_.consumer) props[k] = v;
  props["bootstrap.servers"] = options_.bootstrap_servers;
  // Assigned, never subscribed: the group id only satisfies librdkafka; nothing is committed.
  props["group.id"] = options_.topic + "-restore";
  props["enable.auto.commit"] = "false";
  props["enable.auto.offset.store"] = "false";
  props["enable.partition.eof"] = "true";
  // Committed transactions only: an aborted commit (fenced, failed) is not the state.
  props["isolation.level"] = "read_committed";
  // A partition ends with a transaction marker, not a record: its end is known from the fetch
  // that finds nothing more, which the broker would hold for fetch.wait.max.ms (500 ms by
  // default: a second per partition assigned, Last and ReadAll).
  props["fetch.wait.max.ms"] = "10";
  props.erase("group.instance.id");
  auto rk = NewKafkaClient(RD_KAFKA_CONSUMER, props);
  if (!rk) return rk.error();
  int64_t low = 0;
  int64_t high = 0;
  // A topic just created has no leader for a moment, and a broker restarting or a leader moving
  // answers the same way: asked again until the timeout.
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  while (true) {
    err = rd_kafka_query_watermark_offsets(*rk, options_.topic.c_str(), partition.value(), &low,
                                           &high, static_cast<int>(options_.timeout.count()));
    const bool retriable =
        err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
        err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
        err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE;
    if (!retriable || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_destroy(*rk);
    return Unavailable(fmt::format("{}[{}]: reading its offsets: {}", options_.topic,
                                   partition.value(), rd_kafka_err2str(err)));
  }
  int64_t start = low;
  if (from_end) start = std::max(low, high - *from_end);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), partition.value())->offset =
      start;
  const rd_kafka_resp_err_t assigned = rd_kafka_assign(*rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_destroy(*rk);
    return Unavailable(
        fmt::format("{}[{}]: {}", options_.topic, partition.value(), rd_kafka_err2str(assigned)));
  }
  return Opened{*rk, low, high};
}

Result<std::optional<TransactionalTopic::Record>> TransactionalTopic::Last(PartitionId partition) {
  // The log ends with transaction markers (one per transaction that wrote to the partition),
  // and aborted records are skipped: read a window before the end, wider until a record shows
  // or the window is the whole partition.
  for (int64_t window = 8;; window *= 16) {
    auto reader = Reader(partition, window);
    if (!reader) return reader.error();
    auto [rk, low, high] = *reader;
    std::optional<Record> last;
    Status s;
    if (high > 0) {
      s = ReadUntil(rk, high, options_.timeout, options_.topic, partition,
                    [&](std::string_view key, std::string_view value) -> Status {
                      last = Record{std::string(key), std::string(value)};
                      return {};
                    });
    }
    const bool whole = high - window <= low;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (!s) return s.error();
    if (last || whole) return last;
  }
}

Status TransactionalTopic::ReadAll(PartitionId partition, const Visit& visit) {
  auto reader = Reader(partition, std::nullopt);
  if (!reader) return reader.error();
  auto [rk, low, high] = *reader;
  Status s;
  if (high > 0) s = ReadUntil(rk, high, options_.timeout, options_.topic, partition, visit);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return s;
}

}  // namespace iocstream::ingest
