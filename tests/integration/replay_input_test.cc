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

// A file saved again under the same path with other events is replayed from its first line
// (found by a user trial: its first lines were skipped as "already applied"); a file that
// grew resumes after the lines already applied.
TEST(ReplayInputTest, RewrittenFileIsReplayedFromTheStartAndAGrownOneResumes) {
  TempDir dir;
  const std::string config = WriteConfig(dir, UniqueName("replay-rewrite"));
  const std::string events = dir / "events.ndjson";
  auto received = [](const std::string& id) {
    return R"({"schema_version":1,"event_id":")" + id + R"(/r","dossier_id":")" + id +
           R"(","type":"received","occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)" +
           R"("due_at":"2026-03-04T17:00:00+07:00"})" + "\n";
  };
  auto replay = [&] {
    const CommandResult r = RunIocstream({"replay", "--config", config, events});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  std::ofstream(events) << received("D1");
  EXPECT_NE(replay().find("consumed 1 = applied 1"), std::string::npos);
  std::ofstream(events) << received("D2") << received("D3");  // rewritten
  EXPECT_NE(replay().find("consumed 2 = applied 2"), std::string::npos);
  std::ofstream(events, std::ios::app) << received("D4");  // grown
  EXPECT_NE(replay().find("consumed 1 = applied 1"), std::string::npos);
  const CommandResult exported = RunIocstream({"export", "--config", config, "dossiers"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  for (const char* id : {"D1", "D2", "D3", "D4"}) {
    EXPECT_NE(exported.out.find(std::string("\n") + id + ","), std::string::npos) << id;
  }
}

// Each replay partition keeps its own timers: a state dir replayed with another
// replay.partitions would put a dossier's later events where its timers are not, and those
// timers would never fire (found by a helper: 696 alerts instead of 919). Refused, with the
// value the store was replayed with; the same value goes on.
TEST(ReplayInputTest, AnotherReplayPartitionCountOnTheSameStateDirIsRefused) {
  TempDir dir;
  const std::string name = UniqueName("replay-partitions");
  const std::string events = dir / "events.ndjson";
  std::ofstream(events)
      << R"({"schema_version":1,"event_id":"e1","dossier_id":"D1","type":"received",)"
      << R"("occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)"
      << R"("due_at":"2026-03-04T17:00:00+07:00"})"
      << "\n";
  const std::string six = WriteConfig(dir, name);  // replay.partitions: the default, 6
  ASSERT_EQ(RunIocstream({"replay", "--config", six, "--no-summary", events}).exit_code, 0);

  const std::string three = WriteConfig(dir, name, "replay:\n  partitions: 3\n");
  const CommandResult refused = RunIocstream({"replay", "--config", three, "--no-summary", events});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("replay.partitions = 6"), std::string::npos) << refused.err;

  const std::string again = WriteConfig(dir, name, "replay:\n  partitions: 6\n");
  const CommandResult same = RunIocstream({"replay", "--config", again, "--no-summary", events});
  EXPECT_EQ(same.exit_code, 0) << same.err;
}

}  // namespace
}  // namespace iocstream::testing
