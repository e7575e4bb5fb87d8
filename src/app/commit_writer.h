// CommitWriter: one long-lived thread that builds and writes a Pipeline's commits to the state
// store, so the next records are processed while a commit's batch is built (its changes
// sorted and put into a WriteBatch) and written (PipelineOptions::async_commit).
//
// One thread for the Pipeline's whole life, not one per commit: RocksDB's memtable blocks are
// allocated by the thread that writes, and an allocator with per-thread arenas (jemalloc,
// glibc) would otherwise spread them over many arenas, each keeping freed pages resident.
//
// At most one write is in flight: Submit requires the previous one to be awaited. Errors are
// the store's Commit status, returned by Await.
//
// Thread-safety: Submit, Await and busy are called by the one thread that owns the writer.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "iocstream/core/result.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

class CommitWriter {
 public:
  explicit CommitWriter(state::StateStore& store) : store_(store) {}
  // Waits for the write in flight (its status is dropped: call Await first to learn it).
  ~CommitWriter();
  CommitWriter(const CommitWriter&) = delete;
  CommitWriter& operator=(const CommitWriter&) = delete;

  // Starts `build` and the write of the batch it returns (store.Commit) on the writer thread,
  // which starts on first use. `build` runs on that thread: what it reads must not change
  // until Await returns, and must outlive the writer (the destructor runs a pending job). An
  // exception from `build` or the write (std::bad_alloc) becomes Await's error. Precondition:
  // !busy().
  // An error from `build` is Await's error, and nothing is written.
  using BuildBatch = std::function<Result<state::StateBatch>()>;
  // `after`, when given, runs on the writer thread once the batch is in the store; its error
  // is Await's error (the batch stays written).
  using AfterCommit = std::function<Status()>;
  void Submit(BuildBatch build, AfterCommit after = {});

  // True from Submit until Await returns.
  [[nodiscard]] bool busy() const { return busy_; }

  // Waits for the write submitted last and returns its status (ok when none is in flight).
  [[nodiscard]] Status Await();

 private:
  void Loop();

  state::StateStore& store_;
  bool busy_ = false;  // owner thread only
  std::mutex mu_;
  std::condition_variable cv_;
  BuildBatch job_;              // guarded by mu_; empty: none
  AfterCommit after_;           // guarded by mu_
  std::optional<Status> done_;  // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  std::thread thread_;
};

}  // namespace iocstream::app
