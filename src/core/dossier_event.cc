#include "iocstream/core/dossier_event.h"

#include <array>

#include "iocstream/core/byte_scan.h"

namespace iocstream {
namespace {

constexpr std::array<std::string_view, kEventTypeCount> kEventTypeNames = {"submitted",
                                                                           "received",
                                                                           "refused",
                                                                           "transferred",
                                                                           "supplement_requested",
                                                                           "supplement_received",
                                                                           "payment_requested",
                                                                           "payment_received",
                                                                           "completed",
                                                                           "result_returned",
                                                                           "withdrawn",
                                                                           "rejected",
                                                                           "rescheduled"};
constexpr std::array<std::string_view, kChannelCount> kChannelNames = {"unknown", "in_person",
                                                                       "online", "postal"};
constexpr std::array<std::string_view, 4> kOnlineLevelNames = {"unknown", "none", "partial",
                                                               "full"};

template <typename Enum, size_t N>
std::optional<Enum> Lookup(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (byte_scan::Equal(names[i], name)) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace

std::string_view ToString(EventType type) { return kEventTypeNames[static_cast<size_t>(type)]; }
std::string_view ToString(Channel channel) { return kChannelNames[static_cast<size_t>(channel)]; }
std::string_view ToString(OnlineLevel level) {
  return kOnlineLevelNames[static_cast<size_t>(level)];
}
std::optional<EventType> ParseEventType(std::string_view name) {
  return Lookup<EventType>(kEventTypeNames, name);
}
std::optional<Channel> ParseChannel(std::string_view name) {
  return Lookup<Channel>(kChannelNames, name);
}
std::optional<OnlineLevel> ParseOnlineLevel(std::string_view name) {
  return Lookup<OnlineLevel>(kOnlineLevelNames, name);
}

std::string_view ToString(CodeField field) {
  static constexpr std::array<std::string_view, kCodeFieldCount> kNames = {
      "agency_code", "commune_code", "procedure_code", "to_agency_code"};
  return kNames[static_cast<size_t>(field)];
}

Code& CodeOf(DossierEvent& event, CodeField field) {
  switch (field) {
    case CodeField::kAgency:
      return event.agency_code;
    case CodeField::kCommune:
      return event.commune_code;
    case CodeField::kProcedure:
      return event.procedure_code;
    case CodeField::kToAgency:
      return event.to_agency_code;
  }
  return event.agency_code;  // not reached: every field is listed
}

const Code& CodeOf(const DossierEvent& event, CodeField field) {
  return CodeOf(const_cast<DossierEvent&>(event), field);
}

std::string_view CodeText(const DossierEvent& event, CodeField field) {
  for (const NewCode& code : event.new_codes) {
    if (code.field == field) return code.text;
  }
  return CodeOf(event, field).view();
}

void SetCodeText(DossierEvent& event, CodeField field, std::string_view text) {
  // Usually empty (the decoder sets the codes of an event reset first).
  if (!event.new_codes.empty()) {
    std::erase_if(event.new_codes, [field](const NewCode& c) { return c.field == field; });
  }
  if (std::optional<Code> held = Code::Find(text)) {
    CodeOf(event, field) = *held;
    return;
  }
  CodeOf(event, field) = Code();
  event.new_codes.push_back(NewCode{field, std::string(text)});
}

}  // namespace iocstream
