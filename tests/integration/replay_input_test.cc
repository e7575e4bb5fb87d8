// `iocstream replay` on NDJSON files as people save them: a UTF-8 byte-order mark, CRLF line
// endings and blank lines must not lose an event.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

TEST(ReplayInputTest, ByteOrderMarkCrlfAndBlankLinesLoseNoEvent) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-input"));
  const std::string events = dir / "events.ndjson";
  std::ofstream(events, std::ios::binary)
      << "\xEF\xBB\xBF"
      << R"({"schema_version":1,"event_id":"e1","dossier_id":"D1","type":"received",)"
      << R"("occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)"
      << R"("due_at":"2026-03-04T17:00:00+07:00"})"
      << "\r\n\r\n"
      << R"({"schema_version":1,"event_id":"e2","dossier_id":"D1","type":"completed",)"
      << R"("occurred_at":"2026-03-03T02:00:00.5Z","agency_code":"A"})"
      << "\r\n";
  const CommandResult replay = RunIocstream({"replay", "--config", config, "--no-summary", events});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;

  // The blank line is accounted for as an empty record; nothing else is dead-lettered.
  std::istringstream dead(ReadFile(dir / "state/dead-letters.ndjson"));
  std::string line;
  while (std::getline(dead, line)) {
    EXPECT_EQ(nlohmann::json::parse(line)["reason"], "empty") << line;
  }
  const CommandResult exported =
      RunIocstream({"export", "--config", config, "dossiers", "--format", "ndjson"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const auto row = nlohmann::json::parse(exported.out);
  EXPECT_EQ(row["received_at"], "2026-03-02T02:00:00.000Z");
  EXPECT_EQ(row["completed_at"], "2026-03-03T02:00:00.500Z");
  EXPECT_EQ(row["outcome"], "early");
}

}  // namespace
}  // namespace iocstream::testing
