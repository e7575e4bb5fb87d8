#include "app/commit_writer.h"

#include <pthread.h>

#include <exception>
#include <string>
#include <utility>

namespace iocstream::app {

CommitWriter::~CommitWriter() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CommitWriter::Submit(BuildBatch build, AfterCommit after) {
  {
    std::lock_guard lock(mu_);
    job_ = std::move(build);
    after_ = std::move(after);
    done_.reset();
  }
  busy_ = true;
  if (!thread_.joinable()) {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "state-writer");
      Loop();
    });
  } else {
    cv_.notify_all();
  }
}

Status CommitWriter::Await() {
  if (!busy_) return {};
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return done_.has_value(); });
  Status s = std::move(*done_);
  done_.reset();
  busy_ = false;
  return s;
}

void CommitWriter::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    // A job still pending when asked to stop is written first (the destructor's contract).
    cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
    if (!job_) return;
    BuildBatch build = std::move(job_);
    AfterCommit after = std::move(after_);
    job_ = nullptr;
    after_ = nullptr;
    lock.unlock();
    Status s;
    try {
      Result<state::StateBatch> batch = build();
      s = batch ? store_.Commit(std::move(*batch)) : Status(batch.error());
      if (s && after) s = after();
    } catch (const std::exception& e) {
      s = Error{ErrorCode::kInternal, std::string("building the state commit: ") + e.what()};
    }
    lock.lock();
    done_.emplace(std::move(s));
    cv_.notify_all();
  }
}

}  // namespace iocstream::app
