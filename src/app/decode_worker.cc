#include "app/decode_worker.h"

#include <pthread.h>

#include <algorithm>
#include <string>

#include "app/thread_cpu.h"

namespace iocstream::app {

DecodeWorker::DecodeWorker() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "decoder");
    Run();
    RecordThreadEnd("decoder");
  });
}

DecodeWorker::~DecodeWorker() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DecodeWorker::Start(std::span<const SourceRecord> records) {
  Finish();
  {
    std::lock_guard lock(mu_);
    // The worker is idle: nothing else touches the results. This batch is decoded into the
    // last one's (EventDecoder::DecodeInto reuses their memory). Reserved here, so that
    // results_.data() holds while the worker appends.
    results_.reserve(records.size());
    data_ = results_.data();
    hashes_.resize(records.size());
    hashes_data_ = hashes_.data();
    records_ = records;
    done_ = 0;
    failure_ = nullptr;
    busy_ = !records.empty();
  }
  cv_.notify_all();
}

Result<std::span<DecodeResult>> DecodeWorker::Decoded(size_t begin, size_t end) {
  std::unique_lock lock(mu_);
  if (begin > end || end > records_.size()) {
    return InvalidArgument("DecodeWorker::Decoded: records [" + std::to_string(begin) + ", " +
                           std::to_string(end) + ") of a batch of " +
                           std::to_string(records_.size()));
  }
  cv_.wait(lock, [&] { return done_ >= end || failure_ != nullptr; });
  if (done_ < end) {
    try {
      std::rethrow_exception(failure_);
    } catch (const std::exception& e) {
      return Error{ErrorCode::kInternal, std::string("decoding a polled batch: ") + e.what()};
    } catch (...) {
      return Error{ErrorCode::kInternal, "decoding a polled batch: unknown exception"};
    }
  }
  return std::span<DecodeResult>(data_ + begin, end - begin);
}

void DecodeWorker::Finish() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
}

void DecodeWorker::Run() {
  EventDecoder decoder;  // this thread's own
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return busy_ || stop_; });
    if (stop_) return;
    const std::span<const SourceRecord> records = records_;
    lock.unlock();
    size_t decoded = 0;
    std::exception_ptr failure;
    try {
      while (decoded < records.size()) {
        const size_t begin = decoded;
        const size_t end = ChunkEnd(decoded, records.size());
        for (; decoded < end; ++decoded) {
          const SourceRecord& r = records[decoded];
          if (decoded < results_.size()) {
            decoder.DecodeInto(r.payload, KeyOf(r), results_[decoded]);
          } else {
            results_.push_back(decoder.Decode(r.payload, KeyOf(r)));
          }
        }
        HashDecoded(std::span<const DecodeResult>(data_ + begin, end - begin),
                    std::span<EventHashes>(hashes_data_ + begin, end - begin));
        {
          std::lock_guard publish(mu_);
          done_ = decoded;
        }
        cv_.notify_all();
      }
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    failure_ = failure;
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace iocstream::app
