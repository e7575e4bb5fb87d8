// The command line's own errors: what a user who mistypes a subcommand is told.
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace iocstream::testing {
namespace {

TEST(CliTest, AnUnknownSubcommandIsNamedWithTheSubcommands) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"frob"}, std::vector<std::string>{"--log-level", "debug", "frob"},
        std::vector<std::string>{"frob", "--config", "x.yaml"}}) {
    const CommandResult r = RunIocstream(args);
    EXPECT_EQ(r.exit_code, 109) << args.back();
    EXPECT_NE(r.err.find("unknown subcommand 'frob' (the subcommands: run, import, replay, "),
              std::string::npos)
        << r.err;
  }
}

TEST(CliTest, NoSubcommandListsThem) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, std::vector<std::string>{"--config", "x.yaml", "rplay"}}) {
    const CommandResult r = RunIocstream(args);
    EXPECT_EQ(r.exit_code, 106);
    EXPECT_NE(r.err.find("a subcommand is required (the subcommands: run, import, replay, "),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
}  // namespace iocstream::testing
