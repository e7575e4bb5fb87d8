// DossierState: everything iocstream keeps about one dossier, the value stored in the state
// store's "dossiers" column family. Written only by the rules state machine; encoded only by
// the state module. Plain value type: thread-compatible.
//
// Instants are UTC. Derived values (outcome, open/overdue) are functions of the state so that
// aggregates and timers can be recomputed from it (see rules/dossier_state_machine.h).
#pragma once

#include <boost/container/string.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "iocstream/core/code.h"
#include "iocstream/core/compact_vectors.h"
#include "iocstream/core/dossier_event.h"
#include "iocstream/core/optional_instant.h"
#include "iocstream/core/types.h"

namespace iocstream {

enum class DossierStatus : uint8_t {
  kSubmitted = 0,          // seen online, not yet accepted: no clock
  kInProgress = 1,         // clock running
  kWaitingSupplement = 2,  // supplement requested
  kWaitingPayment = 3,     // waiting for fee / tax payment
  kCompleted = 4,          // result ready (clock stopped)
  kReturned = 5,           // result returned to the applicant
  kWithdrawn = 6,
  kRefused = 7,   // refused at intake
  kRejected = 8,  // stopped after acceptance
  kUnknown = 9,   // only events that do not set a status were seen so far (out of order)
};

// Outcome class of a dossier (domain.md §1.5). Early and on time both count as on time in
// the Decision 766 indicator 2.1; the Boston ONTIME label equals early or on time.
enum class Outcome : uint8_t {
  kOpen = 0,        // not finished; "within deadline", "due soon" or "overdue" while open
  kEarly = 1,       // finished on a working day before the due day
  kOnTime = 2,      // finished on the due day, not after the due instant
  kLate = 3,        // finished after the due instant
  kNoDeadline = 4,  // finished, but it had no due time (procedure without NgayHenTra)
  kCancelled = 5,   // withdrawn, refused or rejected: not counted as on time or late
  // Finished (completed, result returned, or cancelled after a completion) without a receipt
  // seen: its receipt was dead-lettered or never sent, so its deadline is unknown. Not judged
  // on time or late (a QA trial: Houston's 205 receipts with a due date years before their
  // creation were dead-lettered, and their completions counted on time as "no deadline"),
  // counted apart; judged as usual once the receipt arrives.
  kNoReceipt = 6,
};

// Where the due time came from, for "explain a deadline".
enum class DueSource : uint8_t { kNone = 0, kEvent = 1, kCatalog = 2 };

// A pause of the clock (supplement or payment) that moved the deadline: [start, end), UTC.
struct PauseInterval {
  Instant start{};
  Instant end{};
  bool operator==(const PauseInterval&) const = default;
};

// What a pause waits for (domain.md §1.1 statuses 5 and 6, §1.3): the applicant's supplement,
// or a fee or tax payment (only when payments pause the clock, sla.payment_pauses). The kinds
// are paired apart (a payment does not end the wait for a supplement, nor the reverse), and
// the clock stands still while either waits (rules/dossier_state_machine.h).
//
// kLegacy: a mark read from a store written before kinds were kept (dossier encoding version 3
// and older), a supplement's or, when payments paused the clock, a payment's: its kind is not
// known. Legacy marks keep the shared pairing they were written under: any end (a supplement
// or a payment received, whatever sla.payment_pauses says now) ends an open legacy wait, and
// under the restart policy that end restarts the duration, as it did. The rules never give a
// new event this kind, and the encoder writes every value holding pause marks as version 4,
// so legacy marks come from old stores only.
enum class PauseKind : uint8_t { kSupplement = 0, kPayment = 1, kLegacy = 2 };

// One end of a pause as an event gave it: a supplement (or, when it pauses, payment) request
// starts one, its receipt ends it. The pauses are paired from these marks in time order
// (rules/dossier_state_machine.h), whatever order the events arrived in.
struct PauseMark {
  Instant at{};        // the event's occurred_at (UTC)
  bool start = false;  // true: a request; false: the supplement or payment received
  PauseKind kind = PauseKind::kSupplement;
  bool operator==(const PauseMark&) const = default;
};

// The order of DossierState::pause_marks: by instant, at one instant the ends first (a
// supplement received and a new request at the same minute close one pause and open another),
// then by kind (supplement, payment, legacy).
inline bool PauseMarkBefore(const PauseMark& a, const PauseMark& b) {
  if (a.at != b.at) return a.at < b.at;
  if (a.start != b.start) return !a.start;
  return a.kind < b.kind;
}

// Applied event ids a DossierState holds without a heap block (DossierState::applied_event_ids).
inline constexpr size_t kInlineEventIds = 6;

struct DossierState {
  // Up to 22 bytes inline (boost::container::string, 24 bytes): the usual ids (19 bytes, such as
  // "H44.246-260105-0001") need no heap block of their own, which reading the id, creating and
  // evicting a dossier each paid for with a cache miss (std::string holds 15; a 1M-dossier
  // replay's pipeline thread ran 7% faster, docs/performance-history.md, session 46).
  boost::container::string dossier_id;
  PartitionId partition{0};  // source partition; the state moves with it on rebalance
  // Interned (Code): compared and copied as pointers.
  Code agency_code;
  Code commune_code;
  Code procedure_code;
  Code current_unit;  // unit holding the dossier now (last transfer), else agency
  Channel channel = Channel::kUnknown;
  OnlineLevel online_level = OnlineLevel::kUnknown;
  // The status shown (API, exports): the latest event's (event_status), except that an
  // unfinished, received dossier whose clock stands for an open wait shows what it waits for:
  // waiting_supplement while a supplement is awaited, else waiting_payment while a payment is
  // (rules/dossier_state_machine.h). A finished status is never reopened.
  DossierStatus status = DossierStatus::kUnknown;
  // The status of the latest event by event time (status_at), finished statuses kept: what
  // `status` shows once no wait is open. Equal to `status` in stores written before encoding
  // version 5.
  DossierStatus event_status = DossierStatus::kUnknown;
  DueSource due_source = DueSource::kNone;
  Outcome outcome = Outcome::kOpen;  // fixed when the dossier finishes; kept on calendar reload

  OptionalInstant submitted_at;
  OptionalInstant received_at;  // clock start (NgayTiepNhan)
  // Effective deadline (NgayHenTra shifted by clock pauses): timers and the KPI judge against
  // it (Decision 766 indicator 2.1 subtracts supplement time). A Form 04 reschedule does NOT
  // move it.
  OptionalInstant due_at;
  // Due time before any pause or restart (explain): as the event sent it (kept across
  // calendar reloads), or the catalog duration from receipt on the rules in force.
  OptionalInstant original_due_at;
  OptionalInstant warning_at;  // "due soon": the share of legal time elapsed
  // "Due soon": less than the configured working time left (SlaPolicy::warning_hours_left),
  // i.e. that much working time before due_at on the business calendar.
  OptionalInstant hours_left_warning_at;
  OptionalInstant rescheduled_due_at;  // Form 04 new promised date, if any
  OptionalInstant step_due_at;         // current step's internal deadline (OLA)
  OptionalInstant completed_at;        // clock stop (NgayKetThucXuLy)
  OptionalInstant returned_at;         // NgayTra
  OptionalInstant closed_at;           // withdrawn / refused / rejected time
  // Open pause (supplement or payment), derived from pause_marks: the clock stopped at this
  // instant (UTC), from the receipt at the earliest. With one kind of pause it is the open
  // request's instant. When pauses of the other kind closed after the open one began, their
  // working time (already added to due_at, each whole) advances it by as much, on the business
  // calendar: it is the effective stop, so that due_at < paused_since says whether the running
  // clock passed the deadline before it stopped (rules::IsOverdueAt), as with one kind. A stop
  // past the deadline stays past it by as much, also after hours (where the calendar would map
  // both onto the next working instant).
  OptionalInstant paused_since;
  // Late data: the dossier's events arrived behind the clock (watermark or wall), so its
  // timers do not fire before this instant: the allowed lateness is left for its other late
  // events (a completion, say) to arrive before a breach is declared.
  OptionalInstant timer_floor;
  // With timer_floor: the clock when the late data arrived. Only the timers due by then wait
  // for timer_floor; later ones fire at their own time. Absent in stores written before it was
  // kept (encoding version 7): there every timer due before timer_floor waits for it.
  OptionalInstant timer_floor_since;
  // Occurred_at of the transfer that set current_unit and step_due_at: a transfer that
  // happened before it (arriving late) changes neither.
  OptionalInstant transferred_at;
  // Occurred_at of the earliest Form 04 apology (rescheduled event, Circular 01/2018), whatever
  // order they arrived in. Whether it came before the deadline is judged against due_at when it
  // matters (rules::ApologyIssuedInTime), not as it arrives: the deadline moves after it (a
  // pause or the receipt arriving late, a calendar recompute). The earliest is the one to keep:
  // if any apology came before the deadline, the earliest did, whatever the deadline becomes.
  OptionalInstant apology_at;
  // Total paused wall time applied to due_at, in ms (derived from pause_marks): the length of
  // `pauses`, time paused by both kinds at once counted once.
  int64_t paused_ms = 0;
  // The closed pauses applied to due_at, in time order, each within the running clock (from the
  // receipt to the end of processing): derived from pause_marks, and applied again to a
  // recomputed deadline (rules::RecomputeDeadline). Pauses of the two kinds that overlap are
  // one interval here (their union); touching ones stay two, as one kind's rounds do.
  RareVector<PauseInterval> pauses;  // no heap block while empty (most dossiers)
  // Every pause start and end applied, in PauseMarkBefore's order, whatever order their events
  // arrived in; a mark equal to one held (same instant, start or end, kind) is not added again
  // (it changes no pause). At most rules::kMaxPauseMarks: the pipeline dead-letters an event
  // that would add one more (too_many_pauses).
  RareVector<PauseMark> pause_marks;
  // Working time from receipt to original_due_at on the calendar in force when it was set.
  // A due time that came with the event keeps this working duration when the calendar
  // changes. nullopt without a due time, and in dossiers stored before it was recorded.
  OptionalMillis legal_working_time;
  int32_t supplement_requests = 0;
  int32_t step_breaches = 0;  // transfer steps that passed their internal deadline
  bool result_electronic = false;
  // Read from stores written before encoding version 5 only: a Form 04 apology judged issued
  // before the deadline as it arrived, its instant not kept. It still counts as issued
  // (rules::ApologyIssuedInTime); the rules never set it (they keep apology_at).
  bool legacy_apology_issued = false;

  // Alerts already raised, so that a timer or a replay never raises one twice.
  bool breach_fired = false;   // deadline passed while open (overdue)
  bool warning_fired = false;  // "due soon" threshold passed while open
  bool step_breach_fired = false;
  bool hours_left_warning_fired = false;  // "less than N working hours left" passed while open
  // Decision 766 policy (kpi766; domain.md §1.3: more than one supplement request counts as
  // overdue): counted overdue while open, as a fired breach is, but raises no alert (the
  // legal deadline has not passed) and does not stop the breach timer.
  bool overdue_by_supplements = false;
  // Decision 766 policy (kpi766; domain.md §1.3 interpretation 3: "a record still waiting on
  // the applicant counts as finished at the request time"): received, not finished, and
  // waiting for the applicant's supplement (status waiting_supplement). The KPIs and dossier
  // counts take it as finished at the clock stop (paused_since): on time when that was at or
  // before due_at, late after it or with more than one request (overdue_by_supplements);
  // the supplement's receipt returns it to open (aggregate::Contribution). Its timers, the
  // overdue state of the API's dossier view and the alerts are those of an open, paused
  // dossier. Set by the rules under the policy in force, as overdue_by_supplements is, so
  // the counts (a function of the state) stay exact when the policy changes.
  bool kpi766_finished_at_request = false;

  // Occurred_at of the latest event that set event_status (the out-of-order guard), whatever
  // `status` shows: a wait that is open does not move it.
  Instant status_at{};
  Instant first_event_at{};
  Instant last_event_at{};
  // 64-bit hashes of applied event ids (dedup), oldest first. The first kInlineEventIds are
  // held in the state itself (most dossiers have fewer events): checking an event for a
  // duplicate then reads no separate heap block.
  InlineU64s<kInlineEventIds> applied_event_ids;

  bool operator==(const DossierState&) const = default;
};

// A deadline timer: fires when the clock (wall clock live, watermark in replay) reaches due.
enum class TimerKind : uint8_t {
  kWarning = 0,           // share of the legal working time elapsed
  kBreach = 1,            // due time
  kStepBreach = 2,        // transfer step's internal deadline
  kHoursLeftWarning = 3,  // less than the configured working time left
};

struct Timer {
  PartitionId partition{0};
  Instant due{};
  std::string dossier_id;
  TimerKind kind = TimerKind::kBreach;
  auto operator<=>(const Timer&) const = default;
};

enum class AlertKind : uint8_t {
  kDeadlineWarning = 0,           // approaching the deadline (threshold of elapsed working time)
  kDeadlineBreached = 1,          // deadline passed while the dossier is still open
  kCompletedLate = 2,             // completed after its deadline
  kStepBreached = 3,              // a transfer step passed its internal deadline
  kApologyMissing = 4,            // late without a Form 04 apology issued before the deadline
  kDeadlineWarningHoursLeft = 5,  // less than the configured working time left before due
};
inline constexpr int kAlertKindCount = 6;  // kinds 0..5; outbox entries hold no other

// An alert to publish. alert_id is deterministic (dossier, kind, deadline) so a redelivery is
// recognisable downstream. Instants UTC. The codes are the dossier's (interned: an alert copies
// no code text). The alert id (16 hex digits) and a usual dossier id fit in their strings'
// 22 inline bytes (boost::container::string): an alert takes no heap block of its own (a
// 1M-dossier replay raises 776k; its pipeline thread ran 3% faster, docs/performance-history.md,
// session 46).
struct AlertIntent {
  boost::container::string alert_id;
  AlertKind kind = AlertKind::kDeadlineBreached;
  boost::container::string dossier_id;
  Code agency_code;
  Code commune_code;
  Code procedure_code;
  Channel channel = Channel::kUnknown;
  Instant due_at{};
  Instant detected_at{};  // the clock (watermark or wall) when it was raised
  std::optional<Instant> completed_at;
};

std::string_view ToString(DossierStatus status);
std::string_view ToString(Outcome outcome);
std::string_view ToString(DueSource source);
std::string_view ToString(TimerKind kind);
std::string_view ToString(AlertKind kind);

}  // namespace iocstream
