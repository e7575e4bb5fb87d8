#include "app/commands.h"

#include <csv.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "app/api.h"
#include "app/app_metrics.h"
#include "app/decode_worker.h"
#include "app/mapping_config.h"
#include "app/ndjson_reader.h"
#include "app/outbox_relay.h"
#include "app/pipeline.h"
#include "app/reload.h"
#include "app/rules_config.h"
#include "app/runtime.h"
#include "app/simulator.h"
#include "app/thread_cpu.h"
#include "app/views.h"
#include "iocstream/alert/kafka_sink.h"
#include "iocstream/core/hash.h"
#include "iocstream/core/utf8.h"
#include "iocstream/decode/event_encoder.h"
#include "iocstream/decode/rfc3339.h"
#include "iocstream/ingest/csv_source.h"
#include "iocstream/ingest/kafka_source.h"

namespace iocstream::app {
namespace {

namespace fs = std::filesystem;

// The changelog producer's transaction.timeout.ms: a transaction left open by a stalled or dead
// writer is aborted by the broker after this; a new owner of its partitions waits for that.
// Below the default session timeout (45 s), so that a killed member's transaction has ended by
// the time its partitions move (a helper's new owner waited 56 s with librdkafka's default 60 s
// and a 6 s session); a commit's transaction (at most commit_max_records dossiers, a seed's
// 20,000) takes well under a second on a healthy broker.
constexpr Millis kChangelogTransactionTimeout{30000};
constexpr int kExitRuntime = 2;
constexpr int kExitInterrupted = 130;  // replay stopped by SIGINT/SIGTERM (128 + SIGINT)
// How long `run` may take to close its clients after the final commit before it exits anyway.
constexpr auto kShutdownBound = std::chrono::seconds(60);
// How long `run` waits for a broker's answer when it loses its partitions (outage or stall).
constexpr Millis kOutageCheckTimeout{3000};

// `export` and `recompute` scan the dossiers and read none by id: the dossier filter
// (state.dossier_filter_mb, allocated whole, and a scan of every id) is for `run` and `replay`.
enum class DossierReads { kById, kScanOnly };

// Which command's state defaults apply where the config is silent (ApplyReplayStateDefaults).
enum class StateDefaults { kRun, kReplay };

Result<std::unique_ptr<Runtime>> Open(const CommonOptions& common,
                                      DossierReads reads = DossierReads::kScanOnly,
                                      StateDefaults defaults = StateDefaults::kRun) {
  auto config = LoadConfig(common.config_path);
  if (!config) return config.error();
  if (common.state_dir) config->state.dir = *common.state_dir;
  if (reads == DossierReads::kScanOnly) config->state.dossier_filter_mb = 0;
  if (defaults == StateDefaults::kReplay) ApplyReplayStateDefaults(*config);
  return OpenRuntime(std::move(*config));
}

int Fail(const Error& e) {
  std::cerr << "iocstream: " << e.message << "\n";
  return e.code == ErrorCode::kInvalidArgument || e.code == ErrorCode::kNotFound ? kExitBadInput
                                                                                 : kExitRuntime;
}

// Set once by main() before any command runs (NoteStandardOutputWasClosed).
bool g_stdout_was_closed = false;

// A write of `what` to standard output failed with errno `error`: quietly kExitBrokenPipe when
// the reader went away, else the cause on stderr. With stdout closed by the caller the write
// went to /dev/full, whose ENOSPC ("No space left on device") sent users looking at a disk.
int FailStandardOutput(const std::string& what, int error) {
  if (error == EPIPE) return kExitBrokenPipe;
  const std::string reason =
      g_stdout_was_closed
          ? std::string(std::strerror(EBADF)) + " (it was closed when iocstream started)"
          : std::string(error != 0 ? std::strerror(error) : "write error");
  return Fail(IoError("cannot write " + what + " to standard output: " + reason));
}

// A one-line progress display on stderr (only when stderr is a terminal; else every 10%).
class Progress {
 public:
  Progress(std::string what, uint64_t total, bool enabled)
      : what_(std::move(what)), total_(total), enabled_(enabled), tty_(isatty(2) != 0) {}
  void Update(uint64_t done) {
    if (!enabled_ || total_ == 0) return;
    const int percent = static_cast<int>(100 * done / total_);
    if (percent == last_percent_) return;
    if (!tty_ && percent % 10 != 0 && done != total_) return;
    last_percent_ = percent;
    constexpr int kWidth = 40;
    const int filled = percent * kWidth / 100;
    std::fprintf(stderr, "%s%s [%.*s%*s] %3d%% %llu/%llu%s", tty_ ? "\r" : "", what_.c_str(),
                 filled, "########################################", kWidth - filled, "", percent,
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                 tty_ ? "" : "\n");
    if (done == total_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  std::string what_;
  uint64_t total_;
  bool enabled_;
  bool tty_;
  int last_percent_ = -1;
};

// An option's value that is not an RFC 3339 instant: the error says what to fix in it.
Error NotRfc3339(std::string_view option, const std::string& text) {
  return InvalidArgument(std::string(option) + ": not RFC 3339: '" + text + "' (" +
                         Rfc3339Problem(text) + ")");
}

// --as-of: an RFC 3339 instant within the range events may carry (1970 to 2199, the calendar's
// and the event contract's); 1900 or 9999 was taken, and judged every deadline against it.
Result<Instant> AsOfOption(const std::string& text) {
  const std::optional<Instant> t = ParseRfc3339(text);
  if (!t) return NotRfc3339("--as-of", text);
  if (*t < kEarliestEventTime || *t >= kLatestEventTime) {
    return InvalidArgument("--as-of: '" + text +
                           "' is outside 1970-01-01 to 2199-12-31 (UTC), the instants events "
                           "and deadlines may have");
  }
  return *t;
}

// `file` made absolute, without symbolic links, "." or "..", as a replay names a file; `file`
// itself when that fails.
std::string CanonicalPath(const std::string& file) {
  std::error_code ec;
  std::string path = fs::weakly_canonical(fs::absolute(file, ec), ec).string();
  return ec || path.empty() ? file : path;
}

// Reads CSV files through a mapping into dossier events sorted by event time (stable), so
// that every partition of the events topic carries its dossiers' events in time order, as
// live offices publish them. Row errors are reported, never dropped silently.
struct MappedEvents {
  std::vector<DossierEvent> events;
  // Where each event's row is: its file (an index into `files`) and the physical line (1-based)
  // where the row starts. Parallel to `events`, in their sorted order.
  struct RowRef {
    uint32_t file = 0;
    int64_t line = 0;
  };
  std::vector<RowRef> rows_of;
  std::vector<std::string> files;  // as given on the command line, in the order read (by path)
  uint64_t rows = 0;
  uint64_t row_errors = 0;

  // "file:line" of the row event `index` came from ("" past the end).
  [[nodiscard]] std::string RowOf(uint64_t index) const {
    if (index >= rows_of.size()) return {};
    return fmt::format("{}:{}", files[rows_of[index].file], rows_of[index].line);
  }
};

// What became of the rows, for the closing line of `import` and `replay --mapping`: every row
// read is either in the events or counted as not imported (its error logged).
std::string DescribeRows(const MappedEvents& m) {
  return fmt::format("{} {} from {} of {} CSV rows ({} {} not imported)", m.events.size(),
                     m.events.size() == 1 ? "event" : "events", m.rows - m.row_errors, m.rows,
                     m.row_errors, m.row_errors == 1 ? "row" : "rows");
}

Result<MappedEvents> ReadMappedCsv(const std::string& mapping_path,
                                   const std::vector<std::string>& files) {
  auto mapping = LoadCsvMapping(mapping_path);
  if (!mapping) return mapping.error();
  MappedEvents out;
  // Read in one order whatever the command line's (a glob, `ls -t`): by absolute path, without
  // links or "..". Events at the same instant keep it, so the events' order, and the source's
  // name and position that `replay` resumes from, do not depend on the arguments' order (the
  // same files in reverse order were a new source, all read again: a helper's finding).
  {
    std::vector<std::pair<std::string, std::string>> by_path;  // canonical path, as given
    for (const std::string& f : files) by_path.emplace_back(CanonicalPath(f), f);
    std::stable_sort(by_path.begin(), by_path.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [canonical, given] : by_path) out.files.push_back(std::move(given));
  }
  std::map<std::string, uint64_t> error_reasons;
  std::vector<std::string> first_errors;  // for the error when no row is imported
  for (size_t f = 0; f < out.files.size(); ++f) {
    const std::string& file = out.files[f];
    auto reader = ingest::CsvEventReader::Open(file, *mapping);
    if (!reader) return reader.error();
    while (auto row = (*reader)->NextRow()) {
      if (auto* events = std::get_if<std::vector<DossierEvent>>(&*row)) {
        ++out.rows;
        for (auto& e : *events) {
          out.events.push_back(std::move(e));
          out.rows_of.push_back({static_cast<uint32_t>(f), (*reader)->last_line()});
        }
      } else {
        // Usually one row; a quote left open at the end of the file stands for the lines it
        // took (none: its row was counted on its own).
        const auto& err = std::get<ingest::RowError>(*row);
        const auto rows = static_cast<uint64_t>(err.rows);
        if (out.row_errors < 5) {
          spdlog::warn("{}:{}: {}; {}", err.file, err.line, err.reason,
                       rows == 1   ? std::string("row not imported")
                       : rows == 0 ? std::string("no other row lost")
                                   : fmt::format("{} rows not imported", rows));
        }
        if (first_errors.size() < 3) {
          first_errors.push_back(fmt::format("{}:{}: {}", err.file, err.line, err.reason));
        }
        out.rows += rows;
        out.row_errors += rows;
        error_reasons[err.reason.substr(0, err.reason.find(':'))] += rows;
      }
    }
  }
  for (const auto& [reason, n] : error_reasons) {
    if (n > 0) spdlog::warn("{} row(s) not imported: {}", n, reason);
  }
  // Rows, none imported: a mapping that does not fit the files (a time format, a column
  // name), not data to account for. It exited 0, "0 of 8061 CSV rows", which a batch job
  // could not tell from success (a QA finding). Some rows imported: the others are reported
  // and counted, and the command goes on.
  if (out.rows > 0 && out.row_errors == out.rows) {
    std::string errors;
    for (const std::string& e : first_errors) errors += (errors.empty() ? "" : "; ") + e;
    return InvalidArgument(fmt::format(
        "none of the {} CSV rows could be imported (first errors: {}): check the mapping {} "
        "against the files (column names, time formats, code values)",
        out.rows, errors, mapping_path));
  }
  // Sorted by time (stable), each event's row reference with it.
  std::vector<size_t> order(out.events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return out.events[a].occurred_at < out.events[b].occurred_at;
  });
  std::vector<DossierEvent> events;
  std::vector<MappedEvents::RowRef> rows_of;
  events.reserve(order.size());
  rows_of.reserve(order.size());
  for (const size_t i : order) {
    events.push_back(std::move(out.events[i]));
    rows_of.push_back(out.rows_of[i]);
  }
  out.events = std::move(events);
  out.rows_of = std::move(rows_of);
  return out;
}

// A file source's name in the offsets family: its path plus a fingerprint of its first
// record, so that a file rewritten under the same path is replayed from its start, while a
// file that grew (lines appended) resumes after the lines already applied.
std::string FileSourceName(const std::string& path, std::string_view first_record) {
  return fmt::format("{}#{:016x}", path, ShortHash(first_record));
}

// Partition numbers for the log: "0, 1, 2", or "none".
std::string PartitionList(const std::set<PartitionId>& partitions) {
  const std::string out = JoinPartitions(partitions, ", ");
  return out.empty() ? "none" : out;
}

// Whether a stored source is a replayed file's (FileSourceName: "path#fingerprint"; a mapped
// CSV's "csv:name#fingerprint") rather than a Kafka topic, whose names hold no '#'.
bool IsFileSource(std::string_view name) { return name.find('#') != std::string_view::npos; }

// Warns when the state directory holds positions of the other kind of source than the command
// reads (`run`: Kafka topics, `replay`: files): the state goes on from the other's, watermarks
// included, so that events older than its newest ones are late data and due timers wait for
// the clock to pass them (a QA trial's `run` on a replay's directory applied every event as
// late and fired no timer). A backfill from files followed by the live topic does this on
// purpose; a reused directory by mistake.
// `run` (`events_topic` set) also warns of other topics' state: a changed kafka.events_topic
// went on from the old topic's dossiers without a word (a helper's finding).
void WarnAboutOtherSources(const state::StateStore& store, const std::string& dir, bool reads_files,
                           const std::string& events_topic = {}) {
  auto offsets = store.LoadOffsets();
  if (!offsets) return;  // the pipeline reads them again, and reports a failure
  std::set<std::string> others;
  std::set<std::string> other_topics;
  for (const auto& [tp, offset] : *offsets) {
    if (IsFileSource(tp.topic) != reads_files) {
      others.insert(tp.topic);
    } else if (!reads_files && tp.topic != events_topic) {
      other_topics.insert(tp.topic);
    }
  }
  if (!other_topics.empty()) {
    spdlog::warn(
        "state directory {} holds the state of `run` on {} other topic(s) ({}{}) than "
        "kafka.events_topic {}: their dossiers stay in this state, its KPIs and worklist, "
        "beside the topic's. Give each events topic a state directory of its own unless it "
        "continues that state on purpose (the topic renamed, its events copied over)",
        dir, other_topics.size(), *other_topics.begin(), other_topics.size() > 1 ? ", ..." : "",
        events_topic);
  }
  if (others.empty()) return;
  spdlog::warn(
      "state directory {} holds the state of {} {} {} ({}{}): this `{}` goes on from it, and the "
      "partitions' clocks (watermarks) with it: events older than the newest ones applied "
      "there are late data, and due timers wait for the clock to pass them. Give it a state "
      "directory of its own unless it continues that state on purpose (a backfill from files "
      "followed by the live topic)",
      dir, reads_files ? "`run` on" : "a `replay` of", others.size(),
      // A source, not a file: a `replay --mapping` of several CSV files is one (named by its
      // first file), which read "1 file(s)" (a helper's finding).
      reads_files ? "topic(s)" : "source(s)", *others.begin(), others.size() > 1 ? ", ..." : "",
      reads_files ? "replay" : "run");
}

// A store's dossiers are spread over a number of state partitions, each with its own timers
// and watermark: `replay.partitions` under `replay` (Kafka's murmur2 partitioner on the
// dossier id, as `import` publishes them), the events topic's partitions under `run`, whose
// group gives each instance whole partitions. State spread over another count than the one a
// command reads with is partly out of its reach: a dossier's later events land in another
// partition than its state and timers (a QA trial: a replay over 6 partitions continued by
// `run` on a 3-partition topic in the same directory lost half its dossiers from the API and
// counted more overdue than open). The first command to write a store records its count; a
// command with another count is refused, `run` and `replay` alike.
// `reading`: what the command reads with, e.g. "replay.partitions = 3"; `remedy`: what to do.
Status CheckStatePartitions(state::StateStore& store, const std::string& dir, int32_t count,
                            const std::string& reading, const std::string& remedy) {
  auto recorded = store.GetStatePartitions();
  if (!recorded) return recorded.error();
  if (*recorded && **recorded != count) {
    return InvalidArgument("state dir " + dir + " holds state spread over " +
                           std::to_string(**recorded) +
                           " state partitions (the replay.partitions of the `replay`, or the "
                           "events topic's partitions under the `run`, that wrote it); " +
                           reading + ": " + remedy);
  }
  if (*recorded) return {};
  state::StateBatch batch = store.NewBatch();
  batch.PutStatePartitions(count);
  return store.Commit(std::move(batch));
}

// The producer of `import` and `simulate`, to the events topic, which it creates if it does not
// exist. Dossiers are placed by the Java clients' partitioner, so that `replay` can place them on
// the same partitions.
Result<std::unique_ptr<alert::KafkaSink>> OpenEventsProducer(const Config& config,
                                                             const std::string& topic) {
  alert::KafkaSinkOptions sink_options;
  sink_options.bootstrap_servers = config.kafka.bootstrap_servers;
  sink_options.properties = config.kafka.producer;
  sink_options.properties.emplace("partitioner", "murmur2_random");
  auto sink = alert::KafkaSink::Open(sink_options);
  if (!sink) return sink.error();
  const std::vector<alert::TopicSpec> topics = {{topic, config.kafka.partitions, {}}};
  if (Status s = (*sink)->EnsureTopics(topics, Millis(15000)); !s) return s.error();
  return std::move(*sink);
}

// What `run` and `replay` share: the runtime opened from the config (calendar, catalog, state
// store) and a Pipeline over its store, with the probes and the aggregate table that the
// pipeline and the outbox relay write to. Never moved: the pipeline refers to its neighbours.
struct PipelineSession {
  PipelineSession(std::unique_ptr<Runtime> opened, PipelineMode mode)
      : runtime(std::move(opened)),
        pipeline(*runtime->store, aggregates, runtime->Rules(),
                 PipelineOptionsFor(runtime->config, mode), probe) {}

  // The accounting of every consumed record, one line (the log line of a stopping `run`).
  [[nodiscard]] std::string Accounting() const {
    return fmt::format(
        "consumed {} = applied {} (late {}) + duplicates {} + dead-lettered {}; offset gaps {}; "
        "source position resets {}; timers fired {}; alerts published {}",
        probe.consumed.load(), probe.applied.load(), probe.late_applied.load(),
        probe.duplicates.load(), probe.dead_lettered.load(), probe.offset_gaps.load(),
        probe.source_resets.load(), probe.timers_fired.load(), relay_probe.alerts_published.load());
  }

  // The per-department table, then the accounting of every consumed record, on stdout.
  void PrintSummary() const {
    std::printf("%s", SummaryTable(aggregates.Snapshot()).c_str());
    // Blank lines of files (replay) are named only when there were some.
    const uint64_t blank_lines = probe.blank_skipped.load();
    const std::string blank =
        blank_lines > 0 ? fmt::format(" + blank lines skipped {}", blank_lines) : std::string();
    std::printf(
        "consumed %llu = applied %llu (late %llu) + duplicates %llu + dead-lettered %llu%s; "
        "offset gaps %llu; timers fired %llu; alerts published %llu; state bytes written %llu\n",
        static_cast<unsigned long long>(probe.consumed.load()),
        static_cast<unsigned long long>(probe.applied.load()),
        static_cast<unsigned long long>(probe.late_applied.load()),
        static_cast<unsigned long long>(probe.duplicates.load()),
        static_cast<unsigned long long>(probe.dead_lettered.load()), blank.c_str(),
        static_cast<unsigned long long>(probe.offset_gaps.load()),
        static_cast<unsigned long long>(probe.timers_fired.load()),
        static_cast<unsigned long long>(relay_probe.alerts_published.load()),
        static_cast<unsigned long long>(runtime->store->Stats().bytes_written));
    std::string conflicting;
    for (int k = 0; k < rules::kEventConflictCount; ++k) {
      if (const uint64_t n = probe.conflicting_by_kind[static_cast<size_t>(k)].load(); n > 0) {
        conflicting += fmt::format("{}{} {}", conflicting.empty() ? "" : ", ",
                                   rules::ToString(static_cast<rules::EventConflict>(k)), n);
      }
    }
    if (!conflicting.empty()) {
      std::printf("applied events that contradict their dossiers (see the log): %s\n",
                  conflicting.c_str());
    }
    const uint64_t hits = probe.dossier_cache_hits.load();
    const uint64_t misses = probe.dossier_cache_misses.load();
    const uint64_t fresh = probe.dossier_cache_new.load();
    if (hits + misses + fresh > 0) {
      std::printf(
          "dossier reads: %llu cache hits, %llu misses read from the store (%.1f%% hit), %llu "
          "new dossiers (in neither%s)\n",
          static_cast<unsigned long long>(hits), static_cast<unsigned long long>(misses),
          hits + misses > 0 ? 100.0 * static_cast<double>(hits) / static_cast<double>(hits + misses)
                            : 0.0,
          static_cast<unsigned long long>(fresh),
          runtime->config.state.dossier_filter_mb == 0
              ? ""
              : fmt::format("; {} known new by the dossier filter, without a store read",
                            runtime->store->Stats().dossier_reads_filtered)
                    .c_str());
    }
    if (const std::string cpu = FormatCpuByThreadGroup(CpuByThreadGroup()); !cpu.empty()) {
      std::printf("CPU by thread: %s\n", cpu.c_str());
    }
    // Why the pipeline thread was not busy (iocstream_pipeline_wait_seconds_total).
    std::string waits;
    for (size_t w = 0; w < kPipelineWaitCount; ++w) {
      waits +=
          fmt::format("{}{} {:.2f} s", w == 0 ? "" : ", ", ToString(static_cast<PipelineWait>(w)),
                      static_cast<double>(probe.wait_ns[w].load()) / 1e9);
    }
    std::printf("pipeline thread waited for: %s\n", waits.c_str());
  }

  std::unique_ptr<Runtime> runtime;
  PipelineProbe probe;
  RelayProbe relay_probe;
  aggregate::AggregateTable aggregates;
  Pipeline pipeline;
};

// Opens the runtime for `common` and a PipelineSession in `mode` over it. Errors: those of
// LoadConfig and OpenRuntime.
Result<std::unique_ptr<PipelineSession>> OpenPipelineSession(const CommonOptions& common,
                                                             PipelineMode mode) {
  auto rt = Open(common, DossierReads::kById,
                 mode == PipelineMode::kReplay ? StateDefaults::kReplay : StateDefaults::kRun);
  if (!rt) return rt.error();
  return std::make_unique<PipelineSession>(std::move(*rt), mode);
}

}  // namespace

int RunLive(const RunOptions& options) {
  InstallStopSignals(/*hangup_reloads=*/true);
  InstallReloadSignal();
  auto opened = OpenPipelineSession(options.common, PipelineMode::kRun);
  if (!opened) return Fail(opened.error());
  PipelineSession& session = **opened;
  Runtime& runtime = *session.runtime;
  const Config& config = runtime.config;
  Pipeline& pipeline = session.pipeline;
  WarnAboutOtherSources(*runtime.store, config.state.dir, /*reads_files=*/false,
                        config.kafka.events_topic);
  // Aggregates are loaded per partition as the group assigns them (OnAssigned).

  alert::KafkaSinkOptions sink_options;
  sink_options.bootstrap_servers = config.kafka.bootstrap_servers;
  sink_options.properties = config.kafka.producer;
  auto sink = alert::KafkaSink::Open(sink_options);
  if (!sink) return Fail(sink.error());
  const std::vector<alert::TopicSpec> topics = {
      {config.kafka.events_topic, config.kafka.partitions, {}},
      {config.kafka.alerts_topic, config.kafka.partitions, {}},
      {config.kafka.dead_letter_topic, config.kafka.partitions, {}}};
  if (Status s = (*sink)->EnsureTopics(topics, Millis(15000)); !s) return Fail(s.error());
  KafkaOutboxRelay relay(*runtime.store, std::move(*sink), config.kafka.alerts_topic,
                         config.kafka.dead_letter_topic, session.relay_probe);
  relay.CreateDeletedTopics(config.kafka.partitions);
  relay.Start();

  Readiness readiness;  // GET /readyz; whether the group assigned partitions once (maybe none)
  ingest::KafkaSourceOptions source_options;
  source_options.bootstrap_servers = config.kafka.bootstrap_servers;
  source_options.group_id = config.kafka.group_id;
  source_options.topics = {config.kafka.events_topic};
  source_options.properties = config.kafka.consumer;
  source_options.max_batch = config.kafka.max_batch;
  // kafka.fetch_queue_mb is the whole read-ahead, librdkafka's queue and the source's buffer.
  source_options.SplitReadAhead(config.kafka.fetch_queue_mb * 1024);
  if (!config.kafka.changelog_topic.empty()) {
    // A previous owner's changelog transaction in flight ends (committed or aborted by the
    // broker after its transaction timeout) before the partition's changelog is read.
    source_options.stable_offsets_wait = kChangelogTransactionTimeout + Millis(10000);
  }
  ingest::RebalanceHandler handler;
  std::optional<Error> assign_error;
  ingest::KafkaSource* consumer_ptr = nullptr;  // set once opened (the handler asks it)
  int events_partitions = 0;  // the events topic's partitions at the start (0: unknown)
  // What both handlers say of a partition added to the events topic since the start.
  const auto grown_topic = [&](int32_t partition) {
    return fmt::format(
        "events topic {} has partition {}, beyond the {} this instance started with: partitions "
        "were added to the topic in use",
        config.kafka.events_topic, partition, events_partitions);
  };
  std::unique_ptr<StateChangelog> changelog;
  handler.stored_offset = [&](const TopicPartition& tp) -> std::optional<Offset> {
    if (changelog && changelog->stalled() && !assign_error) {
      // A helper saw a woken member rejoin and restore partitions for 3 s before it stopped.
      assign_error = Error{ErrorCode::kUnavailable,
                           "this process was stalled longer than the group's session timeout; "
                           "it stops rather than take partitions (restart it)"};
    }
    if (changelog && tp.topic == config.kafka.events_topic && !assign_error) {
      if (events_partitions > 0 && tp.partition.value() >= events_partitions) {
        // Partitions added to the topic in use: no changelog partition mirrors them (reading
        // one stalled the rebalance for a minute, then stopped with "Local: Unknown
        // partition": a QA trial). Stopped at once, and a restart is refused by the count.
        assign_error = Error{
            ErrorCode::kUnavailable,
            fmt::format("{}, which changelog {} cannot follow (and the dossiers' keys now hash "
                        "to other partitions than their state); see docs/event-contract.md, "
                        "\"The partition\"",
                        grown_topic(tp.partition.value()), changelog->topic())};
        return pipeline.StoredOffset(tp);
      }
      // The partition's state as its last owner left it (DESIGN.md "Scale-out").
      const auto started_sync = std::chrono::steady_clock::now();
      auto sync = pipeline.SyncWithChangelog(tp, WallClockNow());
      if (!sync) {
        assign_error = sync.error();
        return std::nullopt;
      }
      if (sync->action != ChangelogSync::Action::kNone) {
        spdlog::info(
            "partition {}[{}]: changelog {}: {}{}; resuming at offset {} ({:.2f} s)", tp.topic,
            tp.partition.value(), changelog->topic(), ToString(sync->action),
            sync->action == ChangelogSync::Action::kCurrent
                ? ""
                : fmt::format(" ({} records)", sync->records),
            sync->next_offset ? std::to_string(sync->next_offset->value()) : "none",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_sync).count());
      }
    }
    return pipeline.StoredOffset(tp);
  };
  // The assignment after each rebalance, in the store: `serve` on this state directory then
  // shows the partitions this instance had, not the copies of partitions handed to others
  // since (a helper's `serve` counted them as current). Not when the consumer closes (every
  // partition is revoked then): the last assignment while running is the one kept.
  bool closing = false;
  auto record_assignment = [&](const std::vector<TopicPartition>& leaving) {
    if (closing || consumer_ptr == nullptr) return;
    std::set<PartitionId> owned;
    for (const TopicPartition& tp : consumer_ptr->Assignment()) {
      if (tp.topic == config.kafka.events_topic) owned.insert(tp.partition);
    }
    for (const TopicPartition& tp : leaving) owned.erase(tp.partition);
    state::StateBatch batch = runtime.store->NewBatch();
    batch.PutAssignment(owned);
    if (Status s = runtime.store->Commit(std::move(batch)); !s) {
      spdlog::warn(
          "recording the assignment in the state store: {} (`serve` on it may show "
          "partitions other instances handle now)",
          s.error().message);
    }
  };
  handler.revoked = [&](const std::vector<TopicPartition>& tps, bool lost) {
    // Lost while no broker answers: a Kafka outage took every member's partitions, and none
    // can take them over before it ends. Their last committed state stays on the screens
    // (held) rather than nothing; a member cut off alone (the others reach the brokers and
    // take its partitions) shows them twice until it is assigned again. The brokers are asked
    // now (the periodic check's answer may be 9 s old, older than a short session timeout);
    // in an outage that wait is at most kOutageCheckTimeout, with nothing to process anyway.
    const bool outage =
        lost && consumer_ptr != nullptr && consumer_ptr->CheckBrokersNow(kOutageCheckTimeout) == 0;
    if (outage) {
      spdlog::warn(
          "kafka: no broker answers: the {} lost partition(s) show their last committed "
          "state (iocstream_partitions_held) until the group assigns partitions again",
          tps.size());
    } else if (lost) {
      spdlog::warn(
          "kafka: a broker answers: the {} lost partition(s) leave this instance (another "
          "member may own them now)",
          tps.size());
    }
    pipeline.OnRevoked(tps, lost, outage);
    readiness.Revoked(lost);
    if (!outage) record_assignment(tps);
  };
  bool grown_topic_logged = false;
  handler.assigned = [&](const std::vector<TopicPartition>& tps) {
    // Without a changelog a grown topic is read on (see "The partition" in the event contract):
    // said once, as its events published by key for the new count are dead-lettered as
    // wrong_partition (only librdkafka's PARTCNT line told of it: a QA trial).
    int32_t highest = -1;
    for (const auto& tp : tps) highest = std::max(highest, tp.partition.value());
    if (!changelog && events_partitions > 0 && highest >= events_partitions &&
        !grown_topic_logged) {
      grown_topic_logged = true;
      spdlog::error(
          "{}. The state stays spread over {} partitions: an event whose key hashes to another "
          "partition under that count is dead-lettered as wrong_partition (publishers placing "
          "keys by the new count send most dossiers' events there). Publish the events again "
          "to a new topic; see docs/event-contract.md, \"The partition\"",
          grown_topic(highest), events_partitions);
    }
    if (Status s = pipeline.OnAssigned(tps, WallClockNow()); !s) assign_error = s.error();
    readiness.Assigned();
    if (!assign_error) record_assignment({});
    // A partition read from its start: its first record is expected at the log's start, so
    // that offsets before it (transaction markers at the log's start) count as gaps. Asked
    // for all such partitions at once (5 s at most in all, in the rebalance callback).
    std::vector<TopicPartition> from_start;
    for (const TopicPartition& tp : tps) {
      if (consumer_ptr != nullptr && tp.topic == config.kafka.events_topic &&
          !pipeline.StoredOffset(tp)) {
        from_start.push_back(tp);
      }
    }
    if (!from_start.empty()) {
      for (const auto& [tp, start] : consumer_ptr->LogStartOffsets(from_start, Millis(5000))) {
        pipeline.ExpectFirstOffset(tp, start);
      }
    }
  };
  auto source = ingest::KafkaSource::Open(source_options, handler);
  if (!source) return Fail(source.error());
  ingest::KafkaSource& consumer = **source;
  consumer_ptr = &consumer;
  events_partitions = consumer.SubscribedPartitionCount();  // 0: unknown
  pipeline.SetKeyedPartitions(events_partitions);
  if (events_partitions > 0) {
    if (Status s = CheckStatePartitions(
            *runtime.store, config.state.dir, events_partitions,
            "topic " + config.kafka.events_topic + " has " + std::to_string(events_partitions),
            "a dossier's events would reach another partition than its state and timers. Run "
            "on a topic of the count the store holds, or build the state again in a new state "
            "dir from events placed for " +
                std::to_string(events_partitions) +
                " partitions: `replay` with replay.partitions = " +
                std::to_string(events_partitions) +
                ", or `run` from the start of a topic created with that count (a topic that "
                "grew holds events placed for its old count, which `run` dead-letters as "
                "wrong_partition: publish them again to a new topic)");
        !s) {
      return Fail(s.error());
    }
  } else {
    spdlog::warn(
        "topic {}: its partition count could not be read: not checked against the state "
        "partitions of state dir {}",
        config.kafka.events_topic, config.state.dir);
  }
  if (!config.kafka.changelog_topic.empty()) {
    // As many partitions as the events topic: changelog partition p mirrors events partition p.
    std::vector<alert::TopicSpec> changelog_topic = {
        {config.kafka.changelog_topic,
         events_partitions > 0 ? events_partitions : config.kafka.partitions,
         {{"cleanup.policy", "compact"}, {"segment.bytes", std::to_string(64 << 20)}}}};
    auto admin = alert::KafkaSink::Open(sink_options);
    if (!admin) return Fail(admin.error());
    if (Status s = (*admin)->EnsureTopics(changelog_topic, Millis(15000)); !s) {
      return Fail(s.error());
    }
    // A topic that was there already (made by an administrator) must keep every partition's
    // latest state: a partition restored from one that deletes old records, or that has no
    // partition for an events partition, loses dossiers (a QA trial: 100 of 201, silently).
    // A topic just created may not be in the brokers' metadata yet: asked again for a few
    // seconds (each new deployment warned that the check was skipped: a QA trial).
    auto described = (*admin)->DescribeTopic(config.kafka.changelog_topic, Millis(15000));
    for (int attempt = 0;
         attempt < 20 && !described && described.error().code == ErrorCode::kNotFound; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      described = (*admin)->DescribeTopic(config.kafka.changelog_topic, Millis(15000));
    }
    if (!described) {
      spdlog::warn(
          "state changelog {}: {}: its cleanup policy and partitions are not checked (a topic "
          "that deletes old records loses the dossiers they held when a partition moves)",
          config.kafka.changelog_topic, described.error().message);
    } else if (Status s = CheckChangelogTopic(config.kafka.changelog_topic, described->partitions,
                                              described->config, changelog_topic[0].partitions,
                                              config.kafka.events_topic);
               !s) {
      return Fail(s.error());
    } else {
      changelog_topic[0].partitions = described->partitions;
    }
    // The store's id as a changelog writer, made once per state directory.
    auto writer = runtime.store->GetChangelogWriter();
    if (!writer) return Fail(writer.error());
    if (!writer->has_value()) {
      std::random_device rd;
      const uint64_t id =
          (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
          static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
      state::StateBatch batch = runtime.store->NewBatch();
      batch.PutChangelogWriter(id);
      if (Status s = runtime.store->Commit(std::move(batch)); !s) return Fail(s.error());
      *writer = id;
    }
    ChangelogOptions changelog_options;
    changelog_options.writer = **writer;
    // The group's session timeout (librdkafka's default 45 s unless passed through).
    changelog_options.stall_limit = Millis(45000);
    if (auto it = config.kafka.consumer.find("session.timeout.ms");
        it != config.kafka.consumer.end()) {
      // Read as librdkafka reads it (strtol, base 0: "0x1770" is 6000, "06000" octal), so
      // that the stall guard and the group agree (std::stoll read "0x1770" as 0, a QA trial).
      changelog_options.stall_limit = Millis(std::strtoll(it->second.c_str(), nullptr, 0));
    }
    changelog_options.bootstrap_servers = config.kafka.bootstrap_servers;
    changelog_options.topic = config.kafka.changelog_topic;
    changelog_options.transaction_timeout = kChangelogTransactionTimeout;
    changelog_options.source_topic = config.kafka.events_topic;
    changelog_options.producer = config.kafka.producer;
    changelog_options.consumer = config.kafka.consumer;
    auto opened_changelog = StateChangelog::Open(changelog_options);
    if (!opened_changelog) return Fail(opened_changelog.error());
    changelog = std::move(*opened_changelog);
    changelog->SetGroup([&consumer] { return consumer.GroupMetadata(); });
    pipeline.SetChangelog(changelog.get(), config.kafka.events_topic);
    spdlog::info("state changelog: {} ({} partitions)", config.kafka.changelog_topic,
                 changelog_topic[0].partitions);
  }

  auto metrics = std::make_shared<MetricsRegistry>();
  metrics->RegisterCollectable(std::make_shared<ProcessMetrics>());
  metrics->RegisterCollectable(std::make_shared<PipelineMetrics>(
      session.probe, session.relay_probe, session.aggregates, *runtime.store,
      [&consumer] { return consumer.Lag(); }, [&consumer] { return consumer.BrokersUp(); }));
  ReloadProbe reload_probe;
  ReloadRequests reloads;
  metrics->RegisterCollectable(std::make_shared<ReloadMetrics>(reload_probe));
  metrics->RegisterCollectable(std::make_shared<CalendarMetrics>(runtime.rules));
  std::unique_ptr<HttpServer> http;
  if (config.http.enabled) {
    HttpServerOptions http_options;
    http_options.address = config.http.address;
    http_options.port = config.http.port;
    // A waiting reload request must not hold up the API; with peers, two more, so that the
    // requests a peer's answer needs find a thread while this instance's own wait for peers.
    http_options.threads = config.http.peers.empty() ? 2 : 4;
    http = std::make_unique<HttpServer>(http_options);
    ApiContext api{runtime.store.get(), &session.aggregates, metrics,
                   [&readiness, &consumer] { return readiness.Ready(consumer.BrokersUp()); }};
    api.rules = [&runtime] { return runtime.rules.Get(); };
    api.watermark_clock = config.clock == TimerClock::kWatermark;
    api.reload = [&reloads] { return reloads.RequestAndWait(std::chrono::seconds(60)); };
    api.owned_partitions = [&consumer, &config, &pipeline] {
      std::set<PartitionId> owned = pipeline.HeldPartitions();
      for (const TopicPartition& tp : consumer.Assignment()) {
        if (tp.topic == config.kafka.events_topic) owned.insert(tp.partition);
      }
      return owned;
    };
    api.key_partitions = events_partitions;
    api.held_partitions = [&pipeline] { return pipeline.HeldPartitions(); };
    api.serving = [&readiness] { return readiness.EverAssigned(); };
    api.peers = config.http.peers;
    api.peer_timeout = config.http.peer_timeout;
    api.group_id = config.kafka.group_id;
    api.events_topic = config.kafka.events_topic;
    RegisterApi(*http, std::move(api));
    if (Status s = http->Start(); !s) return Fail(s.error());
    spdlog::info("serving /metrics and /api/v1 on http://{}",
                 HostPort(config.http.address, http->port()));
    if (!config.http.peers.empty()) {
      std::string peers;
      for (const HttpAuthority& peer : config.http.peers) {
        peers += (peers.empty() ? "" : ", ") + HostPort(peer.host, peer.port);
      }
      spdlog::info("http: /api/v1 answers for the whole group with its peers {} (http.peers)",
                   peers);
    }
  }

  spdlog::info("consuming {} as group {} from {}", config.kafka.events_topic, config.kafka.group_id,
               config.kafka.bootstrap_servers);
  int exit_code = 0;
  // Wall-clock timers are checked this often (bounds deadline-to-alert latency).
  constexpr auto kTimerTick = std::chrono::milliseconds(200);
  uint64_t commits_seen = 0;
  // The group's committed offsets are for lag tools only (the state store holds the offsets
  // `run` resumes from): at most one commit a second. One per poll batch (commit_interval_ms
  // 0 with a small max_batch) queued OffsetCommit requests ahead of the heartbeats until the
  // coordinator dropped the member and the group stalled (a helper's finding).
  constexpr auto kGroupCommitInterval = std::chrono::seconds(1);
  bool group_commit_pending = false;
  auto last_group_commit = std::chrono::steady_clock::now() - kGroupCommitInterval;
  auto commit_group = [&] {
    std::vector<std::pair<TopicPartition, Offset>> commits;
    for (const auto& tp : consumer.Assignment()) {
      auto it = pipeline.CommittedOffsets().find(tp);
      if (it != pipeline.CommittedOffsets().end()) commits.emplace_back(tp, it->second);
    }
    if (!commits.empty()) consumer.CommitAsync(commits);
    group_commit_pending = false;
    last_group_commit = std::chrono::steady_clock::now();
  };
  std::optional<std::chrono::steady_clock::time_point> first_record;
  auto last_timer_tick = std::chrono::steady_clock::now();
  auto last_record = std::chrono::steady_clock::now();
  bool summary_printed = false;
  // The events topic's partition count as last asked while caught up (see below).
  int partitions_now = 0;
  std::chrono::steady_clock::time_point partitions_asked_at{};
  DecodeWorker decode_worker;
  const auto started = std::chrono::steady_clock::now();
  bool said_waiting = false;
  uint64_t source_waits_counted = 0;  // consumer.PollWaitNanos() added to the probe so far
  while (!g_stop_requested.load()) {
    auto batch = consumer.Poll();
    // Only its waits for records count (PollWaitNanos): moving the records fetched into the
    // read-ahead buffer is work.
    const uint64_t source_waits = consumer.PollWaitNanos();
    CountWait(session.probe, PipelineWait::kSource, source_waits - source_waits_counted);
    source_waits_counted = source_waits;
    if (!said_waiting && !readiness.EverAssigned() &&
        std::chrono::steady_clock::now() - started > std::chrono::seconds(5)) {
      // Found by a user trial: after a kill -9 the restart sat silent for 45-85 s.
      said_waiting = true;
      spdlog::info(
          "waiting for group {} to assign partitions: a member that stopped without leaving "
          "the group (killed) keeps them until its session times out (session.timeout.ms, "
          "45 s by default)",
          config.kafka.group_id);
    }
    if (!batch) {
      // A setting the cluster refuses (kafka.consumer) is the configuration's to fix: exit 1,
      // not retried by the unit as an outage would be.
      if (batch.error().code == ErrorCode::kInvalidArgument) {
        spdlog::error("{}: kafka.consumer: {}", config.path, batch.error().message);
        exit_code = kExitBadInput;
      } else {
        spdlog::error("{}", batch.error().message);
        exit_code = kExitRuntime;
      }
      break;
    }
    if (assign_error) {
      spdlog::error("restoring assigned partitions failed: {}", assign_error->message);
      exit_code = kExitRuntime;
      break;
    }
    if (changelog && changelog->stalled()) {
      // Found by a helper: an idle stalled process went on until its next commit, and a busy
      // one applied events for 2-3 s before a commit was refused.
      spdlog::error(
          "stopping: this process was stalled longer than the group's session timeout, so it "
          "may no longer own its partitions (changelog {}); restart it to rejoin the group",
          changelog->topic());
      exit_code = kExitRuntime;
      break;
    }
    const Instant now = WallClockNow();
    if (!batch->empty()) {
      last_record = std::chrono::steady_clock::now();
      if (!first_record) first_record = last_record;
      // Decoded on the worker thread a chunk ahead of the pipeline.
      decode_worker.Start(*batch);
      Status status;
      for (size_t begin = 0, end = 0; begin < batch->size() && status; begin = end) {
        end = DecodeWorker::ChunkEnd(begin, batch->size());
        auto decoded = [&] {
          const ScopedWait wait(session.probe, PipelineWait::kDecoder);
          return decode_worker.Decoded(begin, end);
        }();
        status = decoded ? pipeline.ProcessDecoded(batch->subspan(begin, end - begin), *decoded,
                                                   now, /*batch_end=*/end == batch->size(), {},
                                                   decode_worker.Hashes(begin, end))
                         : Status(decoded.error());
      }
      decode_worker.Finish();  // before the next Poll releases the records
      if (!status) {
        spdlog::error("processing a batch failed, stopping: {}", status.error().message);
        exit_code = kExitRuntime;
        break;
      }
    } else if (pipeline.HasPending()) {
      // Drained the fetched records: commit now rather than wait for the interval.
      if (Status s = pipeline.Flush(); !s) {
        spdlog::error("state commit failed, stopping: {}", s.error().message);
        exit_code = kExitRuntime;
        break;
      }
    }
    if (config.clock == TimerClock::kWallClock &&
        std::chrono::steady_clock::now() - last_timer_tick > kTimerTick) {
      last_timer_tick = std::chrono::steady_clock::now();
      std::vector<PartitionId> partitions;
      for (const auto& tp : consumer.Assignment()) partitions.push_back(tp.partition);
      if (Status s = pipeline.FireTimers(partitions, now); !s) {
        spdlog::error("timer commit failed, stopping: {}", s.error().message);
        exit_code = kExitRuntime;
        break;
      }
    }
    if (pipeline.CommitCount() != commits_seen) {
      // New state commits: publish their outbox, and (below) tell the group how far they
      // reach.
      commits_seen = pipeline.CommitCount();
      relay.Notify();
      group_commit_pending = true;
    }
    if (group_commit_pending &&
        std::chrono::steady_clock::now() - last_group_commit >= kGroupCommitInterval) {
      commit_group();
    }
    // Calendar or catalog reload (SIGHUP, POST /api/v1/admin/reload), between batches: the
    // recompute writes the store, whose one writer is this thread. It waits for the group to
    // assign partitions, whose dossiers it recomputes; partitions held through a Kafka outage
    // are not this member's to write, so it waits for the next assignment then too (a helper
    // saw a reload during a hold answer ok and leave the held dossiers' deadlines as before).
    if (g_reload_requested.exchange(false)) reloads.Request();
    if (reloads.Pending() && readiness.EverAssigned() && pipeline.HeldPartitions().empty()) {
      const uint64_t ticket = reloads.Begin();
      std::vector<PartitionId> partitions;
      for (const auto& tp : consumer.Assignment()) partitions.push_back(tp.partition);
      const ReloadOutcome outcome =
          ReloadRules(runtime, pipeline, partitions, WallClockNow(), reload_probe);
      reloads.Complete(ticket, outcome);
      if (outcome.fatal) {
        exit_code = kExitRuntime;
        break;
      }
    }
    if ((options.summary_when_caught_up || options.exit_when_caught_up) && !summary_printed &&
        batch->empty() && readiness.EverAssigned()) {
      // Caught up: this instance owns every partition of the topic (a member killed a moment
      // ago may still hold some until its session times out) and has consumed to their end.
      const auto lags = consumer.Lag();
      // Every partition the topic has now: partitions added since the start count too (the
      // start's count alone let an instance holding 3 of a grown topic's 6 exit, a QA trial),
      // asked again at most once a second while the rest says caught up.
      bool caught_up =
          static_cast<int>(lags.size()) >= consumer.SubscribedPartitionCount() &&
          std::all_of(lags.begin(), lags.end(), [](const auto& l) { return l.lag() == 0; });
      if (caught_up) {
        const auto now = std::chrono::steady_clock::now();
        if (now - partitions_asked_at >= std::chrono::seconds(1)) {
          partitions_asked_at = now;
          if (const int count = consumer.CurrentPartitionCount(Millis(2000)); count > 0) {
            partitions_now = count;
          }
        }
        caught_up = static_cast<int>(lags.size()) >= partitions_now;
      }
      // ... and its commits are in the store and their alerts on the alerts topic, so that
      // the summary's "alerts published" is the whole count (it was read as soon as the
      // relay had nothing in hand, which could be before it read the last commit).
      if (caught_up && !pipeline.HasPending() && relay.CaughtUp() && !summary_printed) {
        summary_printed = true;
        if (options.summary_when_caught_up) {
          session.PrintSummary();
          if (first_record) {
            std::printf(
                "first record to caught up: %.3f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - *first_record)
                    .count());
          }
          std::fflush(stdout);
        }
        if (options.exit_when_caught_up) break;
      }
    }
    if (options.idle_exit_seconds > 0 &&
        std::chrono::steady_clock::now() - last_record >
            std::chrono::duration<double>(options.idle_exit_seconds)) {
      spdlog::info("no records for {} s, exiting", options.idle_exit_seconds);
      break;
    }
  }
  spdlog::info("stopping");
  if (exit_code == 0) {
    if (Status s = pipeline.Flush(); !s) {
      spdlog::error("final state commit failed: {}", s.error().message);
      exit_code = kExitRuntime;
    } else {
      commit_group();  // the group's view of the last commits, sent as the consumer closes
    }
  }
  if (reloads.Pending()) {
    ReloadOutcome stopping;
    stopping.error = Error{ErrorCode::kUnavailable, "iocstream is stopping; reload not done"};
    reloads.Complete(reloads.Begin(), stopping);
  }
  // The state is committed. rd_kafka_destroy has known hangs (confluentinc/librdkafka#3007
  // after a topic was deleted, #4674 after a broker restart); a helper saw ours hang for good
  // after the topic was deleted and created with fewer partitions, and the process held the
  // state directory's lock, so no restart could open it. Past this bound it exits
  // without finishing the shutdown (the commit above is in the WAL; with state.disable_wal a
  // restart resumes from the last flush, exactly once as after any crash).
  // The accounting is final once the pipeline stopped (its alerts published as of now): said
  // then too, so that a stop cut short still accounts for every record (a QA trial's SIGTERM
  // during a broker outage logged no "stopped:" line).
  std::thread([exit_code, accounting = session.Accounting()] {
    std::this_thread::sleep_for(kShutdownBound);
    spdlog::error(
        "shutdown did not finish within {} s after the final commit (the Kafka client did not "
        "close): exiting without waiting for it",
        std::chrono::duration_cast<std::chrono::seconds>(kShutdownBound).count());
    spdlog::info("stopped: {} (as of the final commit)", accounting);
    spdlog::warn(
        "alerts or dead letters not yet accepted by Kafka stay in the state directory's outbox "
        "and are sent when iocstream starts again on it");
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    // Not a clean stop (the store was not closed): a supervisor should know.
    std::_Exit(exit_code == 0 ? kExitRuntime : exit_code);
  }).detach();
  closing = true;
  consumer.Close();
  relay.Stop(Millis(10000));
  spdlog::info("stopped: {}", session.Accounting());  // the relay has sent what it could
  // Not lost: the outbox keeps them, and the next start on this state directory sends them.
  // (The relay's pending count covers one page only: the store is asked, a helper's nit.)
  if (auto left = runtime.store->OutboxSize(); left && *left > 0) {
    spdlog::warn(
        "stopped with {} alerts or dead letters not yet accepted by Kafka: they stay in the "
        "state directory's outbox and are sent when iocstream starts again on it",
        *left);
  }
  if (http) http->Stop();
  return exit_code;
}

int RunImport(const ImportOptions& options) {
  auto config = LoadConfig(options.common.config_path);
  if (!config) return Fail(config.error());
  auto mapped = ReadMappedCsv(options.mapping_path, options.files);
  if (!mapped) return Fail(mapped.error());

  auto sink = OpenEventsProducer(*config, config->kafka.events_topic);
  if (!sink) return Fail(sink.error());

  Progress progress("import", mapped->events.size(), options.progress);
  uint64_t done = 0;
  alert::OutgoingMessage m;
  m.topic = config->kafka.events_topic;
  for (const DossierEvent& e : mapped->events) {
    m.key = e.dossier_id;
    m.value = EncodeEvent(e);
    if (Status s = (*sink)->Produce(m, e.occurred_at); !s) return Fail(s.error());
    progress.Update(++done);
  }
  if (Status s = (*sink)->Flush(Millis(120000)); !s) return Fail(s.error());
  std::printf("imported %s into %s\n", DescribeRows(*mapped).c_str(),
              config->kafka.events_topic.c_str());
  return 0;
}

int RunReplay(const ReplayOptions& options) {
  InstallStopSignals();
  // A replay reads its files again: the first line names the source, and the next replay
  // checks the lines before its resume position. A pipe would be drained by the first read
  // (its events lost in silence), and opening a FIFO blocks until a writer comes.
  for (const auto& file : options.files) {
    std::error_code ec;
    const fs::file_status st = fs::status(file, ec);
    if (!ec && fs::exists(st) && !fs::is_regular_file(st) && !fs::is_directory(st)) {
      return Fail(InvalidArgument(
          file +
          ": not a regular file (a pipe, FIFO, socket or device): replay reads files it "
          "can read again, to name the source and to resume; write the stream to a file "
          "first"));
    }
    // UTF-16 (Windows PowerShell's `>` writes it): every line would be dead-lettered as
    // malformed JSON and the replay exit 0 (a QA trial). Refused by its byte-order mark.
    if (!options.mapping_path && !ec && fs::is_regular_file(st)) {
      // The file's head, read once for both checks (bounded: a file of one endless line).
      std::string head(size_t{64} << 10, '\0');
      std::ifstream in(file, std::ios::binary);
      in.read(head.data(), static_cast<std::streamsize>(head.size()));
      head.resize(static_cast<size_t>(in.gcount()));
      if (head.starts_with("\xFF\xFE") || head.starts_with("\xFE\xFF")) {
        return Fail(InvalidArgument(
            file +
            ": UTF-16 text (its byte-order mark): events are UTF-8 NDJSON; convert it "
            "first, e.g. iconv -f UTF-16 -t UTF-8 " +
            file + " > events.ndjson"));
      }
      // A CSV export named .csv, replayed without --mapping, had every row dead-lettered as
      // malformed JSON and the replay exit 0 with a warning (a helper's nit): refused when its
      // first line that is not blank is not a JSON object (an NDJSON file named .csv is read
      // as NDJSON).
      if (const std::string ext = fs::path(file).extension().string();
          ext == ".csv" || ext == ".CSV") {
        std::string_view text = head;
        if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
        text.remove_prefix(std::min(text.find_first_not_of(" \t\r\n"), text.size()));
        const std::string_view line = TrimBlanks(text.substr(0, text.find('\n')));
        if (!line.empty() && line.front() != '{') {
          constexpr size_t kShown = 60;
          const std::string shown(line.substr(0, kShown));
          return Fail(InvalidArgument(
              file + ": a CSV file (its first line '" + shown +
              (line.size() > kShown ? "...'" : "'") +
              " is not a JSON object): replay CSV exports with --mapping FILE "
              "(config/mappings/ holds the shipped ones; its README says how to write one); "
              "replay reads NDJSON events otherwise"));
        }
      }
    }
  }
  // With --mapping: the mapping and the CSV files are read before the state store is opened,
  // which creates its directory: a wrong header or mapping left an empty state directory.
  std::optional<MappedEvents> mapped;
  if (options.mapping_path) {
    auto read = ReadMappedCsv(*options.mapping_path, options.files);
    if (!read) return Fail(read.error());
    mapped = std::move(*read);
  }
  // Deterministic: event time drives timers.
  auto opened = OpenPipelineSession(options.common, PipelineMode::kReplay);
  if (!opened) return Fail(opened.error());
  PipelineSession& session = **opened;
  const Config& config = session.runtime->config;
  Pipeline& pipeline = session.pipeline;
  // The state directory's own alert and dead-letter files: replayed into it, each run appended
  // its lines to the file it read (20,000 dead letters became 40,000: a helper's finding).
  for (const auto& file : options.files) {
    for (const std::string_view own : {kReplayDeadLettersFile, kReplayAlertsFile}) {
      std::error_code ec;
      if (fs::equivalent(file, fs::path(config.state.dir) / own, ec) && !ec) {
        return Fail(InvalidArgument(
            file + ": the " + (own == kReplayAlertsFile ? "alerts" : "dead letters") +
            " this state directory writes: replaying it into it appends to it what it reads. "
            "Take the lines to replay out into another file (fix them first: a dead letter "
            "holds the event as it came, in its payload)"));
      }
    }
  }
  if (Status s = pipeline.Restore(); !s) return Fail(s.error());
  // Dossiers are spread over replay.partitions by their id, and each partition keeps its own
  // timers and watermark: a store written with another count would put a dossier's later
  // events in another partition than its timers, which would then never fire (a helper saw
  // 696 alerts instead of 919). Refused; the first replay into a store records its count.
  state::StateStore& store = *session.runtime->store;
  if (Status s = CheckStatePartitions(
          store, config.state.dir, config.replay_partitions,
          "this config says replay.partitions = " + std::to_string(config.replay_partitions),
          "replay with the count the store holds, or into a new state dir");
      !s) {
    return Fail(s.error());
  }
  // A store `run` keeps in a changelog topic: the replayed states would be in this store only,
  // the changelog would still say it is current, and a partition moved to another instance
  // would restore the states before (a QA trial: a backfill lost so). Refused, as recompute is.
  for (int32_t p = 0; p < config.replay_partitions; ++p) {
    auto marker = store.GetChangelogMarker(PartitionId(p));
    if (!marker) return Fail(marker.error());
    if (*marker) {
      return Fail(InvalidArgument(
          "state dir " + config.state.dir +
          " is kept in a changelog topic by `iocstream run` (kafka.changelog_topic): a replay "
          "would change this copy only, and an instance taking over its partitions would "
          "restore the states before it. Publish the events to the events topic instead "
          "(iocstream import), or replay into another state dir"));
    }
  }
  // After the refusals: a replay refused is not told that it "goes on from" the state (a
  // helper's nit).
  WarnAboutOtherSources(store, config.state.dir, /*reads_files=*/true);
  // The partitions a `run` recorded as its instance's: a replay applies events to every
  // partition, so `serve` and `export` must show them all again (they left out the replayed
  // dossiers of the other partitions, which the replay's own table counted: a helper's
  // finding). Forgotten before the first event; a `run` records its own at its next rebalance.
  if (auto assignment = store.GetAssignment(); !assignment) {
    return Fail(assignment.error());
  } else if (*assignment) {
    spdlog::warn(
        "{}: `run` recorded partitions {} as its instance's (other instances of its consumer "
        "group had the rest); this replay applies events to every partition, so `serve` and "
        "`export` show every partition of this store from now on, the older copies of the "
        "others included",
        config.state.dir, PartitionList(**assignment));
    state::StateBatch batch = store.NewBatch();
    batch.DeleteAssignment();
    if (Status s = store.Commit(std::move(batch)); !s) return Fail(s.error());
  }
  auto relay = FileOutboxRelay::Open(
      store, (fs::path(config.state.dir) / kReplayAlertsFile).string(),
      (fs::path(config.state.dir) / kReplayDeadLettersFile).string(), session.relay_probe);
  if (!relay) return Fail(relay.error());
  // With --mapping: the events encoded once, then fed through the same decode path as Kafka
  // records; the CSV source's name (the position's key); and its dead letters say which row
  // each came from.
  std::vector<std::string> payloads;
  std::string mapped_source;
  if (mapped) {
    payloads.reserve(mapped->events.size());
    for (const auto& e : mapped->events) payloads.push_back(EncodeEvent(e));
    const std::string_view first_event =
        payloads.empty() ? std::string_view() : std::string_view(payloads.front());
    // Named by the first file in the order read (by path); a store of an earlier iocstream
    // named it by the first file given, which a replay of the files in that order resumes.
    mapped_source =
        FileSourceName("csv:" + fs::path(mapped->files.front()).filename().string(), first_event);
    if (const std::string given = FileSourceName(
            "csv:" + fs::path(options.files.front()).filename().string(), first_event);
        given != mapped_source &&
        !pipeline.StoredOffset(TopicPartition{mapped_source, PartitionId(0)}) &&
        pipeline.StoredOffset(TopicPartition{given, PartitionId(0)})) {
      mapped_source = given;
    }
    auto row_of = [&rows = *mapped](uint64_t offset) { return rows.RowOf(offset); };
    (*relay)->LocateRows(mapped_source, row_of);
    // And so do the log lines that name a record (a conflicting event's).
    pipeline.SetRecordLocator([row_of](const TopicPartition&, Offset offset) {
      return offset.value() < 0 ? std::string() : row_of(static_cast<uint64_t>(offset.value()));
    });
  }
  // The relay drains on its own thread: reading and deleting the outbox took about 5% of the
  // pipeline thread's time, the bound of a replay. Alerts skip the outbox: commits write
  // them to the alerts file themselves (CommitAlertSink), after the relay's first drain.
  if (Status s = (*relay)->Start(); !s) return Fail(s.error());
  pipeline.SetAlertSink(relay->get());
  // Whatever way this function returns, the pipeline's last write is done with the relay
  // before the relay goes (it was constructed after the pipeline, so goes first).
  struct UnsetAlertSink {
    Pipeline& pipeline;
    ~UnsetAlertSink() { pipeline.SetAlertSink(nullptr); }
  } unset_alert_sink{pipeline};
  // After each batch: wake the relay, and stop if it failed (its entries stay in the store).
  auto relay_after_batch = [&]() -> Status {
    (*relay)->Notify();
    return (*relay)->status();
  };

  const size_t batch_size = config.kafka.max_batch;
  std::vector<SourceRecord> records;
  records.reserve(batch_size);
  // When the first record reached the pipeline: the summary's rate counts from there, as
  // `run`'s does (startup, the config, the calendar and the catalog, is not replaying).
  std::optional<std::chrono::steady_clock::time_point> first_record;
  auto flush = [&]() -> Status {
    if (records.empty()) return {};
    if (!first_record) first_record = std::chrono::steady_clock::now();
    if (Status s = pipeline.ProcessBatch(records, WallClockNow()); !s) return s;
    records.clear();
    return relay_after_batch();
  };

  // A stop request (SIGINT, SIGTERM) that left input unread: the exit code says so. Asked
  // only where input is left.
  bool stopped_early = false;
  auto stop_with_input_left = [&] { return stopped_early = g_stop_requested.load(); };
  // With --mapping: what became of the CSV rows, printed after the summary.
  std::optional<std::string> rows_line;
  if (mapped) {
    const TopicPartition source{mapped_source, PartitionId(0)};
    const int64_t start = pipeline.StoredOffset(source).value_or(Offset(0)).value();
    if (start > 0) {
      // The same check as a file's (NdjsonReader): the events before the position must be
      // those applied, else the files changed and resuming would skip events.
      bool same = static_cast<size_t>(start) <= payloads.size();
      if (const std::optional<uint64_t> check = pipeline.StoredSourceCheck(source); same && check) {
        uint64_t chain = Pipeline::kChainStart;
        for (size_t i = 0; i < static_cast<size_t>(start); ++i) {
          chain = Pipeline::ChainFingerprint(chain, payloads[i]);
        }
        same = chain == *check;
      }
      if (!same) {
        return Fail(InvalidArgument(
            "replay --mapping " + fs::path(mapped->files.front()).filename().string() +
            ": the first " + std::to_string(start) + " events, sorted by time (" +
            std::to_string(payloads.size()) + " now), are not those an earlier replay into " +
            "this state directory applied: rows were changed, or added with times before the " +
            "latest applied (or the mapping changed). Resuming would skip events never " +
            "applied. To apply the new rows, " +
            "replay the files under other names (events whose id was applied already are " +
            "skipped as duplicates, even if changed); to apply changed rows, replay into a new " +
            "state directory"));
      }
      if (static_cast<size_t>(start) == payloads.size()) {
        spdlog::warn(
            "{}: all {} events were applied by an earlier replay into this state directory: "
            "nothing new",
            source.topic, payloads.size());
      } else {
        spdlog::warn(
            "{}: resuming at event {} of {}: the earlier ones were applied by an earlier "
            "replay into this state directory",
            source.topic, start + 1, payloads.size());
      }
    } else if (auto offsets = store.LoadOffsets(); offsets) {
      // A new source named by the same first file as one replayed before, with another first
      // event: most likely the same files with rows added before the earliest (the name holds
      // the first event's hash) or under another mapping, read again from the start without a
      // word (a helper's finding). Another file set (next year's files) is not warned about.
      const std::string_view named =
          std::string_view(source.topic)
              .substr(0, source.topic.rfind('#') + 1);  // "csv:first.csv#"
      for (const auto& [tp, offset] : *offsets) {
        if (tp.topic != source.topic && tp.topic.starts_with(named)) {
          spdlog::warn(
              "{}: a new source, where {} was replayed into this state directory before, "
              "named by the same first file with another earliest event: if these are those "
              "files with rows added before their earliest (or read through another mapping), "
              "their events are read from the start again, those applied already skipped as "
              "duplicates",
              source.topic, tp.topic);
          break;
        }
      }
    }
    size_t next = static_cast<size_t>(start);
    for (; next < payloads.size(); ++next) {
      if (stop_with_input_left()) break;
      records.push_back(SourceRecord{source.topic,
                                     PartitionId(0),
                                     Offset(static_cast<int64_t>(next)),
                                     Instant{},
                                     {},
                                     payloads[next]});
      if (records.size() == batch_size) {
        if (Status s = flush(); !s) return Fail(s.error());
      }
    }
    // The last batch (its records point into `payloads`).
    if (Status s = flush(); !s) return Fail(s.error());
    // What this run read of the input, not the input as if all of it had been: a stopped
    // replay, its resumption and one that found nothing new all said "replayed" every event
    // (a QA trial).
    const size_t read = next - static_cast<size_t>(start);
    if (read == mapped->events.size()) {
      rows_line = "replayed " + DescribeRows(*mapped);
    } else {
      rows_line = fmt::format(
          "replayed {} of the {}{}", read, DescribeRows(*mapped),
          read == 0 ? std::string() : fmt::format(" (events {} to {})", start + 1, next));
    }
  } else {
    // A file refused or unreadable ends the replay with an error, after what the files before
    // it (and its lines read before an I/O error) applied is committed.
    std::optional<Error> input_error;
    std::set<std::string> sources_read;  // a file listed twice is read once
    for (const auto& file : options.files) {
      if (input_error || stop_with_input_left()) break;
      errno = 0;
      std::ifstream in(file);
      if (!in) {
        input_error = IoError("cannot read " + file + ": " + std::strerror(errno));
        break;
      }
      // The file's identity (FileSourceName): at most the bytes the reader keeps of a line,
      // as a first line of hundreds of MiB was read whole here.
      std::string first_line;
      for (char c; first_line.size() < NdjsonReader::kKeptLineBytes && in.get(c) && c != '\n';) {
        first_line.push_back(c);
      }
      in.clear();
      in.seekg(0);
      // Trailing spaces, tabs and CRs are not the line's, as for the source check: a first
      // line applied before its "\r\n" was written names the same file once it is (it was
      // replayed again, as a new file).
      const std::string_view first = Pipeline::WithoutTrailingBlanks(first_line);
      // The path made absolute, without symbolic links, "." or "..": `f`, `./f`, the
      // absolute path and a link to it are one file (each spelling was a source of its own,
      // replayed again, its dead letters written again).
      TopicPartition source{FileSourceName(CanonicalPath(file), first), PartitionId(0)};
      const std::string identity = source.topic;
      if (!pipeline.StoredOffset(source)) {
        // A store of an earlier iocstream named a file by the path as given, and a CRLF
        // file's first line with its CR.
        for (std::string_view line : {first, std::string_view(first_line)}) {
          TopicPartition earlier{FileSourceName(file, line), PartitionId(0)};
          if (pipeline.StoredOffset(earlier)) {
            source = std::move(earlier);
            break;
          }
        }
      }
      if (!sources_read.insert(identity).second) {
        spdlog::warn("{}: listed again: replayed once (it is the same source as before)", file);
        continue;
      }
      const int64_t start = pipeline.StoredOffset(source).value_or(Offset(0)).value();
      // Read, split into lines and decoded on the reader's thread, one batch ahead.
      auto reader = NdjsonReader::Open(
          file, source.topic,
          {start, start > 0 ? pipeline.StoredSourceCheck(source) : std::nullopt}, batch_size);
      if (!reader) {
        input_error = reader.error();
        break;
      }
      bool resume_said = start == 0;
      while (true) {
        auto batch = [&] {
          const ScopedWait wait(session.probe, PipelineWait::kSource);
          return (*reader)->Next();
        }();
        if (!batch) {
          input_error = batch.error();
          break;
        }
        if (!resume_said) {  // once the reader found the lines before it unchanged
          if (*batch) {
            spdlog::warn(
                "{}: resuming at line {}: the lines before it were applied by an earlier "
                "replay of this file (same path and first line) into this state directory",
                file, start + 1);
          } else {
            spdlog::warn(
                "{}: all of its {} {} applied by an earlier replay of this file (same "
                "path and first line) into this state directory: nothing new",
                file, start, start == 1 ? "line was" : "lines were");
          }
          resume_said = true;
        }
        if (!*batch) break;                 // the whole file is applied
        if (stop_with_input_left()) break;  // this batch and the rest: the next replay's
        NdjsonReader::Batch& b = **batch;
        if (!first_record) first_record = std::chrono::steady_clock::now();
        if (Status s = pipeline.ProcessDecoded(b.records, b.decoded, WallClockNow(),
                                               /*batch_end=*/true, b.chains, b.hashes);
            !s) {
          return Fail(s.error());
        }
        (*reader)->Recycle(std::move(b));
        if (Status s = relay_after_batch(); !s) return Fail(s.error());
      }
      if (const std::optional<int64_t> held = (*reader)->HeldBackLine(); held && !input_error) {
        spdlog::warn(
            "{}: line {}, the last, has no line feed and may be unfinished (it is not a "
            "complete JSON object, or is longer than an event may be): not read (is the file "
            "still being written?); the next replay of this file reads it once it is complete "
            "JSON or ends with a line feed (a line over {} bytes only then, and dead-letters it "
            "as too_large)",
            file, *held + 1, kMaxPayloadBytes);
      }
    }
    if (input_error) {
      if (Status s = pipeline.Flush(); !s) return Fail(s.error());
      if (Status s = (*relay)->Stop(); !s) return Fail(s.error());
      return Fail(*input_error);
    }
  }
  // The whole input was read: the quiet partitions' clocks catch up with the file's.
  if (!stopped_early) {
    if (Status s = pipeline.EndOfInput(WallClockNow()); !s) return Fail(s.error());
  }
  if (Status s = pipeline.Flush(); !s) return Fail(s.error());
  if (Status s = (*relay)->Stop(); !s) return Fail(s.error());
  if (options.summary) {
    session.PrintSummary();
    if (first_record) {
      // To the end of the input with everything committed and the alerts delivered.
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - *first_record).count();
      std::printf("first record to end: %.3f s (%.0f records/s)\n", seconds,
                  seconds > 0 ? static_cast<double>(session.probe.consumed.load()) / seconds : 0.0);
    }
  }
  if (rows_line) std::printf("%s\n", rows_line->c_str());
  if (stopped_early) {
    // Interrupted (SIGINT, SIGTERM): what was read is committed, offsets with it.
    spdlog::warn(
        "replay stopped by a signal after {} records: their effects are committed (state, "
        "alerts, resume position); the same command resumes after them",
        session.probe.consumed.load());
    return kExitInterrupted;
  }
  return 0;
}

namespace {

// `export` and `recompute` read an existing store: pointed at any other directory (a typo),
// RocksDB would create a store in it, and they would report an empty one.
Status CheckStateDirectory(const std::string& dir) {
  if (!fs::exists(dir)) return InvalidArgument("no state directory " + dir);
  if (const auto damaged = state::StateStore::Damaged(dir)) {
    return Error{ErrorCode::kCorruption, dir + " holds " + *damaged + ": a damaged state store"};
  }
  if (!state::StateStore::Exists(dir)) {
    return InvalidArgument(dir +
                           " holds no state store: give the state directory of a `run` or "
                           "`replay` (state.dir or --state-dir)");
  }
  return {};
}

// The partitions a `run` state directory's instance had at its last rebalance, which `serve`
// and `export` show: the store keeps the dossiers of partitions handed to other instances
// since, as they were then (stale: their owners show them now). nullopt where no `run`
// recorded one (a replay's store holds every partition as its own). Logged with `what` it
// does with them ("showing", "exporting").
Result<std::optional<std::set<PartitionId>>> OwnPartitions(const state::StateStore& store,
                                                           std::string_view what) {
  auto assignment = store.GetAssignment();
  if (!assignment || !*assignment) return assignment;
  spdlog::info(
      "state of a consumer group's member: {} the partitions it had at its last rebalance "
      "({}); the dossiers of others it held before are left out (their owners show them)",
      what, PartitionList(**assignment));
  return assignment;
}

}  // namespace

int RunServe(const ServeOptions& options) {
  auto config = LoadConfig(options.common.config_path);
  if (!config) return Fail(config.error());
  const std::string dir = options.common.state_dir.value_or(config->state.dir);
  if (Status st = CheckStateDirectory(dir); !st) return Fail(st.error());
  if (!config->http.enabled) {
    return Fail(InvalidArgument("http.enabled is false in " + options.common.config_path +
                                ": `serve` has nothing to serve"));
  }
  InstallStopSignals();
  auto rt = Open(options.common);
  if (!rt) return Fail(rt.error());
  Runtime& runtime = **rt;
  auto assignment = OwnPartitions(*runtime.store, "showing");
  if (!assignment) return Fail(assignment.error());
  aggregate::AggregateTable aggregates;
  auto rows = runtime.store->LoadAggregates();
  if (!rows) return Fail(rows.error());
  if (*assignment) {
    std::erase_if(*rows,
                  [&](const auto& row) { return !(*assignment)->contains(row.first.partition); });
  }
  aggregates.Load(aggregate::AggregateTable::Rows(rows->begin(), rows->end()));
  // The counters of events are this process's (none); the gauges of dossiers, the store's.
  const PipelineProbe probe;
  // The outbox's entries not yet accepted by Kafka (a stopped run's: serve sends none), from
  // the store: 0 there read as "all delivered" (a helper's finding).
  RelayProbe relay_probe;
  if (auto pending = runtime.store->OutboxSize()) {
    relay_probe.pending.store(static_cast<int64_t>(*pending));
  }
  auto metrics = std::make_shared<MetricsRegistry>();
  metrics->RegisterCollectable(std::make_shared<ProcessMetrics>());
  metrics->RegisterCollectable(
      std::make_shared<PipelineMetrics>(probe, relay_probe, aggregates, *runtime.store,
                                        std::function<std::vector<ingest::PartitionLag>()>()));
  metrics->RegisterCollectable(std::make_shared<CalendarMetrics>(runtime.rules));
  HttpServerOptions http_options;
  http_options.address = runtime.config.http.address;
  http_options.port = runtime.config.http.port;
  http_options.threads = 2;
  HttpServer http(http_options);
  ApiContext api{runtime.store.get(), &aggregates, metrics, [] { return true; }};
  api.rules = [&runtime] { return runtime.rules.Get(); };
  // "Overdue now" as `run` and `export` judge it under the config's timers.clock.
  api.watermark_clock = runtime.config.clock == TimerClock::kWatermark;
  if (*assignment) {
    api.owned_partitions = [owned = **assignment] { return owned; };
    auto partitions = runtime.store->GetStatePartitions();
    if (partitions && *partitions) api.key_partitions = **partitions;
  }
  RegisterApi(http, std::move(api));
  if (Status s = http.Start(); !s) return Fail(s.error());
  spdlog::info(
      "serving /metrics and /api/v1 on http://{}: the state of {} as its last commit left it "
      "(nothing is consumed; stop with Ctrl-C)",
      HostPort(runtime.config.http.address, http.port()), dir);
  while (!g_stop_requested.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Why it stops (a helper saw SIGHUP end it without a word: for `run`, SIGHUP reloads).
  const int signal = g_stop_signal.load();
  spdlog::info("stopping on {}", signal == SIGHUP   ? "SIGHUP (the terminal closed; `serve` has "
                                                      "nothing to reload)"
                                 : signal == SIGINT ? "SIGINT"
                                                    : "SIGTERM");
  http.Stop();
  return 0;
}

int RunExport(const ExportOptions& options) {
  auto config = LoadConfig(options.common.config_path);
  if (!config) return Fail(config.error());
  const std::string dir = options.common.state_dir.value_or(config->state.dir);
  if (Status st = CheckStateDirectory(dir); !st) return Fail(st.error());
  if (options.output) {
    // `-o STATE/CURRENT` truncated the store's own file before a row was read (a helper's
    // finding): nothing is written inside the state directory.
    std::error_code store_ec;
    std::error_code target_ec;
    fs::path store = fs::weakly_canonical(dir, store_ec);
    if (!store.has_filename()) store = store.parent_path();  // "state/": no empty last part
    // A symbolic link whose target does not exist yet: weakly_canonical keeps the link.
    fs::path output = *options.output;
    for (int hops = 0; hops < 40 && fs::is_symlink(output, target_ec); ++hops) {
      const fs::path next = fs::read_symlink(output, target_ec);
      output = next.is_absolute() ? next : output.parent_path() / next;
    }
    const fs::path target = fs::weakly_canonical(output, target_ec);
    if (!store_ec && !target_ec &&
        std::mismatch(store.begin(), store.end(), target.begin(), target.end()).first ==
            store.end()) {
      return Fail(InvalidArgument("-o " + *options.output + " lies in the state directory " + dir +
                                  ": write the export outside it"));
    }
  }
  Instant as_of = WallClockNow();
  if (options.as_of) {
    auto t = AsOfOption(*options.as_of);
    if (!t) return Fail(t.error());
    as_of = *t;
  }
  CommonOptions common = options.common;
  auto rt = Open(common);
  if (!rt) return Fail(rt.error());
  Runtime& runtime = **rt;
  // As `serve` shows them (the export of a stopped member's directory counted the partitions
  // handed to other instances beside its own).
  auto assignment = OwnPartitions(*runtime.store, "exporting");
  if (!assignment) return Fail(assignment.error());
  auto own = [&](PartitionId partition) {
    return !*assignment || (*assignment)->contains(partition);
  };
  // "Now" is what the timers go by (timers.clock): with the watermark clock, each dossier's
  // partition's watermark, as the HTTP API judges it. The wall clock judged the late-data hold
  // of a dossier whose breach the watermark had already fired: held_until beside breach true
  // (a QA finding). --as-of judges every dossier at that instant.
  DossierClocks clocks(*runtime.store, !options.as_of && config->clock == TimerClock::kWatermark,
                       as_of);

  std::ofstream file;
  std::ostream* out = &std::cout;
  if (options.output) {
    errno = 0;
    file.open(*options.output);
    if (!file) {
      return Fail(IoError("cannot write '" + *options.output +
                          "': " + (errno != 0 ? std::strerror(errno) : "cannot open it")));
    }
    out = &file;
  }
  // The errno of the first failed write: the store's reads that follow may change errno.
  int write_error = 0;
  auto written = [&] {
    if (!*out && write_error == 0) write_error = errno != 0 ? errno : EIO;
    return static_cast<bool>(*out);
  };
  const bool csv = options.format == "csv";
  auto csv_row = [&](const std::vector<std::string>& fields) {
    std::string line;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) line.push_back(',');
      std::string quoted(fields[i].size() * 2 + 2, '\0');
      quoted.resize(csv_write(quoted.data(), quoted.size(), fields[i].data(), fields[i].size()));
      // libcsv always quotes; keep plain fields plain for readability.
      if (fields[i].find_first_of(",\"\n\r") == std::string::npos) {
        line += fields[i];
      } else {
        line += quoted;
      }
    }
    *out << line << '\n';
  };
  // Text that came from the events (ids, codes): a cell starting with = + - @ or a tab is a
  // formula to a spreadsheet that opens the file (OWASP "CSV injection"), and a publisher
  // writes these fields; such a cell gets a leading ' as OWASP advises (spreadsheets show
  // the text as it was). Our own fields (times, numbers, enums) never start so.
  auto text_cell = [](std::string text) {
    if (!text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string::npos) {
      text.insert(text.begin(), '\'');
    }
    return text;
  };
  auto time_or_empty = [](const std::optional<Instant>& t) {
    return t ? FormatRfc3339Utc(*t) : std::string();
  };

  if (options.what == "dossiers") {
    if (csv) {
      // New columns go at the end: scripts read these by position too.
      csv_row({"dossier_id", "department", "commune", "channel", "procedure_code", "status",
               "received_at", "due_at", "completed_at", "outcome", "overdue_now", "due_source",
               "original_due_at", "paused_ms", "supplement_requests", "rescheduled_due_at",
               "days_off_skipped", "days_off_named"});
    }
    const rules::BusinessCalendar& calendar = runtime.calendar();
    Status s = runtime.store->ForEachDossier([&](const DossierState& d) {
      if (!own(d.partition)) return true;
      if (csv) {
        const auto end = d.completed_at ? d.completed_at : d.returned_at;
        const auto skipped = DaysOffSkippedOf(d, calendar);
        csv_row({text_cell(d.dossier_id), text_cell(d.agency_code.str()),
                 text_cell(d.commune_code.str()), std::string(ToString(d.channel)),
                 text_cell(d.procedure_code.str()), std::string(ToString(d.status)),
                 time_or_empty(d.received_at), time_or_empty(d.due_at), time_or_empty(end),
                 std::string(ToString(d.outcome)),
                 rules::IsOverdueAt(d, clocks.For(d)) ? "true" : "false",
                 std::string(ToString(d.due_source)), time_or_empty(d.original_due_at),
                 std::to_string(d.paused_ms), std::to_string(d.supplement_requests),
                 time_or_empty(d.rescheduled_due_at),
                 skipped ? std::to_string(skipped->count) : std::string(),
                 skipped ? FormatNamedDaysOff(skipped->named) : std::string()});
      } else {
        *out << DossierJson(d, clocks.For(d), &calendar)
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             << '\n';
      }
      return written();
    });
    if (!s) return Fail(s.error());
  } else {
    auto rows = runtime.store->LoadAggregates();
    if (!rows) return Fail(rows.error());
    std::erase_if(*rows, [&](const auto& row) { return !own(row.first.partition); });
    aggregate::AggregateTable::Rows table(rows->begin(), rows->end());
    const auto folded = aggregate::AggregateTable::FoldPartitions(table);
    if (csv) {
      std::vector<std::string> header = {"department", "commune", "channel"};
      for (size_t i = 0; i < kAggregateFieldCount; ++i) {
        header.emplace_back(ToString(static_cast<AggregateField>(i)));
      }
      csv_row(header);
    }
    for (const auto& [key, c] : folded) {
      if (csv) {
        std::vector<std::string> row = {text_cell(key.agency_code), text_cell(key.commune_code),
                                        std::string(ToString(key.channel))};
        for (const int64_t v : c.values) row.push_back(std::to_string(v));
        csv_row(row);
      } else {
        nlohmann::ordered_json j;
        j["department"] = key.agency_code;
        j["commune"] = key.commune_code;
        j["channel"] = ToString(key.channel);
        for (size_t i = 0; i < kAggregateFieldCount; ++i) {
          j[std::string(ToString(static_cast<AggregateField>(i)))] = c.values[i];
        }
        *out << j.dump() << '\n';
      }
      if (!written()) break;
    }
  }
  errno = 0;
  out->flush();
  if (!written()) {
    if (!options.output) return FailStandardOutput("the export", write_error);
    return Fail(IoError("writing the export to " + *options.output +
                        " failed: " + std::strerror(write_error)));
  }
  return 0;
}

int RunRecompute(const RecomputeOptions& options) {
  std::optional<Instant> as_of;
  if (options.as_of) {
    auto t = AsOfOption(*options.as_of);
    if (!t) return Fail(t.error());
    as_of = *t;
    if (*as_of > WallClockNow()) {
      // Judged as at a future instant, a dossier whose deadline moves to before it keeps its
      // breach flag, and gets no alert when the new deadline passes (a helper's trial).
      spdlog::warn(
          "recompute --as-of {} is in the future: a deadline moved to before it counts as "
          "passed already (its breach flag stays, and no alert is raised when it passes)",
          *options.as_of);
    }
  }
  auto config = LoadConfig(options.common.config_path);
  if (!config) return Fail(config.error());
  if (!config->kafka.changelog_topic.empty()) {
    // The recomputed states would be in this store only: the changelog would still say the
    // store is current, and a partition moved later would restore the states before.
    return Fail(InvalidArgument(fmt::format(
        "recompute: kafka.changelog_topic is set ({}): apply calendar and catalog changes "
        "through the running instances instead (SIGHUP, or POST /api/v1/admin/reload), which "
        "write the recomputed states to the changelog",
        config->kafka.changelog_topic)));
  }
  const std::string dir = options.common.state_dir.value_or(config->state.dir);
  if (Status st = CheckStateDirectory(dir); !st) return Fail(st.error());
  auto rt = Open(options.common);
  if (!rt) return Fail(rt.error());
  Runtime& runtime = **rt;

  PipelineProbe probe;
  aggregate::AggregateTable aggregates;
  PipelineOptions pipeline_options;
  pipeline_options.clock = as_of ? TimerClock::kWallClock : TimerClock::kWatermark;
  Pipeline pipeline(*runtime.store, aggregates, runtime.Rules(), pipeline_options, probe);
  if (Status s = pipeline.Restore(); !s) return Fail(s.error());
  auto summary = pipeline.Recompute(runtime.Rules(), as_of.value_or(Instant{}), std::nullopt);
  if (!summary) return Fail(summary.error());
  if (Status s = runtime.store->Close(); !s) return Fail(s.error());
  spdlog::info("recomputed {} open dossiers: {} due times changed, {} timers moved",
               summary->open_dossiers, summary->due_changed, summary->timers_moved);
  std::printf("%s\n", RecomputeSummaryJson(*summary).dump().c_str());
  return 0;
}

namespace {

// Paces a loop to `rate` operations per second: a token bucket holding at most 50 ms of
// tokens, so bursts stay short. rate <= 0: no pacing.
class TokenBucket {
 public:
  explicit TokenBucket(double rate)
      : rate_(rate), capacity_(std::max(1.0, rate * 0.05)), tokens_(capacity_) {}

  // Waits for a token; false if a stop was requested meanwhile (it sleeps at most 100 ms
  // at a time, so that a low rate does not delay SIGINT or SIGTERM).
  bool Acquire() {
    if (rate_ <= 0) return true;
    while (true) {
      const auto now = std::chrono::steady_clock::now();
      tokens_ =
          std::min(capacity_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
      last_ = now;
      if (tokens_ >= 1.0) {
        tokens_ -= 1.0;
        return true;
      }
      if (g_stop_requested.load(std::memory_order_relaxed)) return false;
      std::this_thread::sleep_for(
          std::chrono::duration<double>(std::min(0.1, (1.0 - tokens_) / rate_)));
    }
  }

 private:
  double rate_;
  double capacity_;
  double tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

int RunSimulate(const SimulateOptions& options) {
  InstallStopSignals();
  auto config = LoadConfig(options.config_path);
  if (!config) return Fail(config.error());
  if (!options.ndjson && !options.topic) {
    return Fail(InvalidArgument(
        "simulate: say where the events go: --ndjson FILE, or --topic NAME to publish them (the "
        "config's events topic is '" +
        config->kafka.events_topic +
        "': simulated dossiers published there enter its state and KPIs for good, so it is "
        "never the default)"));
  }
  if (options.topic && options.topic->empty()) {
    return Fail(InvalidArgument("--topic: empty topic name"));
  }
  // A command-line error (exit 1), not the broker's refusal after a connection (exit 2).
  if (options.topic) {
    if (Status s = CheckTopicName(*options.topic); !s) {
      return Fail(InvalidArgument("--topic: " + s.error().message));
    }
    // Dossier events among the alerts (or dead letters, or a changelog's states) would be read
    // by the departments' consumers as alerts of another schema (a helper's trial published
    // there without a word).
    for (const auto& [key, topic] :
         {std::pair{"kafka.alerts_topic", config->kafka.alerts_topic},
          std::pair{"kafka.dead_letter_topic", config->kafka.dead_letter_topic},
          std::pair{"kafka.changelog_topic", config->kafka.changelog_topic}}) {
      if (!topic.empty() && *options.topic == topic) {
        return Fail(InvalidArgument("--topic: '" + topic + "' is the config's " + key +
                                    ", not a topic of dossier events"));
      }
    }
  }
  const auto start = ParseRfc3339(options.start);
  if (!start) {
    return Fail(NotRfc3339("--start", options.start));
  }
  // Far years overflowed the day arithmetic (9999 gave events in 2200).
  using std::chrono::sys_days, std::chrono::year;
  if (*start < Instant(sys_days(year(2000) / 1 / 1)) ||
      *start >= Instant(sys_days(year(2100) / 1 / 1))) {
    return Fail(InvalidArgument("--start: " + options.start + " is not in the years 2000 to 2099"));
  }
  auto calendar = LoadBusinessCalendar(config->calendar_files);
  if (!calendar) return Fail(calendar.error());
  if (config->procedure_catalog.empty()) {
    return Fail(InvalidArgument(config->path + ": procedures.catalog: the simulator needs one"));
  }
  auto catalog = LoadProcedureCatalog(config->procedure_catalog);
  if (!catalog) return Fail(catalog.error());
  // simulator/ next to the config (config/ in the repository), or one level up: an installed
  // prefix keeps it in share/iocstream/, the service's config in share/iocstream/deploy/.
  const fs::path config_dir = fs::path(options.config_path).parent_path();
  fs::path data_dir = config_dir / "simulator";
  if (std::error_code ec;
      !fs::exists(data_dir / "phu-tho-units.csv", ec) &&
      fs::exists(config_dir.parent_path() / "simulator" / "phu-tho-units.csv", ec)) {
    data_dir = config_dir.parent_path() / "simulator";
  }
  const fs::path default_units = data_dir / "phu-tho-units.csv";
  if (std::error_code ec; !options.units_path && !fs::exists(default_units, ec)) {
    // The message named "simulator/phu-tho-units.csv" as an unreadable file, and exited 2.
    return Fail(InvalidArgument(
        "simulate reads its unit table from simulator/phu-tho-units.csv next to the config (or "
        "in the folder above it), and " +
        fs::absolute(default_units).string() +
        " does not exist: give --units FILE (the project's is "
        "config/simulator/phu-tho-units.csv, installed as share/iocstream/simulator/)"));
  }
  auto units = LoadSimulatorUnits(options.units_path.value_or(default_units.string()));
  if (!units) return Fail(units.error());
  std::vector<ProcedurePoolEntry> pools;
  const std::string pools_path =
      options.pools_path.value_or((data_dir / "procedure-pools.csv").string());
  if (options.pools_path || fs::exists(pools_path)) {
    auto loaded = LoadProcedurePools(pools_path);
    if (!loaded) return Fail(loaded.error());
    pools = std::move(*loaded);
  } else {
    spdlog::warn("no {}: every unit draws from the whole procedure catalog", pools_path);
  }

  SimulatorInputs inputs;
  inputs.calendar = &*calendar;
  inputs.catalog = &*catalog;
  inputs.units = std::move(*units);
  inputs.pools = std::move(pools);
  inputs.default_pause_policy = config->sla.default_pause_policy;
  inputs.payment_pauses = config->sla.payment_pauses;
  SimulatorOptions sim_options;
  sim_options.dossiers = options.dossiers;
  sim_options.seed = options.seed;
  sim_options.start = *start;
  sim_options.days = options.days;
  sim_options.tail_days = options.tail_days;
  sim_options.duplicate_share = options.duplicates;
  sim_options.out_of_order_share = options.out_of_order;
  auto simulator = ProvinceSimulator::Create(std::move(inputs), sim_options);
  if (!simulator) return Fail(simulator.error());

  std::FILE* file = nullptr;
  std::vector<char> file_buffer;
  std::unique_ptr<alert::KafkaSink> sink;
  const bool to_stdout = options.ndjson && *options.ndjson == "-";
  std::string destination;
  if (options.ndjson) {
    destination = to_stdout ? "stdout" : *options.ndjson;
    file = to_stdout ? stdout : std::fopen(options.ndjson->c_str(), "wb");
    if (file == nullptr) {
      return Fail(IoError("cannot write '" + *options.ndjson + "': " + std::strerror(errno)));
    }
    file_buffer.resize(size_t{1} << 20);
    std::setvbuf(file, file_buffer.data(), _IOFBF, file_buffer.size());
  } else {
    auto opened = OpenEventsProducer(*config, *options.topic);
    if (!opened) return Fail(opened.error());
    sink = std::move(*opened);
    destination = *options.topic;
  }

  const auto write_failed = [&] {
    const int error = errno;
    if (to_stdout) return FailStandardOutput("the events", error);
    return Fail(IoError("writing " + destination + " failed: " + std::strerror(error)));
  };

  ProvinceSimulator& sim = **simulator;
  Progress progress("simulate", options.dossiers, options.progress);
  TokenBucket bucket(options.rate);
  SimulatedEvent event;
  alert::OutgoingMessage message;
  if (options.topic) message.topic = *options.topic;
  std::optional<Instant> first;
  Instant last{};
  // iocstream's event_time_ahead rule (Pipeline::TimeAhead) on the stream as `replay`
  // partitions it (with --topic: as the topic's kafka.partitions do): an event more than
  // timers.max_time_ahead after both its partition's newest event and the wall clock is
  // dead-lettered there, which a thin tail (a long --tail-days, few dossiers over many days) may
  // bring. Counted, and the summary warns.
  const int32_t partitions =
      std::max<int32_t>(1, options.topic ? config->kafka.partitions : config->replay_partitions);
  std::vector<Instant> newest(static_cast<size_t>(partitions), Instant::min());
  const Instant wall = WallClockNow();
  uint64_t ahead = 0;
  const auto began = std::chrono::steady_clock::now();
  auto last_flush = began;
  bool stopped = false;
  while (true) {
    // Stopped before the next event is made, so that the summary counts what was written.
    if (g_stop_requested.load(std::memory_order_relaxed) || !bucket.Acquire()) {
      stopped = true;
      break;
    }
    if (!sim.Next(event)) break;
    const Instant t = event.event.occurred_at;
    if (!first || t < *first) first = t;
    last = std::max(last, t);
    if (config->max_time_ahead > Millis(0)) {
      Instant& partition_newest =
          newest[static_cast<size_t>(Pipeline::HashPartition(event.event.dossier_id, partitions))];
      if (Pipeline::DatedTooFarAhead(t, partition_newest, wall, config->max_time_ahead)) {
        ++ahead;
      } else {
        partition_newest = std::max(partition_newest, t);
      }
    }
    if (file != nullptr) {
      std::string payload = EncodeEvent(event.event);
      payload.push_back('\n');
      if (std::fwrite(payload.data(), 1, payload.size(), file) != payload.size()) {
        return write_failed();
      }
      // At a chosen rate the file is a live stream (a reader follows it): what was made
      // reaches it within 100 ms, not when stdio's buffer fills or at exit (a QA trial).
      if (options.rate > 0) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_flush >= std::chrono::milliseconds(100)) {
          if (std::fflush(file) != 0) return write_failed();
          last_flush = now;
        }
      }
    } else {
      message.key = event.event.dossier_id;
      message.value = EncodeEvent(event.event);
      if (Status s = sink->Produce(message, t); !s) return Fail(s.error());
    }
    if ((sim.stats().events & 0xfff) == 0) progress.Update(sim.stats().dossiers);
  }
  if (!stopped) progress.Update(options.dossiers);
  if (file != nullptr) {
    const bool ok = std::fflush(file) == 0 && (to_stdout || std::fclose(file) == 0);
    if (!ok) return write_failed();
  } else if (Status s = sink->Flush(Millis(600000)); !s) {
    return Fail(s.error());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();

  const SimulatorStats& stats = sim.stats();
  std::string by_type;
  for (int i = 0; i < kEventTypeCount; ++i) {
    const uint64_t n = stats.events_by_type[static_cast<size_t>(i)];
    if (n == 0) continue;
    by_type += by_type.empty() ? "" : ", ";
    by_type += std::string(ToString(static_cast<EventType>(i))) + " " + std::to_string(n);
  }
  if (by_type.empty()) by_type = "none";
  // Dossiers with events after the stream's end (--tail-days): most stay open, some only
  // miss their result's return or a redelivery.
  const std::string open_at_end = stats.open_at_end == 0
                                      ? std::string()
                                      : "; " + std::to_string(stats.open_at_end) +
                                            (stats.open_at_end == 1 ? " dossier" : " dossiers") +
                                            " cut short by the stream's end (" +
                                            std::to_string(stats.events_after_end) +
                                            " later events not emitted)";
  std::fprintf(to_stdout ? stderr : stdout,
               "simulated %llu dossiers as %llu events (%s; %llu duplicates, %llu out of order), "
               "event time %s to %s%s, %s %s in %.2f s (%.0f events/s)%s\n",
               static_cast<unsigned long long>(stats.dossiers),
               static_cast<unsigned long long>(stats.events), by_type.c_str(),
               static_cast<unsigned long long>(stats.duplicates),
               static_cast<unsigned long long>(stats.out_of_order),
               first ? FormatRfc3339Utc(*first).c_str() : "-",
               first ? FormatRfc3339Utc(last).c_str() : "-", open_at_end.c_str(),
               file != nullptr ? "written to" : "published to", destination.c_str(), seconds,
               seconds > 0 ? static_cast<double>(stats.events) / seconds : 0.0,
               stopped ? " (stopped early)" : "");
  if (ahead > 0) {
    spdlog::warn(
        "{} events are dated more than timers.max_time_ahead ({} s) after both the newest "
        "earlier event of their partition (one of {}, {}) and the wall clock: "
        "replay and run dead-letter them as event_time_ahead (a thin tail: use a shorter "
        "--tail-days, or more --dossiers over fewer --days; a stream dated months ahead of "
        "today: an earlier --start)",
        ahead, config->max_time_ahead.count() / 1000, partitions,
        options.topic ? "kafka.partitions" : "replay.partitions");
  }
  if (stopped) {
    // As replay says it: on the log too, where a stop is looked for (the summary line goes
    // to standard output, or to standard error with --ndjson -).
    spdlog::warn("simulate stopped by a signal after {} events of {} dossiers: {} {}{}",
                 stats.events, stats.dossiers,
                 file != nullptr ? "written to" : "published to and delivered by", destination,
                 file != nullptr ? " (whole lines; the same command writes the stream again from "
                                   "its start)"
                                 : "");
  }
  return stopped ? kExitInterrupted : 0;
}

void NoteStandardOutputWasClosed() { g_stdout_was_closed = true; }

int FinishStandardOutput(int code, const std::string& what) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (flushed && std::ferror(stdout) == 0) return code;
  const int error = errno;
  if (error == EPIPE) return code == 0 ? kExitBrokenPipe : code;
  // A command that failed has said why; its summary lost on the way adds nothing.
  if (code != 0) return code;
  return FailStandardOutput(what, flushed ? 0 : error);
}

}  // namespace iocstream::app
