// Process figures the benchmark programs print: CPU time and resident memory of this process
// (or, from a wait4 rusage, of a child), and the storage engine they ran on. Linux only
// (/proc/self/statm).
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "app/string_functions.h"
#include "iocstream/state/state_store.h"

namespace iocstream::bench {

// User plus system CPU seconds of a rusage.
inline double CpuSeconds(const rusage& r) {
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
         r.ru_stime.tv_usec / 1e6;
}

// User plus system CPU seconds this process used so far.
inline double CpuSeconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return CpuSeconds(r);
}

// Resident set size now, in KiB.
inline long ResidentKb() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0;
  long pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Peak resident set size of this process so far, in KiB (ru_maxrss).
inline long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// The storage engine build, as a JSON string: figures from a RocksDB with assertions on
// (Debian's package) and from a release build differ severalfold, so every report says which.
inline std::string EngineJson() { return nlohmann::json(state::EngineDescription()).dump(); }

// Which of glibc's string functions the process uses, as a JSON string: on an AVX-512 machine
// the same build ran about a quarter slower with glibc's own choice (app/string_functions.h).
// The benchmark programs choose as iocstream does (PreferAvx2StringFunctions first in main),
// and the `iocstream` processes they start inherit the choice.
inline std::string StringFunctionsJson() {
  return nlohmann::json(app::StringFunctionsDescription()).dump();
}

}  // namespace iocstream::bench
