#include "iocstream/metrics/registry.h"

#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

namespace iocstream {

MetricsRegistry::MetricsRegistry() : registry_(std::make_shared<prometheus::Registry>()) {}

void MetricsRegistry::RegisterCollectable(std::shared_ptr<prometheus::Collectable> collectable) {
  if (collectable == nullptr) return;
  std::lock_guard lock(mu_);
  if (std::find(collectables_.begin(), collectables_.end(), collectable) != collectables_.end()) {
    return;
  }
  collectables_.push_back(std::move(collectable));
}

void MetricsRegistry::RemoveCollectable(const prometheus::Collectable* collectable) {
  std::lock_guard lock(mu_);
  std::erase_if(collectables_, [&](const auto& c) { return c.get() == collectable; });
}

std::vector<prometheus::MetricFamily> MetricsRegistry::Collect() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
  {
    // Collect outside the lock: a slow collectable must not hold up registration.
    std::lock_guard lock(mu_);
    collectables = collectables_;
  }
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const auto& collectable : collectables) {
    std::vector<prometheus::MetricFamily> more = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return families;
}

std::string MetricsRegistry::Serialize() const {
  return prometheus::TextSerializer().Serialize(Collect());
}

namespace {

// Fields of /proc/self/stat (proc(5)), counted from 1 as the manual does.
struct ProcStat {
  double utime_ticks = 0;      // field 14
  double stime_ticks = 0;      // field 15
  double starttime_ticks = 0;  // field 22, clock ticks after boot
  double vsize_bytes = 0;      // field 23
  double rss_pages = 0;        // field 24
};

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::optional<ProcStat> ReadProcStat() {
  const std::optional<std::string> text = ReadFile("/proc/self/stat");
  if (!text) return std::nullopt;
  // Field 2 is the command name in parentheses and may itself hold spaces and ')': the fields
  // we want follow the last ')'. The first one after it is field 3.
  const auto paren = text->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text->substr(paren + 1));
  std::vector<std::string> tokens{std::istream_iterator<std::string>(fields),
                                  std::istream_iterator<std::string>()};
  const auto field = [&](std::size_t number) { return std::stod(tokens.at(number - 3)); };
  try {
    return ProcStat{.utime_ticks = field(14),
                    .stime_ticks = field(15),
                    .starttime_ticks = field(22),
                    .vsize_bytes = field(23),
                    .rss_pages = field(24)};
  } catch (const std::exception&) {  // std::out_of_range or std::invalid_argument
    return std::nullopt;
  }
}

// System boot time, seconds since the Unix epoch ("btime" in /proc/stat).
std::optional<double> ReadBootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double seconds = 0;
      if (in >> seconds) return seconds;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> CountOpenFds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return std::nullopt;
  double count = 0;
  // The iterator's own descriptor is counted too, as client_golang does.
  for (const auto end = std::filesystem::directory_iterator(); it != end; it.increment(ec)) {
    if (ec) return std::nullopt;
    ++count;
  }
  return count;
}

prometheus::MetricFamily SingleSampleFamily(std::string name, std::string help,
                                            prometheus::MetricType type, double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{
      .name = std::move(name), .help = std::move(help), .type = type, .metric = {metric}};
}

}  // namespace

ProcessMetrics::ProcessMetrics() {
  const std::optional<ProcStat> stat = ReadProcStat();
  const std::optional<double> boot = ReadBootTimeSeconds();
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (stat && boot && ticks_per_second > 0) {
    start_time_seconds_ = *boot + stat->starttime_ticks / static_cast<double>(ticks_per_second);
  }
}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (const std::optional<ProcStat> stat = ReadProcStat()) {
    if (ticks_per_second > 0) {
      families.push_back(SingleSampleFamily(
          "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
          MetricType::Counter,
          (stat->utime_ticks + stat->stime_ticks) / static_cast<double>(ticks_per_second)));
    }
    if (page_size > 0) {
      families.push_back(SingleSampleFamily("process_resident_memory_bytes",
                                            "Resident memory size in bytes.", MetricType::Gauge,
                                            stat->rss_pages * static_cast<double>(page_size)));
    }
    families.push_back(SingleSampleFamily("process_virtual_memory_bytes",
                                          "Virtual memory size in bytes.", MetricType::Gauge,
                                          stat->vsize_bytes));
  }
  if (start_time_seconds_ >= 0) {
    families.push_back(SingleSampleFamily("process_start_time_seconds",
                                          "Start time of the process since unix epoch in seconds.",
                                          MetricType::Gauge, start_time_seconds_));
  }
  if (const std::optional<double> open_fds = CountOpenFds()) {
    families.push_back(SingleSampleFamily("process_open_fds", "Number of open file descriptors.",
                                          MetricType::Gauge, *open_fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    // RLIM_INFINITY is a huge unsigned value; as a double it stays a (large) valid sample.
    families.push_back(SingleSampleFamily("process_max_fds",
                                          "Maximum number of open file descriptors.",
                                          MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace iocstream
