// The format of iocstream's log lines (stderr): one line per message, whatever it quotes.
//
// Messages quote input: CSV values, file names, event fields, librdkafka's texts. A value
// holding a line feed wrote a second line that read as a log line of its own (`... error
// FORGED by csv`: a helper's trial), which a log shipper would take as one. The message's
// control characters are escaped as C does (\n, \r, \t, \xHH; a backslash stays as it is),
// so that a log line is one line and what it quotes is visible.
//
// Thread-safety: the formatter is spdlog's (each sink formats under its own lock).
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string_view>

namespace iocstream::app {

// "2026-12-07T09:00:00.123 warning the message" (local time, millisecond), the level in
// colour on a terminal, the message's control characters escaped.
[[nodiscard]] std::unique_ptr<spdlog::formatter> MakeLogFormatter();

// `text` with its control characters (U+0000-U+001F, U+007F) escaped as MakeLogFormatter
// writes them, appended to `out`.
void AppendEscapedLogText(std::string_view text, spdlog::memory_buf_t& out);

}  // namespace iocstream::app
