#include "app/changelog.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <thread>

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
}

Result<std::unique_ptr<StateChangelog>> StateChangelog::Open(ChangelogOptions options) {
  if (options.topic.empty()) {
    return Error{ErrorCode::kInvalidArgument, "changelog: no topic named"};
  }
  std::unique_ptr<StateChangelog> log(new StateChangelog(std::move(options)));
  ingest::TransactionalTopicOptions topic;
  topic.bootstrap_servers = log->options_.bootstrap_servers;
  topic.topic = log->options_.topic;
  // One per state directory: a restarted process fences its previous incarnation.
  topic.transactional_id = fmt::format("{}.{:016x}", log->options_.topic, log->options_.writer);
  topic.producer = log->options_.producer;
  topic.consumer = log->options_.consumer;
  topic.timeout = log->options_.timeout;
  topic.transaction_timeout = log->options_.transaction_timeout;
  auto opened = ingest::TransactionalTopic::Open(std::move(topic));
  if (!opened) return opened.error();
  log->topic_ = std::move(*opened);
  StateChangelog* self = log.get();
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

Status StateChangelog::Write(const state::EncodedDossiers& dossiers,
                             std::span<const std::pair<PartitionId, std::string>> markers,
                             const GroupMetadata& group, bool check_stall) {
  if (dossiers.size() == 0 && markers.empty()) return {};
  if (check_stall) {
    if (Status s = CheckStall(); !s) return s;
  }
  if (Status s = topic_->Begin(); !s) return s;
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
    status = topic_->Produce(partition, key_, value_);
  });
  offsets_.clear();
  for (const auto& [partition, marker] : markers) {
    if (!status) break;
    status = topic_->Produce(partition, kChangelogMarkerKey, marker);
    if (auto m = ChangelogMarker::Decode(marker); m && m->next_offset) {
      offsets_.emplace_back(partition, *m->next_offset);
    }
  }
  if (status && check_stall) status = CheckStall();
  if (!status) return topic_->Abort(status);
  // Without the events topic there are no offsets to fence with.
  return topic_->Commit(offsets_, options_.source_topic,
                        options_.source_topic.empty() ? nullptr : group);
}

Result<std::optional<StateChangelog::Record>> StateChangelog::Last(PartitionId partition) {
  return topic_->Last(partition);
}

Status StateChangelog::ReadAll(PartitionId partition, const Visit& visit) {
  return topic_->ReadAll(partition, visit);
}

Status CheckChangelogTopic(const std::string& topic, int partitions,
                           const std::map<std::string, std::string>& config, int events_partitions,
                           const std::string& events_topic) {
  if (partitions < events_partitions) {
    return Error{
        ErrorCode::kInvalidArgument,
        fmt::format("state changelog {} has {} partition(s), fewer than the {} of events "
                    "topic {}: changelog partition p keeps the state of events "
                    "partition p. Add partitions to it (kafka-topics.sh --alter --topic "
                    "{} --partitions {}), or name a topic that does not exist yet in "
                    "kafka.changelog_topic: iocstream creates it as it must be",
                    topic, partitions, events_partitions, events_topic, topic, events_partitions)};
  }
  const auto value = [&config](const std::string& key) {
    auto it = config.find(key);
    return it == config.end() ? std::optional<std::string>() : it->second;
  };
  // A value as the broker reported it: '' when empty, "(not reported)" when absent.
  const auto shown = [&value](const std::string& key) -> std::string {
    const std::optional<std::string> v = value(key);
    return !v ? "(not reported)" : v->empty() ? "''" : *v;
  };
  const std::string policy = value("cleanup.policy").value_or("");
  bool compact = false;
  bool deletes = false;
  for (size_t start = 0; start <= policy.size();) {
    const size_t end = std::min(policy.find(',', start), policy.size());
    std::string part = policy.substr(start, end - start);
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    compact = compact || part == "compact";
    deletes = deletes || part == "delete";
    start = end + 1;
  }
  const bool kept_forever = value("retention.ms") == "-1" && value("retention.bytes") == "-1";
  if (compact && (!deletes || kept_forever)) return {};
  return Error{
      ErrorCode::kInvalidArgument,
      fmt::format("state changelog {} has cleanup.policy={} (retention.ms={}, retention.bytes={}): "
                  "a topic that is not compacted, or deletes records past a retention, loses "
                  "them, and a partition restored from it then lacks the dossiers no event "
                  "changed since, without a word. Make it compacted (kafka-configs.sh --alter "
                  "--entity-type topics --entity-name {} --add-config cleanup.policy=compact), "
                  "or name a topic that does not exist yet in kafka.changelog_topic: iocstream "
                  "creates it compacted",
                  topic, shown("cleanup.policy"), shown("retention.ms"), shown("retention.bytes"),
                  topic)};
}

}  // namespace iocstream::app
