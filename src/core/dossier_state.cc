#include "iocstream/core/dossier_state.h"

#include <algorithm>
#include <array>

namespace iocstream {

std::string_view ToString(DossierStatus status) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "submitted", "in_progress", "waiting_supplement", "waiting_payment", "completed", "returned",
      "withdrawn", "refused",     "rejected",           "unknown"};
  return kNames[static_cast<size_t>(status)];
}
std::string_view ToString(Outcome outcome) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "open", "early", "on_time", "late", "no_deadline", "cancelled", "no_receipt"};
  return kNames[static_cast<size_t>(outcome)];
}
std::string_view ToString(DueSource source) {
  static constexpr std::array<std::string_view, 3> kNames = {"none", "event", "catalog"};
  return kNames[static_cast<size_t>(source)];
}
std::string_view ToString(TimerKind kind) {
  static constexpr std::array<std::string_view, 4> kNames = {"warning", "breach", "step_breach",
                                                             "hours_left_warning"};
  return kNames[static_cast<size_t>(kind)];
}
std::string_view ToString(AlertKind kind) {
  // Sized by kAlertKindCount, which also bounds the kinds an outbox entry may hold: a name
  // too many does not compile, one missing fails the assertion.
  static constexpr std::array<std::string_view, kAlertKindCount> kNames = {
      "deadline_warning", "deadline_breached", "completed_late",
      "step_breached",    "apology_missing",   "deadline_warning_hours_left"};
  static_assert(std::ranges::none_of(kNames, [](std::string_view n) { return n.empty(); }),
                "an AlertKind without a name: update kAlertKindCount and these names together");
  return kNames[static_cast<size_t>(kind)];
}

}  // namespace iocstream
