// Binary codec for the values of the "dossiers" and "aggregates" column families. Private to
// src/state (and its tests). Pure functions: thread-safe.
//
// DossierState, encoding versions 3 to 6 (every multi-byte integer a LEB128 varint unless
// noted; "signed" means zigzag):
//   u8      version (= 3, 4, 5 or 6, see below; 1 and 2 are still read: 1 ends after
//           applied_event_ids, 2 after legal_working_time; their pauses, open pause and
//           unmatched resume become the pause marks. Version 1 kept no pauses, only paused_ms:
//           such a dossier keeps the deadline it was stored with until its next pause or end
//           event derives the deadline again from the marks, which then lack those pauses)
//   varint  presence bits of the optional instants, bit i set when present, in order:
//           submitted, received, due, original_due, rescheduled_due, step_due, completed,
//           returned, closed, paused_since, warning, timer_floor, unmatched_resume,
//           hours_left_warning, transferred (version 3 on), apology (version 5 on),
//           timer_floor_since (version 7 on)
//   varint  flag bits: result_electronic, legacy_apology_issued (before version 5: the
//           apology was judged before the deadline on arrival), breach_fired, warning_fired,
//           step_breach_fired, current_unit_is_agency (then current_unit is not stored),
//           hours_left_warning_fired, overdue_by_supplements (version 3 on),
//           kpi766_finished_at_request (version 6 on)
//   u8 x5   channel, online_level, status, due_source, outcome
//   signed  partition
//   string  agency_code, commune_code, procedure_code, [current_unit]  (varint length + bytes)
//   signed  first_event_at (epoch ms), then last_event_at, status_at and each present optional
//           instant as a signed delta from first_event_at (instants of a dossier are close, so
//           deltas take 4-5 bytes instead of 6)
//   signed  paused_ms, supplement_requests, step_breaches
//   varint  count of applied_event_ids, then each as fixed64 little-endian (hashes: varints
//           would only grow them)
//   varint  count of pauses, then each as signed start - first_event_at, signed end - start
//   signed  legal_working_time in ms, -1 when absent                          (version 2 on)
//   varint  count of pause_marks, then each as signed at - first_event_at and a byte, 1 for
//           a start and 0 for an end                                           (version 3 on),
//           plus 2 for a payment's, 4 for a legacy one's (a supplement's: 0)   (version 4 on)
//   u8      event_status, the latest event's status                            (version 5 on)
// Version 6 has version 5's layout and may set the flag kpi766_finished_at_request: a value
// that sets it (a dossier waiting for a supplement under the kpi766 policy) is written as
// version 6, any other keeps its version 3, 4 or 5 bytes. A reader older than version 6
// refuses version 6 values as corrupt.
// Version 7 has version 5's layout and may hold the instant timer_floor_since (presence bit
// 16): a value holding it (late data held a timer of the dossier) is written as version 7,
// any other keeps the bytes of its version. A reader older than version 7 refuses version 7
// values as corrupt; a value without it holds, as before, every timer due before timer_floor.
// A value holding pause marks is written as version 4 (version 4 adds nothing else); a value
// without marks keeps its version 3 bytes. A version 3 (or older) value's marks read back as
// legacy marks (PauseKind::kLegacy: a supplement's, or a payment's when sla.payment_pauses was
// on; the rules pair them as they were written, rules/dossier_state_machine.h), and are
// written again as version 4 legacy marks: new events never give a legacy mark. A reader older
// than version 4 refuses these values as corrupt (no rollback onto a state written here).
// A value holding an apology's instant (apology_at), or whose status shown differs from the
// latest event's (event_status: a wait open, rules/dossier_state_machine.h), is written as
// version 5; any other keeps its version 3 or 4 bytes. Before version 5 the status was the
// latest event's: event_status reads back equal to it; and an apology was judged on arrival,
// its instant not kept: the flag says whether it was judged before the deadline, and such a
// dossier keeps counting it as issued (rules::ApologyIssuedInTime; one judged late stays
// late). A reader older than version 5 refuses version 5 values as corrupt.
// The dossier id is the key and is not repeated in the value. Trailing bytes, unknown bits
// and out-of-range enum values are corruption: a newer writer bumps the version byte.
//
// AggregateCounters, encoding version 1:
//   u8 version (= 1), varint field count N, N signed varints in AggregateField order.
// Fields appended to AggregateField later decode as zero from older values; fields beyond
// the ones this build knows (written by a newer build) are read and dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "iocstream/core/aggregate_types.h"
#include "iocstream/core/dossier_state.h"
#include "iocstream/core/result.h"

namespace iocstream::state {

inline constexpr uint8_t kDossierEncodingVersion = 7;  // the newest; read: 1 to 7
inline constexpr uint8_t kAggregateEncodingVersion = 1;

// Replaces the contents of `out` (a reused buffer) with the encoding of `state`.
void EncodeDossier(const DossierState& state, std::string* out);
// Appends the encoding of `state` to `out`.
void AppendDossier(const DossierState& state, std::string* out);
std::string EncodeDossier(const DossierState& state);

// Decodes a value written by EncodeDossier; `dossier_id` is the key it was stored under.
// Errors: kCorruption (truncated, trailing or malformed bytes, unknown version).
Result<DossierState> DecodeDossier(std::string_view dossier_id, std::string_view bytes);

void EncodeAggregate(const AggregateCounters& counters, std::string* out);
std::string EncodeAggregate(const AggregateCounters& counters);
// Errors: kCorruption.
Result<AggregateCounters> DecodeAggregate(std::string_view bytes);

}  // namespace iocstream::state
