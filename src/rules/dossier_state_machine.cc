#include "iocstream/rules/dossier_state_machine.h"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <cassert>
#include <cstdio>
#include <string>

#include "iocstream/core/hash.h"

namespace iocstream::rules {
namespace {

bool IsTerminal(DossierStatus status) {
  switch (status) {
    case DossierStatus::kCompleted:
    case DossierStatus::kReturned:
    case DossierStatus::kWithdrawn:
    case DossierStatus::kRefused:
    case DossierStatus::kRejected:
      return true;
    default:
      return false;
  }
}

// Status an event sets, if any.
std::optional<DossierStatus> StatusOf(EventType type) {
  switch (type) {
    case EventType::kSubmitted:
      return DossierStatus::kSubmitted;
    case EventType::kReceived:
    case EventType::kTransferred:
    case EventType::kSupplementReceived:
    case EventType::kPaymentReceived:
      return DossierStatus::kInProgress;
    case EventType::kSupplementRequested:
      return DossierStatus::kWaitingSupplement;
    case EventType::kPaymentRequested:
      return DossierStatus::kWaitingPayment;
    case EventType::kCompleted:
      return DossierStatus::kCompleted;
    case EventType::kResultReturned:
      return DossierStatus::kReturned;
    case EventType::kWithdrawn:
      return DossierStatus::kWithdrawn;
    case EventType::kRefused:
      return DossierStatus::kRefused;
    case EventType::kRejected:
      return DossierStatus::kRejected;
    case EventType::kRescheduled:
      return std::nullopt;
  }
  return std::nullopt;
}

// The latest event's status (event_status) moves to the event's status when the event is the
// latest by event time, except that a finished dossier is never reopened by a non-terminal
// event (late step events), and "returned" follows "completed" whatever the timestamps say.
// The status shown is set from it afterwards (ShownStatus).
void UpdateStatus(DossierState& s, const DossierEvent& e) {
  const auto next = StatusOf(e.type);
  if (!next) return;
  DossierStatus& status = s.event_status;
  const bool was_terminal = IsTerminal(status) && status != DossierStatus::kUnknown;
  if (was_terminal && !IsTerminal(*next)) return;
  if (status == DossierStatus::kReturned && *next == DossierStatus::kCompleted) return;
  if (status == DossierStatus::kCompleted && *next == DossierStatus::kReturned) {
    status = *next;
    s.status_at = std::max(s.status_at, e.occurred_at);
    return;
  }
  if (status == DossierStatus::kUnknown || e.occurred_at >= s.status_at ||
      (!was_terminal && IsTerminal(*next))) {
    status = *next;
    s.status_at = std::max(s.status_at, e.occurred_at);
  }
}

void MinInto(OptionalInstant& slot, Instant t) {
  if (!slot || t < *slot) slot = t;
}

PausePolicy PolicyFor(const DossierState& s, const RulesContext& ctx) {
  if (ctx.catalog != nullptr && !s.procedure_code.empty()) {
    if (const ProcedureRule* rule = ctx.catalog->Find(s.procedure_code)) {
      if (rule->pause_policy) return *rule->pause_policy;
    }
  }
  return ctx.policy.default_pause_policy;
}

// Decision 766 (domain.md §1.3): more than one supplement request counts as overdue.
bool OverdueBySupplements(const DossierState& s, const RulesContext& ctx) {
  return s.supplement_requests > 1 && PolicyFor(s, ctx) == PausePolicy::kKpi766;
}

// Decision 766 (domain.md §1.3 interpretation 3): a record still waiting on the applicant
// counts as finished at the request time (DossierState::kpi766_finished_at_request). Read after
// the status shown is set: waiting_supplement is a received, unfinished dossier whose
// supplement is awaited.
bool Kpi766FinishedAtRequest(const DossierState& s, const RulesContext& ctx) {
  return s.status == DossierStatus::kWaitingSupplement && IsOpen(s) &&
         PolicyFor(s, ctx) == PausePolicy::kKpi766;
}

// Legal working duration of the dossier's deadline, measured on the calendar (from the
// catalog when it came from there, else from receipt to the original due time). `from_receipt`:
// the calendar from s.received_at.
Millis LegalWorkingDuration(const DossierState& s,
                            const BusinessCalendar::WorkingTimeFrom& from_receipt) {
  // As recorded at receipt (an event's due time keeps it across calendar reloads).
  if (s.legal_working_time) return *s.legal_working_time;
  if (!s.original_due_at) return Millis(0);
  return from_receipt.To(*s.original_due_at);
}
Millis LegalWorkingDuration(const DossierState& s, const RulesContext& ctx) {
  if (s.legal_working_time) return *s.legal_working_time;
  if (!s.received_at || !s.original_due_at) return Millis(0);
  return LegalWorkingDuration(s, ctx.calendar->From(*s.received_at));
}

// The "due soon" instants of the (possibly shifted) deadline. Both keep their distance to it
// in working time: the fraction warning leaves (1 - fraction) of the legal duration, the
// hours-left warning leaves warning_hours_left. `from_receipt`: the calendar from
// s.received_at; `to_due`: the working time from receipt to the deadline, when the caller has
// just computed it (ComputeDue), else computed here.
void ComputeWarning(DossierState& s, const RulesContext& ctx,
                    const BusinessCalendar::WorkingTimeFrom& from_receipt,
                    std::optional<Millis> to_due = std::nullopt) {
  s.warning_at.reset();
  s.hours_left_warning_at.reset();
  if (!s.due_at) return;
  const Millis legal = LegalWorkingDuration(s, from_receipt);
  const Millis elapsed_to_due = to_due ? *to_due : from_receipt.To(*s.due_at);
  const double fraction = ctx.policy.warning_fraction;
  if (fraction > 0.0 && fraction < 1.0) {
    const auto warn_after =
        Millis(static_cast<int64_t>(static_cast<double>(legal.count()) * fraction));
    const Millis remaining = legal - warn_after;
    s.warning_at = from_receipt.Add(std::max(Millis(0), elapsed_to_due - remaining));
  }
  const Millis left = ctx.policy.warning_hours_left;
  if (left > Millis(0) && legal > left) {
    s.hours_left_warning_at = from_receipt.Add(std::max(Millis(0), elapsed_to_due - left));
  }
}
void ComputeWarning(DossierState& s, const RulesContext& ctx) {
  if (!s.received_at) {
    s.warning_at.reset();
    s.hours_left_warning_at.reset();
    return;
  }
  ComputeWarning(s, ctx, ctx.calendar->From(*s.received_at));
}

// The procedure's legal duration for the dossier's channel, if the catalog knows it.
std::optional<LegalDuration> CatalogDuration(const DossierState& s, const RulesContext& ctx) {
  if (ctx.catalog == nullptr || s.procedure_code.empty()) return std::nullopt;
  const ProcedureRule* rule = ctx.catalog->Find(s.procedure_code);
  return rule != nullptr ? rule->DurationFor(s.channel) : std::nullopt;
}

// Sets the deadline at receipt: from the receipt's due_at (`event_due`), else from the catalog,
// the working time from receipt to it (legal_working_time), and its "due soon" instants
// (ComputeWarning: at receipt the working time to the deadline is the legal one). A catalog period
// that ends at or after kLatestEventTime (2200-01-01: receipt 2199-10-01 + 6 months) gives no
// deadline, as the decoder refuses an event's instant there: the calendar ends with 2199, and a due
// time past it would be made up (the pipeline counts and logs it, Pipeline::CheckReceiptDeadline).
void ComputeDue(DossierState& s, const OptionalInstant& event_due, const RulesContext& ctx) {
  assert(s.received_at.has_value());
  // The receipt's place on the calendar, computed once for the due time, the working time to
  // it and the "due soon" instants.
  const BusinessCalendar::WorkingTimeFrom from_receipt = ctx.calendar->From(*s.received_at);
  if (event_due) {
    s.due_at = event_due;
    s.due_source = DueSource::kEvent;
  } else if (const auto duration = CatalogDuration(s, ctx)) {
    const Instant due = from_receipt.DueAt(*duration);
    if (due < kLatestEventTime) {
      s.due_at = due;
      s.due_source = DueSource::kCatalog;
    }
  }
  s.original_due_at = s.due_at;
  if (s.due_at) s.legal_working_time = from_receipt.To(*s.due_at);
  ComputeWarning(s, ctx, from_receipt, s.legal_working_time);
}

// End of processing for the KPI: completion, else result return (domain.md §1.5).
std::optional<Instant> EndOf(const DossierState& s) {
  return s.completed_at ? s.completed_at : s.returned_at;
}

AlertIntent MakeAlert(const DossierState& s, AlertKind kind, Instant due, Instant detected_at) {
  AlertIntent a;
  a.alert_id = AlertId(s.dossier_id, kind, due);
  a.kind = kind;
  a.dossier_id = s.dossier_id;
  a.agency_code = s.current_unit.empty() ? s.agency_code : s.current_unit;
  a.commune_code = s.commune_code;
  a.procedure_code = s.procedure_code;
  a.channel = s.channel;
  a.due_at = due;
  a.detected_at = detected_at;
  a.completed_at = EndOf(s);
  return a;
}

// Re-derives the outcome after any event. Finished dossiers are classed once their end and
// their receipt are known; a later event (out of order) may still refine it.
void UpdateOutcome(DossierState& s, const RulesContext& ctx, std::vector<AlertIntent>& alerts,
                   Instant event_time) {
  const Outcome before = s.outcome;
  const std::optional<Instant> end = EndOf(s);
  switch (s.status) {
    case DossierStatus::kWithdrawn:
    case DossierStatus::kRefused:
    case DossierStatus::kRejected:
      // Completed or returned before (or after) the withdrawal: the end of processing is the
      // completion's, and the outcome is judged on it (domain.md §1.5: the status-9 time
      // first, then 10, then 8/3/7).
      if (!end) {
        s.outcome = Outcome::kCancelled;
        break;
      }
      [[fallthrough]];
    case DossierStatus::kCompleted:
    case DossierStatus::kReturned: {
      assert(end.has_value());
      if (!s.received_at) {
        // Its deadline is unknown, not absent: not judged until the receipt arrives.
        s.outcome = Outcome::kNoReceipt;
      } else if (!s.due_at) {
        s.outcome = Outcome::kNoDeadline;
      } else if (s.supplement_requests > 1 && PolicyFor(s, ctx) == PausePolicy::kKpi766) {
        // Decision 766: more than one supplement request counts as overdue (domain.md §1.3).
        s.outcome = Outcome::kLate;
      } else {
        s.outcome = ClassifyOutcome(*end, s.due_at, *ctx.calendar);
      }
      break;
    }
    default:
      s.outcome = Outcome::kOpen;
  }
  if (s.outcome == Outcome::kLate && before != Outcome::kLate && s.due_at) {
    // Raised by the event that made it late, and never dated before the end of processing it
    // is about: a receipt that arrives after the completion dated it at the receipt, days
    // before the completion (a QA trial; the alert contract's detected_at).
    const Instant detected = end && *end > event_time ? *end : event_time;
    alerts.push_back(MakeAlert(s, AlertKind::kCompletedLate, *s.due_at, detected));
  }
}

// The earliest known end of processing (completion, result return, cancellation), whatever
// order the events arrived in: the end the outcome is judged on (§1.5: the completion, else the
// result's return), else the withdrawal, refusal or rejection; pauses count up to the same end.
std::optional<Instant> EndOfProcessingFrom(OptionalInstant completed, OptionalInstant returned,
                                           OptionalInstant closed) {
  return completed ? completed : returned ? returned : closed;
}
std::optional<Instant> EndOfProcessing(const DossierState& s) {
  return EndOfProcessingFrom(s.completed_at, s.returned_at, s.closed_at);
}

// The current step of a finished dossier, settled on the facts whatever order its events
// arrived in. In time order the step breach timer watches the step from its transfer (once the
// dossier is received: only open dossiers have timers) until the next transfer or the end of
// processing, and fires when the clock reaches the step deadline (timers due at an event's
// instant fire before the event); the dossier finishes first when the step deadline comes after
// its end. So the current step of a finished dossier was breached when it was transferred, the
// dossier received, and the step due at or before the end (the first of the completion, result
// return and cancellation: the status is final from the first). Called after a transfer that set
// a new step, the receipt, or an end was applied:
// - breached and not counted (the transfer or the receipt arrived after the end; the end arrived
//   before the clock reached the step deadline; the allowed lateness held the timer back): it is
//   counted as its timer counts it, step_breach_fired and one more step_breaches, with the
//   timer's step_breached alert (the current unit's, without completed_at: the dossier was still
//   open), dated in event time when the clock reached the step deadline, never before the
//   transfer and receipt that set it up (as completed_late is dated at the end it is about, not
//   when a late receipt arrived);
// - counted and not breached (the timer fired while the dossier seemed open, and an end dated
//   before the step deadline arrived after it): the count is taken back (its alert was raised).
void SettleStepBreachOfFinished(DossierState& s, std::vector<AlertIntent>& alerts) {
  if (!s.received_at || IsOpen(s) || !s.step_due_at || !s.transferred_at) return;
  // The end the outcome is judged on: a result returned before the completion (a
  // contradiction) does not end the step before it.
  const std::optional<Instant> end = EndOfProcessing(s);
  if (!end) return;  // not finished (a final status always comes with its instant)
  const Instant watched_from = std::max(*s.received_at, *s.transferred_at);
  const bool breached = watched_from <= *end && *s.step_due_at <= *end;
  if (breached == s.step_breach_fired) return;
  if (!breached) {
    s.step_breach_fired = false;
    if (s.step_breaches > 0) --s.step_breaches;
    return;
  }
  s.step_breach_fired = true;
  ++s.step_breaches;
  AlertIntent alert = MakeAlert(s, AlertKind::kStepBreached, *s.step_due_at,
                                std::max(watched_from, *s.step_due_at));
  alert.completed_at.reset();
  alerts.push_back(std::move(alert));
}

// Moves the deadline for a pause [since, at) per policy (domain.md §1.3): pause: shift by the
// working time paused; restart: the full legal duration again from `at`, when the pause holds a
// completed supplement (`supplement`; a payment wait only shifts it); kpi766: shift like pause
// (the waiting time is subtracted from the processing time).
void ApplyPauseToDue(DossierState& s, Instant since, Instant at, bool supplement,
                     const RulesContext& ctx) {
  if (supplement && PolicyFor(s, ctx) == PausePolicy::kRestart) {
    // "Tính lại hẹn trả từ đầu": the catalog's duration counted again in its own unit, so
    // calendar days and months restart on the calendar (Civil Code Art. 147/148) and not
    // as the working time they happened to span from the receipt.
    const auto legal = s.due_source == DueSource::kCatalog ? CatalogDuration(s, ctx)
                                                           : std::optional<LegalDuration>();
    s.due_at = legal ? ctx.calendar->DueAt(at, *legal)
                     : ctx.calendar->AddWorkingTime(at, LegalWorkingDuration(s, ctx));
    return;
  }
  const Millis paused = ctx.calendar->WorkingTimeBetween(since, at);
  s.due_at = ctx.calendar->AddWorkingTime(*s.due_at, paused);
}

// The original due time of an event's deadline on another calendar: the same working time
// from receipt as when it was received. Unchanged when the calendar change does not touch
// its period (so a due time outside working hours stays as sent); later by the working time
// lost to new days off; earlier when days off were removed.
Instant KeepWorkingDuration(Instant received, Instant due, Millis legal,
                            const BusinessCalendar& calendar) {
  const Millis now = calendar.WorkingTimeBetween(received, due);
  if (now == legal) return due;
  if (now < legal) return calendar.AddWorkingTime(due, legal - now);
  return calendar.AddWorkingTime(received, legal);
}

// The deadline before any pause, on the rules in force: the catalog's as last computed (at
// receipt or by a recompute); an event's keeps its working duration from receipt.
Instant DueBeforePauses(const DossierState& s, const RulesContext& ctx) {
  if (s.due_source == DueSource::kEvent && s.legal_working_time) {
    return KeepWorkingDuration(*s.received_at, *s.original_due_at, *s.legal_working_time,
                               *ctx.calendar);
  }
  return *s.original_due_at;
}

// Whether `s` holds the request of a payment wait at or before `at`.
bool HoldsPaymentRequestBy(const DossierState& s, Instant at) {
  for (const PauseMark& m : s.pause_marks) {
    if (m.at > at) break;
    if (m.start && m.kind == PauseKind::kPayment) return true;
  }
  return false;
}

// Whether `s`, read from a store written before kinds were kept, holds a legacy request at or
// before `at` that may be a payment's: it holds more legacy requests (at distinct instants)
// than supplement requests were counted, so one at least was a payment's, given while payments
// paused the clock (a store written with payment pauses off holds supplement requests only).
bool HoldsLegacyPaymentRequestBy(const DossierState& s, Instant at) {
  int64_t legacy_starts = 0;
  bool by_at = false;
  std::optional<Instant> last;
  for (const PauseMark& m : s.pause_marks) {
    if (!m.start || m.kind != PauseKind::kLegacy || m.at == last) continue;
    last = m.at;
    ++legacy_starts;
    by_at = by_at || m.at <= at;
  }
  return by_at && legacy_starts > s.supplement_requests;
}

// The mark a pause event adds to `s` under `ctx`'s policy, if any. A payment received while
// payments no longer pause the clock still ends a payment wait requested (at or before it)
// while they did, also one a store written before kinds were kept holds as a legacy wait: that
// wait would otherwise stay open for good.
std::optional<PauseMark> PauseMarkOf(const DossierState& s, const DossierEvent& e,
                                     const RulesContext& ctx) {
  switch (e.type) {
    case EventType::kSupplementRequested:
    case EventType::kSupplementReceived:
      return PauseMark{e.occurred_at, e.type == EventType::kSupplementRequested,
                       PauseKind::kSupplement};
    case EventType::kPaymentRequested:
      if (!ctx.policy.payment_pauses) return std::nullopt;
      return PauseMark{e.occurred_at, true, PauseKind::kPayment};
    case EventType::kPaymentReceived:
      if (!ctx.policy.payment_pauses && !HoldsPaymentRequestBy(s, e.occurred_at) &&
          !HoldsLegacyPaymentRequestBy(s, e.occurred_at)) {
        return std::nullopt;
      }
      return PauseMark{e.occurred_at, false, PauseKind::kPayment};
    default:
      return std::nullopt;
  }
}

bool HoldsPauseMark(const DossierState& s, const PauseMark& mark) {
  return std::binary_search(s.pause_marks.begin(), s.pause_marks.end(), mark, PauseMarkBefore);
}

// A mark equal to one held is not added: DerivePauses reads, at each instant, only whether it
// holds a start and an end.
void AddPauseMark(DossierState& s, const PauseMark& mark) {
  const auto at =
      std::upper_bound(s.pause_marks.begin(), s.pause_marks.end(), mark, PauseMarkBefore);
  if (at != s.pause_marks.begin() && *(at - 1) == mark) return;
  s.pause_marks.insert(at, mark);
}

// One kind's pauses from its marks (domain.md §1.3): in time order a start opens a pause when
// none is open and an end closes the open one (a second request while paused, or an end while
// running, opens or closes nothing). A pause counts only while the clock runs, from the receipt
// (§1.1: the clock starts there; an intake request before it is guidance, not a pause) to the
// end of processing (§1.5); without a receipt nothing is applied yet. The closed pauses are
// appended to a vector in time order.
struct PausePairing {
  const DossierState& s;
  std::optional<Instant> end;  // of processing
  OptionalInstant open;

  template <class Pauses>
  void Close(Instant until, Pauses& out) {
    Instant since = *open;
    open.reset();
    if (!s.received_at) return;
    since = std::max(since, *s.received_at);
    if (end) until = std::min(until, *end);
    if (until <= since) return;
    out.push_back({since, until});
  }

  // The marks of one instant `at`: whether it holds starts and ends of this kind. The ends
  // close an open pause before the starts open the next, and with none open the starts open
  // one before the ends close it (a request supplemented at the counter the same minute is a
  // pause of no length, whatever the arrival order).
  template <class Pauses>
  void Step(Instant at, bool starts, bool ends, Pauses& out) {
    // The receipt ends a pause requested before it: the dossier was accepted as complete
    // (§1.1; a request at intake is guidance, Form 02, and its own end may never be sent).
    if (open && s.received_at && *open < *s.received_at && *s.received_at <= at) {
      Close(*s.received_at, out);
    }
    if (open) {
      if (ends) {
        Close(at, out);
        if (starts) open = at;
      }
    } else if (starts) {
      open = at;
      if (ends) Close(at, out);
    }
  }

  // After the last mark: the start of the pause still open, if it counts. A wait still open
  // when processing ended (a completion, a result returned or a cancellation while the office
  // waited for the applicant or a payment) counts up to that end, as it does when its end is
  // sent after the end of processing (Close cuts it there): in every arrival order of the
  // same events the deadline is the same, and a dossier completed while waiting is judged as
  // Decision 766 counts one still waiting, at the request (domain.md §1.3). A QA trial had
  // found it judged without the wait when no end came, and with it once an end came later.
  template <class Pauses>
  std::optional<Instant> Finish(Pauses& out) {
    if (open && s.received_at && *open < *s.received_at) Close(*s.received_at, out);
    if (!open) return std::nullopt;
    if (!end) return open;
    if (*open < *end) {
      Close(*end, out);
    } else {
      open.reset();  // requested after the end: no wait of this dossier's processing
    }
    return std::nullopt;
  }
};

using KindPauses = boost::container::small_vector<PauseInterval, 4>;
using Restarts = boost::container::small_vector<bool, 8>;

// Unites `more` (one kind's closed pauses, in time order, without overlaps; each restarting
// the duration under the restart policy when `more_restart`) into `pauses` (in time order,
// without overlaps; pauses[i] restarts when restarts[i], all of them while `restarts` is
// empty), in time order: pauses that overlap become one, restarting when one of them does;
// touching ones stay two (as one kind's rounds do).
void UnitePauses(std::vector<PauseInterval>& pauses, Restarts& restarts, const KindPauses& more,
                 bool more_restart) {
  if (more.empty()) return;
  std::vector<PauseInterval> held;
  held.swap(pauses);
  Restarts held_restarts;
  held_restarts.swap(restarts);
  pauses.reserve(held.size() + more.size());
  size_t i = 0;
  size_t j = 0;
  while (i < held.size() || j < more.size()) {
    const bool take_held = j == more.size() || (i < held.size() && held[i].start <= more[j].start);
    const bool restart = take_held ? held_restarts.empty() || held_restarts[i] : more_restart;
    const PauseInterval next = take_held ? held[i++] : more[j++];
    if (!pauses.empty() && next.start < pauses.back().end) {
      pauses.back().end = std::max(pauses.back().end, next.end);
      restarts.back() = restarts.back() || restart;
    } else {
      pauses.push_back(next);
      restarts.push_back(restart);
    }
  }
}

// The start of each kind's wait still open after the last mark, if any (PausePairing::Finish:
// one requested before the receipt ends there, one open at the end of processing ends there,
// one requested after it is none): none once processing ended.
struct OpenWaits {
  std::optional<Instant> supplement;
  std::optional<Instant> payment;
  std::optional<Instant> legacy;
};

// Every kind's waits paired apart from the pause marks (PausePairing): a payment received does
// not end the wait for a supplement, nor the reverse. Legacy marks (PauseKind::kLegacy, from
// stores written before kinds were kept) keep the shared pairing they were written under: any
// end ends an open legacy wait, and a legacy end (a supplement's or a payment's) ends an open
// wait of any kind. The closed supplement pauses are appended to `supplement_pauses` in time
// order, the other kinds' to `payment_pauses` and `legacy_pauses`.
template <class SupplementPauses>
OpenWaits PairWaits(const DossierState& s, SupplementPauses& supplement_pauses,
                    KindPauses& payment_pauses, KindPauses& legacy_pauses) {
  const std::optional<Instant> end = EndOfProcessing(s);
  PausePairing supplements{s, end, std::nullopt};
  PausePairing payments{s, end, std::nullopt};
  PausePairing legacy{s, end, std::nullopt};
  const std::vector<PauseMark>& marks = s.pause_marks;
  for (size_t i = 0; i < marks.size();) {
    const Instant at = marks[i].at;
    bool starts[3] = {false, false, false};  // by PauseKind
    bool ends[3] = {false, false, false};
    for (; i < marks.size() && marks[i].at == at; ++i) {
      (marks[i].start ? starts : ends)[static_cast<size_t>(marks[i].kind)] = true;
    }
    constexpr auto kS = static_cast<size_t>(PauseKind::kSupplement);
    constexpr auto kP = static_cast<size_t>(PauseKind::kPayment);
    constexpr auto kL = static_cast<size_t>(PauseKind::kLegacy);
    if (starts[kS] || ends[kS] || ends[kL]) {
      supplements.Step(at, starts[kS], ends[kS] || ends[kL], supplement_pauses);
    }
    if (starts[kP] || ends[kP] || ends[kL]) {
      payments.Step(at, starts[kP], ends[kP] || ends[kL], payment_pauses);
    }
    const bool any_end = ends[kS] || ends[kP] || ends[kL];
    if (starts[kL] || any_end) legacy.Step(at, starts[kL], any_end, legacy_pauses);
  }
  OpenWaits open;
  open.supplement = supplements.Finish(supplement_pauses);
  open.payment = payments.Finish(payment_pauses);
  open.legacy = legacy.Finish(legacy_pauses);
  return open;
}

// The status shown (DossierState::status): the latest event's, except that a received dossier
// that is not finished and whose clock stands for an open wait shows what it waits for, a
// supplement first (domain.md §1.1 statuses 5 and 6): a payment made, a transfer or any later
// event of the other kind does not end the wait for the applicant's documents. A wait from a
// store written before kinds were kept (a legacy one) is of no known kind and changes nothing.
// The open waits come from the pause marks in time order, so the status is the same in every
// arrival order of the same events (as the latest event's is, events at one instant aside).
DossierStatus ShownStatus(const DossierState& s) {
  // paused_since: some wait is open (DerivePauses); most dossiers stop here.
  if (!s.paused_since || !s.received_at || IsTerminal(s.event_status)) return s.event_status;
  KindPauses supplement_pauses;
  KindPauses payment_pauses;
  KindPauses legacy_pauses;
  const OpenWaits open = PairWaits(s, supplement_pauses, payment_pauses, legacy_pauses);
  if (open.supplement) return DossierStatus::kWaitingSupplement;
  if (open.payment) return DossierStatus::kWaitingPayment;
  return s.event_status;
}

// The pauses, the open pause and the deadline from the pause marks (domain.md §1.3), each
// kind's paired apart (PairWaits); a closed legacy pause restarts the duration under the
// restart policy, as it did.
//
// The clock stands still while any kind waits: `pauses` is the union of the kinds' closed
// pauses, each moving the deadline in time order (ApplyPauseToDue: under the restart policy
// one that holds a completed supplement restarts the duration at its end, a payment wait
// shifts it). The open pause starts at the earliest open request; closed pauses that end after
// it keep their whole credit in the deadline, and move paused_since on by the working time
// they add after that start (a restart: to its end), so that due_at < paused_since says, as
// with one kind, whether the running clock passed the deadline before it stopped, and the
// outcome of a completion while paused is judged on the same deadline. Every arrival order of
// the same events gives the same pauses and deadline.
void DerivePauses(DossierState& s, const RulesContext& ctx) {
  s.pauses.clear();
  s.paused_ms = 0;
  s.paused_since.reset();
  std::vector<PauseInterval> pauses;  // s.pauses, built here, then stored
  KindPauses payment_pauses;
  KindPauses legacy_pauses;
  const OpenWaits waits = PairWaits(s, pauses, payment_pauses, legacy_pauses);
  std::optional<Instant> open = waits.supplement;
  for (const std::optional<Instant> other : {waits.payment, waits.legacy}) {
    if (other) open = open ? std::min(*open, *other) : other;
  }
  Restarts restarts;  // per pause; empty: every pause restarts (a supplement's)
  UnitePauses(pauses, restarts, legacy_pauses, true);
  UnitePauses(pauses, restarts, payment_pauses, false);
  s.pauses.assign(pauses.begin(), pauses.end());
  for (const PauseInterval& p : s.pauses) s.paused_ms += (p.end - p.start).count();
  auto restarts_at = [&](size_t i) { return restarts.empty() || restarts[i]; };
  const bool restart_policy = PolicyFor(s, ctx) == PausePolicy::kRestart;
  // The deadline, and what it was when the clock stopped (before the closed pauses that end
  // after the open one's start).
  std::optional<Instant> due_at_stop;
  if (s.received_at && s.original_due_at) {
    s.due_at = DueBeforePauses(s, ctx);
    for (size_t i = 0; i < s.pauses.size(); ++i) {
      if (open && !due_at_stop && s.pauses[i].end > *open) due_at_stop = s.due_at;
      ApplyPauseToDue(s, s.pauses[i].start, s.pauses[i].end, restarts_at(i), ctx);
    }
  }
  if (open) {
    // Only pauses of another kind than the open one's can end after its start: with one kind,
    // paused_since is the open request's instant. The clock stopped at the open request, or
    // at the start of a closed pause that holds it.
    Instant since = *open;
    Instant stop = *open;
    bool restarted = false;
    for (size_t i = 0; i < s.pauses.size(); ++i) {
      const PauseInterval& p = s.pauses[i];
      if (p.end <= *open) continue;
      stop = std::min(stop, p.start);
      if (restarts_at(i) && restart_policy) {
        since = p.end;
        restarted = true;
      } else {
        const Millis after = ctx.calendar->WorkingTimeBetween(std::max(p.start, *open), p.end);
        since = ctx.calendar->AddWorkingTime(since, after);
      }
    }
    // The working time moves both on the business calendar, which maps a stop after hours to
    // the next working instant: a deadline passed after hours before the clock stopped that
    // evening would tie with it. It stays passed, by as much as at the stop.
    if (due_at_stop && !restarted && *due_at_stop < stop && since <= *s.due_at) {
      since = *s.due_at + (stop - *due_at_stop);
    }
    s.paused_since = since;
  }
  if (!s.received_at || !s.original_due_at) return;
  ComputeWarning(s, ctx);
}

// An alert raised stays raised (no second page for the same dossier), unless its instant
// moved past `clock`: the dossier is then back before it, and its timer raises it again when
// the clock reaches the new instant, for the new deadline (another alert id). The breach
// counts from 1 ms after the due time (§1.5: in deadline while now <= due).
void Rearm(DossierState& s, const OptionalInstant& due_before,
           const OptionalInstant& warning_before, const OptionalInstant& hours_left_before,
           Instant clock) {
  auto rearm = [](bool& fired, const OptionalInstant& before, const OptionalInstant& after,
                  Instant first_past) {
    if (fired && after && after != before && *after >= first_past) fired = false;
  };
  rearm(s.breach_fired, due_before, s.due_at, clock);
  // Paused (a late request) before its deadline: its clock stopped in time (§1.3).
  if (s.breach_fired && s.paused_since && s.due_at && *s.paused_since <= *s.due_at) {
    s.breach_fired = false;
  }
  rearm(s.warning_fired, warning_before, s.warning_at, clock + Millis(1));
  rearm(s.hours_left_warning_fired, hours_left_before, s.hours_left_warning_at, clock + Millis(1));
}

void RememberEvent(DossierState& s, uint64_t hash) {
  if (s.applied_event_ids.size() >= kMaxRememberedEventIds) {
    s.applied_event_ids.erase(s.applied_event_ids.begin());
  }
  s.applied_event_ids.push_back(hash);
}

void MergeAttributes(DossierState& s, const DossierEvent& e) {
  // The receipt is authoritative for the dossier's attributes; other events fill blanks.
  const bool authoritative = e.type == EventType::kReceived;
  auto merge = [&](Code& slot, Code value) {
    if (!value.empty() && (authoritative || slot.empty())) slot = value;
  };
  merge(s.agency_code, e.agency_code);
  merge(s.commune_code, e.commune_code);
  merge(s.procedure_code, e.procedure_code);
  if (e.channel != Channel::kUnknown && (authoritative || s.channel == Channel::kUnknown)) {
    s.channel = e.channel;
  }
  if (e.online_level != OnlineLevel::kUnknown &&
      (authoritative || s.online_level == OnlineLevel::kUnknown)) {
    s.online_level = e.online_level;
  }
}

}  // namespace

uint64_t EventIdHash(std::string_view event_id) { return ShortHash(event_id); }

// Whether the event whose id hashes to `id_hash` was applied to `s` (the dedup record).
bool HoldsEventId(const DossierState& s, uint64_t id_hash) {
  const auto& ids = s.applied_event_ids;
  return std::find(ids.begin(), ids.end(), id_hash) != ids.end();
}

boost::container::string AlertId(std::string_view dossier_id, AlertKind kind, Instant due) {
  // XXH3-64 of dossier id, kind byte and due epoch milliseconds (host order), hashed in one
  // shot over their concatenation: the same value as streaming the three parts. Built on the
  // stack for ids of up to 119 bytes (all the usual ones).
  const int64_t ms = ToEpochMillis(due);
  boost::container::small_vector<char, 128> bytes(dossier_id.begin(), dossier_id.end());
  bytes.push_back(static_cast<char>(static_cast<uint8_t>(kind)));
  const auto* ms_bytes = reinterpret_cast<const char*>(&ms);
  bytes.insert(bytes.end(), ms_bytes, ms_bytes + sizeof ms);
  const uint64_t h = ShortHash(std::string_view(bytes.data(), bytes.size()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 16> id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = kHex[(h >> (60 - 4 * i)) & 0xf];
  return boost::container::string(id.data(), id.size());
}

namespace {
// The first field in which receipt `e` differs from the receipt `s` holds (received_at set).
// A due time `s` does not hold (a store older than original_due_at) differs only if
// `unknown_due_differs`.
std::optional<ReceiptField> ReceiptDifference(const DossierState& s, const DossierEvent& e,
                                              bool unknown_due_differs) {
  if (e.occurred_at != *s.received_at) return ReceiptField::kOccurredAt;
  if (e.due_at && (s.original_due_at ? *e.due_at != *s.original_due_at : unknown_due_differs)) {
    return ReceiptField::kDueAt;
  }
  // Texts, not Codes: a code new to the process is still text (DossierEvent::new_codes).
  const std::string_view agency = CodeText(e, CodeField::kAgency);
  if (!agency.empty() && !s.agency_code.empty() && agency != s.agency_code.view()) {
    return ReceiptField::kAgency;
  }
  const std::string_view commune = CodeText(e, CodeField::kCommune);
  if (!commune.empty() && !s.commune_code.empty() && commune != s.commune_code.view()) {
    return ReceiptField::kCommune;
  }
  const std::string_view procedure = CodeText(e, CodeField::kProcedure);
  if (!procedure.empty() && !s.procedure_code.empty() && procedure != s.procedure_code.view()) {
    // "1.002835.000.00.00.H56" and "1.002835" name one procedure; codes that are not national
    // ones (no base code) are compared as they are.
    const std::string_view base = NormaliseProcedureCode(procedure);
    if (base.empty() || base != NormaliseProcedureCode(s.procedure_code.view())) {
      return ReceiptField::kProcedure;
    }
  }
  if (e.channel != Channel::kUnknown && s.channel != Channel::kUnknown && e.channel != s.channel) {
    return ReceiptField::kChannel;
  }
  if (e.online_level != OnlineLevel::kUnknown && s.online_level != OnlineLevel::kUnknown &&
      e.online_level != s.online_level) {
    return ReceiptField::kOnlineLevel;
  }
  return std::nullopt;
}
}  // namespace

bool EventIdReused(const DossierState& s, const DossierEvent& e, uint64_t id_hash) {
  // What the event says that a redelivery could not, read first: most events say nothing of
  // the kind, and the id's hash and the search of the applied ids are for the others only.
  // Each end is kept at its earliest (MinInto): an applied one lies at or after it.
  const auto lacks_end = [&](const OptionalInstant& kept) {
    return !kept || e.occurred_at < *kept;
  };
  bool unheld = e.occurred_at < s.first_event_at;
  switch (e.type) {
    case EventType::kReceived:
      // A receipt applied set the receipt time and the dossier's codes and due time, or was
      // one that said the same (a receipt that differs is a conflicting_receipt, not applied):
      // one under the applied receipt's id that says otherwise is another receipt (two CSV
      // rows of one case id, a QA trial: the second's receipt was skipped as a duplicate in
      // silence and its completion applied to the first's dossier).
      unheld = unheld || !s.received_at ||
               ReceiptDifference(s, e, /*unknown_due_differs=*/false).has_value();
      break;
    case EventType::kCompleted:
      unheld = unheld || lacks_end(s.completed_at);
      break;
    case EventType::kResultReturned:
      unheld = unheld || lacks_end(s.returned_at);
      break;
    case EventType::kWithdrawn:
    case EventType::kRefused:
    case EventType::kRejected:
      unheld = unheld || lacks_end(s.closed_at);
      break;
    default:
      // Pause marks, transfers and apologies are kept in forms older stores do not have:
      // their redeliveries could not be told from new events (only by the instant).
      break;
  }
  return unheld && HoldsEventId(s, id_hash);
}

bool PauseMarksFull(const DossierState& s, const DossierEvent& e, const RulesContext& ctx) {
  if (s.pause_marks.size() < kMaxPauseMarks) return false;
  const std::optional<PauseMark> mark = PauseMarkOf(s, e, ctx);
  if (!mark || HoldsPauseMark(s, *mark)) return false;
  return !HoldsEventId(s, EventIdHash(e.event_id));
}

std::string_view ToString(ReceiptField field) {
  switch (field) {
    case ReceiptField::kOccurredAt:
      return "occurred_at";
    case ReceiptField::kDueAt:
      return "due_at";
    case ReceiptField::kAgency:
      return "agency_code";
    case ReceiptField::kCommune:
      return "commune_code";
    case ReceiptField::kProcedure:
      return "procedure_code";
    case ReceiptField::kChannel:
      return "channel";
    case ReceiptField::kOnlineLevel:
      return "online_level";
  }
  return "unknown";
}

std::optional<ReceiptField> ReceiptDifferenceFrom(const DossierState& s, const DossierEvent& e) {
  if (e.type != EventType::kReceived || !s.received_at) return std::nullopt;
  return ReceiptDifference(s, e, /*unknown_due_differs=*/true);
}

std::optional<ReceiptField> ReceiptConflict(const DossierState& s, const DossierEvent& e) {
  if (e.type != EventType::kReceived || !s.received_at) return std::nullopt;
  if (HoldsEventId(s, EventIdHash(e.event_id))) {
    return std::nullopt;  // a redelivery, or another receipt under its id: EventIdReused
  }
  return ReceiptDifference(s, e, /*unknown_due_differs=*/true);
}

std::string_view ToString(EventConflict conflict) {
  switch (conflict) {
    case EventConflict::kSupplementAfterEnd:
      return "supplement_after_end";
    case EventConflict::kEndBeforeReceipt:
      return "end_before_receipt";
    case EventConflict::kRepeatedEnd:
      return "repeated_end";
    case EventConflict::kReturnedBeforeCompletion:
      return "returned_before_completion";
  }
  return "unknown";
}

std::optional<EventConflict> ConflictOf(const DossierState* state, const DossierEvent& e) {
  if (state == nullptr) return std::nullopt;
  const DossierState& s = *state;
  // Most events are neither: the end of processing is computed only for those that are.
  switch (e.type) {
    case EventType::kSupplementRequested: {
      const std::optional<Instant> end = EndOfProcessing(s);
      if (end && e.occurred_at > *end) return EventConflict::kSupplementAfterEnd;
      return std::nullopt;
    }
    case EventType::kReceived: {
      // The receipt, after ends dated before it (a later receipt is a second one: its own
      // check is ReceiptConflict's).
      if (s.received_at) return std::nullopt;
      OptionalInstant first_end;
      for (const OptionalInstant end : {s.completed_at, s.returned_at, s.closed_at}) {
        if (end) MinInto(first_end, *end);
      }
      if (first_end && *first_end < e.occurred_at) return EventConflict::kEndBeforeReceipt;
      return std::nullopt;
    }
    case EventType::kCompleted:
    case EventType::kResultReturned:
    case EventType::kWithdrawn:
    case EventType::kRefused:
    case EventType::kRejected:
      break;
    default:
      return std::nullopt;
  }
  // An end of processing dated before the receipt.
  if (s.received_at && e.occurred_at < *s.received_at) return EventConflict::kEndBeforeReceipt;
  // A second completion or result return at another instant; a return before the completion.
  if (e.type == EventType::kCompleted) {
    if (s.completed_at && *s.completed_at != e.occurred_at) return EventConflict::kRepeatedEnd;
    if (s.returned_at && *s.returned_at < e.occurred_at) {
      return EventConflict::kReturnedBeforeCompletion;
    }
  } else if (e.type == EventType::kResultReturned) {
    if (s.returned_at && *s.returned_at != e.occurred_at) return EventConflict::kRepeatedEnd;
    if (s.completed_at && e.occurred_at < *s.completed_at) {
      return EventConflict::kReturnedBeforeCompletion;
    }
  }
  // The supplement requests it puts after the end, that were not after it already (those were
  // counted as they came).
  if (s.pause_marks.empty()) return std::nullopt;
  const std::optional<Instant> end = EndOfProcessing(s);
  OptionalInstant completed = s.completed_at;
  OptionalInstant returned = s.returned_at;
  OptionalInstant closed = s.closed_at;
  MinInto(e.type == EventType::kCompleted        ? completed
          : e.type == EventType::kResultReturned ? returned
                                                 : closed,
          e.occurred_at);
  const Instant end_after = *EndOfProcessingFrom(completed, returned, closed);
  for (const PauseMark& m : s.pause_marks) {
    if (m.start && m.kind == PauseKind::kSupplement && m.at > end_after && (!end || m.at <= *end)) {
      return EventConflict::kSupplementAfterEnd;
    }
  }
  return std::nullopt;
}

bool ApologyIssuedInTime(const DossierState& s) {
  if (s.apology_at && (!s.due_at || *s.apology_at <= *s.due_at)) return true;
  return s.legacy_apology_issued;
}

bool IsOpen(const DossierState& s) { return s.received_at.has_value() && !IsTerminal(s.status); }

bool IsOverdueAt(const DossierState& s, Instant as_of) {
  if (!IsOpen(s) || !s.due_at) return false;
  const Instant clock = s.paused_since ? std::min(as_of, *s.paused_since) : as_of;
  return *s.due_at < clock;
}

Outcome ClassifyOutcome(Instant end, std::optional<Instant> due, const BusinessCalendar& calendar) {
  if (!due) return Outcome::kNoDeadline;
  if (end > *due) return Outcome::kLate;
  return calendar.LocalDay(end) < calendar.LocalDay(*due) ? Outcome::kEarly : Outcome::kOnTime;
}

EventResult ApplyEvent(const DossierState* prior, const DossierEvent& e, PartitionId partition,
                       const RulesContext& ctx, std::optional<Instant> clock) {
  EventResult r;
  std::optional<DossierState> state;
  if (prior != nullptr) state = *prior;
  r.disposition = ApplyEventInPlace(state, e, partition, ctx, r.alerts, clock);
  r.state = std::move(*state);
  return r;
}

Disposition ApplyEventInPlace(std::optional<DossierState>& state, const DossierEvent& e,
                              PartitionId partition, const RulesContext& ctx,
                              std::vector<AlertIntent>& alerts, std::optional<Instant> clock) {
  return ApplyEventInPlace(state, e, EventIdHash(e.event_id), partition, ctx, alerts, clock);
}

Disposition ApplyEventInPlace(std::optional<DossierState>& state, const DossierEvent& e,
                              uint64_t id_hash, PartitionId partition, const RulesContext& ctx,
                              std::vector<AlertIntent>& alerts, std::optional<Instant> clock) {
  assert(e.new_codes.empty() && "an event's new codes are admitted before the rules");
  assert(id_hash == EventIdHash(e.event_id));
  if (state) {
    if (HoldsEventId(*state, id_hash)) return Disposition::kDuplicate;
  } else {
    state.emplace();
    // From its bytes: a std::string assigned to it goes through a temporary copy (a heap block).
    state->dossier_id.assign(e.dossier_id.data(), e.dossier_id.size());
    state->partition = partition;
    state->first_event_at = e.occurred_at;
    state->last_event_at = e.occurred_at;
    state->status_at = e.occurred_at;
  }
  DossierState& s = *state;
  const OptionalInstant due_before = s.due_at;
  const OptionalInstant warning_before = s.warning_at;
  const OptionalInstant hours_left_before = s.hours_left_warning_at;
  const std::optional<Instant> end_before = EndOfProcessing(s);
  const bool received_before = s.received_at.has_value();
  const Code procedure_before = s.procedure_code;
  const Channel channel_before = s.channel;
  bool pauses_changed = false;  // a pause mark, or the receipt, was added
  bool end_changed = false;     // a completion, return or cancellation: the end may be earlier
  bool step_set = false;        // a transfer started a new current step
  RememberEvent(s, id_hash);
  MergeAttributes(s, e);
  s.first_event_at = std::min(s.first_event_at, e.occurred_at);
  s.last_event_at = std::max(s.last_event_at, e.occurred_at);

  switch (e.type) {
    case EventType::kSubmitted:
      MinInto(s.submitted_at, e.occurred_at);
      break;
    case EventType::kReceived:
      if (!s.received_at) {
        s.received_at = e.occurred_at;
        ComputeDue(s, e.due_at, ctx);
        pauses_changed = true;
      }
      break;
    case EventType::kTransferred:
      // The latest transfer by event time names the unit and its step deadline.
      if (!s.transferred_at || e.occurred_at >= *s.transferred_at) {
        // The step held sent again (another event id, the same instant and step deadline) is
        // no new step: a breach counted for it stays counted once.
        const bool same_step = s.transferred_at == e.occurred_at && s.step_due_at == e.step_due_at;
        s.transferred_at = e.occurred_at;
        if (!e.to_agency_code.empty() && s.current_unit != e.to_agency_code) {
          s.current_unit = e.to_agency_code;
        }
        s.step_due_at = e.step_due_at;
        if (!same_step) {
          s.step_breach_fired = false;
          step_set = true;
        }
      }
      break;
    case EventType::kSupplementRequested:
      ++s.supplement_requests;
      AddPauseMark(s, *PauseMarkOf(s, e, ctx));
      pauses_changed = true;
      break;
    case EventType::kSupplementReceived:
      AddPauseMark(s, *PauseMarkOf(s, e, ctx));
      pauses_changed = true;
      break;
    case EventType::kPaymentRequested:
    case EventType::kPaymentReceived:
      if (const std::optional<PauseMark> mark = PauseMarkOf(s, e, ctx)) {
        AddPauseMark(s, *mark);
        pauses_changed = true;
      }
      break;
    case EventType::kCompleted:
      MinInto(s.completed_at, e.occurred_at);
      if (e.result_electronic) s.result_electronic = *e.result_electronic;
      end_changed = true;
      break;
    case EventType::kResultReturned:
      MinInto(s.returned_at, e.occurred_at);
      end_changed = true;
      break;
    case EventType::kWithdrawn:
    case EventType::kRefused:
    case EventType::kRejected:
      MinInto(s.closed_at, e.occurred_at);
      end_changed = true;
      break;
    case EventType::kRescheduled:
      s.rescheduled_due_at = e.new_due_at;
      // Judged against the deadline where it is read (ApologyIssuedInTime): the deadline may
      // still move, and may not be known yet (the receipt arriving later).
      MinInto(s.apology_at, e.occurred_at);
      break;
  }
  if (received_before && !s.original_due_at &&
      (s.procedure_code != procedure_before || s.channel != channel_before)) {
    // Received without a deadline (no due_at, the procedure or channel not named then): a
    // later event that names them (a second receipt, or another event filling the blanks)
    // gives the catalog's deadline from the receipt, as when they came first. The deadline
    // does not depend on the arrival order (a QA trial: the procedure shown, no deadline).
    ComputeDue(s, std::nullopt, ctx);
    if (s.due_at) pauses_changed = true;
  }
  if (end_changed && !pauses_changed && !s.pause_marks.empty()) {
    // The end of processing bounds the pauses: derived again only when it moved and cuts one
    // (an open pause, a mark after it or after the end they were cut at, or a pause that
    // reaches the earlier of the two ends: one cut at the old end, or closed there by it,
    // moves with it, earlier or later), not for every finished dossier that was paused once.
    // (A QA trial: a wait closed at a first completion kept that end when an earlier
    // completion arrived, judging the dossier early instead of late.)
    const std::optional<Instant> end = EndOfProcessing(s);
    if (end != end_before) {
      const Instant cut = end_before ? std::min(*end, *end_before) : *end;
      pauses_changed = s.paused_since.has_value() || s.pause_marks.back().at > cut ||
                       (!s.pauses.empty() && s.pauses.back().end >= cut);
    }
  }
  if (pauses_changed && !s.pause_marks.empty()) {
    DerivePauses(s, ctx);
    if (clock) Rearm(s, due_before, warning_before, hours_left_before, *clock);
  }
  UpdateStatus(s, e);
  s.status = ShownStatus(s);
  UpdateOutcome(s, ctx, alerts, e.occurred_at);
  s.overdue_by_supplements = OverdueBySupplements(s, ctx);
  s.kpi766_finished_at_request = Kpi766FinishedAtRequest(s, ctx);
  if (step_set || end_changed || (!received_before && s.received_at)) {
    SettleStepBreachOfFinished(s, alerts);
  }
  return Disposition::kApplied;
}

DossierState RecomputeDeadline(const DossierState& prior, const RulesContext& ctx, Instant clock) {
  if (!IsOpen(prior)) return prior;
  DossierState s = prior;
  if (!prior.original_due_at) {
    // No deadline to move; the policy flags still follow the new rules (a reload naming
    // kpi766 counts a dossier waiting on the applicant finished, deadline or not).
    s.overdue_by_supplements = OverdueBySupplements(s, ctx);
    s.kpi766_finished_at_request = Kpi766FinishedAtRequest(s, ctx);
    return s;
  }
  const Instant received = *s.received_at;
  // The deadline before pauses on the new rules. An event's due time stays in
  // original_due_at as the department sent it, and each recompute starts from it, so a
  // change that is undone later gives back the deadline that was sent.
  Instant base = *s.original_due_at;
  switch (s.due_source) {
    case DueSource::kCatalog:
      if (ctx.catalog != nullptr) {
        const ProcedureRule* rule = ctx.catalog->Find(s.procedure_code);
        const auto duration = rule != nullptr ? rule->DurationFor(s.channel) : std::nullopt;
        if (duration) {
          s.original_due_at = ctx.calendar->DueAt(received, *duration);
          s.legal_working_time = ctx.calendar->WorkingTimeBetween(received, *s.original_due_at);
          base = *s.original_due_at;
        }
      }
      break;
    case DueSource::kEvent:
      if (s.legal_working_time) {
        base =
            KeepWorkingDuration(received, *s.original_due_at, *s.legal_working_time, *ctx.calendar);
      }
      break;
    case DueSource::kNone:
      break;
  }
  s.due_at = base;
  unsigned kinds = 0;  // bit per PauseKind held
  for (const PauseMark& m : s.pause_marks) kinds |= 1U << static_cast<unsigned>(m.kind);
  if ((kinds & (kinds - 1)) != 0 || (kinds & (1U << static_cast<unsigned>(PauseKind::kPayment)))) {
    // Marks of more than one kind, or a payment's: which pauses restart the duration, and the
    // open pause's effective start (working time on the new calendar), come from the marks of
    // every kind.
    DerivePauses(s, ctx);
  } else {
    if (s.pauses.empty() && prior.paused_ms > 0 && prior.due_at) {
      // Paused before pauses were recorded: keep the working time the pauses added.
      const Millis added = ctx.calendar->WorkingTimeBetween(*prior.original_due_at, *prior.due_at);
      s.due_at = ctx.calendar->AddWorkingTime(base, added);
    }
    for (const PauseInterval& p : s.pauses) ApplyPauseToDue(s, p.start, p.end, true, ctx);
    ComputeWarning(s, ctx);
  }
  Rearm(s, prior.due_at, prior.warning_at, prior.hours_left_warning_at, clock);
  // The catalog may name another policy.
  s.overdue_by_supplements = OverdueBySupplements(s, ctx);
  s.kpi766_finished_at_request = Kpi766FinishedAtRequest(s, ctx);
  return s;
}

namespace {
// When a timer due at `due` fires: not before the late-data floor if it was due when the late
// data arrived (timer_floor_since; every one before the floor in a store older than it).
Instant FireTime(const DossierState& s, Instant due) {
  const bool held = s.timer_floor && *s.timer_floor > due &&
                    (!s.timer_floor_since || due <= *s.timer_floor_since);
  return held ? *s.timer_floor : due;
}
bool Fires(const DossierState& s, const std::optional<Instant>& due, const Timer& t) {
  return due && FireTime(s, *due) == t.due;
}
// The breach is due 1 ms after the due time (domain.md §1.5: in deadline while now <= due).
// Stores written before that keep a breach timer at the due time itself: it fires too.
Instant BreachAt(Instant due) { return due + Millis(1); }
bool BreachFires(const DossierState& s, const Timer& t) {
  return s.due_at && (FireTime(s, BreachAt(*s.due_at)) == t.due || FireTime(s, *s.due_at) == t.due);
}

// The deadline passed while the clock ran (§1.5: overdue once now > due): the breach alert,
// and the missing apology's when no Form 04 came before the deadline.
void RaiseBreach(DossierState& s, Instant now, const RulesContext& ctx,
                 std::vector<AlertIntent>& alerts) {
  s.breach_fired = true;
  alerts.push_back(MakeAlert(s, AlertKind::kDeadlineBreached, *s.due_at, now));
  if (ctx.policy.apology_alerts && !ApologyIssuedInTime(s)) {
    alerts.push_back(MakeAlert(s, AlertKind::kApologyMissing, *s.due_at, now));
  }
}

// A "due soon" timer firing at `now`: its alert while the dossier is still in deadline (now <=
// due, §1.5), and its flag with it. Past the deadline (the clock jumped past both instants, or
// late data held the timer back), a warning would only be noise and the breach is due as well:
// the breach is raised instead, and the warning's flag stays unset, so that a set flag always
// means its alert was raised (the dossier view shows them as the alerts raised).
void RaiseWarning(DossierState& s, bool& fired, AlertKind kind, Instant now,
                  const RulesContext& ctx, std::vector<AlertIntent>& alerts) {
  if (now > *s.due_at) {
    RaiseBreach(s, now, ctx, alerts);
    return;
  }
  fired = true;
  alerts.push_back(MakeAlert(s, kind, *s.due_at, now));
}
}  // namespace

void ApplyLateDataGrace(DossierState& s, Instant clock, Millis grace) {
  if (s.timer_floor) return;
  // The slots, not DesiredTimers: no Timer (and copy of the id) built per late event.
  const TimerSlots timers = DesiredTimerSlots(s);
  const bool due_already = std::any_of(timers.slots.begin(), timers.slots.begin() + timers.size,
                                       [&](const TimerSlots::Slot& t) { return t.due <= clock; });
  if (due_already) {
    s.timer_floor = clock + grace;
    s.timer_floor_since = clock;
  }
}

TimerResult FireTimer(const DossierState& state, const Timer& t, Instant now,
                      const RulesContext& ctx) {
  TimerResult r;
  r.state = state;
  r.fired = FireTimerInPlace(r.state, t, now, ctx, r.alerts);
  return r;
}

bool FireTimerInPlace(DossierState& s, const Timer& t, Instant now, const RulesContext& ctx,
                      std::vector<AlertIntent>& alerts) {
  const bool running = IsOpen(s) && !s.paused_since;
  switch (t.kind) {
    case TimerKind::kBreach:
      if (!running || s.breach_fired || !BreachFires(s, t)) return false;
      RaiseBreach(s, now, ctx, alerts);
      break;
    case TimerKind::kWarning:
      if (!running || s.warning_fired || s.breach_fired || !Fires(s, s.warning_at, t)) {
        return false;
      }
      RaiseWarning(s, s.warning_fired, AlertKind::kDeadlineWarning, now, ctx, alerts);
      break;
    case TimerKind::kHoursLeftWarning:
      if (!running || s.hours_left_warning_fired || s.breach_fired ||
          !Fires(s, s.hours_left_warning_at, t)) {
        return false;
      }
      RaiseWarning(s, s.hours_left_warning_fired, AlertKind::kDeadlineWarningHoursLeft, now, ctx,
                   alerts);
      break;
    case TimerKind::kStepBreach:
      if (!IsOpen(s) || s.step_breach_fired || !Fires(s, s.step_due_at, t)) return false;
      s.step_breach_fired = true;
      ++s.step_breaches;
      alerts.push_back(MakeAlert(s, AlertKind::kStepBreached, *s.step_due_at, now));
      break;
  }
  return true;
}

namespace {
// Calls add(due, kind) for each timer the state wants, in no particular order.
template <class Add>
void ForEachDesiredTimer(const DossierState& s, Add&& add) {
  if (!IsOpen(s)) return;
  if (!s.paused_since && s.due_at && !s.breach_fired) {
    add(BreachAt(*s.due_at), TimerKind::kBreach);
    if (s.warning_at && !s.warning_fired && *s.warning_at < *s.due_at) {
      add(*s.warning_at, TimerKind::kWarning);
    }
    if (s.hours_left_warning_at && !s.hours_left_warning_fired &&
        *s.hours_left_warning_at < *s.due_at) {
      add(*s.hours_left_warning_at, TimerKind::kHoursLeftWarning);
    }
  }
  if (s.step_due_at && !s.step_breach_fired) add(*s.step_due_at, TimerKind::kStepBreach);
}
}  // namespace

TimerSlots DesiredTimerSlots(const DossierState& s) {
  TimerSlots timers;
  ForEachDesiredTimer(s, [&](Instant due, TimerKind kind) {
    timers.slots[timers.size++] = TimerSlots::Slot{FireTime(s, due), kind};
  });
  // Insertion sort of at most four slots.
  for (size_t i = 1; i < timers.size; ++i) {
    for (size_t j = i; j > 0 && timers.slots[j] < timers.slots[j - 1]; --j) {
      std::swap(timers.slots[j], timers.slots[j - 1]);
    }
  }
  return timers;
}

// The first of DesiredTimerSlots, kept as they come rather than all built and sorted.
TimerSlots StoredTimerSlots(const DossierState& s) {
  TimerSlots timers;
  ForEachDesiredTimer(s, [&](Instant due, TimerKind kind) {
    const TimerSlots::Slot slot{FireTime(s, due), kind};
    if (timers.size == 0 || slot < timers.slots[0]) {
      timers.slots[0] = slot;
      timers.size = 1;
    }
  });
  return timers;
}

namespace {
std::vector<Timer> TimersOf(const DossierState& s, const TimerSlots& slots) {
  std::vector<Timer> timers;
  timers.reserve(slots.size);
  for (size_t i = 0; i < slots.size; ++i) {
    timers.push_back(Timer{s.partition, slots.slots[i].due, s.dossier_id, slots.slots[i].kind});
  }
  return timers;
}
}  // namespace

std::vector<Timer> DesiredTimers(const DossierState& s) {
  return TimersOf(s, DesiredTimerSlots(s));
}

std::vector<Timer> StoredTimers(const DossierState& s) { return TimersOf(s, StoredTimerSlots(s)); }

}  // namespace iocstream::rules
