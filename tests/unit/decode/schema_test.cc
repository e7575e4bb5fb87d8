// schemas/dossier-event.v1.json is the contract departments validate against; it must say what
// the decoder does. The Python check (check_schema_agreement.py) runs every golden case through
// a JSON Schema validator as well.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <string>
#include <vector>

#include "iocstream/decode/dead_letter.h"
#include "iocstream/decode/event_decoder.h"

namespace iocstream {
namespace {

namespace dom = simdjson::dom;

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = IOCSTREAM_SOURCE_DIR "/schemas/dossier-event.v1.json";
    ASSERT_EQ(simdjson::padded_string::load(path).get(text_), simdjson::SUCCESS) << path;
    ASSERT_EQ(parser_.parse(text_).get(schema_), simdjson::SUCCESS) << "not valid JSON";
  }

  std::vector<std::string> Strings(dom::element array) {
    std::vector<std::string> out;
    dom::array items;
    EXPECT_EQ(array.get_array().get(items), simdjson::SUCCESS);
    for (const dom::element item : items) {
      std::string_view text;
      if (item.is_null()) {
        out.emplace_back("null");
      } else {
        EXPECT_EQ(item.get_string().get(text), simdjson::SUCCESS);
        out.emplace_back(text);
      }
    }
    return out;
  }

  dom::element At(std::string_view json_pointer) {
    dom::element element;
    EXPECT_EQ(schema_.at_pointer(json_pointer).get(element), simdjson::SUCCESS) << json_pointer;
    return element;
  }

  simdjson::padded_string text_;
  dom::parser parser_;
  dom::element schema_;
};

TEST_F(SchemaTest, IsDraft2020Object) {
  std::string_view text;
  ASSERT_EQ(At("/$schema").get_string().get(text), simdjson::SUCCESS);
  EXPECT_EQ(text, "https://json-schema.org/draft/2020-12/schema");
  ASSERT_EQ(At("/$id").get_string().get(text), simdjson::SUCCESS);
  EXPECT_NE(text.find(kDossierEventSchemaId), std::string_view::npos);
  ASSERT_EQ(At("/type").get_string().get(text), simdjson::SUCCESS);
  EXPECT_EQ(text, "object");
  bool additional = false;
  ASSERT_EQ(At("/additionalProperties").get_bool().get(additional), simdjson::SUCCESS);
  EXPECT_TRUE(additional) << "unknown fields must stay allowed (forward compatibility)";
}

TEST_F(SchemaTest, RequiredFieldsMatchDecoder) {
  const std::vector<std::string> expected(kRequiredFields.begin(), kRequiredFields.end());
  EXPECT_EQ(Strings(At("/required")), expected);
  int64_t version = 0;
  ASSERT_EQ(At("/properties/schema_version/const").get_int64().get(version), simdjson::SUCCESS);
  EXPECT_EQ(version, kSchemaVersion);
}

TEST_F(SchemaTest, ListsExactlyTheKnownFields) {
  dom::object properties;
  ASSERT_EQ(At("/properties").get_object().get(properties), simdjson::SUCCESS);
  std::vector<std::string> names;
  for (const dom::key_value_pair field : properties) names.emplace_back(field.key);
  const std::vector<std::string> expected = {
      "schema_version", "event_id",       "dossier_id",     "type",       "occurred_at",
      "agency_code",    "commune_code",   "procedure_code", "channel",    "online_level",
      "due_at",         "to_agency_code", "step_due_at",    "new_due_at", "result_electronic"};
  EXPECT_EQ(names, expected);
}

TEST_F(SchemaTest, EnumsMatchWireNames) {
  std::vector<std::string> types;
  for (int i = 0; i < kEventTypeCount; ++i) {
    types.emplace_back(ToString(static_cast<EventType>(i)));
  }
  EXPECT_EQ(Strings(At("/properties/type/enum")), types);

  std::vector<std::string> channels;
  for (int i = 0; i < kChannelCount; ++i) channels.emplace_back(ToString(static_cast<Channel>(i)));
  channels.emplace_back("null");
  EXPECT_EQ(Strings(At("/properties/channel/enum")), channels);

  std::vector<std::string> levels;
  for (int i = 0; i < 4; ++i) levels.emplace_back(ToString(static_cast<OnlineLevel>(i)));
  levels.emplace_back("null");
  EXPECT_EQ(Strings(At("/properties/online_level/enum")), levels);
}

TEST_F(SchemaTest, LengthLimitsMatchDecoder) {
  uint64_t length = 0;
  ASSERT_EQ(At("/$defs/id/maxLength").get_uint64().get(length), simdjson::SUCCESS);
  EXPECT_EQ(length, kMaxIdBytes);
  ASSERT_EQ(At("/$defs/id/minLength").get_uint64().get(length), simdjson::SUCCESS);
  EXPECT_EQ(length, 1u);
  ASSERT_EQ(At("/$defs/code/maxLength").get_uint64().get(length), simdjson::SUCCESS);
  EXPECT_EQ(length, kMaxCodeBytes);
  ASSERT_EQ(At("/properties/agency_code/minLength").get_uint64().get(length), simdjson::SUCCESS);
  EXPECT_EQ(length, 1u);
}

TEST_F(SchemaTest, PerTypeRequirements) {
  // allOf[i]: if type == <type> then required [<field>].
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"transferred", "to_agency_code"}, {"rescheduled", "new_due_at"}};
  dom::array conditions;
  ASSERT_EQ(At("/allOf").get_array().get(conditions), simdjson::SUCCESS);
  std::vector<std::pair<std::string, std::string>> actual;
  for (const dom::element condition : conditions) {
    std::string_view type;
    ASSERT_EQ(condition.at_pointer("/if/properties/type/const").get_string().get(type),
              simdjson::SUCCESS);
    const std::vector<std::string> required = Strings(condition.at_pointer("/then/required"));
    ASSERT_EQ(required.size(), 1u);
    actual.emplace_back(std::string(type), required[0]);
  }
  EXPECT_EQ(actual, expected);
}

}  // namespace
}  // namespace iocstream
