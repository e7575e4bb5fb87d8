#include "app/mapping_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "unit/ingest/csv_testing.h"

namespace iocstream::app {
namespace {

using ::testing::HasSubstr;

constexpr const char* kValid = R"(
name: city
id_prefix: "c:"
columns:
  dossier_id: id
  received_at: open
  due_at: due
  completed_at: close
  agency: dept
  commune: area
  procedure: type
  channel: source
  status: status
time:
  formats: ["%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S"]
  zone: America/New_York
  offset_applied_twice: true
channel_values:
  Phone: in_person
  App: online
  Mail: postal
cancelled_statuses: [CANC, DUP]
default_agency: Unassigned
)";

// kValid with one line replaced (or removed when `to` is empty).
std::string Edit(const std::string& from, const std::string& to) {
  std::string yaml = kValid;
  const size_t at = yaml.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  yaml.replace(at, from.size(), to);
  return yaml;
}

std::string ErrorOf(const std::string& yaml) {
  auto m = ParseCsvMapping(yaml, "m.yaml");
  return m ? "(no error)" : m.error().message;
}

TEST(MappingConfigTest, ASecondYamlDocumentIsRefused) {
  EXPECT_EQ(ErrorOf(kValid + std::string("---\nname: other\n")),
            "m.yaml: holds several YAML documents (separated by '---'): only the first would be "
            "read; merge them into one");
  EXPECT_EQ(ErrorOf(kValid + std::string("---\n")), "(no error)");
}

TEST(MappingConfigTest, ReadsEveryKey) {
  auto m = ParseCsvMapping(kValid, "m.yaml");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->name, "city");
  EXPECT_EQ(m->id_prefix, "c:");
  EXPECT_EQ(m->columns.dossier_id, "id");
  EXPECT_EQ(m->columns.received_at, "open");
  EXPECT_EQ(m->columns.due_at, "due");
  EXPECT_EQ(m->columns.completed_at, "close");
  EXPECT_EQ(m->columns.agency, "dept");
  EXPECT_EQ(m->columns.commune, "area");
  EXPECT_EQ(m->columns.procedure, "type");
  EXPECT_EQ(m->columns.channel, "source");
  EXPECT_EQ(m->columns.status, "status");
  EXPECT_THAT(m->time_formats, ::testing::ElementsAre("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S"));
  EXPECT_EQ(m->time_zone, "America/New_York");
  EXPECT_TRUE(m->offset_applied_twice);
  EXPECT_EQ(m->channel_values.at("Phone"), Channel::kInPerson);
  EXPECT_EQ(m->channel_values.at("App"), Channel::kOnline);
  EXPECT_EQ(m->channel_values.at("Mail"), Channel::kPostal);
  EXPECT_THAT(m->cancelled_statuses, ::testing::ElementsAre("CANC", "DUP"));
  EXPECT_EQ(m->default_agency, "Unassigned");
}

TEST(MappingConfigTest, MinimalMappingAndSingleFormat) {
  auto m = ParseCsvMapping(R"(
columns: {dossier_id: id, received_at: open, agency: dept}
time: {formats: "%d/%m/%Y %H:%M", zone: UTC}
)",
                           "minimal");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->name, "minimal");
  EXPECT_TRUE(m->columns.due_at.empty());
  EXPECT_THAT(m->time_formats, ::testing::ElementsAre("%d/%m/%Y %H:%M"));
  EXPECT_FALSE(m->offset_applied_twice);
}

TEST(MappingConfigTest, ErrorsNameFileKeyAndWhy) {
  EXPECT_EQ(ErrorOf(Edit("  dossier_id: id\n", "")),
            "m.yaml: columns.dossier_id: required (the column holding the case / dossier id)");
  EXPECT_EQ(ErrorOf(Edit("  received_at: open\n", "")),
            "m.yaml: columns.received_at: required (the column holding the open (received) "
            "time)");
  EXPECT_EQ(ErrorOf(Edit("  zone: America/New_York", "  zone: Mars/Olympus")),
            "m.yaml: time.zone: unknown time zone 'Mars/Olympus' (an IANA name such as "
            "America/New_York or UTC)");
  EXPECT_THAT(ErrorOf(Edit("  zone: America/New_York\n", "")),
              HasSubstr("m.yaml: time.zone: required"));
  EXPECT_THAT(ErrorOf(Edit("  Mail: postal", "  Mail: pigeon")),
              HasSubstr("m.yaml: channel_values.Mail: unknown channel 'pigeon' (known: "));
  EXPECT_THAT(ErrorOf(Edit("  status: status", "  statut: status")),
              HasSubstr("m.yaml: columns.statut: unknown key (known: agency, channel, "));
  EXPECT_THAT(ErrorOf(Edit("name: city", "nmae: city")), HasSubstr("m.yaml: nmae: unknown key"));
  EXPECT_THAT(
      ErrorOf(Edit("  formats: [\"%Y-%m-%d %H:%M:%S%z\", \"%Y-%m-%d %H:%M:%S\"]", "  formats: []")),
      HasSubstr("m.yaml: time.formats: required"));
  EXPECT_EQ(ErrorOf(Edit("  formats: [\"%Y-%m-%d %H:%M:%S%z\", \"%Y-%m-%d %H:%M:%S\"]",
                         "  formats: [\"%Y-%m-%d\", \"YYYY-MM-DD\"]")),
            "m.yaml: time.formats[1]: not a date::parse format (no %-field): 'YYYY-MM-DD'");
  // An unknown %-field was accepted, then every row was "unparseable" (found by a helper).
  EXPECT_EQ(ErrorOf(Edit("  formats: [\"%Y-%m-%d %H:%M:%S%z\", \"%Y-%m-%d %H:%M:%S\"]",
                         "  formats: [\"%m/%d/%Y %I:%M:%S %p\", \"%Y-%m-%d %Q\"]")),
            "m.yaml: time.formats[1]: '%Q' in '%Y-%m-%d %Q' is not a date::parse field (it "
            "would read no value)");
  // Python's microseconds: date::format writes it back as text, so only a scan finds it.
  EXPECT_EQ(ErrorOf(Edit("  formats: [\"%Y-%m-%d %H:%M:%S%z\", \"%Y-%m-%d %H:%M:%S\"]",
                         "  formats: [\"%Y-%m-%d %H:%M:%S.%f\"]")),
            "m.yaml: time.formats[0]: '%f' in '%Y-%m-%d %H:%M:%S.%f' is not a date::parse field "
            "(it would read no value)");
  // Real formats load: widths, E/O modifiers, %e, %p, %Ez, %%.
  for (const char* good : {"%e/%m/%Y", "%m/%e/%Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%S%Ez", "%d/%m/%Y",
                           "%4Y%m%d %H%M", "%Od.%m.%Y 100%%"}) {
    EXPECT_EQ(ingest::UnknownTimeFormatField(good), std::nullopt) << good;
  }
  EXPECT_EQ(ingest::UnknownTimeFormatField("%Y-%m-%d %"), "%");
  EXPECT_EQ(ErrorOf(Edit("  offset_applied_twice: true", "  offset_applied_twice: maybe")),
            "m.yaml: time.offset_applied_twice: expected true or false");
  EXPECT_EQ(ErrorOf(Edit("  dossier_id: id", "  dossier_id: [id]")),
            "m.yaml: columns.dossier_id: expected a string, got a list");
  EXPECT_THAT(ErrorOf(Edit("  status: status\n", "")),
              HasSubstr("m.yaml: cancelled_statuses: needs columns.status"));
  EXPECT_THAT(ErrorOf("columns: [unclosed"), HasSubstr("m.yaml: not valid YAML"));
  EXPECT_EQ(ErrorOf(""), "m.yaml: (top level): empty mapping file");
  EXPECT_EQ(ErrorOf("- a\n- b\n"), "m.yaml: (top level): expected a mapping");
}

// A second `time:` block was ignored without a word (a QA trial).
TEST(MappingConfigTest, ARepeatedKeyIsRefused) {
  auto m =
      ParseCsvMapping(std::string(kValid) + "time:\n  formats: [\"%Y\"]\n  zone: UTC\n", "m.yaml");
  ASSERT_FALSE(m.has_value());
  EXPECT_THAT(m.error().message, HasSubstr("m.yaml: time: given twice, line "));
}

TEST(MappingConfigTest, LoadFromFile) {
  ingest::testing::TempFile f(kValid);
  auto m = LoadCsvMapping(f.path());
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->name, "city");

  auto missing = LoadCsvMapping("/nonexistent/mapping.yaml");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "/nonexistent/mapping.yaml: no such mapping file");

  ingest::testing::TempFile bad(Edit("  zone: America/New_York", "  zone: Nowhere"));
  auto err = LoadCsvMapping(bad.path());
  ASSERT_FALSE(err.has_value());
  EXPECT_EQ(err.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(err.error().message, HasSubstr(bad.path() + ": time.zone: unknown time zone"));
}

TEST(MappingConfigTest, ShippedMappingsLoad) {
  for (const char* name : {"boston-legacy", "boston-new-crm", "boston-sample"}) {
    auto m = LoadCsvMapping(std::string(IOCSTREAM_SOURCE_DIR "/config/mappings/") + name + ".yaml");
    ASSERT_TRUE(m.has_value()) << m.error().message;
    EXPECT_EQ(m->name, name);
    EXPECT_EQ(m->id_prefix, "boston:");
    EXPECT_FALSE(m->channel_values.empty());
  }
}

}  // namespace
}  // namespace iocstream::app
