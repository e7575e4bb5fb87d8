// The metric families of a running iocstream, computed at scrape time from the components'
// probes and the aggregate table (no per-event metric updates on the hot path).
//
// Names follow the Prometheus conventions with the iocstream_ prefix; labels are small sets
// only (department, commune, channel, outcome, reason, kind, partition): never a dossier or
// a procedure code. Thread-safe: Collect() runs on the HTTP thread and only reads atomics,
// the aggregate table's snapshot and the store's statistics.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/outbox_relay.h"
#include "app/pipeline.h"
#include "app/reload.h"
#include "app/runtime.h"
#include "iocstream/aggregate/aggregate_table.h"
#include "iocstream/ingest/kafka_source.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

class PipelineMetrics : public prometheus::Collectable {
 public:
  PipelineMetrics(const PipelineProbe& probe, const RelayProbe& relay,
                  const aggregate::AggregateTable& aggregates, const state::StateStore& store,
                  std::function<std::vector<ingest::PartitionLag>()> lag,
                  std::function<std::optional<int>()> brokers_up = {});

  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const PipelineProbe& probe_;
  const RelayProbe& relay_;
  const aggregate::AggregateTable& aggregates_;
  const state::StateStore& store_;
  std::function<std::vector<ingest::PartitionLag>()> lag_;
  std::function<std::optional<int>()> brokers_up_;  // KafkaSource::BrokersUp
};

// iocstream_api_peer_requests_total{peer="host:port", result="ok|failed"}: the requests the API
// sent each of its peers (http.peers), by whether an answer came. Count() is thread-safe (the
// HTTP worker threads count, a scrape reads).
class PeerRequestMetrics : public prometheus::Collectable {
 public:
  explicit PeerRequestMetrics(std::vector<std::string> peers);
  // A request to peers[peer] answered (`ok`: an answer of the expected kind came) or failed.
  void Count(size_t peer, bool ok);
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<std::string> peers_;
  std::unique_ptr<std::atomic<uint64_t>[]> ok_;
  std::unique_ptr<std::atomic<uint64_t>[]> failed_;
};

// iocstream_rules_reloads_total{result="success|failure"} and
// iocstream_rules_last_reload_timestamp_seconds{result="success|failure"} (Unix seconds of the
// last reload with that result; absent before the first).
class ReloadMetrics : public prometheus::Collectable {
 public:
  explicit ReloadMetrics(const ReloadProbe& probe) : probe_(probe) {}
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const ReloadProbe& probe_;
};

// iocstream_calendar_loaded_until_timestamp_seconds: when the holidays of the calendar in
// force end, as Unix seconds: 00:00 (the calendar's time zone) of 1 January of the first year,
// from the current year on, that no calendar file covers (CalendarLoadedUntil). Deadlines
// from then on skip no holiday. Read from `rules` and `now` at each scrape, so it follows
// reloads; always exported.
class CalendarMetrics : public prometheus::Collectable {
 public:
  explicit CalendarMetrics(const CurrentRules& rules, std::function<Instant()> now = WallClockNow)
      : rules_(rules), now_(std::move(now)) {}
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const CurrentRules& rules_;
  std::function<Instant()> now_;
};

}  // namespace iocstream::app
