#include "app/thread_cpu.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

// The CPU of threads that ended after RecordThreadEnd, by group.
struct EndedThreads {
  std::mutex mu;
  std::map<std::string, ThreadGroupCpu, std::less<>> groups;
};
EndedThreads& Ended() {
  static EndedThreads ended;
  return ended;
}

std::string ReadFirstLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// A task's name (field 2 of its stat, between the first '(' and the last ')': the name may
// hold both) and its CPU: schedstat's first field (nanoseconds), else stat's fields 14 and 15
// (utime, stime; clock ticks). False if the task is gone or its files are malformed.
bool ReadTask(const fs::path& task, std::string& name, double& seconds) {
  const std::string stat = ReadFirstLine(task / "stat");
  const size_t open = stat.find('(');
  const size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  name = stat.substr(open + 1, close - open - 1);
  try {
    std::istringstream schedstat(ReadFirstLine(task / "schedstat"));
    unsigned long long ns = 0;
    if (schedstat >> ns) {
      seconds = static_cast<double>(ns) / 1e9;
      return true;
    }
    std::istringstream rest(stat.substr(close + 1));
    std::string field;
    unsigned long long ticks = 0;
    for (int f = 3; f <= 15 && rest >> field; ++f) {  // after ')' comes field 3 (state)
      if (f >= 14) ticks += std::stoull(field);
    }
    const long hz = sysconf(_SC_CLK_TCK);
    seconds = static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string GroupOf(std::string_view name, bool first_thread, std::string_view process_name) {
  if (first_thread) return "pipeline";
  if (name.starts_with("rdk:")) return "librdkafka";
  if (name.starts_with("rocksdb:")) return "rocksdb";
  // A thread nobody named keeps its creator's name, the process's (e.g. RocksDB's timer).
  if (name == process_name) return "unnamed";
  return std::string(name);
}

double Seconds(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

}  // namespace

void RecordThreadEnd(std::string_view group) {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return;
  const double seconds = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  EndedThreads& ended = Ended();
  std::lock_guard lock(ended.mu);
  auto it = ended.groups.find(group);
  if (it == ended.groups.end()) {
    it = ended.groups.emplace(std::string(group), ThreadGroupCpu{std::string(group), 0, 0}).first;
  }
  it->second.cpu_seconds += seconds;
  ++it->second.threads;
}

std::vector<ThreadGroupCpu> CpuByThreadGroup() {
  struct Task {
    std::string name;
    double seconds = 0;
    bool first = false;
  };
  std::vector<Task> tasks;
  std::string process_name;
  const std::string self = std::to_string(getpid());
  std::error_code ec;
  fs::directory_iterator it("/proc/self/task", ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    Task task;
    if (!ReadTask(it->path(), task.name, task.seconds)) continue;
    task.first = it->path().filename() == self;
    if (task.first) process_name = task.name;
    tasks.push_back(std::move(task));
  }
  std::map<std::string, ThreadGroupCpu> groups;
  for (const Task& task : tasks) {
    const std::string group = GroupOf(task.name, task.first, process_name);
    ThreadGroupCpu& g = groups[group];
    g.group = group;
    g.cpu_seconds += task.seconds;
    ++g.threads;
  }
  if (groups.empty()) return {};
  {
    EndedThreads& ended = Ended();
    std::lock_guard lock(ended.mu);
    for (const auto& [name, e] : ended.groups) {
      ThreadGroupCpu& g = groups[name];
      g.group = name;
      g.cpu_seconds += e.cpu_seconds;
      g.threads += e.threads;
    }
  }
  std::vector<ThreadGroupCpu> out;
  double counted = 0;
  for (auto& [name, g] : groups) {
    counted += g.cpu_seconds;
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.cpu_seconds != b.cpu_seconds ? a.cpu_seconds > b.cpu_seconds : a.group < b.group;
  });
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    const double rest = Seconds(usage.ru_utime) + Seconds(usage.ru_stime) - counted;
    if (rest >= 0.01) out.push_back({"other ended threads", rest, 0});
  }
  return out;
}

std::string FormatCpuByThreadGroup(const std::vector<ThreadGroupCpu>& groups) {
  std::string out;
  for (const ThreadGroupCpu& g : groups) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {:.2f} s", g.group, g.cpu_seconds);
    if (g.threads > 1) out += fmt::format(" ({} threads)", g.threads);
  }
  return out;
}

}  // namespace iocstream::app
