// The shipped monitoring on a real Prometheus (IOCSTREAM_NEEDS_KAFKA): `iocstream run` on the
// Boston sample, scraped every second by Prometheus (Debian 12's 2.42, unpacked by
// scripts/install-deps.sh) that evaluates config/prometheus/iocstream-rules.yml. Every query of
// config/grafana/iocstream-dashboard.json is then asked of that Prometheus as Grafana asks it
// (its variables substituted), for all departments and for one: none may fail, and the panels
// that need no history older than the test must show data. promtool checks the files'
// syntax (monitoring_config_test) and the rules' logic on synthetic series
// (iocstream-rules.test.yml); only a server evaluating them on iocstream's own /metrics finds
// what those cannot: a query that Prometheus refuses at evaluation time (vector matching, a
// label that is not there), or a panel left empty.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

namespace fs = std::filesystem;

// `name` on PATH, else where scripts/install-deps.sh unpacks Prometheus's programs; "" if in
// neither.
std::string FindProgram(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    for (size_t start = 0, end = 0; start <= p.size(); start = end + 1) {
      end = p.find(':', start);
      if (end == std::string::npos) end = p.size();
      dirs.push_back(p.substr(start, end - start));
    }
  }
  const char* deps = std::getenv("IOCSTREAM_DEPS_DIR");
  const char* home = std::getenv("HOME");
  const std::string cache =
      deps ? deps : (home ? std::string(home) + "/.cache/iocstream" : std::string());
  if (!cache.empty()) dirs.push_back(cache + "/promtool/usr/bin");
  for (const std::string& dir : dirs) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string PercentEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

// Prometheus's JSON answer to GET `path` (null if it gave none).
nlohmann::json Api(int port, const std::string& path) {
  const std::string body = HttpGet(port, path);
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

struct DashboardQuery {
  std::string panel;
  std::string expr;
};

std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<DashboardQuery> queries;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& node) {
    if (!node.contains("panels")) return;
    for (const auto& panel : node["panels"]) {
      walk(panel);
      if (!panel.contains("targets")) continue;
      for (const auto& target : panel["targets"]) {
        if (target.contains("expr")) {
          queries.push_back({panel.value("title", ""), target["expr"].get<std::string>()});
        }
      }
    }
  };
  walk(dashboard);
  return queries;
}

// `expr` as Grafana sends it: the department variable's value (its "All" value is ".*"), and
// the interval variables at what a dashboard over the last hours gives them.
std::string AsGrafanaSendsIt(std::string expr, const std::string& department) {
  const std::vector<std::pair<std::string, std::string>> variables = {{"${department}", department},
                                                                      {"$department", department},
                                                                      {"$__rate_interval", "1m"},
                                                                      {"$__interval", "15s"},
                                                                      {"$__range", "6h"}};
  for (const auto& [name, value] : variables) {
    for (size_t at = expr.find(name); at != std::string::npos; at = expr.find(name, at)) {
      expr.replace(at, name.size(), value);
      at += value.size();
    }
  }
  return expr;
}

TEST(MonitoringTest, EveryDashboardQueryAndAlertRuleEvaluatesOnARealPrometheus) {
  const std::string prometheus = FindProgram("prometheus");
  ASSERT_FALSE(prometheus.empty())
      << "no prometheus program: scripts/install-deps.sh unpacks it (scripts/test.sh puts it "
         "on PATH)";
  TempDir dir;
  const std::string prefix = UniqueName("monitoring");
  // An hour of allowed lateness (the default) would hold the breach of a dossier consumed past
  // its deadline for that hour, waiting for a late completion.
  const std::string config = WriteConfig(dir, prefix, "timers:\n  allowed_lateness: 1s\n");
  auto imp = RunIocstream({"import", "--config", config, "--mapping",
                           SourceDir() + "/config/mappings/boston-legacy.yaml",
                           SourceDir() + "/tests/data/boston/boston-legacy.csv", "--no-progress"});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  // The sample's open cases have no due date: one dossier past its deadline (received in March
  // 2026, due two days later, open) fills the panels and the alert about such dossiers.
  Produce(prefix + "-events",
          {{"D-OVERDUE",
            R"({"schema_version":1,"event_id":"e1","dossier_id":"D-OVERDUE","type":"received",)"
            R"("occurred_at":"2026-03-02T09:00:00+07:00","agency_code":"A",)"
            R"("due_at":"2026-03-04T17:00:00+07:00"})"}});
  Child run({"run", "--config", config, "--state-dir", dir / "state", "--summary-when-caught-up"},
            dir.path());
  const int iocstream_port = WaitForHttpPort(run, 60);
  ASSERT_GT(iocstream_port, 0) << run.Stderr();
  ASSERT_TRUE(WaitFor([&] { return run.Stdout().find("consumed") != std::string::npos; }, 120))
      << run.Stderr();

  const std::string prometheus_config = dir / "prometheus.yml";
  std::ofstream(prometheus_config)
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "rule_files:\n  - " << SourceDir() << "/config/prometheus/iocstream-rules.yml\n"
      << "scrape_configs:\n  - job_name: iocstream\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << iocstream_port << "']\n";
  const int port = FreeLoopbackPort();
  Child server(prometheus,
               {"--config.file=" + prometheus_config, "--storage.tsdb.path=" + (dir / "tsdb"),
                "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
               dir.path());
  auto query = [&](const std::string& expr) {
    return Api(port, "/api/v1/query?query=" + PercentEncode(expr));
  };
  // Five scrapes of a target that is up: rate() and increase() need two samples in range.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto r = query("sum_over_time(up{job=\"iocstream\"}[1m])");
        return r.is_object() && r.value("status", "") == "success" &&
               !r["data"]["result"].empty() &&
               std::stod(r["data"]["result"][0]["value"][1].get<std::string>()) >= 5;
      },
      120))
      << server.Stderr() << "\n"
      << HttpGet(port, "/api/v1/targets");

  // The dashboard's department variable: label_values(iocstream_dossiers_open, department).
  const auto departments = Api(
      port, "/api/v1/label/department/values?match[]=" + PercentEncode("iocstream_dossiers_open"));
  ASSERT_EQ(departments.value("status", ""), "success") << departments.dump();
  ASSERT_FALSE(departments["data"].empty());
  // One department whose name needs no regex escaping, with open dossiers past their deadline
  // (once the breach timer of the dossier above has fired).
  std::string department;
  WaitFor(
      [&] {
        for (const auto& d : departments["data"]) {
          const std::string name = d.get<std::string>();
          if (!std::regex_match(name, std::regex("[A-Za-z0-9 _-]+"))) continue;
          const auto open = query("sum(iocstream_dossiers_open{department=\"" + name +
                                  "\",deadline=\"overdue\"})");
          if (!open["data"]["result"].empty() &&
              std::stod(open["data"]["result"][0]["value"][1].get<std::string>()) > 0) {
            department = name;
            return true;
          }
        }
        return false;
      },
      60);
  ASSERT_FALSE(department.empty()) << departments.dump();

  std::ifstream in(SourceDir() + "/config/grafana/iocstream-dashboard.json");
  const auto queries = DashboardQueries(nlohmann::json::parse(in));
  ASSERT_GT(queries.size(), 20u);
  for (const std::string& value : {std::string(".*"), department}) {
    for (const DashboardQuery& q : queries) {
      const std::string expr = AsGrafanaSendsIt(q.expr, value);
      SCOPED_TRACE(q.panel + ": " + expr);
      EXPECT_EQ(expr.find('$'), std::string::npos) << "a variable Grafana would fill is left";
      const auto r = query(expr);
      ASSERT_TRUE(r.is_object()) << "no JSON answer";
      ASSERT_EQ(r.value("status", ""), "success") << r.dump();
      // A panel comparing with the count an hour or a day ago has no data until Prometheus
      // holds that much history (it shows "No data" then, not a wrong number); every other
      // one must show something on a running instance.
      if (expr.find(" offset ") == std::string::npos) {
        EXPECT_FALSE(r["data"]["result"].empty()) << "the panel would show no data";
      }
    }
  }

  // Every shipped rule evaluates without error once each has been evaluated on the scrapes.
  nlohmann::json rules;
  ASSERT_TRUE(WaitFor(
      [&] {
        rules = Api(port, "/api/v1/rules");
        if (!rules.is_object() || rules.value("status", "") != "success") return false;
        for (const auto& group : rules["data"]["groups"]) {
          for (const auto& rule : group["rules"]) {
            if (rule.value("health", "") == "unknown") return false;
          }
        }
        return !rules["data"]["groups"].empty();
      },
      60))
      << rules.dump();
  size_t evaluated = 0;
  std::map<std::string, std::string> alert_states;  // alerting rules: inactive/pending/firing
  for (const auto& group : rules["data"]["groups"]) {
    for (const auto& rule : group["rules"]) {
      SCOPED_TRACE(rule.value("name", ""));
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.value("lastError", "");
      ++evaluated;
      if (rule.value("type", "") == "alerting") {
        alert_states[rule.value("name", "")] = rule.value("state", "");
      }
    }
  }
  EXPECT_GT(evaluated, 20u);
  // What the data and today's date make of alerts on a real evaluation: an open dossier past
  // its deadline (an hour's `for:` keeps the alert pending here), and the
  // calendar alert, firing once the loaded years end within 60 days (or have ended).
  EXPECT_EQ(alert_states["IocstreamDossiersOverdue"], "pending");
  const auto until = query("min(iocstream_calendar_loaded_until_timestamp_seconds)");
  ASSERT_FALSE(until["data"]["result"].empty()) << until.dump();
  const double loaded_until = std::stod(until["data"]["result"][0]["value"][1].get<std::string>());
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_EQ(alert_states["IocstreamCalendarEnding"],
            loaded_until - now < 60 * 86400 ? "firing" : "inactive");
  EXPECT_EQ(alert_states["IocstreamDown"], "inactive");

  server.Kill(SIGTERM);
  EXPECT_EQ(server.Wait(std::chrono::seconds(60)), 0) << server.Stderr();
  run.Kill(SIGTERM);
  EXPECT_EQ(run.Wait(std::chrono::seconds(60)), 0) << run.Stderr();
}

}  // namespace
}  // namespace iocstream::testing
