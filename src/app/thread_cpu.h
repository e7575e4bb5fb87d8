// CPU time of this process's threads, grouped by what they do: where a run's CPU went (the
// pipeline thread, the state writer, RocksDB's flushes and compactions, librdkafka...),
// printed in the run and replay summaries next to the record accounting.
//
// Linux only. Live threads are read from /proc/self/task/*/schedstat (nanoseconds; stat's
// clock ticks as a fallback). A thread that ends before the summary counts under its own name
// if it called RecordThreadEnd last (the replay reader does), and is not counted again while
// the kernel still lists it after it ended; the CPU of other ended threads is the rest of the
// process's rusage. Thread-safe; a thread that ends while it is read is
// skipped (its CPU then shows in that rest).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace iocstream::app {

struct ThreadGroupCpu {
  // "pipeline" (the process's first thread), "librdkafka" (rdk:* threads), "rocksdb"
  // (rocksdb:*: flushes and compactions), else the thread's own name (state-writer,
  // ndjson-reader, outbox-relay, http...), "unnamed" (threads that kept the process's name).
  std::string group;
  double cpu_seconds = 0;  // user + system
  int threads = 0;         // threads counted (0: the rusage rest, "other ended threads")
};

// Adds the calling thread's CPU so far to `group`'s ended threads: call it last in a thread
// that ends before a summary may be printed.
void RecordThreadEnd(std::string_view group);

// Groups sorted by CPU, largest first, then "other ended threads": the process's CPU
// (rusage) beyond what the groups hold, when at least 10 ms. Empty if /proc cannot be read.
[[nodiscard]] std::vector<ThreadGroupCpu> CpuByThreadGroup();

// "pipeline 12.31 s, rocksdb 3.10 s (4 threads), ...", or "" for no groups.
[[nodiscard]] std::string FormatCpuByThreadGroup(const std::vector<ThreadGroupCpu>& groups);

}  // namespace iocstream::app
