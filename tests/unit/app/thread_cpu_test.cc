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

const ThreadGroupCpu* Find(const std::vector<ThreadGroupCpu>& groups, const std::string& name) {
  auto it = std::find_if(groups.begin(), groups.end(),
                         [&](const ThreadGroupCpu& g) { return g.group == name; });
  return it == groups.end() ? nullptr : &*it;
}

TEST(ThreadCpuTest, GroupsLiveThreadsByWhatTheyDo) {
  std::atomic<bool> burnt{false};
  std::atomic<bool> done{false};
  // Two librdkafka-like threads: one group. Each burns 60 ms of CPU (clock ticks are 10 ms).
  auto burn = [&] {
    const double start = ThreadCpuSeconds();
    volatile uint64_t sink = 0;
    while (ThreadCpuSeconds() - start < 0.06) sink = sink + 1;
    burnt.store(true);
    while (!done.load()) std::this_thread::yield();
  };
  std::thread a([&] {
    pthread_setname_np(pthread_self(), "rdk:broker1");
    burn();
  });
  while (!burnt.load()) std::this_thread::yield();
  burnt.store(false);
  std::thread b([&] {
    pthread_setname_np(pthread_self(), "rdk:main");
    burn();
  });
  while (!burnt.load()) std::this_thread::yield();

  const auto groups = CpuByThreadGroup();
  done.store(true);
  a.join();
  b.join();
  const ThreadGroupCpu* kafka = Find(groups, "librdkafka");
  ASSERT_NE(kafka, nullptr) << FormatCpuByThreadGroup(groups);
  EXPECT_EQ(kafka->threads, 2);
  EXPECT_GE(kafka->cpu_seconds, 0.1) << FormatCpuByThreadGroup(groups);
  const ThreadGroupCpu* main = Find(groups, "pipeline");  // the process's first thread
  ASSERT_NE(main, nullptr) << FormatCpuByThreadGroup(groups);
  EXPECT_EQ(main->threads, 1);
  // Largest first; the rusage remainder, if any, last.
  for (size_t i = 1; i < groups.size(); ++i) {
    if (groups[i].group == "ended threads") {
      EXPECT_EQ(i + 1, groups.size());
      continue;
    }
    EXPECT_GE(groups[i - 1].cpu_seconds, groups[i].cpu_seconds) << FormatCpuByThreadGroup(groups);
  }
}

TEST(ThreadCpuTest, FormatsSecondsAndThreadCounts) {
  EXPECT_EQ(FormatCpuByThreadGroup(
                {{"pipeline", 12.346, 1}, {"rocksdb", 3.1, 4}, {"ended threads", 0.5, 0}}),
            "pipeline 12.35 s, rocksdb 3.10 s (4 threads), ended threads 0.50 s (rusage)");
  EXPECT_EQ(FormatCpuByThreadGroup({}), "");
}

}  // namespace
}  // namespace iocstream::app
