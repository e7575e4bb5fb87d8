#include "app/changelog.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "iocstream/ingest/kafka_client.h"

namespace iocstream::app {
namespace {

constexpr uint8_t kMarkerVersion = 1;
constexpr size_t kMarkerSize = 1 + 8 + 1 + 8 + 8 + 8;

void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetFixed64(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[at + static_cast<size_t>(i)])) << (8 * i);
  }
  return v;
}

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

}  // namespace

std::string ChangelogMarker::Encode() const {
  std::string out;
  out.reserve(kMarkerSize);
  out.push_back(static_cast<char>(kMarkerVersion));
  PutFixed64(&out, static_cast<uint64_t>(next_offset ? next_offset->value() : -1));
  out.push_back(watermark ? 1 : 0);
  PutFixed64(&out, static_cast<uint64_t>(watermark ? ToEpochMillis(*watermark) : 0));
  PutFixed64(&out, writer);
  PutFixed64(&out, sequence);
  return out;
}

std::optional<ChangelogMarker> ChangelogMarker::Decode(std::string_view bytes) {
  if (bytes.size() != kMarkerSize || static_cast<uint8_t>(bytes[0]) != kMarkerVersion) {
    return std::nullopt;
  }
  ChangelogMarker m;
  const auto next = static_cast<int64_t>(GetFixed64(bytes, 1));
  if (next >= 0) m.next_offset = Offset(next);
  if (bytes[9] > 1) return std::nullopt;
  if (bytes[9] == 1) m.watermark = FromEpochMillis(static_cast<int64_t>(GetFixed64(bytes, 10)));
  m.writer = GetFixed64(bytes, 18);
  m.sequence = GetFixed64(bytes, 26);
  return m;
}

StateChangelog::StateChangelog(ChangelogOptions options) : options_(std::move(options)) {}

std::optional<uint64_t> StateChangelog::WriterOf(const Record& record) {
  if (record.key == kChangelogMarkerKey) {
    if (auto m = ChangelogMarker::Decode(record.value)) return m->writer;
    return std::nullopt;
  }
  if (record.key.empty() || record.key[0] != kChangelogDossierKeyTag || record.value.size() < 8) {
    return std::nullopt;
  }
  return GetFixed64(record.value, 0);
}

std::optional<std::string_view> StateChangelog::DossierValue(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  return value.substr(8);
}

StateChangelog::~StateChangelog() {
  stop_ticker_.store(true);
  if (ticker_.joinable()) ticker_.join();
  if (producer_ != nullptr) {
    rd_kafka_flush(producer_, 10000);
    rd_kafka_destroy(producer_);
  }
}

Result<std::unique_ptr<StateChangelog>> StateChangelog::Open(ChangelogOptions options) {
  if (options.topic.empty()) {
    return Error{ErrorCode::kInvalidArgument, "changelog: no topic named"};
  }
  std::unique_ptr<StateChangelog> log(new StateChangelog(std::move(options)));
  // Transactional (so idempotent: ordered, without duplicates from retries; a dossier's newer
  // state must never be followed by an older one); batches of a commit go out together.
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", log->options_.bootstrap_servers},
      {"linger.ms", "5"},
      {"compression.type", "lz4"},
      {"queue.buffering.max.kbytes", "262144"}};
  for (const auto& [k, v] : log->options_.producer) props[k] = v;
  // What transactions need, whatever the alerts' producer properties say.
  props["enable.idempotence"] = "true";
  props["acks"] = "all";
  for (const char* in_flight : {"max.in.flight.requests.per.connection", "max.in.flight"}) {
    if (auto it = props.find(in_flight); it != props.end() && std::atoi(it->second.c_str()) > 5) {
      it->second = "5";
    }
  }
  props["transactional.id"] = fmt::format("{}.{:016x}", log->options_.topic, log->options_.writer);
  props["transaction.timeout.ms"] = std::to_string(log->options_.transaction_timeout.count());
  StateChangelog* self = log.get();
  auto rk = ingest::NewKafkaClient(RD_KAFKA_PRODUCER, props, [self](rd_kafka_conf_t* conf) {
    rd_kafka_conf_set_opaque(conf, self);
    rd_kafka_conf_set_dr_msg_cb(conf, &StateChangelog::OnDelivery);
  });
  if (!rk) return rk.error();
  log->producer_ = *rk;
  // Fences an earlier producer of this state directory and aborts what it left open.
  if (rd_kafka_error_t* error = Retried(log->options_.timeout, [&] {
        return rd_kafka_init_transactions(log->producer_,
                                          static_cast<int>(log->options_.timeout.count()));
      })) {
    return Unavailable(fmt::format(
        "changelog {}: starting its transactional producer: {} (the brokers must allow "
        "transactions: transaction.state.log.replication.factor and min.isr at most the number "
        "of brokers)",
        log->options_.topic, Described(error)));
  }
  if (log->options_.stall_limit.count() > 0) {
    log->ticker_ = std::thread([self] {
      pthread_setname_np(pthread_self(), "changelog-tick");
      while (!self->stop_ticker_.load()) {
        self->Tick();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  return log;
}

void StateChangelog::OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<StateChangelog*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->delivered_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (self->failed_.fetch_add(1) == 0) self->first_failure_ = rd_kafka_err2str(m->err);
}

Status StateChangelog::Produce(PartitionId partition, std::string_view key,
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
    return Unavailable(fmt::format("changelog {}[{}]: {}", options_.topic, partition.value(),
                                   rd_kafka_err2str(err)));
  }
}

void StateChangelog::Tick() {
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  const int64_t gap = now - tick_ns_.exchange(now);
  if (gap > std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stall_limit).count()) {
    int64_t none = 0;
    if (stall_ns_.compare_exchange_strong(none, now)) {
      spdlog::error(
          "changelog {}: this process was stalled for {} ms, more than the group's session "
          "timeout ({} ms): its partitions may have gone to another member, so nothing more is "
          "written to the changelog and `run` stops (a restart rejoins the group and syncs)",
          options_.topic, gap / 1000000, options_.stall_limit.count());
    }
  }
}

Status StateChangelog::CheckStall() {
  if (options_.stall_limit.count() <= 0) return {};
  // The ticker may not have run since the process woke: the gap since its last tick counts.
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  const bool stalled =
      stall_ns_.load() != 0 ||
      now - tick_ns_.load() >
          std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stall_limit).count();
  if (!stalled) return {};
  return Unavailable(fmt::format(
      "changelog {}: this process was stalled for longer than the group's session timeout ({} "
      "ms): another member may own its partitions now, so this commit is not written to the "
      "changelog (the state store has it; a restart resumes correctly)",
      options_.topic, options_.stall_limit.count()));
}

Status StateChangelog::Abort(Status why) {
  if (rd_kafka_error_t* error = Retried(options_.timeout, [&] {
        return rd_kafka_abort_transaction(producer_, static_cast<int>(options_.timeout.count()));
      })) {
    spdlog::error("changelog {}: aborting a transaction: {}", options_.topic, Described(error));
  }
  return why;
}

Status StateChangelog::CommitTransaction(
    std::span<const std::pair<PartitionId, std::string>> markers, const GroupMetadata& group) {
  if (group && !options_.source_topic.empty()) {
    rd_kafka_topic_partition_list_t* offsets =
        rd_kafka_topic_partition_list_new(static_cast<int>(markers.size()));
    for (const auto& [partition, bytes] : markers) {
      const auto marker = ChangelogMarker::Decode(bytes);
      if (!marker || !marker->next_offset) continue;
      rd_kafka_topic_partition_list_add(offsets, options_.source_topic.c_str(), partition.value())
          ->offset = marker->next_offset->value();
    }
    rd_kafka_error_t* error = nullptr;
    if (offsets->cnt > 0) {
      error = Retried(options_.timeout, [&] {
        return rd_kafka_send_offsets_to_transaction(producer_, offsets, group.get(),
                                                    static_cast<int>(options_.timeout.count()));
      });
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    if (error != nullptr) {
      return Abort(Unavailable(fmt::format(
          "changelog {}: the group refused this commit's offsets, so the commit is not written "
          "(fenced: the group has moved on since its events were consumed, and another member "
          "may own their partitions): {}",
          options_.topic, Described(error))));
    }
  }
  if (rd_kafka_error_t* error = Retried(options_.timeout, [&] {
        return rd_kafka_commit_transaction(producer_, static_cast<int>(options_.timeout.count()));
      })) {
    const bool abortable = rd_kafka_error_txn_requires_abort(error) != 0;
    Error e = Unavailable(fmt::format("changelog {}: committing a transaction: {}", options_.topic,
                                      Described(error)));
    return abortable ? Abort(e) : Status(e);
  }
  return {};
}

Status StateChangelog::Write(const state::EncodedDossiers& dossiers,
                             std::span<const std::pair<PartitionId, std::string>> markers,
                             const GroupMetadata& group, bool check_stall) {
  if (dossiers.size() == 0 && markers.empty()) return {};
  const uint64_t failed_before = failed_.load();
  if (check_stall) {
    if (Status s = CheckStall(); !s) return s;
  }
  if (rd_kafka_error_t* error = rd_kafka_begin_transaction(producer_)) {
    return Unavailable(
        fmt::format("changelog {}: beginning a transaction: {}", options_.topic, Described(error)));
  }
  Status status;
  size_t queued = 0;
  dossiers.ForEach([&](std::string_view id, std::string_view value, PartitionId partition) {
    if (!status) return;
    if (check_stall && ++queued % 1024 == 0) {
      if (status = CheckStall(); !status) return;
    }
    key_.assign(1, kChangelogDossierKeyTag);
    key_.append(id);
    value_.clear();
    PutFixed64(&value_, options_.writer);
    value_.append(value);
    status = Produce(partition, key_, value_);
  });
  for (const auto& [partition, marker] : markers) {
    if (!status) break;
    status = Produce(partition, kChangelogMarkerKey, marker);
  }
  if (status && check_stall) status = CheckStall();
  if (!status) return Abort(status);
  if (Status s = CommitTransaction(markers, group); !s) return s;
  if (failed_.load() != failed_before) {
    // Not expected: a failed record makes the commit fail.
    return Unavailable(fmt::format("changelog {}: a record was not delivered: {}", options_.topic,
                                   first_failure_));
  }
  return {};
}

Result<StateChangelog::Opened> StateChangelog::Reader(PartitionId partition,
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
  auto rk = ingest::NewKafkaClient(RD_KAFKA_CONSUMER, props);
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
    return Unavailable(fmt::format("changelog {}[{}]: reading its offsets: {}", options_.topic,
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
    return Unavailable(fmt::format("changelog {}[{}]: {}", options_.topic, partition.value(),
                                   rd_kafka_err2str(assigned)));
  }
  return Opened{*rk, low, high};
}

namespace {

// Reads from `rk` until the record before `end` (or the partition's end) has been visited.
Status ReadUntil(rd_kafka_t* rk, int64_t end, Millis timeout, const std::string& topic,
                 PartitionId partition, const StateChangelog::Visit& visit) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t next = -1;
  while (next < end) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) {
      if (std::chrono::steady_clock::now() > deadline) {
        return Unavailable(fmt::format("changelog {}[{}]: no record for {} ms at offset {} of {}",
                                       topic, partition.value(), timeout.count(), next, end));
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
      Error e = Unavailable(fmt::format("changelog {}[{}]: {}", topic, partition.value(),
                                        rd_kafka_message_errstr(m)));
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

Result<std::optional<StateChangelog::Record>> StateChangelog::Last(PartitionId partition) {
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

Status StateChangelog::ReadAll(PartitionId partition, const Visit& visit) {
  auto reader = Reader(partition, std::nullopt);
  if (!reader) return reader.error();
  auto [rk, low, high] = *reader;
  Status s;
  if (high > 0) s = ReadUntil(rk, high, options_.timeout, options_.topic, partition, visit);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return s;
}

}  // namespace iocstream::app
