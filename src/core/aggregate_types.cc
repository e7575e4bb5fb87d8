#include "iocstream/core/aggregate_types.h"

namespace iocstream {

std::string_view ToString(AggregateField field) {
  static constexpr std::array<std::string_view, kAggregateFieldCount> kNames = {
      "received",
      "completed_early",
      "completed_on_time",
      "completed_late",
      "completed_no_deadline",
      "cancelled",
      "open",
      "open_overdue",
      "open_due_soon",
      "open_no_deadline",
      "supplement_requests",
      "step_breaches",
      "waiting_applicant_on_time",
      "waiting_applicant_late",
      "waiting_applicant_no_deadline",
      "finished_without_receipt"};
  return kNames[static_cast<size_t>(field)];
}

}  // namespace iocstream
