// DossierEvent: one validated event about one administrative-procedure dossier, as published
// by a department or commune service center (contract: schemas/dossier-event.v1.json,
// docs/event-contract.md). Produced by decode, consumed by rules.
//
// Instants are UTC (the wire format is RFC 3339 with an offset; decode converts). Codes are
// interned (core/code.h) and copied as pointers. A source only looks an event's codes up
// (SetCodeText): a code new to the process is held as text in `new_codes` until the pipeline
// admits it or dead-letters the event (too_many_codes), so that an event that fails a later
// check adds nothing to the pool. Events reaching the rules have no new codes left.
// Plain value type: thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iocstream/core/code.h"
#include "iocstream/core/types.h"

namespace iocstream {

// Every instant of an event (occurred_at, due_at, step_due_at, new_due_at) is at or after
// kEarliestEventTime, the Unix epoch (UTC), and before kLatestEventTime, 2200-01-01T00:00:00Z
// (the end of the business calendar's supported range, rules/business_calendar.h, which clamps
// later instants: a deadline computed from one would be silently wrong). The decoder refuses
// others as invalid_timestamp, the CSV source as a row error.
inline constexpr Instant kEarliestEventTime = Instant{};
inline constexpr Instant kLatestEventTime{
    std::chrono::sys_days{std::chrono::year{2200} / 1 / 1}.time_since_epoch()};
// Event types and the national-portal status code (TrangThaiHoSo, domain.md §1.1) they map to.
enum class EventType : uint8_t {
  kSubmitted = 0,            // 1  submitted online, clock not started
  kReceived = 1,             // 2  accepted (Form 01); the clock starts at occurred_at
  kRefused = 2,              // 3  refused at intake (Form 03); terminal, no outcome
  kTransferred = 3,          // 4  moved to another unit; carries to_agency_code, step_due_at
  kSupplementRequested = 4,  // 5  supplement requested (Form 02); clock pauses per policy
  kSupplementReceived = 5,   // 5→4 supplement completed by the applicant
  kPaymentRequested = 6,     // 6  waiting for fee or tax payment
  kPaymentReceived = 7,      // 6→4
  kCompleted = 8,            // 9  result ready; the clock stops at occurred_at
  kResultReturned = 9,       // 10 result handed to the applicant
  kWithdrawn = 10,           // 7  withdrawn by the applicant; terminal
  kRejected = 11,            // 8  processing stopped after acceptance; terminal
  kRescheduled = 12,         // Form 04 apology with a new promised date (new_due_at)
};
inline constexpr int kEventTypeCount = 13;

// Channel of submission (KenhThucHien: 1 in person, 2 online, 3 public postal service).
enum class Channel : uint8_t { kUnknown = 0, kInPerson = 1, kOnline = 2, kPostal = 3 };
inline constexpr int kChannelCount = 4;

// Online-service level (Decree 42/2022: partial "một phần", full "toàn trình").
enum class OnlineLevel : uint8_t { kUnknown = 0, kNone = 1, kPartial = 2, kFull = 3 };

// The fields of an event that hold codes.
enum class CodeField : uint8_t { kAgency = 0, kCommune = 1, kProcedure = 2, kToAgency = 3 };
inline constexpr int kCodeFieldCount = 4;

// A code of an event that the process's pool did not hold when the event was read.
struct NewCode {
  CodeField field = CodeField::kAgency;
  std::string text;  // non-empty; validated as the field's codes are
};

struct DossierEvent {
  std::string event_id;    // unique per event; redelivery of the same id changes nothing
  std::string dossier_id;  // record code (MaHoSo); also the Kafka message key
  EventType type = EventType::kReceived;
  Instant occurred_at{};  // when it happened at the office (event time), UTC
  Code agency_code;       // department / processing unit (DonViXuLy)
  Code commune_code;      // commune or ward; empty for department-level dossiers
  Code procedure_code;    // MaTTHC as sent (base or localised form)
  Channel channel = Channel::kUnknown;
  OnlineLevel online_level = OnlineLevel::kUnknown;
  std::optional<Instant> due_at;          // NgayHenTra; absent: from the procedure catalog
  Code to_agency_code;                    // kTransferred: receiving unit
  std::optional<Instant> step_due_at;     // kTransferred: the receiving unit's own deadline
  std::optional<Instant> new_due_at;      // kRescheduled: the new promised date (Form 04)
  std::optional<bool> result_electronic;  // kCompleted: result issued electronically
  int schema_version = 1;
  // Codes new to the process when the event was read, at most one per field (whose Code is
  // empty meanwhile). Usually empty. See the file comment.
  std::vector<NewCode> new_codes;
};

// The field's code name in the event contract ("agency_code", "commune_code",
// "procedure_code", "to_agency_code").
std::string_view ToString(CodeField field);
// The event's Code in `field` (empty while the field's code is a new one).
Code& CodeOf(DossierEvent& event, CodeField field);
const Code& CodeOf(const DossierEvent& event, CodeField field);
// The text of the event's code in `field`: a new code's text, or its Code's.
std::string_view CodeText(const DossierEvent& event, CodeField field);
// Sets the event's code in `field` to `text`: the pool's Code when it holds the text (or the
// text is empty), else a NewCode (the field's Code empty). Replaces what the field had.
void SetCodeText(DossierEvent& event, CodeField field, std::string_view text);

std::string_view ToString(EventType type);
std::string_view ToString(Channel channel);
std::string_view ToString(OnlineLevel level);
// Parses the wire names ("received", "in_person", ...). nullopt for an unknown name.
std::optional<EventType> ParseEventType(std::string_view name);
std::optional<Channel> ParseChannel(std::string_view name);
std::optional<OnlineLevel> ParseOnlineLevel(std::string_view name);

}  // namespace iocstream
