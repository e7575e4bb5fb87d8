// Aggregate counters per dimension: the "aggregates" column family's values and the source of
// the dossier-count metrics. AggregateField is append-only: the stored encoding keeps the
// field count, so rows written before a field existed read it as zero (state/dossier_codec.h). A
// dossier contributes to exactly one AggregateKey (its agency, commune and channel, within its
// source partition); its contribution is a function of its state (rules::Contribution), so an
// update applies contribution(new) - contribution(old). Keyed by partition so that a partition's
// counts move with it when the consumer group rebalances; metrics sum the partitions this instance
// owns. Plain values: thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "iocstream/core/dossier_event.h"
#include "iocstream/core/types.h"

namespace iocstream {

enum class AggregateField : uint8_t {
  kReceived = 0,         // dossiers whose clock started (received)
  kCompletedEarly,       // finished on a working day before the due day
  kCompletedOnTime,      // finished on the due day, not after the due instant
  kCompletedLate,        // finished after the due instant
  kCompletedNoDeadline,  // finished, no due time known
  kCancelled,            // withdrawn, refused or rejected
  kOpen,                 // received and not finished
  kOpenOverdue,          // open and past the due time (breach timer fired)
  kOpenDueSoon,          // open, a warning threshold passed (share or hours left), not overdue
  kOpenNoDeadline,       // open without a due time (tracked, no timer)
  kSupplementRequests,   // supplement requests (Form 02) made
  kStepBreaches,         // transfer steps that passed their internal deadline
  // Decision 766 (pause policy kpi766; domain.md §1.3 interpretation 3: a record still waiting
  // on the applicant counts as finished at the request time): received dossiers waiting for
  // the applicant's supplement (DossierState::kpi766_finished_at_request), counted as finished
  // and not as open, judged at the request. Each also counts in kReceived, as open ones do.
  kWaitingApplicantOnTime,      // the request (clock stop) at or before the due time
  kWaitingApplicantLate,        // the request after the due time, or a second request (§1.3)
  kWaitingApplicantNoDeadline,  // no due time known
  // Finished without a receipt seen (Outcome::kNoReceipt): in neither the finished nor the
  // open counts, so not in Decision 766's indicator, until the receipt arrives.
  kFinishedWithoutReceipt,
  kCount,
};
inline constexpr size_t kAggregateFieldCount = static_cast<size_t>(AggregateField::kCount);

std::string_view ToString(AggregateField field);

struct AggregateKey {
  PartitionId partition{0};
  std::string agency_code;
  std::string commune_code;
  Channel channel = Channel::kUnknown;
  auto operator<=>(const AggregateKey&) const = default;
};

struct AggregateCounters {
  std::array<int64_t, kAggregateFieldCount> values{};

  int64_t& operator[](AggregateField f) { return values[static_cast<size_t>(f)]; }
  int64_t operator[](AggregateField f) const { return values[static_cast<size_t>(f)]; }
  AggregateCounters& operator+=(const AggregateCounters& other) {
    for (size_t i = 0; i < kAggregateFieldCount; ++i) values[i] += other.values[i];
    return *this;
  }
  AggregateCounters& operator-=(const AggregateCounters& other) {
    for (size_t i = 0; i < kAggregateFieldCount; ++i) values[i] -= other.values[i];
    return *this;
  }
  [[nodiscard]] bool IsZero() const {
    for (auto v : values) {
      if (v != 0) return false;
    }
    return true;
  }
  bool operator==(const AggregateCounters&) const = default;
};

}  // namespace iocstream
