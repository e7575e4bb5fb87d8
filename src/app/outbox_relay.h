// Outbox relays: move alerts and dead letters from the state store's outbox to where they
// go, deleting an entry only after its destination has it.
//
// - KafkaOutboxRelay: publishes to the alerts and dead-letter topics with an idempotent
//   producer, on its own thread; an entry is deleted after the broker acknowledged it, so a
//   crash redelivers at most the unacknowledged tail (alert ids make redeliveries
//   recognisable downstream).
// - FileOutboxRelay: for `replay` without a broker, appends alerts and dead letters as NDJSON
//   to two files (made durable before deleting), on its own thread or synchronously (Drain).
//   It is also the Pipeline's CommitAlertSink: commits may write their alerts to its alerts
//   file themselves, with the file's length in the same batch, and only dead letters then go
//   through the outbox.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "app/commit_alert_sink.h"
#include "iocstream/alert/kafka_sink.h"
#include "iocstream/core/result.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

struct RelayProbe {
  std::atomic<uint64_t> alerts_published{0};
  std::atomic<uint64_t> dead_letters_published{0};
  std::atomic<uint64_t> publish_failures{0};
  // Entries in the outbox not yet acknowledged, as of the relay's last page (those committed
  // since are counted at the next page).
  std::atomic<int64_t> pending{0};
};

// The thread both relays drain on ("outbox-relay"): it runs a pass when woken (Notify) or
// once the pause the last pass asked for is over, until Stop. Notify and Stop from any
// thread; Start once.
class RelayThread {
 public:
  // A pass returns how long to wait for a Notify before the next (zero: run again at once),
  // or nullopt to end the thread.
  using Pass = std::function<std::optional<Millis>()>;
  ~RelayThread() { Stop(); }

  void Start(Pass pass);
  void Notify();
  // Notify calls so far: a pass that reads it before it starts knows which wake-ups it served.
  [[nodiscard]] uint64_t notifications() const { return notifications_.load(); }
  // Ends the thread after its current pass and joins it; does nothing if it is not running.
  void Stop();

 private:
  void Loop(const Pass& pass);

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool notified_ = false;
  std::atomic<uint64_t> notifications_{0};
};

class KafkaOutboxRelay {
 public:
  KafkaOutboxRelay(state::StateStore& store, std::unique_ptr<alert::KafkaSink> sink,
                   std::string alerts_topic, std::string dead_letter_topic, RelayProbe& probe);
  ~KafkaOutboxRelay();

  void Start();
  // Wakes the relay after a commit added outbox entries. Call it once the commit is in the
  // store (CaughtUp relies on it).
  void Notify();
  // True once the thread found the outbox empty after the last Notify: every entry of the
  // commits notified so far, and of the store's outbox at the start, is published. Any thread.
  [[nodiscard]] bool CaughtUp() const { return drained_seq_.load() == thread_.notifications(); }
  // Drains what is left (up to `timeout`) and stops the thread. It gives up at the first
  // failed page, unless the relay created a deleted topic again within the last 30 s (the
  // producer may not list it yet): then it tries again until `timeout`.
  void Stop(Millis timeout);
  // Topics deleted while iocstream runs are created again, with `partitions` partitions, when
  // a page fails (looked for at most every 30 s); without this call they are not (call it
  // before Start). A deleted topic held every later alert and dead letter until a restart.
  void CreateDeletedTopics(int partitions) { create_partitions_ = partitions; }

  // One drain pass on the calling thread: publishes up to `limit` entries; returns how many
  // were published and deleted.
  [[nodiscard]] Result<size_t> DrainOnce(size_t limit);

 private:
  // One pass of the thread: publishes what is there, and says when to look again.
  std::optional<Millis> Pass();

  state::StateStore& store_;
  std::unique_ptr<alert::KafkaSink> sink_;
  std::string alerts_topic_;
  std::string dead_letter_topic_;
  RelayProbe& probe_;
  // Dead letters the dead-letter topic refused for their size (its max.message.bytes may be
  // below what the pipeline keeps): outbox sequence -> the bytes of value and key still sent.
  // Relay thread only.
  std::map<uint64_t, size_t> dead_letter_caps_;
  // Entries delivered behind one that failed in the same page (the outbox is deleted by
  // prefix, so they stay until the failed one is delivered): a page ends before the first of
  // them, so they are not sent again at each retry of the failed one (QA trials saw 116
  // records for 60 alerts behind a dead letter to a deleted topic, then each twice), and they
  // are deleted once they lead the outbox. Held in memory only: after a restart they are sent
  // again (the alert ids repeat, at-least-once). Relay thread only.
  std::set<uint64_t> delivered_ahead_;
  // CreateDeletedTopics: the partitions of a topic created again (0: never), and when the
  // topics were last looked for. Relay thread only.
  int create_partitions_ = 0;
  std::chrono::steady_clock::time_point topics_checked_at_{};
  // When CreateDeletedTopicsNow last created a topic (none: never). Relay thread only.
  std::optional<std::chrono::steady_clock::time_point> topic_created_at_;
  // Looks for the relay's topics and creates those the brokers do not list (rate-limited).
  void CreateDeletedTopicsNow();
  // The retry warning's throttle: the first failure of a spell, then one line a minute with
  // the failures in between (a missing topic logged every second). Relay thread only.
  bool failing_ = false;
  std::chrono::steady_clock::time_point last_failure_warning_{};
  uint64_t failures_unlogged_ = 0;
  // Notifications as of the last empty drain's start; none before the first: the outbox may
  // hold a stopped run's entries (CaughtUp was true at once, and `run --exit-when-caught-up`
  // exited 0 with 2,713 of them unsent: a QA trial).
  static constexpr uint64_t kNeverDrained = std::numeric_limits<uint64_t>::max();
  std::atomic<uint64_t> drained_seq_{kNeverDrained};
  RelayThread thread_;  // last: stopped before the rest goes
};

class FileOutboxRelay : public CommitAlertSink {
 public:
  // Appends to (creates) the two files. Each page deleted from the outbox stores the files'
  // lengths with the delete (StateStore::DeleteOutbox's relay position), and each commit that
  // wrote alerts to the alerts file itself stores that file's length (the sink position, which
  // takes precedence for that file), so the files and the store agree after any crash: bytes
  // past the stored lengths (a page written whose delete was lost, or a commit's alerts whose
  // batch was, with or without the WAL) are cut off first, with a warning, and their entries,
  // still in the outbox or raised again by the replay, are appended once. A file shorter
  // than its stored length (cut or replaced by hand) is warned about and appended to, from
  // its new length, stored at once (durably) so that a later stop comes back to it. Without
  // a stored position (a store of an earlier build, or the first relay on it) a partial last
  // line in either file is cut off instead (a partial last line over 64 MiB is refused: not a
  // cut-short page, the file is not one this relay wrote), and the lengths are stored at once.
  // Until the relay is destroyed, each flush of the store first makes the alerts file durable
  // (StateStore::SetBeforeFlush), so that no stored length outruns the file's durable bytes.
  // Errors: kIo naming the file and the reason; kCorruption for a stored position that is not
  // this relay's (16 bytes, or 8 for the sink position).
  [[nodiscard]] static Result<std::unique_ptr<FileOutboxRelay>> Open(
      state::StateStore& store, const std::string& alerts_path,
      const std::string& dead_letters_path, RelayProbe& probe);

  // Stops the thread, if started: it first moves everything committed so far (errors are
  // logged), then the alerts file is made durable (an error is logged) and the files are
  // closed.
  ~FileOutboxRelay() override;
  FileOutboxRelay(const FileOutboxRelay&) = delete;
  FileOutboxRelay& operator=(const FileOutboxRelay&) = delete;

  // Moves every outbox entry to the files, a page (up to 5,000 entries) at a time. One NDJSON
  // line per entry: alerts as published; dead letters as
  // {"reason","detail","topic","partition","offset","key","payload"}. A page is decoded whole,
  // appended to each file with one write, and made durable (fdatasync) before it is deleted
  // from the outbox with the files' new lengths; a failed write is cut back off the file. So
  // a crash of the process or the machine, or a full disk, neither loses, repeats nor garbles
  // a line (see Open). On the calling thread; not while the relay's thread runs (Start ..
  // Stop).
  [[nodiscard]] Status Drain();

  // Drains what the outbox holds now on the calling thread (an earlier stop's entries, alerts
  // included, which must be in the alerts file before commits append to it), then drains on a
  // thread of its own ("outbox-relay") until Stop, so that the pipeline thread does not read
  // and delete the outbox itself. Notify after a commit; the thread also looks every 200 ms.
  // Returns the first drain's error (no thread is started then). The thread's first error
  // stops its draining and is kept (status()). Call once.
  [[nodiscard]] Status Start();
  void Notify();
  // For `replay --mapping`: the dead letters of `source` (their topic) get a "csv_row" field,
  // "file:line" of the CSV row the event at their offset came from (`locate`; "" adds
  // none). Their offset counts events in time order across the files, which alone cannot
  // find the row (a helper's finding). Before Start; `locate` is called on the relay's thread
  // and must stay valid until Stop returns.
  void LocateRows(std::string source, std::function<std::string(uint64_t offset)> locate);
  // The thread's first error, if any (then the replay should stop: entries stay in the
  // store, and the next replay's relay moves them). Any thread.
  [[nodiscard]] Status status() const;
  // Stops and joins the thread, then drains what is left on the calling thread and makes the
  // alerts file durable. Returns the thread's error, else the last drain's or the sync's.
  [[nodiscard]] Status Stop();

  // CommitAlertSink, for the Pipeline's commits (its state-writer thread), after Start: the
  // alerts are appended to the alerts file as they come (not synced: the flush hook syncs
  // them, or with the store's WAL on, Position does), and Position is the alerts file's length
  // (the sink position: 8 bytes, big-endian). A failed write is cut back off the file. Errors:
  // kIo naming the file; the thread's or the flush hook's first error (then nothing is
  // written). Once WriteAlerts was called, an alert found in the outbox is an error of the
  // relay's drain (kInternal): commits and the relay must not both write alerts.
  [[nodiscard]] Status WriteAlerts(std::string_view lines, uint64_t alerts) override;
  [[nodiscard]] Result<std::string> Position() override;

 private:
  FileOutboxRelay(state::StateStore& store, int alerts_fd, std::string alerts_path,
                  int dead_letters_fd, std::string dead_letters_path, RelayProbe& probe);
  // The files' lengths now, as the relay position stored with each delete.
  [[nodiscard]] Result<std::string> Lengths() const;
  // The alerts file's length now, as the sink position (Position without its sync: for
  // Open, which wrote nothing, and Drain's pages, synced as they are written).
  [[nodiscard]] Result<std::string> SinkPosition() const;

  state::StateStore& store_;
  int alerts_fd_;  // owned; O_APPEND
  std::string alerts_path_;
  int dead_letters_fd_;  // owned; O_APPEND
  std::string dead_letters_path_;
  RelayProbe& probe_;
  std::string located_source_;  // LocateRows
  std::function<std::string(uint64_t)> locate_;
  // Set by the first WriteAlerts: from then on the outbox holds no alert (see WriteAlerts).
  std::atomic<bool> alerts_at_commit_{false};
  // The first error of the thread or of the flush hook's sync; guarded by error_mu_.
  mutable std::mutex error_mu_;
  Status error_;
  RelayThread thread_;  // last: stopped before the rest goes
};

}  // namespace iocstream::app
