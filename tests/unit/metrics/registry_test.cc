#include "iocstream/metrics/registry.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "iocstream/http/server.h"
#include "unit/http/http_test_client.h"

namespace iocstream {
namespace {

// The value of the sample line that starts with `series` ("name" or "name{labels}").
std::optional<double> SampleValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

void AddPipelineLikeMetrics(MetricsRegistry& metrics) {
  auto& events = prometheus::BuildCounter()
                     .Name("iocstream_events_total")
                     .Help("Events consumed, by outcome.")
                     .Register(metrics.registry());
  events.Add({{"outcome", "applied"}}).Increment(3);
  events.Add({{"outcome", "dead_lettered"}}).Increment();
  prometheus::BuildGauge()
      .Name("iocstream_open_dossiers")
      .Help("Dossiers received and not yet finished.")
      .Register(metrics.registry())
      .Add({{"commune", "Ea H\xc3\xa1"}})
      .Set(42);
  prometheus::BuildHistogram()
      .Name("iocstream_batch_apply_seconds")
      .Help("Time to apply one poll batch to RocksDB.")
      .Register(metrics.registry())
      .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1})
      .Observe(0.005);
}

TEST(MetricsRegistryTest, SerializesCounterAndGauge) {
  MetricsRegistry metrics;
  AddPipelineLikeMetrics(metrics);
  const std::string text = metrics.Serialize();
  EXPECT_NE(text.find("# HELP iocstream_events_total Events consumed, by outcome.\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE iocstream_events_total counter\n"), std::string::npos) << text;
  EXPECT_EQ(SampleValue(text, R"(iocstream_events_total{outcome="applied"})"), 3);
  EXPECT_EQ(SampleValue(text, R"(iocstream_events_total{outcome="dead_lettered"})"), 1);
  EXPECT_NE(text.find("# TYPE iocstream_open_dossiers gauge\n"), std::string::npos) << text;
  EXPECT_EQ(SampleValue(text, "iocstream_open_dossiers{commune=\"Ea H\xc3\xa1\"}"), 42);
  EXPECT_EQ(SampleValue(text, R"(iocstream_batch_apply_seconds_bucket{le="0.01"})"), 1);
}

TEST(MetricsRegistryTest, EmptyRegistrySerializesToNothing) {
  MetricsRegistry metrics;
  EXPECT_EQ(metrics.Serialize(), "");
}

TEST(MetricsRegistryTest, CollectablesAreAddedOnceAndRemoved) {
  MetricsRegistry metrics;
  auto process = std::make_shared<ProcessMetrics>();
  metrics.RegisterCollectable(process);
  metrics.RegisterCollectable(process);
  metrics.RegisterCollectable(nullptr);
  const std::string text = metrics.Serialize();
  const auto first = text.find("# TYPE process_open_fds gauge");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find("# TYPE process_open_fds gauge", first + 1), std::string::npos) << text;
  metrics.RemoveCollectable(process.get());
  EXPECT_EQ(metrics.Serialize(), "");
}

TEST(ProcessMetricsTest, ReportsStandardProcessMetrics) {
  MetricsRegistry metrics;
  metrics.RegisterCollectable(std::make_shared<ProcessMetrics>());
  const std::string text = metrics.Serialize();
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE process_resident_memory_bytes gauge\n"), std::string::npos);

  const auto rss = SampleValue(text, "process_resident_memory_bytes");
  ASSERT_TRUE(rss.has_value()) << text;
  EXPECT_GT(*rss, 0);
  const auto virtual_memory = SampleValue(text, "process_virtual_memory_bytes");
  ASSERT_TRUE(virtual_memory.has_value()) << text;
  EXPECT_GE(*virtual_memory, *rss);
  const auto cpu = SampleValue(text, "process_cpu_seconds_total");
  ASSERT_TRUE(cpu.has_value()) << text;
  EXPECT_GE(*cpu, 0);
  // Started within the last day, not in the future.
  const auto start = SampleValue(text, "process_start_time_seconds");
  ASSERT_TRUE(start.has_value()) << text;
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*start, now + 2);
  EXPECT_GT(*start, now - 86400);
  const auto open_fds = SampleValue(text, "process_open_fds");
  ASSERT_TRUE(open_fds.has_value()) << text;
  EXPECT_GE(*open_fds, 3);  // stdin, stdout, stderr
  const auto max_fds = SampleValue(text, "process_max_fds");
  ASSERT_TRUE(max_fds.has_value()) << text;
  EXPECT_GE(*max_fds, *open_fds);
}

TEST(ProcessMetricsTest, OpenFdsFollowsTheProcess) {
  const ProcessMetrics process;
  const auto open_fds = [&] {
    for (const auto& family : process.Collect()) {
      if (family.name == "process_open_fds") return family.metric.at(0).gauge.value;
    }
    return -1.0;
  };
  const double before = open_fds();
  std::ifstream held("/proc/self/stat");
  ASSERT_TRUE(held.is_open());
  EXPECT_EQ(open_fds(), before + 1);
}

// Runs `promtool check metrics` (the Prometheus project's own parser and linter) on `text`.
struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};
PromtoolResult Promtool(const std::string& text) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("iocstream_metrics_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(file) << text;
  PromtoolResult result;
  FILE* pipe = ::popen(("promtool check metrics < " + file.string() + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) result.output += chunk.data();
  const int status = ::pclose(pipe);
  std::filesystem::remove(file);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(MetricsRegistryTest, PromtoolAcceptsTheOutput) {
  if (std::system("command -v promtool > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed";
  }
  MetricsRegistry metrics;
  AddPipelineLikeMetrics(metrics);
  metrics.RegisterCollectable(std::make_shared<ProcessMetrics>());
  const std::string text = metrics.Serialize();
  const PromtoolResult result = Promtool(text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- input ---\n" << text;
  EXPECT_EQ(result.output, "") << text;  // no lint findings either
}

// The glue the app writes: /metrics on the project's own HTTP server.
TEST(MetricsRegistryTest, ServedThroughHttpServer) {
  auto metrics = std::make_shared<MetricsRegistry>();
  AddPipelineLikeMetrics(*metrics);
  HttpServer server;
  server.Handle("GET", "/metrics", [metrics](const HttpRequest&) {
    return HttpResponse{.content_type = std::string(kPrometheusTextContentType),
                        .body = metrics->Serialize()};
  });
  ASSERT_TRUE(server.Start().ok());
  test::TestClient client(server.port());
  const auto response = client.Request("GET", "/metrics");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(SampleValue(response->body, R"(iocstream_events_total{outcome="applied"})"), 3);
}

}  // namespace
}  // namespace iocstream
