#include "iocstream/core/dossier_event.h"

#include <array>

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
    if (names[i] == name) return static_cast<Enum>(i);
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

}  // namespace iocstream
