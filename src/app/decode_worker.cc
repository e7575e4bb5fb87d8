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
    cv_.wait(lock, [&] { return !worker_decoding_; });
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DecodeWorker::Start(std::span<const SourceRecord> records) {
  Finish();
  {
    std::lock_guard lock(mu_);
    // No thread decodes: nothing else touches the results. This batch is decoded into the
    // last one's (EventDecoder::DecodeInto reuses their memory), the vector grown only here.
    if (results_.size() < records.size()) {
      results_.resize(records.size(), DecodeResult(DossierEvent{}));
    }
    records_ = records;
    taken_ = 0;
    done_ = 0;
    decoded_ahead_.clear();
    failure_ = nullptr;
  }
  cv_.notify_all();
}

bool DecodeWorker::TakeChunk(size_t& begin, size_t& end) {
  if (taken_ >= records_.size()) return false;
  begin = taken_;
  end = ChunkEnd(begin, records_.size());
  taken_ = end;
  return true;
}

void DecodeWorker::ChunkDecoded(size_t begin, size_t end) {
  if (begin != done_) {
    decoded_ahead_.emplace_back(begin, end);
    return;
  }
  done_ = end;
  for (auto it = decoded_ahead_.begin(); it != decoded_ahead_.end();) {
    if (it->first == done_) {
      done_ = it->second;
      decoded_ahead_.erase(it);
      it = decoded_ahead_.begin();
    } else {
      ++it;
    }
  }
}

void DecodeWorker::DecodeChunk(EventDecoder& decoder, size_t begin, size_t end) {
  const std::span<const SourceRecord> records = records_;  // set by Start, before any take
  for (size_t i = begin; i < end; ++i) {
    decoder.DecodeInto(records[i].payload, KeyOf(records[i]), results_[i]);
  }
}

Result<std::span<DecodeResult>> DecodeWorker::Decoded(size_t begin, size_t end) {
  std::unique_lock lock(mu_);
  if (begin > end || end > records_.size()) {
    return InvalidArgument("DecodeWorker::Decoded: records [" + std::to_string(begin) + ", " +
                           std::to_string(end) + ") of a batch of " +
                           std::to_string(records_.size()));
  }
  while (done_ < end && failure_ == nullptr) {
    size_t chunk_begin = 0;
    size_t chunk_end = 0;
    // A chunk not taken by the worker yet is decoded here rather than waited for: one before
    // `end`, else, while the worker decodes one before `end`, one of the records after it
    // (the batch's next reads), instead of sitting idle.
    if (TakeChunk(chunk_begin, chunk_end)) {
      lock.unlock();
      std::exception_ptr failure;
      try {
        DecodeChunk(caller_decoder_, chunk_begin, chunk_end);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      if (failure) {
        failure_ = failure;
      } else {
        ChunkDecoded(chunk_begin, chunk_end);
      }
      continue;
    }
    cv_.wait(lock);  // the worker decodes the chunks before `end` it took
  }
  if (done_ < end) {
    try {
      std::rethrow_exception(failure_);
    } catch (const std::exception& e) {
      return Error{ErrorCode::kInternal, std::string("decoding a polled batch: ") + e.what()};
    } catch (...) {
      return Error{ErrorCode::kInternal, "decoding a polled batch: unknown exception"};
    }
  }
  return std::span<DecodeResult>(results_.data() + begin, end - begin);
}

void DecodeWorker::Finish() {
  std::unique_lock lock(mu_);
  taken_ = records_.size();  // the chunks not taken stay undecoded
  cv_.wait(lock, [&] { return !worker_decoding_; });
}

void DecodeWorker::Run() {
  EventDecoder decoder;  // this thread's own
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || (failure_ == nullptr && taken_ < records_.size()); });
    if (stop_) return;
    size_t begin = 0;
    size_t end = 0;
    if (!TakeChunk(begin, end)) continue;
    worker_decoding_ = true;
    lock.unlock();
    std::exception_ptr failure;
    try {
      DecodeChunk(decoder, begin, end);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    worker_decoding_ = false;
    if (failure) {
      failure_ = failure;
    } else {
      ChunkDecoded(begin, end);
    }
    cv_.notify_all();
  }
}

}  // namespace iocstream::app
