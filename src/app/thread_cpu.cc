#include "app/thread_cpu.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace iocstream::app {
namespace {

// Fields 14 and 15 of /proc/<pid>/task/<tid>/stat (utime, stime), counted after the command
// name's closing parenthesis (the name itself may hold spaces and parentheses).
bool ReadTaskStat(const std::filesystem::path& stat_path, std::string& comm, double& seconds) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t open = line.find('(');
  const size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // After ')': field 3 (state) is the first; utime is field 14.
  for (int f = 3; f <= 15 && rest >> field; ++f) {
    if (f == 14) utime = std::stoull(field);
    if (f == 15) stime = std::stoull(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
  return true;
}

}  // namespace

std::vector<ThreadGroupCpu> CpuByThreadGroup() {
  std::map<std::string, ThreadGroupCpu> groups;
  const std::string self = std::to_string(getpid());
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::string comm;
    double seconds = 0;
    try {
      if (!ReadTaskStat(task.path() / "stat", comm, seconds)) continue;
    } catch (const std::exception&) {
      continue;  // a malformed field: skip the thread
    }
    std::string group = comm;
    if (task.path().filename() == self) {
      group = "pipeline";
    } else if (comm.starts_with("rdk:")) {
      group = "librdkafka";
    } else if (comm.starts_with("rocksdb:")) {
      group = "rocksdb";
    }
    ThreadGroupCpu& g = groups[group];
    g.group = group;
    g.cpu_seconds += seconds;
    ++g.threads;
  }
  std::vector<ThreadGroupCpu> out;
  double live = 0;
  for (auto& [name, g] : groups) {
    live += g.cpu_seconds;
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.cpu_seconds != b.cpu_seconds ? a.cpu_seconds > b.cpu_seconds : a.group < b.group;
  });
  rusage usage{};
  if (!out.empty() && getrusage(RUSAGE_SELF, &usage) == 0) {
    const auto seconds = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    const double ended = seconds(usage.ru_utime) + seconds(usage.ru_stime) - live;
    if (ended >= 0.01) out.push_back({"ended threads", ended, 0});
  }
  return out;
}

std::string FormatCpuByThreadGroup(const std::vector<ThreadGroupCpu>& groups) {
  std::string out;
  for (const ThreadGroupCpu& g : groups) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {:.2f} s", g.group, g.cpu_seconds);
    if (g.threads > 1) out += fmt::format(" ({} threads)", g.threads);
    if (g.threads == 0) out += " (rusage)";
  }
  return out;
}

}  // namespace iocstream::app
