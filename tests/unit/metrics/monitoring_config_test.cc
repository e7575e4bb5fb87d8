// The Prometheus rules, example configuration and Grafana dashboard shipped in config/: the
// rules and the configuration pass promtool's checks, the rules their unit tests
// (config/prometheus/iocstream-rules.test.yml), and every query of the dashboard is PromQL that
// Prometheus parses. Needs promtool (scripts/test.sh puts the one scripts/install-deps.sh unpacked
// on the PATH); skipped without it. That every metric they name is one iocstream exports is checked
// on a live /metrics by kafka_pipeline_test.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace iocstream {
namespace {

namespace fs = std::filesystem;

const fs::path kPrometheusDir = fs::path(IOCSTREAM_SOURCE_DIR) / "config" / "prometheus";
const fs::path kDashboard =
    fs::path(IOCSTREAM_SOURCE_DIR) / "config" / "grafana" / "iocstream-dashboard.json";

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) result.output += chunk.data();
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool HavePromtool() { return std::system("command -v promtool > /dev/null 2>&1") == 0; }

TEST(MonitoringConfigTest, RulesAndExampleConfigPassPromtoolsChecksAndTheRulesTests) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  const CommandResult check =
      RunCommand("promtool check rules " + (kPrometheusDir / "iocstream-rules.yml").string());
  EXPECT_EQ(check.exit_code, 0) << check.output;
  // Relative rule_files resolve against the test file's directory.
  const CommandResult test =
      RunCommand("promtool test rules " + (kPrometheusDir / "iocstream-rules.test.yml").string());
  EXPECT_EQ(test.exit_code, 0) << test.output;
  EXPECT_NE(test.output.find("SUCCESS"), std::string::npos) << test.output;
  // The example configuration, with the rules it loads.
  const CommandResult config =
      RunCommand("promtool check config " + (kPrometheusDir / "prometheus.example.yml").string());
  EXPECT_EQ(config.exit_code, 0) << config.output;
}

// Every target's expression, each made a recording rule of a temporary rules file, which
// promtool parses: a query Grafana would show as an error fails here.
TEST(MonitoringConfigTest, DashboardQueriesAreValidPromQL) {
  std::ifstream in(kDashboard);
  ASSERT_TRUE(in.is_open()) << kDashboard;
  const nlohmann::json dashboard = nlohmann::json::parse(in);
  std::vector<std::string> exprs;
  for (const auto& panel : dashboard.at("panels")) {
    if (!panel.contains("targets")) continue;
    for (const auto& target : panel.at("targets")) {
      exprs.push_back(target.at("expr").get<std::string>());
    }
  }
  ASSERT_GE(exprs.size(), 20u);
  if (!HavePromtool()) GTEST_SKIP() << "promtool not installed";
  const fs::path rules = fs::temp_directory_path() /
                         ("iocstream-dashboard-rules-" + std::to_string(::getpid()) + ".yml");
  {
    std::ofstream out(rules);
    out << "groups:\n  - name: dashboard\n    rules:\n";
    for (size_t i = 0; i < exprs.size(); ++i) {
      std::string expr = exprs[i];
      // Grafana's variables, as Grafana substitutes them: a regex of the selected values.
      for (size_t at = expr.find("$department"); at != std::string::npos;
           at = expr.find("$department")) {
        expr.replace(at, 11, ".*");
      }
      // JSON strings are valid YAML double-quoted scalars.
      out << "      - record: dashboard:query_" << i
          << "\n        expr: " << nlohmann::json(expr).dump() << "\n";
    }
  }
  const CommandResult check = RunCommand("promtool check rules " + rules.string());
  fs::remove(rules);
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

}  // namespace
}  // namespace iocstream
