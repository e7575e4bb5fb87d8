// DossierEvent: one validated event about one administrative-procedure dossier, as published
// by a department or commune service center (contract: schemas/dossier-event.v1.json,
// docs/event-contract.md). Produced by decode, consumed by rules.
//
// Instants are UTC (the wire format is RFC 3339 with an offset; decode converts). Codes are
// interned (core/code.h): the decoder admits them (Code::Admitted), so an event that reaches
// the rules holds only codes the pool let in, and the rules copy them as pointers.
// Plain value type: thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "iocstream/core/code.h"
#include "iocstream/core/types.h"

namespace iocstream {

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
};

std::string_view ToString(EventType type);
std::string_view ToString(Channel channel);
std::string_view ToString(OnlineLevel level);
// Parses the wire names ("received", "in_person", ...). nullopt for an unknown name.
std::optional<EventType> ParseEventType(std::string_view name);
std::optional<Channel> ParseChannel(std::string_view name);
std::optional<OnlineLevel> ParseOnlineLevel(std::string_view name);

}  // namespace iocstream
