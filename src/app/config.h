// iocstream's configuration: one YAML file (config/iocstream.yaml is the documented example).
// Loading validates every key and reports errors as "FILE: KEY: why". Relative paths in the
// file are resolved against the file's own directory. Plain values: thread-compatible.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "app/pipeline.h"
#include "iocstream/core/result.h"
#include "iocstream/http/client.h"
#include "iocstream/rules/dossier_state_machine.h"

namespace iocstream::app {

struct KafkaConfig {
  std::string bootstrap_servers = "127.0.0.1:19092";
  std::string group_id = "iocstream";
  std::string events_topic = "dossier-events";
  std::string alerts_topic = "dossier-alerts";
  std::string dead_letter_topic = "dossier-events-dlq";
  // Compacted topic holding a copy of each partition's state, restored by the instance the
  // group assigns it to (app/changelog.h). Empty: none (one instance, or partitions rebuilt
  // from the events topic when they move).
  std::string changelog_topic;
  int partitions = 6;  // for topics iocstream creates (import, alerts, dead letters)
  size_t max_batch = 5000;
  // Records read ahead of the pipeline: librdkafka's pre-fetch queue (half, at least 4 MiB)
  // and KafkaSource's read-ahead buffer (the rest); ingest::KafkaSourceOptions.
  size_t fetch_queue_mb = 128;
  std::map<std::string, std::string> consumer;  // librdkafka properties, passed through
  std::map<std::string, std::string> producer;
};

// The dossier cache and commit bounds where the config is silent, for `run`, `export` and
// `recompute`; `replay` takes larger ones (ApplyReplayStateDefaults, runtime.h).
inline constexpr size_t kDefaultDossierCacheMb = 64;
inline constexpr size_t kDefaultCommitMaxRecords = 100000;
inline constexpr size_t kDefaultCommitMaxMb = 64;

struct StateConfig {
  std::string dir = "state";
  size_t block_cache_mb = 64;
  size_t write_buffer_mb = 32;
  // RocksDB's write-ahead log off. Unset: off for `replay` (its input file is read again from
  // the last flush after a crash) and on for everything else (`run`: what Kafka no longer
  // holds would be lost).
  std::optional<bool> disable_wal;
  // RocksDB's flushes and compactions at a lower CPU priority (nice 5)
  // (StateStoreOptions::low_priority_background). Unset: on for `replay`, off for the rest.
  std::optional<bool> low_priority_background;
  bool compress = true;  // LZ4 for SST blocks below level 0 (StateStoreOptions::compress)
  // Dossiers kept in memory across commits (MiB, estimated). Unset: kDefaultDossierCacheMb,
  // or replay's (ApplyReplayStateDefaults); read through DossierCacheMb().
  std::optional<size_t> dossier_cache_mb;
  size_t dossier_filter_mb = 16;     // filter of the stored dossier ids (0: none)
  size_t commit_interval_ms = 1000;  // state commit at most this often (0: every poll batch)
  // ... or when this many records are pending (0: no bound). Unset: kDefaultCommitMaxRecords,
  // or replay's; read through CommitMaxRecords().
  std::optional<size_t> commit_max_records;
  // ... or when the pending changes reach this many MiB (0: no bound). Unset:
  // kDefaultCommitMaxMb, or replay's; read through CommitMaxMb().
  std::optional<size_t> commit_max_mb;

  [[nodiscard]] size_t DossierCacheMb() const {
    return dossier_cache_mb.value_or(kDefaultDossierCacheMb);
  }
  [[nodiscard]] size_t CommitMaxRecords() const {
    return commit_max_records.value_or(kDefaultCommitMaxRecords);
  }
  [[nodiscard]] size_t CommitMaxMb() const { return commit_max_mb.value_or(kDefaultCommitMaxMb); }
};

struct HttpConfig {
  bool enabled = true;
  std::string address = "127.0.0.1";
  uint16_t port = 9464;
  // The other instances of the consumer group, whose API answers `run` merges with its own
  // (ApiContext::peers); empty: its own only.
  std::vector<HttpAuthority> peers;
  Millis peer_timeout{2000};  // per round of questions to the peers
};

struct Config {
  std::string path;  // the file it came from
  KafkaConfig kafka;
  StateConfig state;
  HttpConfig http;
  TimerClock clock = TimerClock::kWallClock;
  Millis allowed_lateness{std::chrono::hours(1)};
  Millis max_time_ahead{std::chrono::days(180)};  // timers.max_time_ahead; 0 = no bound
  rules::SlaPolicy sla;
  std::vector<std::string> calendar_files;  // resolved paths
  std::string procedure_catalog;            // resolved path; empty = none
  int replay_partitions = 6;                // hash partitions for file replays
  // Each top-level section of the file as YAML text (re-emitted, so comments and layout do
  // not count): a reload compares them to tell which changed sections need a restart.
  std::map<std::string, std::string> sections;
};

// Kafka's rule for topic names (kafka.common.internals.Topic): 1 to 249 of [a-zA-Z0-9._-],
// not "." or "..". Errors: kInvalidArgument saying which rule the name breaks.
[[nodiscard]] Status CheckTopicName(const std::string& topic);

// Loads and validates a config file. Errors: kInvalidArgument "FILE: KEY: why", kIo.
[[nodiscard]] Result<Config> LoadConfig(const std::string& path);

// The Pipeline options of `run` (kReplay = false: the configured clock, source partitions)
// or of a file `replay` (watermark clock, dossiers hashed over replay_partitions), with the
// configured lateness, commit policy and dossier cache.
enum class PipelineMode { kRun, kReplay };
[[nodiscard]] PipelineOptions PipelineOptionsFor(const Config& config, PipelineMode mode);

}  // namespace iocstream::app
