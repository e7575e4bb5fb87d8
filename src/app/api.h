// The HTTP endpoints of a running iocstream:
//   GET /metrics                    Prometheus text format
//   GET /healthz                    200 while the process serves
//   GET /readyz                     200 once the group assigned partitions (maybe none) and
//                                   their state is restored; 503 before, after they were
//                                   lost until the group assigns again, and while the Kafka
//                                   cluster does not answer
//   GET /api/v1/dossiers/{id}       one dossier, with how its deadline was derived
//   GET /api/v1/overdue             open dossiers past their due time, in dossier id order
//                                   (?department=&limit=&after=<the id of a page's last item>;
//                                   "next_after" names it, null on the last page)
//   GET /api/v1/kpis                Decision 766 indicator 2.1 and counts, per department
//                                   (?department= keeps one)
//   GET /api/v1/partitions          the partitions this instance handles now
//   GET /api/v1/peer/...            the other instances' requests (see below)
//   POST /api/v1/admin/reload       reload the calendar and procedure catalog files and
//                                   recompute open deadlines; waits for it (reload.h)
// The three GET /api/v1 endpoints answer 503 until the instance serves (ApiContext::serving).
// Handlers read the state store (RocksDB reads are thread-safe) and the aggregate table's
// snapshot; they never take the pipeline's locks, so they never block ingest. The reload
// handler hands its request to the pipeline thread and occupies its server thread until the
// reload is done (at most ApiContext::reload_timeout): give the server two threads.
//
// A consumer group's instances (ApiContext::peers, `http.peers`): the three GET /api/v1
// endpoints answer for the whole group. The instance asks every peer's /api/v1/peer/partitions
// (an instance of another group or events topic is refused), gives each partition to one
// instance that handles it (itself first; a stale holder only when no other has it), then asks
// each instance for its partitions alone (GET /api/v1/peer/{overdue,kpis,dossiers/{id}} with
// `?partitions=0,3`: the peers' routes, on the server's peer threads, never passed on) and
// merges: the worklist in dossier id order, the KPIs' counts summed and their rates computed
// again, a dossier's lookup answered by the instance that handles its partition. The answers
// then carry "cluster": {"instances_answered", "partitions_missing", "peers_failed"}: a peer
// that does not answer within ApiContext::peer_timeout (per round, name lookup included), or
// answers what is not an iocstream answer, leaves its partitions out (listed); it does not
// fail the request.
//
// The admin endpoint has no authentication: serve the API on a trusted address (the default
// 127.0.0.1) or behind a proxy that restricts it. A reload only re-reads the files the
// operator configured.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app/reload.h"
#include "app/runtime.h"
#include "iocstream/aggregate/aggregate_table.h"
#include "iocstream/http/client.h"
#include "iocstream/http/server.h"
#include "iocstream/metrics/registry.h"
#include "iocstream/state/state_store.h"

namespace iocstream::app {

// What GET /readyz answers for `run`, fed by the consumer's rebalance callbacks and broker
// check. Thread-safe (atomics): the callbacks run on the pipeline thread, Ready on the HTTP
// threads.
class Readiness {
 public:
  // The group assigned this member its partitions (maybe none), their state restored.
  void Assigned() {
    lost_.store(false);
    assigned_.store(true);
  }
  // Partitions revoked; `lost`: taken away without this member's consent (its session
  // expired), so it serves nothing until the group assigns again.
  void Revoked(bool lost) {
    if (lost) lost_.store(true);
  }
  // Ready: assigned at least once, nothing lost since, and the cluster answered the latest
  // broker check (`brokers_up` nullopt: no answer yet, or the check off: not held against it).
  [[nodiscard]] bool Ready(std::optional<int> brokers_up) const {
    return assigned_.load() && !lost_.load() && brokers_up.value_or(1) > 0;
  }
  // The group assigned this member partitions at least once (maybe none).
  [[nodiscard]] bool EverAssigned() const { return assigned_.load(); }

 private:
  std::atomic<bool> assigned_{false};
  std::atomic<bool> lost_{false};
};

struct ApiContext {
  const state::StateStore* store = nullptr;
  const aggregate::AggregateTable* aggregates = nullptr;
  std::shared_ptr<MetricsRegistry> metrics;
  std::function<bool()> ready;  // readiness probe
  // The rules in force (the calendar explains the days off of a deadline); may be empty.
  std::function<std::shared_ptr<const LoadedRules>()> rules;
  // Asks for a reload and waits for its outcome (nullopt: not done within the timeout);
  // empty: POST /api/v1/admin/reload answers 501.
  std::function<std::optional<ReloadOutcome>()> reload;
  // Timers run on event time (timers.clock: watermark): "overdue now" in the views is then
  // judged at the dossier's partition watermark (as stored with the last commit), like the
  // breach timers, not at the wall clock.
  bool watermark_clock = false;
  // The state partitions this instance handles now (run: the events topic's partitions the
  // consumer group assigned to it); empty function: all. The store still holds the dossiers of
  // partitions handed to another instance, as they were then: /api/v1/dossiers answers 404
  // for them (naming the partition) and /api/v1/overdue leaves them out, instead of stale
  // states.
  std::function<std::set<PartitionId>()> owned_partitions;
  // The events topic's partition count that dossier ids are hashed over (run: the count at
  // the start, Pipeline::HashPartition, Kafka's default partitioner); 0: unknown. With
  // owned_partitions, a 404 for a dossier this instance has never seen names the partition
  // its id belongs to when another instance handles it.
  int32_t key_partitions = 0;
  // Among those, the partitions shown as of the last commit before a Kafka outage took them
  // (Pipeline::HeldPartitions): answers that include them say `"stale": true`. Empty function:
  // none.
  std::function<std::set<PartitionId>()> held_partitions;
  // Whether the store's states are this instance's to show (run: the consumer group assigned
  // it its partitions, maybe none, at least once since it started; Readiness::EverAssigned).
  // Before, /api/v1/dossiers, /api/v1/overdue and /api/v1/kpis answer 503 rather than an empty
  // worklist and zero counts that read as "all clear" (a QA trial: for up to 45 s after a
  // restart). Empty function: always.
  std::function<bool()> serving;
  // The other instances of the consumer group (`http.peers`), whose answers the three GET
  // /api/v1 endpoints merge with this one's (see above); empty: this instance's answers only.
  // Needs key_partitions > 0 (the partitions to place).
  std::vector<HttpAuthority> peers;
  // How long a request waits for the peers' answers, per round (partitions, then answers).
  std::chrono::milliseconds peer_timeout{2000};
  // The consumer group and events topic (run): peers of another group or topic, whose
  // partitions are other dossiers, are refused (/api/v1/partitions says them).
  std::string group_id;
  std::string events_topic;
  // Set by RegisterApi with peers: counts each request to a peer (index in `peers`) and whether
  // an answer came (iocstream_api_peer_requests_total, registered on `metrics`).
  std::function<void(size_t peer, bool ok)> count_peer_request;
  // Set by RegisterApi: a random id of this process, which /api/v1/partitions answers, so that
  // a peer list that names this instance too does not count it twice.
  std::string instance;
};

void RegisterApi(HttpServer& server, ApiContext context);

}  // namespace iocstream::app
