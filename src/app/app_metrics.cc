#include "app/app_metrics.h"

#include <chrono>

#include "app/rules_config.h"
#include "iocstream/core/code.h"
#include "iocstream/decode/event_decoder.h"

namespace iocstream::app {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void Add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

MetricFamily Single(std::string name, std::string help, MetricType type, double value) {
  MetricFamily f = Family(std::move(name), std::move(help), type);
  Add(f, value);
  return f;
}

double Load(const std::atomic<uint64_t>& v) {
  return static_cast<double>(v.load(std::memory_order_relaxed));
}

}  // namespace

PipelineMetrics::PipelineMetrics(const PipelineProbe& probe, const RelayProbe& relay,
                                 const aggregate::AggregateTable& aggregates,
                                 const state::StateStore& store,
                                 std::function<std::vector<ingest::PartitionLag>()> lag,
                                 std::function<std::optional<int>()> brokers_up)
    : probe_(probe),
      relay_(relay),
      aggregates_(aggregates),
      store_(store),
      lag_(std::move(lag)),
      brokers_up_(std::move(brokers_up)) {}

std::vector<MetricFamily> PipelineMetrics::Collect() const {
  std::vector<MetricFamily> out;
  constexpr auto kCounter = MetricType::Counter;
  constexpr auto kGauge = MetricType::Gauge;

  // Pipeline accounting: consumed = applied + duplicate + dead_lettered.
  out.push_back(Single("iocstream_events_consumed_total", "Records consumed from the sources.",
                       kCounter, Load(probe_.consumed)));
  out.push_back(Single("iocstream_events_applied_total",
                       "Events applied to dossier state (including late ones).", kCounter,
                       Load(probe_.applied)));
  out.push_back(Single("iocstream_events_late_total",
                       "Applied events whose event time was behind the partition's watermark.",
                       kCounter, Load(probe_.late_applied)));
  out.push_back(Single("iocstream_events_unknown_procedure_total",
                       "Dossiers received without due_at whose procedure code the procedure "
                       "catalog does not know: they have no deadline.",
                       kCounter, Load(probe_.unknown_procedures)));
  {
    MetricFamily f = Family("iocstream_events_received_without_deadline_total",
                            "Dossiers received without due_at that the procedure catalog gives "
                            "no deadline for another reason than an unknown procedure code: "
                            "no duration for their channel, or no procedure code; by reason.",
                            kCounter);
    for (size_t r = 0; r < kNoDeadlineReasonCount; ++r) {
      Add(f, Load(probe_.received_without_deadline[r]),
          {{"reason", std::string(ToString(static_cast<NoDeadlineReason>(r)))}});
    }
    out.push_back(std::move(f));
  }
  out.push_back(Single("iocstream_events_duplicate_total",
                       "Events ignored because their event id (or offset) was already applied.",
                       kCounter, Load(probe_.duplicates)));
  {
    MetricFamily f = Family("iocstream_events_dead_lettered_total",
                            "Records sent to the dead-letter topic, by reason.", kCounter);
    for (int r = 0; r < kDecodeErrorReasonCount; ++r) {
      Add(f, Load(probe_.dead_lettered_by_reason[static_cast<size_t>(r)]),
          {{"reason", std::string(ToString(static_cast<DecodeErrorReason>(r)))}});
    }
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = Family("iocstream_events_conflicting_total",
                            "Applied events that contradict their dossier's other events (a "
                            "supplement requested after the end of processing, an end of "
                            "processing dated before the receipt, a second completion or result "
                            "return at another instant, a result returned before the "
                            "completion), by kind.",
                            kCounter);
    for (int k = 0; k < rules::kEventConflictCount; ++k) {
      Add(f, Load(probe_.conflicting_by_kind[static_cast<size_t>(k)]),
          {{"kind", std::string(rules::ToString(static_cast<rules::EventConflict>(k)))}});
    }
    out.push_back(std::move(f));
  }
  out.push_back(Single("iocstream_offset_gaps_total",
                       "Offsets missing between consecutive records of a partition.", kCounter,
                       Load(probe_.offset_gaps)));
  out.push_back(Single("iocstream_source_position_resets_total",
                       "Partitions whose broker log went back behind the offset the state store "
                       "resumed at (topic deleted and created again, log truncated); the new "
                       "log is applied from its start.",
                       kCounter, Load(probe_.source_resets)));
  out.push_back(Single("iocstream_timers_fired_total", "Deadline timers that fired.", kCounter,
                       Load(probe_.timers_fired)));
  {
    MetricFamily f =
        Family("iocstream_alerts_raised_total", "Alerts raised by the rules, by kind.", kCounter);
    for (int k = 0; k <= static_cast<int>(AlertKind::kDeadlineWarningHoursLeft); ++k) {
      Add(f, Load(probe_.alerts_by_kind[static_cast<size_t>(k)]),
          {{"kind", std::string(ToString(static_cast<AlertKind>(k)))}});
    }
    out.push_back(std::move(f));
  }
  out.push_back(
      Single("iocstream_deadline_breaches_detected_live_total",
             "deadline_breached alerts raised within 2 hours (or timers.allowed_lateness + 1 h) "
             "of their due time by the wall clock (breaches as they happen; not the old ones a "
             "catch-up raises again).",
             kCounter, Load(probe_.breaches_detected_live)));
  out.push_back(Single("iocstream_alerts_published_total",
                       "Alerts acknowledged by their destination (alerts topic or file).", kCounter,
                       Load(relay_.alerts_published)));
  out.push_back(Single("iocstream_dead_letters_published_total",
                       "Dead letters acknowledged by their destination.", kCounter,
                       Load(relay_.dead_letters_published)));
  out.push_back(Single("iocstream_outbox_publish_failures_total",
                       "Failed attempts to publish outbox entries (retried).", kCounter,
                       Load(relay_.publish_failures)));
  out.push_back(Single("iocstream_outbox_pending", "Outbox entries not yet acknowledged.", kGauge,
                       static_cast<double>(relay_.pending.load())));
  out.push_back(Single("iocstream_batches_committed_total",
                       "State-store batches committed (commit policy: interval, records, bytes).",
                       kCounter, Load(probe_.batches)));
  {
    MetricFamily f =
        Family("iocstream_commits_total",
               "State-store batches committed, by what triggered the commit.", MetricType::Counter);
    for (size_t k = 0; k < kCommitTriggerCount; ++k) {
      Add(f, Load(probe_.commits_by_trigger[k]),
          {{"trigger", std::string(ToString(static_cast<CommitTrigger>(k)))}});
    }
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = Family(
        "iocstream_pipeline_wait_seconds_total",
        "Time the pipeline thread was blocked, by what it waited for: source (the next records; "
        "includes idle time with nothing to consume), decoder (the decode worker), state_writer "
        "(the previous commit's write: back pressure from the state store). A pipeline that "
        "lags while these grow slowly is bound by its own CPU.",
        MetricType::Counter);
    for (size_t w = 0; w < kPipelineWaitCount; ++w) {
      Add(f, static_cast<double>(probe_.wait_ns[w].load(std::memory_order_relaxed)) / 1e9,
          {{"for", std::string(ToString(static_cast<PipelineWait>(w)))}});
    }
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = Family("iocstream_changelog_partitions_synced_total",
                            "Partitions assigned with kafka.changelog_topic set, by what was done "
                            "with the state store's copy: current (kept), restored (replaced "
                            "from the changelog), seeded (written to an empty changelog), none.",
                            MetricType::Counter);
    for (size_t a = 0; a < probe_.changelog_syncs.size(); ++a) {
      Add(f, Load(probe_.changelog_syncs[a]),
          {{"action", std::string(ToString(static_cast<ChangelogSync::Action>(a)))}});
    }
    out.push_back(std::move(f));
  }
  out.push_back(Single("iocstream_changelog_records_synced_total",
                       "Dossier records read from the changelog (restored) or written to it "
                       "(seeded) when partitions were assigned.",
                       kCounter, Load(probe_.changelog_records_synced)));
  out.push_back(Single("iocstream_changelog_records_written_total",
                       "Changelog records (dossiers and markers) acknowledged by the broker.",
                       kCounter, Load(probe_.changelog_records_written)));
  out.push_back(Single("iocstream_dossier_cache_bytes",
                       "Estimated bytes of dossiers held in memory (cached, and changed since the "
                       "last commit).",
                       kGauge, static_cast<double>(probe_.dossier_cache_bytes.load())));
  {
    MetricFamily f = Family("iocstream_dossier_cache_lookups_total",
                            "Dossier reads by events and due timers: from the dossier cache "
                            "(hit), from the state store (miss), or of a dossier in neither "
                            "(new).",
                            MetricType::Counter);
    Add(f, Load(probe_.dossier_cache_hits), {{"result", "hit"}});
    Add(f, Load(probe_.dossier_cache_misses), {{"result", "miss"}});
    Add(f, Load(probe_.dossier_cache_new), {{"result", "new"}});
    out.push_back(std::move(f));
  }
  out.push_back(Single("iocstream_codes_interned",
                       "Distinct agency, commune, procedure and unit codes held in memory "
                       "(never freed; new ones are refused past " +
                           std::to_string(kMaxAdmittedCodes) +
                           ", events dead-lettered as too_many_codes).",
                       kGauge, static_cast<double>(Code::PoolSize())));
  // The partitions this instance holds (a consumer-group run): one that holds none (more
  // instances than partitions, or all moved away) exports no event-time lag, which would grow
  // with the wall clock from the last event it applied.
  std::optional<std::vector<ingest::PartitionLag>> lags;
  if (lag_) lags = lag_();
  const int64_t max_event_ms = probe_.max_event_time_ms.load();
  const int64_t max_past_event_ms = probe_.max_past_event_time_ms.load();
  if (max_event_ms > 0 && (!lags || !lags->empty())) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (max_past_event_ms > 0) {
      out.push_back(Single("iocstream_event_time_lag_seconds",
                           "Wall clock minus the newest event time applied, each capped at "
                           "the wall clock when it was applied (an event dated ahead counts as "
                           "of its arrival; iocstream_max_event_time_seconds shows its time).",
                           kGauge, static_cast<double>(now_ms - max_past_event_ms) / 1000.0));
    }
    out.push_back(Single("iocstream_max_event_time_seconds",
                         "Newest event time applied (Unix seconds).", kGauge,
                         static_cast<double>(max_event_ms) / 1000.0));
  }
  if (lags) {
    MetricFamily f =
        Family("iocstream_consumer_lag",
               "Records between the partition's end and the next offset to consume.", kGauge);
    for (const auto& l : *lags) {
      if (l.lag() < 0) continue;
      Add(f, static_cast<double>(l.lag()),
          {{"topic", l.partition.topic},
           {"partition", std::to_string(l.partition.partition.value())}});
    }
    out.push_back(std::move(f));
  }
  if (brokers_up_) {
    // Absent until the first broker check has an answer (at most 4 s after start).
    if (const std::optional<int> up = brokers_up_()) {
      out.push_back(Single("iocstream_kafka_brokers_up",
                           "Live brokers in the Kafka cluster's metadata, asked every 5 s; 0: the "
                           "cluster did not answer within 4 s.",
                           kGauge, static_cast<double>(*up)));
    }
    out.push_back(Single("iocstream_partitions_held",
                         "Partitions lost in a Kafka outage (no broker answered when the group "
                         "session expired) whose last committed state this instance still "
                         "shows; 0 once the group assigns partitions again.",
                         kGauge, static_cast<double>(probe_.partitions_held.load())));
  }

  // Dossier counts per department, commune and channel (partitions folded). Gauges: they are
  // the state of the partitions this instance holds and move with them to another instance of
  // the group (as counters, each move read as a reset and counted the moved history again in
  // increase()); sum them across instances, and take differences over time of the sums.
  const auto rows = aggregate::AggregateTable::FoldPartitions(aggregates_.Snapshot());
  constexpr const char* kHeld = " (the partitions this instance holds; sum across instances)";
  MetricFamily received = Family("iocstream_dossiers_received",
                                 std::string("Dossiers received (clock started).") + kHeld, kGauge);
  MetricFamily completed = Family(
      "iocstream_dossiers_completed",
      std::string("Dossiers finished, by outcome; under the kpi766 policy a dossier waiting on "
                  "the applicant counts as finished at the request (Decision 766), outcome "
                  "waiting_applicant_on_time, _late or _no_deadline.") +
          kHeld,
      kGauge);
  MetricFamily cancelled =
      Family("iocstream_dossiers_cancelled",
             std::string("Dossiers withdrawn, refused or rejected.") + kHeld, kGauge);
  MetricFamily without_receipt = Family(
      "iocstream_dossiers_finished_without_receipt",
      std::string("Dossiers finished (completed or result returned) whose receipt was never seen "
                  "(dead-lettered or not sent): their deadline is unknown, so they are in neither "
                  "iocstream_dossiers_completed nor the indicators until it arrives.") +
          kHeld,
      kGauge);
  MetricFamily open =
      Family("iocstream_dossiers_open",
             std::string("Dossiers in processing, by deadline state.") + kHeld, kGauge);
  MetricFamily supplements = Family("iocstream_supplement_requests",
                                    std::string("Supplement requests (Form 02).") + kHeld, kGauge);
  MetricFamily step_breaches =
      Family("iocstream_step_deadline_breaches",
             std::string("Transfer steps that passed their internal deadline.") + kHeld, kGauge);
  using F = AggregateField;
  for (const auto& [key, c] : rows) {
    const std::vector<ClientMetric::Label> dims = {{"department", key.agency_code},
                                                   {"commune", key.commune_code},
                                                   {"channel", std::string(ToString(key.channel))}};
    auto with = [&](const char* name, const char* value) {
      auto labels = dims;
      labels.push_back({name, value});
      return labels;
    };
    Add(received, static_cast<double>(c[F::kReceived]), dims);
    Add(completed, static_cast<double>(c[F::kCompletedEarly]), with("outcome", "early"));
    Add(completed, static_cast<double>(c[F::kCompletedOnTime]), with("outcome", "on_time"));
    Add(completed, static_cast<double>(c[F::kCompletedLate]), with("outcome", "late"));
    Add(completed, static_cast<double>(c[F::kCompletedNoDeadline]), with("outcome", "no_deadline"));
    Add(completed, static_cast<double>(c[F::kWaitingApplicantOnTime]),
        with("outcome", "waiting_applicant_on_time"));
    Add(completed, static_cast<double>(c[F::kWaitingApplicantLate]),
        with("outcome", "waiting_applicant_late"));
    Add(completed, static_cast<double>(c[F::kWaitingApplicantNoDeadline]),
        with("outcome", "waiting_applicant_no_deadline"));
    Add(cancelled, static_cast<double>(c[F::kCancelled]), dims);
    Add(without_receipt, static_cast<double>(c[F::kFinishedWithoutReceipt]), dims);
    const int64_t open_total = c[F::kOpen];
    const int64_t within =
        open_total - c[F::kOpenOverdue] - c[F::kOpenDueSoon] - c[F::kOpenNoDeadline];
    Add(open, static_cast<double>(within), with("deadline", "within"));
    Add(open, static_cast<double>(c[F::kOpenDueSoon]), with("deadline", "due_soon"));
    Add(open, static_cast<double>(c[F::kOpenOverdue]), with("deadline", "overdue"));
    Add(open, static_cast<double>(c[F::kOpenNoDeadline]), with("deadline", "none"));
    Add(supplements, static_cast<double>(c[F::kSupplementRequests]), dims);
    Add(step_breaches, static_cast<double>(c[F::kStepBreaches]), dims);
  }
  for (auto* f :
       {&received, &completed, &cancelled, &without_receipt, &open, &supplements, &step_breaches}) {
    out.push_back(std::move(*f));
  }

  const state::StoreStats s = store_.Stats();
  out.push_back(Single("iocstream_state_bytes_written_total",
                       "Bytes of state-store write batches committed.", kCounter,
                       static_cast<double>(s.bytes_written)));
  out.push_back(Single("iocstream_state_block_cache_bytes",
                       "Bytes in the shared RocksDB block cache (memtables charged to it).", kGauge,
                       static_cast<double>(s.block_cache_usage)));
  out.push_back(Single("iocstream_state_block_cache_capacity_bytes",
                       "Capacity of the shared RocksDB block cache.", kGauge,
                       static_cast<double>(s.block_cache_capacity)));
  out.push_back(Single("iocstream_state_memtable_bytes", "Bytes in RocksDB memtables.", kGauge,
                       static_cast<double>(s.memtable_bytes)));
  out.push_back(Single("iocstream_state_sst_bytes", "Bytes of live SST files.", kGauge,
                       static_cast<double>(s.sst_bytes)));
  out.push_back(Single("iocstream_state_dossiers_estimated",
                       "RocksDB's estimate of dossiers in the state store.", kGauge,
                       static_cast<double>(s.estimated_dossiers)));
  out.push_back(Single("iocstream_state_dossier_filter_reads_total",
                       "Dossier reads answered 'none' by the in-memory dossier filter without "
                       "reading RocksDB (new dossiers; see state.dossier_filter_mb).",
                       kCounter, static_cast<double>(s.dossier_reads_filtered)));
  return out;
}

PeerRequestMetrics::PeerRequestMetrics(std::vector<std::string> peers)
    : peers_(std::move(peers)),
      ok_(std::make_unique<std::atomic<uint64_t>[]>(peers_.size())),
      failed_(std::make_unique<std::atomic<uint64_t>[]>(peers_.size())) {}

void PeerRequestMetrics::Count(size_t peer, bool ok) {
  if (peer >= peers_.size()) return;
  (ok ? ok_ : failed_)[peer].fetch_add(1, std::memory_order_relaxed);
}

std::vector<MetricFamily> PeerRequestMetrics::Collect() const {
  MetricFamily total = Family("iocstream_api_peer_requests_total",
                              "Requests the API sent each peer of http.peers, by whether an "
                              "answer came (failed: no answer in time, refused, or an error).",
                              MetricType::Counter);
  for (size_t i = 0; i < peers_.size(); ++i) {
    Add(total, static_cast<double>(ok_[i].load()), {{"peer", peers_[i]}, {"result", "ok"}});
    Add(total, static_cast<double>(failed_[i].load()), {{"peer", peers_[i]}, {"result", "failed"}});
  }
  return {std::move(total)};
}

std::vector<MetricFamily> ReloadMetrics::Collect() const {
  MetricFamily total =
      Family("iocstream_rules_reloads_total",
             "Reloads of the calendar and procedure catalog, by result.", MetricType::Counter);
  Add(total, Load(probe_.succeeded), {{"result", "success"}});
  Add(total, Load(probe_.failed), {{"result", "failure"}});
  MetricFamily last =
      Family("iocstream_rules_last_reload_timestamp_seconds",
             "When the last reload with this result ended (Unix seconds).", MetricType::Gauge);
  for (const auto& [result, ms] : {std::pair{"success", probe_.last_success_ms.load()},
                                   std::pair{"failure", probe_.last_failure_ms.load()}}) {
    if (ms > 0) Add(last, static_cast<double>(ms) / 1000.0, {{"result", result}});
  }
  return {std::move(total), std::move(last)};
}

std::vector<MetricFamily> CalendarMetrics::Collect() const {
  const std::shared_ptr<const LoadedRules> rules = rules_.Get();
  const Instant until = CalendarLoadedUntil(rules->calendar, now_());
  return {Single("iocstream_calendar_loaded_until_timestamp_seconds",
                 "When the holidays of the working calendar in force end (Unix seconds): 00:00 "
                 "local time on 1 January of the first year from the current one without a "
                 "calendar file. Deadlines from then on skip no holiday.",
                 MetricType::Gauge, static_cast<double>(ToEpochMillis(until)) / 1000.0)};
}

}  // namespace iocstream::app
