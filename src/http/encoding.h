// Request-target parsing for the http module (private; no Beast). JSON strings are quoted by
// JsonQuote (iocstream/core/json_string.h).
// Pure functions: thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "iocstream/core/result.h"

namespace iocstream::http_internal {

// Decodes %XX escapes (RFC 3986 percent-encoding). With `plus_is_space` a '+' decodes to ' '
// (application/x-www-form-urlencoded, used for query strings); otherwise '+' is kept.
// kInvalidArgument when a '%' is not followed by two hex digits.
[[nodiscard]] Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// A request target split into its decoded parts.
struct RequestTarget {
  std::string path;
  std::string raw_path;  // the path as sent, before decoding (routes are matched on it)
  std::map<std::string, std::string> query;
};

// Parses "/path?k=v&k2=v2" (RFC 9112 origin-form; a "#fragment", which clients do not send, is
// dropped), or "http://host/path?k=v" (absolute-form, RFC 9112 3.2.2: its path, "/" when it
// has none, and query; the authority is ignored). Empty pieces ("&&") are skipped, a key
// without '=' maps to "". kInvalidArgument when the target is neither form (asterisk-form "*",
// authority-form "host:443", a scheme other than http or https), holds a bad percent escape
// (the message names where: "request path", "query parameter 'NAME'" for one in its value, or
// "query string" for one in a name, with the offset), or repeats a query key (once decoded).
[[nodiscard]] Result<RequestTarget> ParseRequestTarget(std::string_view target);

}  // namespace iocstream::http_internal
