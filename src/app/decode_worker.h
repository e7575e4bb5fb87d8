// DecodeWorker: decodes a polled batch on a thread of its own, chunk by chunk, so that the
// pipeline thread of `iocstream run` applies chunk k while chunk k + 1 is decoded. (`run`
// polls on the pipeline thread, where librdkafka runs the rebalance callbacks, so it cannot
// decode a whole batch ahead as `replay`'s NdjsonReader does; decoding was about a fifth of
// that thread's CPU.)
//
// The caller helps: a chunk it asks for that the worker has not started yet is decoded by the
// caller itself (with a decoder of its own) rather than waited for, and while the worker
// decodes one the caller needs, the caller decodes the chunks after it. On 2 cores the worker,
// woken at the start of each batch, often waits for a core behind RocksDB's and librdkafka's
// threads, while the pipeline thread sat idle waiting for it (2.7 s of a 4.57M-event `run`,
// iocstream_pipeline_wait_seconds_total{for="decoder"}). The two take chunks in order, the
// next one not taken (ChunkEnd's boundaries), so each record is decoded once.
//
// Use: Start(records); then Decoded(begin, end) for consecutive chunks, in order; then Finish()
// before the records go away (the next Poll). Results are those of DecodeRecords: decoded[i]
// is records[i]'s result, in order.
//
// Thread-safety: one thread (the pipeline's) calls every member; the worker thread only
// decodes. Errors: a failure of either decoder (std::bad_alloc) is returned by Decoded.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

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

  // Returns the results of [begin, end) (end <= the batch's size) once records [0, end) are
  // decoded: decodes the chunks up to `end` that the worker has not taken, and while the
  // worker decodes one of those, the chunks after them; waits only when none is left. They may be
  // moved from; they stay valid until the next Start.
  [[nodiscard]] Result<std::span<DecodeResult>> Decoded(size_t begin, size_t end);

  // Leaves the chunks not taken yet undecoded and waits until the worker is done with the one
  // it decodes, if any: the batch's records are not read after it (Start's precondition ends
  // here).
  void Finish();

  // Records decoded between two wake-ups of the pipeline thread: kFirstChunk first, so that
  // the pipeline thread, idle until a batch's first chunk is decoded, starts soon; then twice
  // as many each time, up to kChunk (the worker decodes about five times as fast as the
  // pipeline applies, so it stays ahead). With a first chunk of kChunk, the pipeline thread
  // of a 4.57M-event `run` waited 1.3 s of 21 s for the decoder. (Since the caller helps, its
  // first chunk is usually its own.)
  static constexpr size_t kFirstChunk = 64;
  static constexpr size_t kChunk = 1024;
  // The end of the chunk that starts at `begin` in a batch of `size` records.
  [[nodiscard]] static size_t ChunkEnd(size_t begin, size_t size) {
    const size_t chunk = begin == 0 ? kFirstChunk : std::min(begin, kChunk);
    return std::min(size, begin + chunk);
  }

 private:
  void Run();
  // Takes the next chunk not taken ([begin, end)), or returns false when none is left.
  // Requires mu_.
  bool TakeChunk(size_t& begin, size_t& end);
  // Records chunk [begin, end) as decoded, and done_ past it and the chunks decoded after it.
  // Requires mu_.
  void ChunkDecoded(size_t begin, size_t end);
  // Decodes records [begin, end) of the batch into their results with `decoder`.
  void DecodeChunk(EventDecoder& decoder, size_t begin, size_t end);

  std::mutex mu_;
  std::condition_variable cv_;
  std::span<const SourceRecord> records_;  // the batch being decoded
  // The batch's results, one per record, [0, records_.size()): made by Start (the results of
  // the batches before are decoded into; any beyond are left as they are). Each chunk's are
  // written by the thread that took it, outside mu_.
  std::vector<DecodeResult> results_;
  size_t taken_ = 0;  // records [0, taken_) are in chunks a thread took (guarded by mu_)
  size_t done_ = 0;   // records [0, done_) are decoded (guarded by mu_)
  // Chunks decoded while one before them was still being decoded, until done_ reaches them
  // (guarded by mu_).
  std::vector<std::pair<size_t, size_t>> decoded_ahead_;
  bool worker_decoding_ = false;  // the worker decodes a chunk outside mu_ (guarded by mu_)
  bool stop_ = false;
  std::exception_ptr failure_;   // what ended the batch early (guarded by mu_)
  EventDecoder caller_decoder_;  // the caller's (pipeline thread's) own
  std::thread thread_;           // last: started once the rest exists
};

}  // namespace iocstream::app
