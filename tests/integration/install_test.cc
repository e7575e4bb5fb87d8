// `cmake --install`: the binary, the data files a configuration names, and the systemd unit
// with its configuration (README: "Running as a service"), installed under a temporary
// prefix and used from there.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

namespace fs = std::filesystem;

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

TEST(InstallTest, TheInstalledUnitAndItsConfigurationWork) {
  TempDir top;
  // A space in the prefix: the unit quotes the command and encodes the URL (unquoted, systemd
  // took the command to end at the space, a helper's finding).
  const std::string prefix = top / "my prefix";
  const CommandResult install =
      RunProgram(IOCSTREAM_CMAKE, {"--install", IOCSTREAM_BUILD_DIR, "--prefix", prefix});
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
  const std::string binary = prefix + "/bin/iocstream";
  const std::string unit = prefix + "/lib/systemd/system/iocstream.service";
  const std::string config = prefix + "/share/iocstream/deploy/iocstream.yaml";
  const std::string data = prefix + "/share/iocstream";
  for (const std::string& file :
       {binary, unit, config, prefix + "/lib/sysusers.d/iocstream.conf",
        data + "/iocstream.example.yaml", data + "/schemas/dossier-event.v1.json",
        data + "/prometheus/iocstream-rules.yml", data + "/grafana/iocstream-dashboard.json"}) {
    EXPECT_TRUE(fs::is_regular_file(file)) << file;
  }

  // The unit starts the installed binary, and systemd's own check finds nothing to say: every
  // directive known and well formed, the command executable.
  EXPECT_NE(ReadFile(unit).find("\nExecStart=\"" + binary +
                                "\" run --config /etc/iocstream/iocstream.yaml\n"),
            std::string::npos)
      << ReadFile(unit);
  const CommandResult verify = RunProgram("systemd-analyze", {"verify", unit});
  EXPECT_EQ(verify.exit_code, 0);
  EXPECT_EQ(verify.out + verify.err, "");
  // Its user, made by systemd-sysusers (here under a root of its own).
  TempDir root;
  fs::create_directories(root / "etc");
  const CommandResult users = RunProgram(
      "systemd-sysusers", {"--root=" + root.path(), prefix + "/lib/sysusers.d/iocstream.conf"});
  EXPECT_EQ(users.exit_code, 0) << users.out << users.err;
  EXPECT_NE(ReadFile(root / "etc/passwd").find("iocstream:x:"), std::string::npos)
      << ReadFile(root / "etc/passwd");

  // The unit's configuration names the installed calendars and catalog: replayed with it, the
  // installed binary computes the same dossiers as the build with the source tree's files.
  TempDir work;
  const std::string source_config = work / "source.yaml";
  std::ofstream(source_config) << Replaced(ReadFile(config), data, SourceDir() + "/config");
  const std::string events = work / "events.ndjson";
  const CommandResult simulate =
      RunIocstream({"simulate", "--config", source_config, "--units",
                    SourceDir() + "/config/simulator/phu-tho-units.csv", "--procedure-pools",
                    SourceDir() + "/config/simulator/procedure-pools.csv", "--dossiers", "400",
                    "--ndjson", events, "--no-progress"});
  ASSERT_EQ(simulate.exit_code, 0) << simulate.err;
  const CommandResult installed =
      RunProgram(binary, {"replay", "--config", config, "--state-dir", work / "installed", events});
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  // The installed simulator finds its tables with the service's config (a QA trial: they were
  // not installed) and simulates what the source tree's do.
  const CommandResult installed_simulate =
      RunProgram(binary, {"simulate", "--config", config, "--dossiers", "400", "--ndjson",
                          work / "installed.ndjson", "--no-progress"});
  ASSERT_EQ(installed_simulate.exit_code, 0) << installed_simulate.err;
  EXPECT_EQ(ReadFile(work / "installed.ndjson"), ReadFile(events));
  const CommandResult built =
      RunIocstream({"replay", "--config", source_config, "--state-dir", work / "built", events});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  EXPECT_NE(installed.out.find("dead-lettered 0;"), std::string::npos) << installed.out;
  const std::string dossiers = ExportCsv(config, work / "installed", "dossiers");
  EXPECT_EQ(dossiers, ExportCsv(source_config, work / "built", "dossiers"));
  EXPECT_GT(std::count(dossiers.begin(), dossiers.end(), '\n'), 400);
  // Due times came from the catalog and the calendars (a missing file is an error at start).
  EXPECT_NE(dossiers.find(",2026-"), std::string::npos);
}

}  // namespace
}  // namespace iocstream::testing
