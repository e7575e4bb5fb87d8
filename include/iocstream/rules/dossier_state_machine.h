// The dossier state machine: how one event, or one fired deadline timer, changes a dossier.
//
// Pure and deterministic: time comes in as an argument (event time, or the clock that fired
// the timer), never from a clock, so the same inputs give the same state, timers and alerts
// in a live run, a Kafka replay and a file replay. Thread-safe: free functions over values;
// the RulesContext they read is immutable.
//
// Rules and their sources (reference/domain.md):
// - the clock starts at receipt (status 2, NgayTiepNhan) and stops at completion (status 9,
//   NgayKetThucXuLy), or at the result return (status 10) when no completion was seen (§1.5);
// - the due time comes from the event (NgayHenTra) or else from the procedure catalog's legal
//   duration on the business calendar (§1.4); no due time → tracked without a deadline;
// - supplement requests pause or restart the clock per policy (§1.3: only a completed
//   supplement restarts it, "tính lại hẹn trả từ đầu"); waiting for payment (status 6) pauses
//   it, never restarts it, when configured (SlaPolicy::payment_pauses). Pauses are paired from
//   their requests and receipts in time order whatever order those arrive in, each kind apart
//   (core/dossier_state.h PauseKind: a payment does not end the wait for a supplement, nor the
//   reverse), and count only while the clock runs, from the receipt (§1.1) to the end of
//   processing (§1.5): a wait still open when processing ends counts up to the end, as one
//   whose end is dated after it does. The clock stands still while either kind waits: the deadline
//   moves by the union of the closed pauses (time paused by both counted once), and a closed pause
//   keeps its whole credit while a wait of the other kind is still open
//   (DossierState::paused_since);
// - a Form 04 apology records a new promised date but the KPI keeps the deadline (§1.2, §6.4),
//   and counts only when issued before the deadline, judged against the deadline in force when
//   it matters (ApologyIssuedInTime), whatever order the events arrive in;
// - outcomes early / on time / late as §1.5, judged on the completion (else the result's
//   return) even when the dossier was also withdrawn, refused or rejected; withdrawn, refused,
//   rejected without either → cancelled;
// - open dossiers are overdue once the clock is past the due time (§1.5: in deadline while
//   now <= due), so the breach timer is due 1 ms after it;
// - out-of-order events: facts (timestamps) merge whatever the arrival order; the status is
//   the one of the latest event by event time, the unit and step deadline the latest
//   transfer's, and a finished dossier is never reopened;
// - a transfer step is breached (step_breaches, step_breached) when its deadline (step_due_at)
//   comes while it is the current step of an open dossier: its timer fires at the step
//   deadline, also while paused, and a later transfer (a new step) or the end of processing
//   ends the watch; timers due at an event's instant fire before it, so a step due at the end's
//   instant is breached. Once the dossier has finished, its current step is settled on the
//   facts whatever order the events arrived in (and whatever the clock did): breached when it
//   was transferred and the dossier received at or before the end (the first completion,
//   result return or cancellation) and the step was due at or before it. A transfer or receipt
//   arriving after the end, or an end arriving before the clock reached the step deadline,
//   counts a breached step its timer did not, with the timer's alert (no completed_at), dated
//   when the clock reached the step deadline, not before the transfer or receipt (event time, as
//   completed_late is dated at its end); an end dated before the step deadline arriving after
//   the timer fired takes the count back (the alert stays raised). A transfer sent again (the
//   same instant and step deadline) is the step held: counted once. A transfer older than the
//   latest held changes nothing, so a superseded step (not the current one) is counted only by
//   its timer, as the events arrived;
// - the status agrees with the open waits (§1.1 statuses 5 and 6): a received dossier not
//   finished whose clock stands for a supplement still awaited shows waiting_supplement
//   whatever came after it (a payment made, a transfer), else one waiting for a payment that
//   pauses the clock shows waiting_payment; otherwise the latest event's status
//   (DossierState::status, event_status);
// - under the kpi766 policy a dossier waiting for the applicant's supplement counts as finished
//   at the request time in the KPIs (§1.3 interpretation 3;
//   DossierState::kpi766_finished_at_request), and returns to open when the supplement arrives.
#pragma once

#include <array>
#include <boost/container/string.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "iocstream/core/dossier_event.h"
#include "iocstream/core/dossier_state.h"
#include "iocstream/rules/business_calendar.h"
#include "iocstream/rules/procedure_catalog.h"

namespace iocstream::rules {

// The two "due soon" thresholds are independent: each fires its own timer and raises its own
// alert once (kDeadlineWarning, kDeadlineWarningHoursLeft; distinct alert ids), and either
// puts the dossier in the "due soon" state. Neither alerts once the due time has passed: a
// warning timer that fires after it (the clock jumped past both, or late data held it back)
// raises the breach instead, and leaves its own flag unset, so that a set flag
// (DossierState::warning_fired, hours_left_warning_fired) always means its alert was raised.
struct SlaPolicy {
  // Share of the legal duration (working time) after which "due soon" is raised. 0 disables.
  double warning_fraction = 0.75;
  // "Less than this much working time left": raised this much working time (business
  // calendar) before the due time, e.g. 8 h = one working day. 0 disables. Dossiers whose
  // legal working duration is not longer than this never get it (it would hold from receipt).
  Millis warning_hours_left = std::chrono::hours(8);
  // Pause policy for procedures whose catalog entry does not name one.
  PausePolicy default_pause_policy = PausePolicy::kPause;
  // Whether waiting for a fee or tax payment (status 6) stops the clock.
  bool payment_pauses = false;
  // Raise kApologyMissing when a deadline passes with no Form 04 issued before it.
  bool apology_alerts = true;
};

// Everything the rules read besides the dossier and the event. Not owned; must outlive calls.
struct RulesContext {
  const BusinessCalendar* calendar = nullptr;  // required
  const ProcedureCatalog* catalog = nullptr;   // optional: no catalog → due only from events
  SlaPolicy policy;
};

// How an event was accounted for. Every consumed event ends as exactly one of these or as a
// dead letter (decided before the rules), so the counts add up.
enum class Disposition : uint8_t {
  kApplied = 0,
  kDuplicate = 1,  // same event id already applied to this dossier: state unchanged
};

struct EventResult {
  Disposition disposition = Disposition::kApplied;
  DossierState state;               // the new state (equal to prior on a duplicate)
  std::vector<AlertIntent> alerts;  // alerts this event raises
};

// Applies `event` to `prior` (nullptr: the first event of this dossier). `partition` is the
// source partition that carries the dossier. The event's codes are all admitted
// (event.new_codes is empty: the pipeline admits them first; see core/dossier_event.h).
// `clock` (UTC): the clock that drives the dossier's timers (wall clock, or its partition's
// watermark). When a late pause moves the deadline or a warning past it, the alert already
// raised for the old instant is re-armed for the new one, as in RecomputeDeadline; nullopt:
// never re-armed.
[[nodiscard]] EventResult ApplyEvent(const DossierState* prior, const DossierEvent& event,
                                     PartitionId partition, const RulesContext& ctx,
                                     std::optional<Instant> clock = std::nullopt);

// ApplyEvent in place, for the pipeline's hot path (no copy of the state): `state` holds the
// prior state (nullopt: the first event of this dossier) and becomes the new one; the alerts
// raised are appended to `alerts`. On a duplicate `state` is left as it was.
[[nodiscard]] Disposition ApplyEventInPlace(std::optional<DossierState>& state,
                                            const DossierEvent& event, PartitionId partition,
                                            const RulesContext& ctx,
                                            std::vector<AlertIntent>& alerts,
                                            std::optional<Instant> clock = std::nullopt);
// The same with EventIdHash(event.event_id) given, hashed once where the caller needs it too
// (the pipeline's EventIdReused check).
[[nodiscard]] Disposition ApplyEventInPlace(std::optional<DossierState>& state,
                                            const DossierEvent& event, uint64_t event_id_hash,
                                            PartitionId partition, const RulesContext& ctx,
                                            std::vector<AlertIntent>& alerts,
                                            std::optional<Instant> clock = std::nullopt);

struct TimerResult {
  bool fired = false;  // false: stale timer (the dossier moved on), nothing changed
  DossierState state;
  std::vector<AlertIntent> alerts;
};

// Fires `timer` for `state` at clock `now` (wall clock live, watermark in replay; now >= due).
[[nodiscard]] TimerResult FireTimer(const DossierState& state, const Timer& timer, Instant now,
                                    const RulesContext& ctx);

// FireTimer in place: true if the timer fired (`state` changed, its alerts appended to
// `alerts`); false for a stale timer, leaving `state` as it was.
[[nodiscard]] bool FireTimerInPlace(DossierState& state, const Timer& timer, Instant now,
                                    const RulesContext& ctx, std::vector<AlertIntent>& alerts);

// Late data (events that arrived behind the clock): if the dossier has a timer already due at
// `clock`, the timers due by `clock` are held until clock + `grace` (the allowed lateness), so
// a late completion still arriving is not preceded by a false breach alert; timers due after
// `clock` fire at their own time (a QA trial: a breach due ten minutes after a late receipt
// waited the whole hour when a warning was already due, and not without warnings). No-op
// otherwise, and once set the floor stays (DossierState::timer_floor, timer_floor_since).
void ApplyLateDataGrace(DossierState& state, Instant clock, Millis grace);

// The deadline of an open dossier recomputed with other rules (a calendar or procedure
// catalog reload, domain.md §1.4: holidays are data, announced yearly): the same receipt,
// pauses (DossierState::pauses, in order; derived again from the pause marks when the dossier
// holds payment ones, which restart no deadline, or marks of more than one kind) and policy, on
// `ctx`. The original due time comes from the catalog again when it came from there (unchanged if
// the procedure is no longer listed); a due time sent with the event keeps its working duration
// from receipt (moved by the working time of days off added or removed in its period; unchanged
// when none is, and for dossiers stored without DossierState::legal_working_time). Dossiers stored
// without their pauses keep the working time their pauses added. Warnings follow the new due time.
// A dossier without a due time keeps none; the step deadline is the event's and stays.
//
// `clock` (UTC) is the clock that drives the dossier's timers now (wall clock or its partition's
// watermark). Alerts already raised are not raised again: a fired flag is cleared only when
// its instant moved after `clock` (the breach: to `clock` or after, as it is due 1 ms after the
// due time), so its timer fires again at the new instant (an alert for the new deadline, with
// its own id). A new instant already past the clock fires through the
// normal timer path at the next FireDue. Closed dossiers, dossiers not received and dossiers
// without a deadline are returned unchanged; with unchanged rules every dossier is.
[[nodiscard]] DossierState RecomputeDeadline(const DossierState& state, const RulesContext& ctx,
                                             Instant clock);

// The timers a dossier in this state must have, sorted: its schedule (warning, hours-left
// warning, breach, step breach). The state store keeps only the first (StoredTimers).
[[nodiscard]] std::vector<Timer> DesiredTimers(const DossierState& state);

// The same timers without the dossier id and partition (a dossier has at most one timer of
// each kind): what the pipeline compares before and after every event without building
// strings. Slots [0, size) sorted by (due, kind), the order of DesiredTimers.
struct TimerSlots {
  struct Slot {
    Instant due{};
    TimerKind kind = TimerKind::kBreach;
    auto operator<=>(const Slot&) const = default;
  };
  std::array<Slot, 4> slots{};
  size_t size = 0;
  [[nodiscard]] bool Contains(const Slot& s) const {
    for (size_t i = 0; i < size; ++i) {
      if (slots[i] == s) return true;
    }
    return false;
  }
};
[[nodiscard]] TimerSlots DesiredTimerSlots(const DossierState& state);

// The timers the state store keeps for a dossier in this state: only its next one, the first
// of DesiredTimerSlots (size 0 or 1); a change applies the difference. Firing it changes the
// state, and the pipeline then puts the next one in its place, due at once if its instant has
// passed. So a dossier's timers fire in (due, kind) order, and at one instant every dossier's
// timers of one kind fire before those of the next kind, in dossier id order (the store's key
// order), whatever the batch and page boundaries; the store, its memtables and compactions
// carry far fewer timer writes (a dossier's received event puts one timer instead of up to
// four). Stores written when every desired timer was kept need no migration: a kept timer
// fires at its due and one the state no longer wants fires as a no-op (FireTimerInPlace
// checks it against the state).
[[nodiscard]] TimerSlots StoredTimerSlots(const DossierState& state);
[[nodiscard]] std::vector<Timer> StoredTimers(const DossierState& state);

// Outcome of a finished dossier ending at `end` against `due` (domain.md §1.5): late if end >
// due; early if it ended on a local working day before the due day; else on time.
[[nodiscard]] Outcome ClassifyOutcome(Instant end, std::optional<Instant> due,
                                      const BusinessCalendar& calendar);

// True while the dossier's clock runs or is paused (received, not finished).
[[nodiscard]] bool IsOpen(const DossierState& state);

// Whether an open dossier is overdue at `as_of` (domain.md §1.5: in deadline while now <= due).
// Its clock stands still while paused (§1.3), so a dossier paused before its deadline is not
// overdue however long the applicant takes; one paused after it stays overdue. With waits of
// both kinds, "paused" is their union (DossierState::paused_since is its effective start).
[[nodiscard]] bool IsOverdueAt(const DossierState& state, Instant as_of);

// Whether a Form 04 apology was issued before the deadline (Circular 01/2018; domain.md §1.2:
// before the deadline, the agency apologises in writing and gives a new date): the earliest
// apology (DossierState::apology_at) at or before the current effective due_at (in deadline
// while now <= due, as for the breach), or any apology when the dossier has no due time. A
// dossier stored before the instant was kept counts as issued when it was judged so on arrival
// (DossierState::legacy_apology_issued). Read by the breach timer (kApologyMissing) and the API.
[[nodiscard]] bool ApologyIssuedInTime(const DossierState& state);

// Deterministic alert id: hex of a 64-bit hash of (dossier id, kind, deadline), 16 characters
// (held inline by the string: an alert's id allocates nothing).
[[nodiscard]] boost::container::string AlertId(std::string_view dossier_id, AlertKind kind,
                                               Instant due);

// 64-bit hash of an event id, as stored in DossierState::applied_event_ids.
[[nodiscard]] uint64_t EventIdHash(std::string_view event_id);

// At most this many event-id hashes are kept per dossier (oldest dropped first).
inline constexpr size_t kMaxRememberedEventIds = 64;

// At most this many pause marks per dossier (DossierState::pause_marks). Decree 61/2018 allows
// one supplement request per dossier (domain.md §1.3; kpi766 counts a second one overdue), so a
// real dossier holds a handful; hundreds come from a publisher resending requests in a loop,
// which would otherwise grow the dossier's state, and the work of each of its events, without
// bound.
inline constexpr size_t kMaxPauseMarks = 256;

// Whether `event`'s id was applied to `state` already by another event: the dossier holds the
// id (so the rules would skip the event as a duplicate), but not what the event says, which a
// redelivery of the event applied would have left in it: a receipt when the dossier has none or
// has one that says otherwise (another instant, due time, agency, commune, procedure, channel
// or online level: ReceiptConflict's fields, a due time compared only where the state holds the
// receipt's),
// a completion, result return or cancellation when the dossier holds none at or before its
// instant, or any event dated before the dossier's first event. Only facts every
// stored state keeps are read (a store written by an older build reads the same), so a true
// redelivery is never taken for one. An event id names one event (event-contract.md); a
// publisher that gives a new event an old id (a regenerated retry, a copied payload) would
// otherwise lose it as a duplicate without a trace (a QA trial lost a completion so). The
// pipeline dead-letters such an event as event_id_reused, before the rules.
// `event_id_hash`: EventIdHash(event.event_id).
[[nodiscard]] bool EventIdReused(const DossierState& state, const DossierEvent& event,
                                 uint64_t event_id_hash);

// Whether applying `event` to `state` would add a pause mark (a supplement request or
// receipt, or a payment one when ctx.policy.payment_pauses; without it, a payment receipt that
// ends a payment wait requested before it, at or before its instant, also a legacy one
// (core/dossier_state.h PauseKind::kLegacy) that may be a payment's) to a dossier that holds
// kMaxPauseMarks already. A duplicate event (its id remembered) and a mark equal to one held
// add none. The pipeline dead-letters such an event as too_many_pauses, before the rules.
[[nodiscard]] bool PauseMarksFull(const DossierState& state, const DossierEvent& event,
                                  const RulesContext& ctx);

// What a received event contradicts in the receipt a dossier holds (ReceiptConflict).
enum class ReceiptField : uint8_t {
  kOccurredAt = 0,   // another receipt time (received_at)
  kDueAt = 1,        // another appointment date than the dossier's original_due_at
  kAgency = 2,       // another agency_code
  kCommune = 3,      // another commune_code
  kProcedure = 4,    // another procedure (base code; the localised form of one base is one)
  kChannel = 5,      // another channel
  kOnlineLevel = 6,  // another online level
};
// "occurred_at", "due_at", "agency_code", ... (the contract's field names).
[[nodiscard]] std::string_view ToString(ReceiptField field);

// Whether `event` is a second receipt that contradicts the one `state` holds: a received event
// whose id the dossier has not applied, for a dossier received already, that says something
// else than the dossier holds in one of the receipt's fields, the first such field in
// ReceiptField order. Only what both say is compared: a field the event leaves out (or sends
// as unknown, for channel and online level) contradicts nothing, nor does one the dossier does
// not hold. A resend of the receipt under another id, with the same content, is no conflict.
// The codes compared are the dossier's, which the receipt set (other events only fill blanks).
//
// Why this is refused and not applied (the pipeline dead-letters it as conflicting_receipt,
// before the rules): the receipt is authoritative for the dossier's codes and the clock starts
// at the first one applied, so applying a second, different one would relabel the dossier
// (another department's or procedure's counts, alerts routed there) while its deadline stays
// computed from the first; two receipts that disagree mostly come from one dossier id used for
// two dossiers (a local code without the agency's prefix, event-contract.md), which applying
// would merge. Refused, the first receipt's state stays whole and the second is on the
// dead-letter topic, by reason, for its publisher to see.
[[nodiscard]] std::optional<ReceiptField> ReceiptConflict(const DossierState& state,
                                                          const DossierEvent& event);
// The first field in which received event `event` differs from the receipt `state` holds,
// whatever ids they came under (ReceiptConflict's comparison, a due time the dossier does not
// hold counted as differing); nullopt when they agree or the dossier holds no receipt. For
// messages: an event reusing the receipt's id says which field it changes.
[[nodiscard]] std::optional<ReceiptField> ReceiptDifferenceFrom(const DossierState& state,
                                                                const DossierEvent& event);

// Contradictions between an event and the dossier's other events that are applied anyway (the
// state rules already give them no effect, in every arrival order), counted and logged by the
// pipeline (iocstream_events_conflicting_total{kind}) so that operators and the publishing
// department see them. Stable names (ToString): a Prometheus label value.
enum class EventConflict : uint8_t {
  // "supplement_after_end": a supplement request at an instant after the dossier's end of
  // processing (completion, else result return, else withdrawal or rejection): a Form 02 for a
  // dossier whose result was ready. Found on the request, or on an end event that arrives
  // after a request it precedes. Applied: a pause counts only up to the end of processing, so
  // it moves no deadline and reopens nothing, whichever event arrives first; dead-lettering it
  // instead would depend on the arrival order (the request alone is fine until the end
  // arrives, and the end is the fact to keep). A request before the end that arrives after it
  // is late data, not a conflict.
  kSupplementAfterEnd = 0,
  // "end_before_receipt": an end of processing (completion, result return, withdrawal,
  // refusal or rejection) at an instant before the dossier's receipt: the result was ready, or
  // the dossier closed, before it was accepted; mostly swapped dates or a wrong offset. Found
  // in both arrival orders: on each end event dated before the receipt when the receipt came
  // first, else on the receipt, once, when an end dated before it came first (equal instants
  // are none). Applied, as the other ends are (the end is kept and the outcome judged on it),
  // counted and logged. An event that reveals more than one counts once, as the first of
  // end_before_receipt, repeated_end, returned_before_completion, supplement_after_end.
  kEndBeforeReceipt = 1,
  // "repeated_end": a second completion, or a second result return, dated otherwise than the
  // one applied (under another event id: the same id is a duplicate). Applied: the earliest is
  // kept and the outcome judged on it, in every arrival order; the alerts the first one raised
  // (completed_late, or a breach it came after) stand. Counted on the second to arrive.
  kRepeatedEnd = 2,
  // "returned_before_completion": a result return dated before the completion (§1.5: the
  // result is returned once processing completed). Applied: the outcome is judged on the
  // completion, in every arrival order. Counted on the second of the two to arrive.
  kReturnedBeforeCompletion = 3,
};
inline constexpr int kEventConflictCount = 4;
[[nodiscard]] std::string_view ToString(EventConflict conflict);

// The conflict applying `event` to `state` (nullptr: the dossier's first event, which has
// none) reveals, if any: checked before the event is applied, and meaningful only if it then
// is (a duplicate reveals nothing). Pure; cheap for the events that cannot reveal one.
[[nodiscard]] std::optional<EventConflict> ConflictOf(const DossierState* state,
                                                      const DossierEvent& event);

}  // namespace iocstream::rules
