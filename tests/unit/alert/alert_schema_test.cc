// The alert contract (schemas/dossier-alert.v1.json) and the messages iocstream publishes agree:
// for every kind, the message the relay builds from an outbox entry has exactly the members the
// schema requires (and completed_at only where it says), in its order, with values its enums,
// constants and patterns admit.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "iocstream/alert/outbox_message.h"
#include "unit/alert/typical_alert.h"

namespace iocstream::alert {
namespace {

nlohmann::ordered_json LoadSchema() {
  std::ifstream in(std::string(IOCSTREAM_SOURCE_DIR) + "/schemas/dossier-alert.v1.json");
  return nlohmann::ordered_json::parse(in);
}

bool InEnum(const nlohmann::ordered_json& property, const nlohmann::ordered_json& value) {
  for (const auto& allowed : property.at("enum")) {
    if (allowed == value) return true;
  }
  return false;
}

TEST(AlertSchemaTest, EveryKindsMessageHasTheSchemasMembersAndValues) {
  const nlohmann::ordered_json schema = LoadSchema();
  const auto& properties = schema.at("properties");
  std::vector<std::string> required;
  for (const auto& r : schema.at("required")) required.push_back(r.get<std::string>());
  const std::regex id_pattern(properties.at("alert_id").at("pattern").get<std::string>());
  const std::regex instant_pattern(
      schema.at("$defs").at("instant").at("pattern").get<std::string>());
  ASSERT_EQ(properties.at("kind").at("enum").size(), static_cast<size_t>(kAlertKindCount));

  for (int k = 0; k < kAlertKindCount; ++k) {
    AlertIntent alert = samples::TypicalAlert();
    alert.kind = static_cast<AlertKind>(k);
    const bool completed_late = alert.kind == AlertKind::kCompletedLate;
    // As the rules raise them: only a late completion carries the end of processing.
    if (completed_late) alert.completed_at = alert.detected_at;
    SCOPED_TRACE(std::string(ToString(alert.kind)));

    // What the relay publishes: the value it builds from the entry the pipeline stores.
    std::string value;
    auto is_alert = AppendAlertValue(EncodeAlertOutbox(alert), value);
    ASSERT_TRUE(is_alert.has_value());
    ASSERT_TRUE(*is_alert);
    const auto message = nlohmann::ordered_json::parse(value);

    std::vector<std::string> members;
    for (const auto& [name, value] : message.items()) members.push_back(name);
    std::vector<std::string> want = required;
    if (completed_late) want.push_back("completed_at");
    EXPECT_EQ(members, want);  // the schema's order: required, then completed_at

    for (const auto& [name, value] : message.items()) {
      ASSERT_TRUE(properties.contains(name)) << name;
      const auto& property = properties.at(name);
      if (property.contains("const")) {
        EXPECT_EQ(value, property.at("const")) << name;
      }
      if (property.contains("enum")) {
        EXPECT_TRUE(InEnum(property, value)) << name;
      }
      if (property.contains("$ref")) {
        EXPECT_TRUE(std::regex_match(value.get<std::string>(), instant_pattern)) << name;
      }
    }
    EXPECT_TRUE(std::regex_match(message.at("alert_id").get<std::string>(), id_pattern));
    EXPECT_EQ(message.at("kind"), ToString(alert.kind));
  }
}

}  // namespace
}  // namespace iocstream::alert
