// ProvinceSimulator: a realistic, deterministic stream of dossier events for one province,
// for `iocstream simulate`, the benchmarks and the demo (docs/simulator.md).
//
// What is calibrated from what:
// - units (departments and communes), their share of the dossiers, their late share and their
//   mean processing time: the national portal's per-unit report for Phú Thọ (Decision 766
//   indicator 2.1, 2026 year to date), extracted into config/simulator/phu-tho-units.csv by
//   tools/gen_simulator_units.py (shared/data/SOURCES.md, Vietnam §8);
// - which procedures a unit handles: config/simulator/procedure-pools.csv (the level and
//   ministry of each procedure in the national procedure database, §6), restricted to the
//   procedure catalog;
// - legal durations: the procedure catalog, and deadlines on the business calendar, exactly as
//   the rules module computes them (including the pause policy's effect of a supplement wait).
// Shares that no source gives (channels, supplements, transfers, payments, withdrawals,
// duplicates, out-of-order delivery) are SimulatorOptions, with documented defaults.
//
// Output order. Events come out ordered by an emission time: the event time, except for the
// few events that are delivered late on purpose (out of order) and for duplicates (a verbatim
// re-emission of an earlier event, some time after it). Dossiers are generated in the order of
// their first event, one local day at a time, and their future events wait in a priority queue,
// so memory is bounded by the dossiers of one day plus the open dossiers, not by the run.
//
// Determinism. The same inputs, options and seed give the same events, byte for byte once
// encoded, on the same platform (the generator uses its own PRNG and distributions; only
// std::log/std::exp come from the C library). Each dossier draws from its own stream, seeded
// from (seed, dossier number), and event ids are derived from (seed, dossier number, sequence).
//
// Thread-safety: a ProvinceSimulator is not thread-safe (Next() mutates it); the free functions
// are. Not copyable; movable.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iocstream/core/dossier_event.h"
#include "iocstream/core/result.h"
#include "iocstream/rules/business_calendar.h"
#include "iocstream/rules/procedure_catalog.h"

namespace iocstream::app {

// One processing unit of the province, a row of config/simulator/phu-tho-units.csv.
struct SimulatorUnit {
  std::string unit_code;     // the portal's unit code, e.g. "H44.45"; prefix of dossier ids
  std::string agency_code;   // ASCII slug of the unit name, ≤ 64 bytes
  std::string commune_code;  // commune-level units; empty for province-level ones
  bool commune_level = false;
  std::string ministry;  // province departments tied to one ministry's procedures; else empty
  int64_t received = 0;  // dossiers in the report's period (received = on_time + overdue)
  int64_t on_time = 0;
  int64_t overdue = 0;
  double avg_processing_days = 0;  // the report's mean processing time, calendar days
  std::string name;                // Vietnamese name, for humans

  // overdue / (on_time + overdue); 0 for a unit without dossiers.
  [[nodiscard]] double LateShare() const;
};

// Reads config/simulator/phu-tho-units.csv (columns documented in tools/gen_simulator_units.py;
// the header names them, in any order). Errors: kIo when unreadable, kInvalidArgument with
// "FILE:LINE: why" for content (missing column, bad number, agency code over 64 bytes or not
// unique, on_time + overdue != received, no unit with dossiers).
[[nodiscard]] Result<std::vector<SimulatorUnit>> LoadSimulatorUnits(const std::string& path);

// A procedure that province-level or commune-level units handle (procedure-pools.csv).
struct ProcedurePoolEntry {
  std::string code;  // base code, "1.004227"
  bool commune_level = false;
  std::string ministry;  // bo_nganh_slug of the procedure database
};

// Reads config/simulator/procedure-pools.csv (code, level, ministry). Errors as above.
[[nodiscard]] Result<std::vector<ProcedurePoolEntry>> LoadProcedurePools(const std::string& path);

// Knobs of the simulation. Shares are probabilities in [0, 1]; see docs/simulator.md for the
// reasons behind each default.
struct SimulatorOptions {
  uint64_t dossiers = 100000;
  uint64_t seed = 1;
  Instant start = FromEpochMillis(1767546000000);  // 2026-01-05T00:00:00+07:00, a Monday
  int days = 90;  // dossiers are submitted on `days` local days from start's local date
  // The stream ends at local midnight `tail_days` days after the last day of submissions:
  // events due later are not emitted, as in an export taken that day; most of their dossiers
  // stay open (SimulatorStats::open_at_end). Without an end, a late 250-working-day procedure
  // ran 18 months, its last events alone months after the rest of the stream, and iocstream
  // dead-letters an event more than timers.max_time_ahead (180 days by default) ahead of both
  // the wall clock and its partition's newest event. 90 days after the submissions, every
  // event is well within that of the submissions' own events.
  int tail_days = 90;

  // Delivery faults, as shares of the events emitted.
  double duplicate_share = 0.02;     // verbatim re-emission of an earlier event
  double out_of_order_share = 0.01;  // emitted after its dossier's next event, or delayed

  // Channels (KenhThucHien) on working days; days off receive online submissions only.
  double online_share = 0.40;
  double postal_share = 0.05;  // in person gets the rest
  // Submissions on a day off, relative to a working day's.
  double day_off_volume = 0.08;
  // Online submissions outside working hours (evenings, early mornings, lunch break).
  double online_after_hours_share = 0.28;

  // Lifecycle, as shares of dossiers.
  double refused_share = 0.03;  // of online submissions: refused at intake (Form 03)
  double withdrawn_share = 0.01;
  double rejected_share = 0.003;  // processing stopped after acceptance
  double supplement_share = 0.10;
  double transfer_share = 0.30;       // one to three transfers between agencies
  double payment_share = 0.20;        // waits for a fee or tax payment (status 6)
  double apology_share = 0.5;         // of late dossiers: a Form 04 apology before the deadline
  double due_in_event_share = 0.15;   // received carries due_at; else iocstream computes it
  double localised_code_share = 0.5;  // procedure_code sent as "base.000.00.00.H44"
  double not_collected_share = 0.03;  // completed but the result is never handed over
};

// The rules a simulation follows; not owned, must outlive the simulator.
struct SimulatorInputs {
  const rules::BusinessCalendar* calendar = nullptr;  // required
  const rules::ProcedureCatalog* catalog = nullptr;   // required
  std::vector<SimulatorUnit> units;
  std::vector<ProcedurePoolEntry> pools;
  // The SLA policy iocstream runs with, so that the planned outcome (on time or late) is the
  // one iocstream will compute: the pause policy for procedures whose catalog entry names none,
  // and whether payment waits pause the clock (config sla.pause_policy, sla.payment_pauses).
  rules::PausePolicy default_pause_policy = rules::PausePolicy::kPause;
  bool payment_pauses = false;
};

// One emitted event.
struct SimulatedEvent {
  DossierEvent event;
  bool duplicate = false;     // a verbatim re-emission of an earlier event (same event_id)
  bool out_of_order = false;  // emitted after its dossier's next event, or delayed
};

// Planned outcomes per unit, for calibration checks (what iocstream should find).
struct SimulatorUnitTally {
  uint64_t dossiers = 0;
  uint64_t completed = 0;  // completed (status 9) events emitted, whatever the lateness
  uint64_t late = 0;       // of those, completed after the deadline iocstream computes
};

struct SimulatorStats {
  uint64_t dossiers = 0;                                   // dossiers generated so far
  uint64_t events = 0;                                     // events emitted, duplicates included
  std::array<uint64_t, kEventTypeCount> events_by_type{};  // duplicates included
  uint64_t duplicates = 0;
  uint64_t out_of_order = 0;
  size_t max_pending = 0;  // high-water mark of the queue of future events
  // When the stream has ended (Next returned false): the dossiers with events after its end
  // (SimulatorOptions::tail_days; most still open, some only miss their result's return or a
  // redelivery), and those events (duplicates included).
  uint64_t open_at_end = 0;
  uint64_t events_after_end = 0;
  std::vector<SimulatorUnitTally> units;  // indexed like SimulatorInputs::units
};

class ProvinceSimulator {
 public:
  // Validates the inputs and precomputes the per-unit procedure mixes. A unit whose pool has
  // no catalog procedure falls back to its level's pool, then to the whole catalog (so empty
  // `pools` means "any procedure"). Errors (kInvalidArgument): no calendar, an empty catalog,
  // no unit with dossiers, a unit code over 32 bytes or an agency or commune code over 64, a
  // share outside [0, 1] (also online + postal and withdrawn + rejected), days < 1,
  // tail_days < 0.
  [[nodiscard]] static Result<std::unique_ptr<ProvinceSimulator>> Create(SimulatorInputs inputs,
                                                                         SimulatorOptions options);
  ~ProvinceSimulator();
  ProvinceSimulator(const ProvinceSimulator&) = delete;
  ProvinceSimulator& operator=(const ProvinceSimulator&) = delete;

  // Writes the next event into `out` (reusing its strings' capacity); false when every
  // dossier's events have been emitted.
  bool Next(SimulatedEvent& out);

  [[nodiscard]] const SimulatorStats& stats() const;

  class Impl;

 private:
  explicit ProvinceSimulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iocstream::app
