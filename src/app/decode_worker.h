// DecodeWorker: decodes a polled batch on a thread of its own, chunk by chunk, so that the
// pipeline thread of `iocstream run` applies chunk k while chunk k + 1 is decoded. (`run`
// polls on the pipeline thread, where librdkafka runs the rebalance callbacks, so it cannot
// decode a whole batch ahead as `replay`'s NdjsonReader does; decoding was about a fifth of
// that thread's CPU.)
//
// Use: Start(records); then Decoded(begin, end) for consecutive chunks, in order; then Finish()
// before the records go away (the next Poll). Results are those of DecodeRecords: decoded[i]
// is records[i]'s result, in order.
//
// Thread-safety: one thread (the pipeline's) calls every member; the worker thread only
// decodes. Errors: a failure of the worker (std::bad_alloc) is returned by Decoded.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "app/event_hashes.h"
#include "iocstream/core/result.h"
#include "iocstream/core/source_record.h"
#include "iocstream/decode/event_decoder.h"

namespace iocstream::app {

class DecodeWorker {
 public:
  DecodeWorker();
  // Waits for the batch being decoded, if any, and stops the thread.
  ~DecodeWorker();
  DecodeWorker(const DecodeWorker&) = delete;
  DecodeWorker& operator=(const DecodeWorker&) = delete;

  // Starts decoding `records`, which must stay valid until Finish. Finishes the previous
  // batch first, if that was not done.
  void Start(std::span<const SourceRecord> records);

  // Waits until records [0, end) of the batch are decoded and returns the results of
  // [begin, end) (end <= the batch's size). They may be moved from; they stay valid until the
  // next Start.
  [[nodiscard]] Result<std::span<DecodeResult>> Decoded(size_t begin, size_t end);
  // The hashes of the results of [begin, end) (HashDecoded), hashed by the worker too: valid
  // once Decoded(begin, end) returned them, until the next Start.
  [[nodiscard]] std::span<const EventHashes> Hashes(size_t begin, size_t end) const {
    return {hashes_data_ + begin, end - begin};
  }

  // Waits until the worker is done with the batch's records (Start's precondition ends here).
  void Finish();

  // Records decoded between two wake-ups of the pipeline thread: kFirstChunk first, so that
  // the pipeline thread, idle until a batch's first chunk is decoded, starts soon; then twice
  // as many each time, up to kChunk (the worker decodes about five times as fast as the
  // pipeline applies, so it stays ahead). With a first chunk of kChunk, the pipeline thread
  // of a 4.57M-event `run` waited 1.3 s of 21 s for the decoder.
  static constexpr size_t kFirstChunk = 64;
  static constexpr size_t kChunk = 1024;
  // The end of the chunk that starts at `begin` in a batch of `size` records.
  [[nodiscard]] static size_t ChunkEnd(size_t begin, size_t size) {
    const size_t chunk = begin == 0 ? kFirstChunk : std::min(begin, kChunk);
    return std::min(size, begin + chunk);
  }

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::span<const SourceRecord> records_;  // the batch being decoded
  // The batch's results: [0, records_.size()) decoded by the worker into the results of the
  // batches before (any beyond are left as they are) or appended, within the capacity
  // reserved by Start.
  std::vector<DecodeResult> results_;
  DecodeResult* data_ = nullptr;  // results_.data(), taken before the worker starts
  // hashes_[i]: of results_[i], for the batch's records (sized by Start).
  std::vector<EventHashes> hashes_;
  EventHashes* hashes_data_ = nullptr;  // hashes_.data(), taken before the worker starts
  size_t done_ = 0;                     // results published to the pipeline thread
  bool busy_ = false;                   // the worker has a batch
  bool stop_ = false;
  std::exception_ptr failure_;  // what ended the batch early
  std::thread thread_;          // last: started once the rest exists
};

}  // namespace iocstream::app
