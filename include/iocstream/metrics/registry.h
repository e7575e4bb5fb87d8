// MetricsRegistry: the process's Prometheus metrics, rendered as text for /metrics.
// ProcessMetrics: the standard process_* metrics, read from /proc/self at each scrape.
//
// This module knows nothing about HTTP. The app serves the text itself, e.g.
//
//   server.Handle("GET", "/metrics", [metrics](const HttpRequest&) {
//     return HttpResponse{.content_type = std::string(kPrometheusTextContentType),
//                         .body = metrics->Serialize()};
//   });
//
// Metric families are built on registry() with prometheus-cpp's builders (BuildCounter() etc.);
// keep label sets small (department, commune, channel; never a dossier or procedure id).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace iocstream {

// Content-Type of Serialize()'s output: Prometheus text exposition format 0.0.4.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Owns a prometheus::Registry for the metric families of every component, plus further
// Collectables (such as ProcessMetrics) whose values are computed at scrape time.
//
// Thread-safety: thread-safe. Families may be added, metrics updated, collectables registered
// and Serialize() called from any threads at once (prometheus-cpp metrics are atomic, its
// Registry locks internally). Every family name must be unique across the registry and the
// registered collectables, or the output repeats a family and Prometheus rejects the scrape.
class MetricsRegistry {
 public:
  MetricsRegistry();

  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The registry to build families on: prometheus::BuildCounter()...Register(registry()).
  [[nodiscard]] prometheus::Registry& registry() const { return *registry_; }
  // The same registry, for a component that keeps it alive on its own.
  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& shared_registry() const {
    return registry_;
  }

  // Adds a collectable that Serialize() collects after the registry's own families. The
  // registry keeps it alive until RemoveCollectable() (adding the same one twice is a no-op).
  void RegisterCollectable(std::shared_ptr<prometheus::Collectable> collectable);
  void RemoveCollectable(const prometheus::Collectable* collectable);

  // Collects every family now: the registry's, then each collectable's in registration order.
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const;

  // Collect() rendered by prometheus::TextSerializer in the text exposition format 0.0.4
  // (serve it with kPrometheusTextContentType). Never fails: a collectable that cannot read its
  // source (ProcessMetrics off Linux) omits its families.
  [[nodiscard]] std::string Serialize() const;

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mu_;  // guards collectables_
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
};

// The process metrics that Prometheus client libraries export by convention (names, units and
// types as in client_golang's process collector), read from /proc/self, /proc/stat and
// getrlimit at every Collect():
//   process_cpu_seconds_total       counter  user + system CPU time, seconds
//   process_resident_memory_bytes   gauge    resident set size, bytes
//   process_virtual_memory_bytes    gauge    virtual memory size, bytes
//   process_start_time_seconds      gauge    start time, seconds since the Unix epoch
//   process_open_fds                gauge    open file descriptors
//   process_max_fds                 gauge    the RLIMIT_NOFILE soft limit
// A family whose source cannot be read (not Linux, /proc not mounted) is left out; Collect()
// never throws. Register it once: registry.RegisterCollectable(std::make_shared<ProcessMetrics>()).
//
// Thread-safety: thread-safe (Collect() only reads the kernel's files).
class ProcessMetrics : public prometheus::Collectable {
 public:
  // Reads the start time once: it does not change during the process's life.
  ProcessMetrics();

  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_ = -1;  // < 0: unknown
};

}  // namespace iocstream
