// Outbox relays: move alerts and dead letters from the state store's outbox to where they
// go, deleting an entry only after its destination has it.
//
// - KafkaOutboxRelay: publishes to the alerts and dead-letter topics with an idempotent
//   producer, on its own thread; an entry is deleted after the broker acknowledged it, so a
//   crash redelivers at most the unacknowledged tail (alert ids make redeliveries
//   recognisable downstream).
// - FileOutboxRelay: for `replay` without a broker, appends alerts and dead letters as NDJSON
//   to two files (fsync'd before deleting), called synchronously after each batch.
#pragma once

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "iocstream/alert/kafka_sink.h"
#include "iocstream/core/result.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

struct RelayProbe {
  std::atomic<uint64_t> alerts_published{0};
  std::atomic<uint64_t> dead_letters_published{0};
  std::atomic<uint64_t> publish_failures{0};
  std::atomic<int64_t> pending{0};  // entries read but not yet deleted (approximate)
};

class KafkaOutboxRelay {
 public:
  KafkaOutboxRelay(state::StateStore& store, std::unique_ptr<alert::KafkaSink> sink,
                   std::string alerts_topic, std::string dead_letter_topic, RelayProbe& probe);
  ~KafkaOutboxRelay();

  void Start();
  // Wakes the relay after a commit added outbox entries.
  void Notify();
  // Drains what is left (up to `timeout`) and stops the thread.
  void Stop(Millis timeout);

  // One drain pass on the calling thread: publishes up to `limit` entries; returns how many
  // were published and deleted.
  [[nodiscard]] Result<size_t> DrainOnce(size_t limit);

 private:
  void Loop();

  state::StateStore& store_;
  std::unique_ptr<alert::KafkaSink> sink_;
  std::string alerts_topic_;
  std::string dead_letter_topic_;
  RelayProbe& probe_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool notified_ = false;
};

class FileOutboxRelay {
 public:
  // Appends to (creates) the two files.
  [[nodiscard]] static Result<std::unique_ptr<FileOutboxRelay>> Open(
      state::StateStore& store, const std::string& alerts_path,
      const std::string& dead_letters_path, RelayProbe& probe);

  // Moves every outbox entry to the files. One NDJSON line per entry: alerts as published;
  // dead letters as {"reason","detail","topic","partition","offset","key","payload"}.
  [[nodiscard]] Status Drain();

 private:
  FileOutboxRelay(state::StateStore& store, std::ofstream alerts, std::ofstream dead_letters,
                  RelayProbe& probe);
  state::StateStore& store_;
  std::ofstream alerts_;
  std::ofstream dead_letters_;
  RelayProbe& probe_;
};

}  // namespace iocstream::app
