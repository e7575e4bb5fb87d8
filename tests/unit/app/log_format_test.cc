#include "app/log_format.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

#include <string>
#include <string_view>

namespace iocstream::app {
namespace {

std::string Formatted(std::string_view message) {
  const std::unique_ptr<spdlog::formatter> formatter = MakeLogFormatter();
  spdlog::details::log_msg msg(spdlog::source_loc{}, "iocstream", spdlog::level::warn, message);
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  return std::string(out.data(), out.size());
}

// A CSV value or a file name holding a line feed wrote a second line that read as a log line
// of its own (a helper's trial): each message is one line, its control characters escaped.
TEST(LogFormatTest, AMessageIsOneLineWithItsControlCharactersEscaped) {
  const std::string line =
      Formatted("unparseable open time: '1\n2026-12-07T00:00:00.000 error FORGED by csv'");
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;  // the line's own end only
  const std::string_view tail =
      " warning unparseable open time: '1\\n2026-12-07T00:00:00.000 error FORGED by csv'\n";
  ASSERT_GE(line.size(), tail.size());
  EXPECT_EQ(line.substr(line.size() - tail.size()), tail);
  // The time stamp: local time to the millisecond, as before.
  EXPECT_EQ(line.size(), std::string_view("2026-12-07T00:00:00.000").size() + tail.size());
  EXPECT_EQ(line[4], '-');
  EXPECT_EQ(line[10], 'T');
  EXPECT_EQ(line[19], '.');
}

TEST(LogFormatTest, EscapesEveryControlCharacterAndKeepsTheRest) {
  spdlog::memory_buf_t out;
  AppendEscapedLogText(std::string_view("a\tb\rc\0d\x1b[31m\x7f\\ S\xE1\xBB\x9F ok", 22), out);
  EXPECT_EQ(std::string(out.data(), out.size()),
            "a\\tb\\rc\\x00d\\x1b[31m\\x7f\\ S\xE1\xBB\x9F ok");
  out.clear();
  AppendEscapedLogText("", out);
  EXPECT_EQ(out.size(), 0u);
}

}  // namespace
}  // namespace iocstream::app
