// RFC 3339 timestamps, the wire form of every instant in a dossier event
// (contract: docs/event-contract.md, "Timestamps").
//
// Pure functions on values: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "iocstream/core/types.h"

namespace iocstream {

// Parses an RFC 3339 §5.6 `date-time` and converts it to UTC, millisecond resolution:
//
//   YYYY-MM-DD "T" hh:mm:ss [ "." 1*DIGIT ] ( "Z" / ("+" / "-") hh:mm )
//
// - "T" and "Z" may be lower case (RFC 3339 §5.6 note); a space instead of "T" is rejected.
// - Fractional seconds may have any number of digits; digits beyond milliseconds are truncated
//   (floor: 08:30:00.9999 is 08:30:00.999).
// - The offset is required ("2026-02-10T08:30:00" without Z or offset is rejected) and must be
//   within ±14:00; "-00:00" (offset unknown) is read as UTC.
// - Calendar checks: month 1–12, day valid for the month (29 February only in leap years),
//   hour < 24, minute < 60, second ≤ 60. A leap second (:60) is folded into the next second, as
//   POSIX and std::chrono::sys_time do (they do not count leap seconds).
// - The resulting UTC instant must lie in years 0000–9999, so that FormatRfc3339Utc can write it
//   back ("0000-01-01T05:00:00+07:00" is before that and is rejected).
//
// Returns nullopt for anything else. Never throws.
[[nodiscard]] std::optional<Instant> ParseRfc3339(std::string_view text);

// Why ParseRfc3339 refuses `text`, for an error message: a short phrase such as "no offset:
// add Z for UTC or the local offset, +07:00 in Vietnam" or "2026-02-30 is not a date"; empty
// when it does not refuse it. For error paths only (it reads the text again).
[[nodiscard]] std::string Rfc3339Problem(std::string_view text);

// Formats a UTC instant as RFC 3339 with a "Z" suffix and always three fractional digits:
// "2026-02-10T01:30:00.000Z". The width is fixed (24 bytes), so string order is time order.
// ParseRfc3339(FormatRfc3339Utc(t)) == t for every t in years 0000–9999. Instants outside that
// range are written with a signed, unpadded year ("-0001-…", "10000-…"), which is not RFC 3339
// and does not parse back.
[[nodiscard]] std::string FormatRfc3339Utc(Instant instant);

// Appends FormatRfc3339Utc(instant) to `out`: the same text without a temporary string (24
// bytes do not fit libstdc++'s small-string buffer), for encoders that build their output in one
// buffer.
void AppendRfc3339Utc(std::string& out, Instant instant);

}  // namespace iocstream
