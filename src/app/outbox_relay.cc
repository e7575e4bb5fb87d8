#include "app/outbox_relay.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "app/thread_cpu.h"
#include "iocstream/alert/outbox_message.h"

namespace iocstream::app {

KafkaOutboxRelay::KafkaOutboxRelay(state::StateStore& store, std::unique_ptr<alert::KafkaSink> sink,
                                   std::string alerts_topic, std::string dead_letter_topic,
                                   RelayProbe& probe)
    : store_(store),
      sink_(std::move(sink)),
      alerts_topic_(std::move(alerts_topic)),
      dead_letter_topic_(std::move(dead_letter_topic)),
      probe_(probe) {}

KafkaOutboxRelay::~KafkaOutboxRelay() { Stop(Millis(5000)); }

void KafkaOutboxRelay::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "outbox-relay");
    Loop();
  });
}

void KafkaOutboxRelay::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

void KafkaOutboxRelay::Stop(Millis timeout) {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto n = DrainOnce(1000);
    if (!n || *n == 0) break;
  }
}

Result<size_t> KafkaOutboxRelay::DrainOnce(size_t limit) {
  auto entries = store_.ReadOutbox(limit);
  if (!entries) return entries.error();
  if (entries->empty()) {
    probe_.pending.store(0);
    return size_t{0};
  }
  probe_.pending.store(static_cast<int64_t>(entries->size()));
  std::vector<alert::OutgoingMessage> messages;
  std::vector<alert::OutboxKind> kinds;
  messages.reserve(entries->size());
  for (const auto& e : *entries) {
    auto m = alert::DecodeOutboxMessage(e.payload);
    if (!m) {
      // A corrupt entry cannot be published; keep the stream moving and say so loudly.
      spdlog::error("outbox entry {}: {}; skipped", e.sequence, m.error().message);
      messages.push_back(alert::OutgoingMessage{dead_letter_topic_, "", e.payload, {}});
      kinds.push_back(alert::OutboxKind::kDeadLetter);
      continue;
    }
    kinds.push_back(m->kind);
    messages.push_back(alert::OutgoingMessage{
        m->kind == alert::OutboxKind::kAlert ? alerts_topic_ : dead_letter_topic_,
        std::move(m->key), std::move(m->value), std::move(m->headers)});
  }
  auto acked = sink_->PublishAll(messages, Millis(30000));
  if (!acked) {
    probe_.publish_failures.fetch_add(1);
    return acked.error();
  }
  if (*acked == 0) return size_t{0};
  for (size_t i = 0; i < *acked; ++i) {
    (kinds[i] == alert::OutboxKind::kAlert ? probe_.alerts_published
                                           : probe_.dead_letters_published)
        .fetch_add(1);
  }
  if (Status s = store_.DeleteOutbox((*entries)[*acked - 1].sequence); !s) return s.error();
  probe_.pending.fetch_sub(static_cast<int64_t>(*acked));
  return *acked;
}

void KafkaOutboxRelay::Loop() {
  while (true) {
    auto n = DrainOnce(2000);
    if (!n) {
      spdlog::warn("outbox relay: {} (retrying)", n.error().message);
    }
    std::unique_lock lock(mu_);
    if (stop_) return;
    if (n && *n > 0) continue;
    cv_.wait_for(lock, std::chrono::milliseconds(n ? 200 : 1000),
                 [this] { return stop_ || notified_; });
    notified_ = false;
    if (stop_) return;
  }
}

Result<std::unique_ptr<FileOutboxRelay>> FileOutboxRelay::Open(state::StateStore& store,
                                                               const std::string& alerts_path,
                                                               const std::string& dead_letters_path,
                                                               RelayProbe& probe) {
  std::ofstream alerts(alerts_path, std::ios::app);
  if (!alerts) return IoError("cannot open " + alerts_path + " for writing");
  std::ofstream dead(dead_letters_path, std::ios::app);
  if (!dead) return IoError("cannot open " + dead_letters_path + " for writing");
  return std::unique_ptr<FileOutboxRelay>(
      new FileOutboxRelay(store, std::move(alerts), std::move(dead), probe));
}

FileOutboxRelay::FileOutboxRelay(state::StateStore& store, std::ofstream alerts,
                                 std::ofstream dead_letters, RelayProbe& probe)
    : store_(store),
      alerts_(std::move(alerts)),
      dead_letters_(std::move(dead_letters)),
      probe_(probe) {}

FileOutboxRelay::~FileOutboxRelay() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
}

void FileOutboxRelay::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "outbox-relay");
    Loop();
    RecordThreadEnd("outbox-relay");  // it ends before the replay's summary
  });
}

void FileOutboxRelay::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

Status FileOutboxRelay::status() const {
  std::lock_guard lock(mu_);
  return error_;
}

Status FileOutboxRelay::Stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  if (Status s = status(); !s) return s;
  return Drain();
}

void FileOutboxRelay::Loop() {
  while (true) {
    Status s = Drain();
    std::unique_lock lock(mu_);
    if (!s) {
      error_ = s;  // kept for the pipeline thread; nothing more is drained
      return;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_ || notified_; });
    notified_ = false;
    if (stop_) return;
  }
}

Status FileOutboxRelay::Drain() {
  std::string alert_lines;
  std::string dead_letter_lines;
  while (true) {
    auto entries = store_.ReadOutbox(5000);
    if (!entries) return entries.error();
    if (entries->empty()) return {};
    // The page is decoded whole before a line is written: an entry that does not decode
    // leaves the page in the store and the files without any of it.
    alert_lines.clear();
    dead_letter_lines.clear();
    uint64_t alerts = 0;
    uint64_t dead_letters = 0;
    for (const auto& e : *entries) {
      auto m = alert::DecodeOutboxMessage(e.payload);
      if (!m) {
        return Error{m.error().code,
                     "outbox entry " + std::to_string(e.sequence) + ": " + m.error().message};
      }
      if (m->kind == alert::OutboxKind::kAlert) {
        alert_lines.append(m->value).push_back('\n');
        ++alerts;
      } else {
        nlohmann::ordered_json line;
        for (const auto& [name, value] : m->headers) {
          constexpr std::string_view kPrefix = "iocstream.dlq.";
          line[name.rfind(kPrefix, 0) == 0 ? name.substr(kPrefix.size()) : name] = value;
        }
        line["key"] = m->key;
        // Invalid UTF-8 in a rejected payload must not break the file: replace it.
        line["payload"] = m->value;
        dead_letter_lines.append(
            line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        dead_letter_lines.push_back('\n');
        ++dead_letters;
      }
    }
    alerts_ << alert_lines;
    dead_letters_ << dead_letter_lines;
    alerts_.flush();
    dead_letters_.flush();
    if (!alerts_ || !dead_letters_) return IoError("writing the alert/dead-letter files failed");
    probe_.alerts_published.fetch_add(alerts);
    probe_.dead_letters_published.fetch_add(dead_letters);
    if (Status s = store_.DeleteOutbox(entries->back().sequence); !s) return s;
  }
}

}  // namespace iocstream::app
