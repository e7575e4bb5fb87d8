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
#include <set>
#include <sstream>

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

// A task's id and start time (stat field 22, clock ticks since boot): ids are reused, the
// pair is not.
using TaskIdentity = std::pair<std::string, unsigned long long>;

// The CPU of threads that ended after RecordThreadEnd, by group, and the identity of those
// still in /proc: a thread has recorded its end but may stay listed until the kernel reaps
// it, a little after join() returns; it must not be counted twice.
struct EndedThreads {
  std::mutex mu;
  std::map<std::string, ThreadGroupCpu, std::less<>> groups;
  std::set<TaskIdentity> listed;
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

struct TaskStat {
  std::string name;
  unsigned long long cpu_ticks = 0;    // utime + stime (fields 14, 15)
  unsigned long long start_ticks = 0;  // field 22
};

// A task's stat: its name is field 2, between the first '(' and the last ')' (the name may
// hold both). False if the task is gone or the line is malformed.
bool ReadStat(const fs::path& task, TaskStat& out) {
  const std::string stat = ReadFirstLine(task / "stat");
  const size_t open = stat.find('(');
  const size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  out.name = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  int f = 3;  // after ')' comes field 3 (state)
  try {
    for (; f <= 22 && rest >> field; ++f) {
      if (f == 14 || f == 15) out.cpu_ticks += std::stoull(field);
      if (f == 22) out.start_ticks = std::stoull(field);
    }
  } catch (const std::exception&) {
    return false;
  }
  return f == 23;
}

// A task's CPU: schedstat's first field (nanoseconds), else stat's utime + stime.
double CpuSeconds(const fs::path& task, const TaskStat& stat) {
  std::istringstream schedstat(ReadFirstLine(task / "schedstat"));
  unsigned long long ns = 0;
  if (schedstat >> ns) return static_cast<double>(ns) / 1e9;
  const long hz = sysconf(_SC_CLK_TCK);
  return static_cast<double>(stat.cpu_ticks) / static_cast<double>(hz > 0 ? hz : 100);
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
  // The calling thread's own entry, /proc/self/task/<tid>: it stays listed for a moment after
  // the thread ends.
  const std::string tid = std::to_string(gettid());
  TaskStat stat;
  const bool listed = ReadStat(fs::path("/proc/self/task") / tid, stat);
  EndedThreads& ended = Ended();
  std::lock_guard lock(ended.mu);
  if (listed) ended.listed.emplace(tid, stat.start_ticks);
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
  // The ended threads' CPU and identities, read together: a thread that records its end
  // after this is counted live (under its own name) and not again in its group.
  std::set<TaskIdentity> ended_listed;
  std::map<std::string, ThreadGroupCpu, std::less<>> ended_groups;
  {
    EndedThreads& ended = Ended();
    std::lock_guard lock(ended.mu);
    ended_listed = ended.listed;
    ended_groups = ended.groups;
  }
  std::set<TaskIdentity> still_listed;
  std::set<std::string> unread;  // listed, but their stat could not be read
  std::error_code ec;
  fs::directory_iterator it("/proc/self/task", ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string tid = it->path().filename().string();
    TaskStat stat;
    if (!ReadStat(it->path(), stat)) {
      unread.insert(std::move(tid));
      continue;
    }
    TaskIdentity identity{std::move(tid), stat.start_ticks};
    if (ended_listed.contains(identity)) {  // counted in its ended group
      still_listed.insert(std::move(identity));
      continue;
    }
    Task task;
    task.name = std::move(stat.name);
    task.seconds = CpuSeconds(it->path(), stat);
    task.first = it->path().filename() == self;
    if (task.first) process_name = task.name;
    tasks.push_back(std::move(task));
  }
  if (!ec) {
    // Forget the ended threads the kernel has reaped (their ids may come back), not those
    // whose stat could not be read this time.
    EndedThreads& ended = Ended();
    std::lock_guard lock(ended.mu);
    std::erase_if(ended.listed, [&](const TaskIdentity& t) {
      return ended_listed.contains(t) && !still_listed.contains(t) && !unread.contains(t.first);
    });
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
  for (const auto& [name, e] : ended_groups) {
    ThreadGroupCpu& g = groups[name];
    g.group = name;
    g.cpu_seconds += e.cpu_seconds;
    g.threads += e.threads;
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
