// NdjsonReader: the file source of `iocstream replay`. A thread of its own reads an NDJSON file
// in large chunks, splits it into lines and decodes each line as a dossier event, so that the
// pipeline thread applies one batch while the next is read and decoded (decoding was about a
// third of the pipeline thread's instructions in a replay).
//
// Lines: separated by '\n'; a UTF-8 byte-order mark before the first line is dropped. Record i
// of the file is line i (0-based): its offset, the resume position stored with the state.
// Every line, blank or malformed ones included, becomes a record, so that the pipeline
// accounts for it (a dead letter; a blank line is skipped and counted, see PipelineOptions::
// skip_blank_records) and no offset is skipped, but one: a last line without a line
// feed that may be the start of an event a producer is still writing (not complete JSON, only
// whitespace, a JSON scalar, or longer than kMaxPayloadBytes) is held back (HeldBackLine);
// the replay stops before it, and the next replay of the file, once the line is complete,
// reads it. A last line without a line feed that is a complete JSON object (or array) is a
// line like the others (as std::getline reads it).
//
// Memory: about max_ahead batches of lines, in 1 MiB chunks. A line longer than
// kKeptLineBytes (over kMaxPayloadBytes, so dead-lettered as too_large whatever it holds) is
// read to its end but only its first kKeptLineBytes bytes are kept: its record's payload is
// that head, its decoded result says the whole length, and the source check hashes the head
// (a change past it in an applied line is not seen when resuming).
//
// Thread-safety: one consumer thread calls Next; the reader's own thread does the rest.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/event_hashes.h"
#include "iocstream/core/result.h"
#include "iocstream/core/source_record.h"
#include "iocstream/decode/event_decoder.h"

namespace iocstream::app {

class NdjsonReader {
 public:
  // The bytes kept of a line longer than this (its head): one more than any payload the
  // decoder reads.
  static constexpr size_t kKeptLineBytes = kMaxPayloadBytes + 1;
  // A batch ends after batch_size lines or once its lines hold this many bytes: lines of tens
  // of KiB each (dead-lettered ones) made batches of hundreds of MiB.
  static constexpr size_t kMaxBatchBytes = size_t{8} << 20;

  struct Batch {
    // The bytes the records' payloads point into: kept alive by the batch. Their topic views
    // point into the reader: use a batch while its reader exists.
    std::vector<std::shared_ptr<const char[]>> chunks;
    std::vector<SourceRecord> records;  // topic: the reader's `topic`; partition 0
    // decoded[i]: records[i] decoded. A reused batch keeps the results of its last use until
    // DecodeRecords decodes into them (their memory is reused).
    std::vector<DecodeResult> decoded;
    // chains[i]: the source check chain through records[i] (Pipeline::ChainFingerprint of
    // the lines before it and it), hashed on the reader's thread for ProcessDecoded. Empty
    // when the chain of the lines before the resume position is not known.
    std::vector<uint64_t> chains;
    // hashes[i]: the hashes of decoded[i] (HashDecoded), for ProcessDecoded.
    std::vector<EventHashes> hashes;
    // Empties every part but `decoded`, keeping the vectors' capacity (a batch reused by the
    // reader).
    void Clear() {
      chunks.clear();
      records.clear();
      chains.clear();
      hashes.clear();
    }
  };

  // Where a replay resumes: the first line to read (0-based; the lines before it were applied
  // by an earlier replay) and, when the store has it, the chained hash of those lines as
  // applied (Pipeline::StoredSourceCheck).
  struct Resume {
    Resume(int64_t line, std::optional<uint64_t> applied_chain = std::nullopt)  // NOLINT
        : line(line), applied_chain(applied_chain) {}
    int64_t line = 0;
    std::optional<uint64_t> applied_chain;
  };

  // Starts reading `path` on the reader thread. Records are named `topic` (partition 0), the
  // lines before `resume.line` are skipped (applied by an earlier replay), and batches hold at
  // most `batch_size` records; at most `max_ahead` batches wait for the consumer.
  // Errors: kIo when the file cannot be opened. Next fails with kInvalidArgument, before any
  // batch, when the file is not the one the earlier replay read up to `resume.line`: it has
  // fewer lines, or its lines before `resume.line` do not hash to `resume.applied_chain` (the
  // file was changed under its path, not only appended to; resuming would skip lines never
  // applied).
  [[nodiscard]] static Result<std::unique_ptr<NdjsonReader>> Open(const std::string& path,
                                                                  std::string topic, Resume resume,
                                                                  size_t batch_size,
                                                                  size_t max_ahead = 2);
  // Stops the reader thread and waits for it.
  ~NdjsonReader();
  NdjsonReader(const NdjsonReader&) = delete;
  NdjsonReader& operator=(const NdjsonReader&) = delete;

  // The next batch in file order (blocking), or nullopt once every line was returned.
  // Errors: kIo when reading the file failed (the batches before it were returned).
  [[nodiscard]] Result<std::optional<Batch>> Next();

  // Gives back a batch returned by Next once it is applied: the reader thread decodes later
  // lines into its events and reuses its buffers (it would otherwise be destroyed on the
  // caller's thread). The events of at most the batches in flight are kept this way.
  void Recycle(Batch&& batch);

  // After Next returned nullopt: the 0-based number of the last line, if it was held back
  // (no line feed, and maybe unfinished: see above); no record was returned for it.
  [[nodiscard]] std::optional<int64_t> HeldBackLine() const;

 private:
  NdjsonReader(std::string path, std::string topic, Resume resume, size_t batch_size,
               size_t max_ahead);
  // The reader thread: reads `in` (opened by Open) to its end or until the consumer leaves.
  void Run(std::ifstream& in);
  // Queues `batch` for the consumer; false when the reader is stopping.
  bool Push(Batch&& batch);
  // A recycled batch (not yet emptied), or a new one.
  Batch TakeSpent();

  const std::string path_;
  const std::string topic_;  // records' topic views point here
  const int64_t start_;
  const std::optional<uint64_t> applied_chain_;
  const size_t batch_size_;
  const size_t max_ahead_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;  // guarded by mu_
  std::deque<Batch> spent_;  // guarded by mu_: recycled, for the reader thread to reuse
  bool done_ = false;        // guarded by mu_: the reader thread has queued its last batch
  bool stop_ = false;        // guarded by mu_: the consumer has gone
  Status error_;             // guarded by mu_
  std::optional<int64_t> held_back_line_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace iocstream::app
