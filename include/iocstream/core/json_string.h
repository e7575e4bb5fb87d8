// JSON string literals (RFC 8259 §7) for the modules that write JSON by hand: dossier events
// (decode), alert payloads (alert) and error bodies (http). One escaper, so that the same text
// is written the same way everywhere.
//
// Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace iocstream {

// Appends `text` to `out` as a JSON string literal, quotes included.
//
// Escapes '"' and '\' and the control characters U+0000–U+001F: \b \f \n \r \t by name, the
// others as \u00xx (lower-case hex). Everything else, DEL and non-ASCII characters included, is
// copied as UTF-8. For valid UTF-8 these are the bytes nlohmann::json's dump() writes (with
// ensure_ascii off), which the alert payload relies on.
//
// Each byte that is not part of a well-formed UTF-8 sequence (Unicode 15, table 3-7: stray
// continuation bytes, overlong forms, surrogates, code points above U+10FFFF, sequences cut
// short) is replaced by U+FFFD, written as UTF-8, so the output is always valid JSON. Returns
// false when that happened (`text` was not valid UTF-8), true otherwise.
bool AppendJsonString(std::string& out, std::string_view text);

// True if `text` is well-formed UTF-8 by the same rule (so AppendJsonString would copy it
// unchanged): sources that turn text into events refuse what the encoder would alter.
[[nodiscard]] bool IsValidUtf8(std::string_view text);

// AppendJsonString into a new string: `text` as a JSON string literal, quotes included.
[[nodiscard]] std::string JsonQuote(std::string_view text);

}  // namespace iocstream
