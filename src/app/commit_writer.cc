#include "app/commit_writer.h"

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

void CommitWriter::Submit(state::StateBatch batch) {
  {
    std::lock_guard lock(mu_);
    job_.emplace(std::move(batch));
    done_.reset();
  }
  busy_ = true;
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { Loop(); });
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
    cv_.wait(lock, [this] { return stop_ || job_.has_value(); });
    if (!job_) return;
    state::StateBatch batch = std::move(*job_);
    job_.reset();
    lock.unlock();
    Status s = store_.Commit(std::move(batch));
    lock.lock();
    done_.emplace(std::move(s));
    cv_.notify_all();
  }
}

}  // namespace iocstream::app
