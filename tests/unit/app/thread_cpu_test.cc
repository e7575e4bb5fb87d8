#include "app/thread_cpu.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace iocstream::app {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void Burn(double seconds) {
  const double start = ThreadCpuSeconds();
  volatile uint64_t sink = 0;
  while (ThreadCpuSeconds() - start < seconds) sink = sink + 1;
}

const ThreadGroupCpu* Find(const std::vector<ThreadGroupCpu>& groups, const std::string& name) {
  auto it = std::find_if(groups.begin(), groups.end(),
                         [&](const ThreadGroupCpu& g) { return g.group == name; });
  return it == groups.end() ? nullptr : &*it;
}

// Starts a thread named `name` that burns `seconds` of CPU, then waits for `release`.
std::thread Burner(const char* name, double seconds, std::atomic<int>& burnt,
                   const std::atomic<bool>& release) {
  return std::thread([=, &burnt, &release] {
    pthread_setname_np(pthread_self(), name);
    Burn(seconds);
    burnt.fetch_add(1);
    while (!release.load()) std::this_thread::yield();
  });
}

TEST(ThreadCpuTest, GroupsLiveThreadsByWhatTheyDo) {
  std::atomic<int> burnt{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> threads;
  // Two librdkafka threads (one group), a RocksDB one, and a name with ") (" in it, which
  // /proc/<tid>/stat shows inside its parentheses.
  threads.push_back(Burner("rdk:broker1", 0.05, burnt, release));
  threads.push_back(Burner("rdk:main", 0.05, burnt, release));
  threads.push_back(Burner("rocksdb:low", 0.05, burnt, release));
  threads.push_back(Burner("a) (b c", 0.05, burnt, release));
  // A thread nobody names keeps the process's name.
  threads.push_back(std::thread([&] {
    Burn(0.05);
    burnt.fetch_add(1);
    while (!release.load()) std::this_thread::yield();
  }));
  while (burnt.load() < 5) std::this_thread::yield();

  const auto groups = CpuByThreadGroup();
  release.store(true);
  for (auto& t : threads) t.join();
  const std::string all = FormatCpuByThreadGroup(groups);
  const ThreadGroupCpu* kafka = Find(groups, "librdkafka");
  ASSERT_NE(kafka, nullptr) << all;
  EXPECT_EQ(kafka->threads, 2) << all;
  EXPECT_GE(kafka->cpu_seconds, 0.09) << all;
  const ThreadGroupCpu* rocksdb = Find(groups, "rocksdb");
  ASSERT_NE(rocksdb, nullptr) << all;
  EXPECT_GE(rocksdb->cpu_seconds, 0.045) << all;
  const ThreadGroupCpu* odd = Find(groups, "a) (b c");
  ASSERT_NE(odd, nullptr) << all;
  EXPECT_GE(odd->cpu_seconds, 0.045) << all;
  const ThreadGroupCpu* unnamed = Find(groups, "unnamed");
  ASSERT_NE(unnamed, nullptr) << all;
  EXPECT_GE(unnamed->cpu_seconds, 0.045) << all;
  const ThreadGroupCpu* main = Find(groups, "pipeline");  // the process's first thread
  ASSERT_NE(main, nullptr) << all;
  EXPECT_EQ(main->threads, 1);
  // Largest first; the rusage rest, if any, last.
  for (size_t i = 1; i < groups.size(); ++i) {
    if (groups[i].group == "other ended threads") {
      EXPECT_EQ(i + 1, groups.size()) << all;
      continue;
    }
    EXPECT_GE(groups[i - 1].cpu_seconds, groups[i].cpu_seconds) << all;
  }
}

TEST(ThreadCpuTest, AThreadThatRecordsItsEndKeepsItsName) {
  std::vector<ThreadGroupCpu> while_listed;
  std::thread t([&] {
    pthread_setname_np(pthread_self(), "short-lived");
    Burn(0.05);
    RecordThreadEnd("test-ended");
    // The kernel lists a thread until it reaps it, a little after join() returns: read while
    // it surely is listed, it counts once, in its ended group.
    while_listed = CpuByThreadGroup();
  });
  t.join();
  const ThreadGroupCpu* ended_while_listed = Find(while_listed, "test-ended");
  ASSERT_NE(ended_while_listed, nullptr) << FormatCpuByThreadGroup(while_listed);
  EXPECT_EQ(ended_while_listed->threads, 1);
  EXPECT_EQ(Find(while_listed, "short-lived"), nullptr) << FormatCpuByThreadGroup(while_listed);

  const auto groups = CpuByThreadGroup();
  const ThreadGroupCpu* ended = Find(groups, "test-ended");
  ASSERT_NE(ended, nullptr) << FormatCpuByThreadGroup(groups);
  EXPECT_GE(ended->cpu_seconds, 0.045);
  EXPECT_EQ(ended->threads, 1);
  // Still listed in /proc for a moment after join() returns, or gone: not counted twice.
  EXPECT_EQ(Find(groups, "short-lived"), nullptr) << FormatCpuByThreadGroup(groups);
}

TEST(ThreadCpuTest, FormatsSecondsAndThreadCounts) {
  EXPECT_EQ(FormatCpuByThreadGroup(
                {{"pipeline", 12.346, 1}, {"rocksdb", 3.1, 4}, {"other ended threads", 0.5, 0}}),
            "pipeline 12.35 s, rocksdb 3.10 s (4 threads), other ended threads 0.50 s");
  EXPECT_EQ(FormatCpuByThreadGroup({}), "");
}

}  // namespace
}  // namespace iocstream::app
