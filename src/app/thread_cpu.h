// CPU time of this process's live threads, grouped by what they do: where a run's CPU went
// (the pipeline thread, the state writer, RocksDB's flushes and compactions, librdkafka...),
// printed in the run and replay summaries next to the record accounting.
//
// Linux only: read from /proc/self/task/*/stat (user + system time, in clock ticks of
// usually 10 ms). Threads that already ended are not counted (the process's rusage has
// them). Thread-safe; a thread that ends while it is read is skipped.
#pragma once

#include <string>
#include <vector>

namespace iocstream::app {

struct ThreadGroupCpu {
  // "pipeline" (the main thread), "librdkafka" (rdk:* threads), "rocksdb" (rocksdb:*:
  // flushes and compactions), else the thread's own name (state-writer, ndjson-reader,
  // outbox-relay, http...).
  std::string group;
  double cpu_seconds = 0;  // user + system
  int threads = 0;
};

// Groups sorted by CPU, largest first, then "ended threads": the process's CPU (rusage)
// beyond its live threads', when at least 0.01 s. Empty if /proc cannot be read.
[[nodiscard]] std::vector<ThreadGroupCpu> CpuByThreadGroup();

// "pipeline 12.31 s, state-writer 4.02 s, rocksdb 3.10 s (4 threads), ...", or "" if empty.
[[nodiscard]] std::string FormatCpuByThreadGroup(const std::vector<ThreadGroupCpu>& groups);

}  // namespace iocstream::app
