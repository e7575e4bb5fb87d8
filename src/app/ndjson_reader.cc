#include "app/ndjson_reader.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "app/pipeline.h"
#include "app/thread_cpu.h"

namespace iocstream::app {

Result<std::unique_ptr<NdjsonReader>> NdjsonReader::Open(const std::string& path, std::string topic,
                                                         Resume resume, size_t batch_size,
                                                         size_t max_ahead) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read " + path + ": " + std::strerror(errno));
  std::unique_ptr<NdjsonReader> reader(new NdjsonReader(path, std::move(topic), resume,
                                                        std::max<size_t>(batch_size, 1),
                                                        std::max<size_t>(max_ahead, 1)));
  reader->thread_ = std::thread([r = reader.get(), in = std::move(in)]() mutable {
    pthread_setname_np(pthread_self(), "ndjson-reader");
    r->Run(in);
    RecordThreadEnd("ndjson-reader");  // it ends before the replay's summary
  });
  return reader;
}

NdjsonReader::NdjsonReader(std::string path, std::string topic, Resume resume, size_t batch_size,
                           size_t max_ahead)
    : path_(std::move(path)),
      topic_(std::move(topic)),
      start_(resume.line),
      applied_chain_(resume.applied_chain),
      batch_size_(batch_size),
      max_ahead_(max_ahead) {}

NdjsonReader::~NdjsonReader() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::optional<NdjsonReader::Batch>> NdjsonReader::Next() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || done_; });
  if (!queue_.empty()) {
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    cv_.notify_all();
    return std::optional<Batch>(std::move(batch));
  }
  if (!error_) return error_.error();
  return std::optional<Batch>();
}

bool NdjsonReader::Push(Batch&& batch) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < max_ahead_ || stop_; });
  if (stop_) return false;
  queue_.push_back(std::move(batch));
  lock.unlock();
  cv_.notify_all();
  return true;
}

void NdjsonReader::Recycle(Batch&& batch) {
  std::lock_guard lock(mu_);
  if (done_ || spent_.size() > max_ahead_) return;  // `batch` is destroyed here
  spent_.push_back(std::move(batch));
}

NdjsonReader::Batch NdjsonReader::TakeSpent() {
  std::lock_guard lock(mu_);
  if (spent_.empty()) return {};
  Batch batch = std::move(spent_.front());
  spent_.pop_front();
  return batch;
}

void NdjsonReader::Run(std::ifstream& in) {
  EventDecoder decoder;  // this thread's own
  Status status;
  // The file is read in large chunks and its lines become records that are views into them
  // (no string per line). A line cut by a chunk's end is copied to the start of the next.
  constexpr size_t kChunkBytes = size_t{1} << 20;
  Batch batch;
  std::shared_ptr<const char[]> current;  // the chunk being split
  std::string_view partial;               // its unterminated tail
  int64_t line_no = -1;
  // Lines longer than kKeptLineBytes (records of the batch, index and whole length in bytes):
  // their records hold only their first kKeptLineBytes bytes (see below).
  std::vector<std::pair<size_t, uint64_t>> overlong_records;
  size_t batch_bytes = 0;  // of the batch's lines
  auto emit = [&]() -> bool {
    if (batch.records.empty()) return true;
    DecodeRecords(decoder, batch.records, batch.decoded);
    for (const auto& [index, bytes] : overlong_records) {
      batch.decoded[index] = DecodeError{
          DecodeErrorReason::kTooLarge,
          "line: " + std::to_string(bytes) + " bytes, limit " + std::to_string(kMaxPayloadBytes) +
              " (its first " + std::to_string(kKeptLineBytes) + " bytes are the payload here)"};
    }
    overlong_records.clear();
    HashDecoded(batch.decoded, batch.hashes);
    batch_bytes = 0;
    if (!Push(std::move(batch))) return false;
    // A batch the consumer is done with, if any: the next lines are decoded into its events
    // (their memory is reused), and its vectors keep their capacity.
    batch = TakeSpent();
    batch.Clear();
    // Lines still to come point into the chunk being split.
    if (current) batch.chunks.push_back(current);
    batch.records.reserve(batch_size_);
    return true;
  };
  // A UTF-8 byte-order mark (editors on Windows write one) marks the file, not its first
  // event; left in place it would dead-letter that event as malformed JSON.
  auto without_mark = [](int64_t number, std::string_view line) {
    if (number == 0 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    return line;
  };
  // The lines before the resume position must be those applied (their chained hash).
  auto changed = [&](std::string_view what) {
    return InvalidArgument(
        path_ + ": " + std::string(what) + " an earlier replay into this state directory " +
        "applied: the file was changed, not only appended to. Resuming after line " +
        std::to_string(start_) + " would skip lines never applied. To apply its new events, " +
        "replay it under another path (events whose id was applied already are skipped as " +
        "duplicates, even if changed); to apply changed events, replay into a new state " +
        "directory");
  };
  uint64_t chain = Pipeline::kChainStart;
  // The chain of the lines read is known from the file's start, or from a resume position
  // whose lines' chain was stored: each record's is then handed to the pipeline with it.
  const bool chain_known = start_ == 0 || applied_chain_.has_value();
  // Whether `bytes` are all blanks that may follow an event's JSON (EventDecoder does not count
  // them against kMaxPayloadBytes).
  auto all_blank = [](std::string_view bytes) {
    return bytes.find_first_not_of(" \t\r") == std::string_view::npos;
  };
  // `bytes`: the whole line's length when `line` is the kept head of an overlong line.
  auto take_line = [&](std::string_view line, uint64_t bytes = 0) -> bool {
    ++line_no;
    const size_t marked = line.size();
    line = without_mark(line_no, line);
    if (bytes > 0) bytes -= marked - line.size();  // the mark is not the line's
    if (line.size() > kKeptLineBytes) {            // the same record wherever the chunks end
      // Past kMaxPayloadBytes only blanks: an event within the limit, whose head holds it
      // (the decoder drops the blanks the head keeps), as an overlong line's (take_overlong).
      if (bytes > 0 || !all_blank(line.substr(kMaxPayloadBytes))) {
        bytes = std::max<uint64_t>(bytes, line.size());
      }
      line = line.substr(0, kKeptLineBytes);
    }
    if (line_no < start_) {  // applied by an earlier run: resume after it
      if (!applied_chain_) return true;
      chain = Pipeline::ChainFingerprint(chain, line);
      if (line_no == start_ - 1 && chain != *applied_chain_) {
        status = changed("lines 1 to " + std::to_string(start_) + " are not those");
        return false;
      }
      return true;
    }
    if (bytes > 0) overlong_records.emplace_back(batch.records.size(), bytes);
    batch.records.push_back(
        SourceRecord{topic_, PartitionId(0), Offset(line_no), Instant{}, {}, line});
    if (chain_known) {
      chain = Pipeline::ChainFingerprint(chain, line);
      batch.chains.push_back(chain);
    }
    batch_bytes += line.size();
    return (batch.records.size() < batch_size_ && batch_bytes < kMaxBatchBytes) || emit();
  };
  batch.records.reserve(batch_size_);
  bool at_end = false;
  bool stopped = false;
  // The line being read past kKeptLineBytes, if any: its head (what its record holds) and its
  // length so far. The rest of it is read and counted, not kept, so that a line of hundreds
  // of megabytes (a file that is not NDJSON, a runaway producer) costs no more memory than
  // one of kKeptLineBytes: it is dead-lettered as too_large whatever its length, with its
  // head as the payload (the file keeps the whole line, and the dead letter says which).
  std::shared_ptr<char[]> overlong_head;
  uint64_t overlong_bytes = 0;
  // Whether every byte of the overlong line past its first kMaxPayloadBytes is a blank: blanks
  // after the JSON do not count against the limit (EventDecoder), so such a line is an event
  // of at most kMaxPayloadBytes, whose head holds it (a 65,536-byte event followed by one space
  // was applied, followed by 1,000 spaces dead-lettered: a helper's finding).
  bool overlong_tail_blank = true;
  auto take_overlong = [&]() -> bool {
    batch.chunks.push_back(overlong_head);
    const std::string_view head(overlong_head.get(), kKeptLineBytes);
    const uint64_t bytes = overlong_tail_blank ? 0 : overlong_bytes;
    overlong_head.reset();
    overlong_bytes = 0;
    overlong_tail_blank = true;
    return take_line(head, bytes);
  };
  while (!at_end && !stopped) {
    // A line longer than a chunk doubles the next one until the line fits (up to
    // kKeptLineBytes, past which its bytes are only counted).
    const size_t size = std::max(kChunkBytes, partial.size() * 2);
    // Not zero-filled first: read() overwrites what is used (zeroing a chunk cost the reader
    // thread about 280 instructions per line).
    std::shared_ptr<char[]> chunk = std::make_shared_for_overwrite<char[]>(size);
    std::copy(partial.begin(), partial.end(), chunk.get());
    in.read(chunk.get() + partial.size(), static_cast<std::streamsize>(size - partial.size()));
    if (in.bad()) {
      status = IoError("cannot read " + path_);
      break;
    }
    at_end = in.eof();
    const std::string_view text(chunk.get(), partial.size() + static_cast<size_t>(in.gcount()));
    current = std::move(chunk);
    // Chunks whose lines were all skipped (a resume) or handed over are not needed any more:
    // the unterminated line was copied into this one.
    if (batch.records.empty()) batch.chunks.clear();
    batch.chunks.push_back(current);
    size_t pos = 0;
    if (overlong_head) {  // the rest of an overlong line, up to its line feed
      const size_t newline = text.find('\n');
      overlong_bytes += std::min(newline, text.size());
      overlong_tail_blank = overlong_tail_blank && all_blank(text.substr(0, newline));
      if (newline == std::string_view::npos) {
        batch.chunks.pop_back();  // nothing of it is kept
        partial = {};
        continue;
      }
      if (!take_overlong()) {
        stopped = true;
        break;
      }
      pos = newline + 1;
    }
    while (true) {
      const size_t newline = text.find('\n', pos);
      if (newline == std::string_view::npos) break;
      if (!take_line(text.substr(pos, newline - pos))) {
        stopped = true;
        break;
      }
      pos = newline + 1;
    }
    partial = text.substr(pos);
    if (partial.size() > kKeptLineBytes) {
      overlong_head = std::make_shared_for_overwrite<char[]>(kKeptLineBytes);
      std::copy_n(partial.begin(), kKeptLineBytes, overlong_head.get());
      overlong_bytes = partial.size();
      overlong_tail_blank = all_blank(partial.substr(kMaxPayloadBytes));
      partial = {};
    }
  }
  // A last line without a line feed is a line too (as std::getline reads it), unless it is
  // not complete JSON: then a producer is likely still writing it. Dead-lettered now, it
  // would be lost once completed (the resume position would be past it): held back instead.
  std::optional<int64_t> held_back;
  if (!stopped && status && at_end && overlong_head) {
    // Unfinished as far as it goes, like a too_large last line below.
    if (line_no + 1 >= start_) {
      held_back = line_no + 1;
    } else {
      stopped = !take_overlong();
    }
  } else if (!stopped && status && at_end && !partial.empty()) {
    const int64_t last = line_no + 1;
    const auto incomplete = [&] {
      const SourceRecord record{
          topic_, PartitionId(0), Offset(last), Instant{}, {}, without_mark(last, partial)};
      const std::vector<DecodeResult> decoded = DecodeRecords(decoder, {&record, 1});
      // Too large: refused before it is parsed, so it may be unfinished too (held back, it is
      // dead-lettered once finished; dead-lettered now, its finished text would then differ
      // from the line applied, and the file be refused as changed).
      // Only whitespace (or a byte-order mark) and a JSON scalar ("12" of "123...") may be
      // the start of an event too; a complete object or array cannot grow into one.
      if (decoded[0].has_value()) return false;
      switch (decoded[0].error().reason) {
        case DecodeErrorReason::kMalformedJson:
        case DecodeErrorReason::kTooLarge:
        case DecodeErrorReason::kEmpty:
          return true;
        case DecodeErrorReason::kNotAnObject:
          return partial.find_first_of("[{") == std::string_view::npos;
        default:
          return false;
      }
    };
    // (A line the resume skips is not decoded.)
    if (last >= start_ && incomplete()) {
      held_back = last;
    } else {
      stopped = !take_line(partial);
    }
  }
  // A file shorter than the resume position cannot be the one read up to it (files grow).
  if (!stopped && status && line_no + 1 < start_) {
    const int64_t lines = line_no + 1;
    status = changed("it has " + std::to_string(lines) + (lines == 1 ? " line" : " lines") +
                     ", fewer than the " + std::to_string(start_) + " lines");
  }
  // The records read before an error are still handed over: they were read correctly.
  if (!stopped) emit();
  std::lock_guard lock(mu_);
  error_ = status;
  held_back_line_ = held_back;
  done_ = true;
  cv_.notify_all();
}

std::optional<int64_t> NdjsonReader::HeldBackLine() const {
  std::lock_guard lock(mu_);
  return held_back_line_;
}

}  // namespace iocstream::app
