#include "http/encoding.h"

#include <cctype>

#include "iocstream/core/json_string.h"
#include "iocstream/http/server.h"

namespace iocstream::http_internal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes `text` into `out`; false, with `bad` the offset of the first '%' not followed by two
// hex digits, when one is.
bool Decode(std::string_view text, bool plus_is_space, std::string& out, std::size_t& bad) {
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int high = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        bad = i;
        return false;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// A part of a request target decoded; a malformed escape is refused naming the part, `where`
// (a bare "malformed percent-encoding at offset 0" for `?after=%ZZ` said neither which
// parameter nor that it was the query: a QA finding), its offset (plus `base`), then `detail`
// and how a literal '%' is sent.
Result<std::string> DecodePart(std::string_view text, bool plus_is_space, std::string_view where,
                               std::string_view detail = {}, std::size_t base = 0) {
  std::string out;
  std::size_t bad = 0;
  if (Decode(text, plus_is_space, out, bad)) return out;
  return InvalidArgument(std::string(where) + ": malformed percent-encoding at offset " +
                         std::to_string(base + bad) + std::string(detail) +
                         " ('%' must be followed by two hex digits; a literal '%' is sent as "
                         "%25)");
}

}  // namespace

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  std::size_t bad = 0;
  if (Decode(text, plus_is_space, out, bad)) return out;
  return InvalidArgument("malformed percent-encoding at offset " + std::to_string(bad));
}

Result<RequestTarget> ParseRequestTarget(std::string_view target) {
  if (const auto hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  // Absolute-form, "http://host/path?query": what clients send to a proxy, and which a server
  // must accept too (RFC 9112 3.2.2). Its path and query are used; the authority is not (the
  // server serves one origin, whatever the Host says).
  std::string origin_form;
  if (const auto scheme_end = target.find("://");
      !target.empty() && target.front() != '/' && scheme_end != std::string_view::npos) {
    std::string scheme(target.substr(0, scheme_end));
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme != "http" && scheme != "https") {
      return InvalidArgument("request target: scheme '" + scheme + "' is not http or https");
    }
    const std::string_view rest = target.substr(scheme_end + 3);
    const auto path_start = rest.find_first_of("/?");
    origin_form = path_start == std::string_view::npos ? "/"
                  : rest[path_start] == '/'            ? std::string(rest.substr(path_start))
                                                       : "/" + std::string(rest.substr(path_start));
    target = origin_form;
  }
  if (target.empty() || target.front() != '/') {
    return InvalidArgument(
        "request target must start with '/' (origin-form) or 'http://' (absolute-form)");
  }
  const auto question = target.find('?');
  auto path = DecodePart(target.substr(0, question), /*plus_is_space=*/false, "request path");
  if (!path) return path.error();
  RequestTarget result;
  result.path = std::move(path).value();
  result.raw_path = std::string(target.substr(0, question));
  if (question == std::string_view::npos) return result;

  const std::string_view whole_query = target.substr(question + 1);
  std::string_view query = whole_query;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    const std::size_t piece_offset = whole_query.size() - query.size();
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const auto eq = piece.find('=');
    // A bad escape in a name: the name is not known, its place in the query string is.
    auto key = DecodePart(piece.substr(0, eq), /*plus_is_space=*/true, "query string",
                          ", in a parameter name", piece_offset);
    if (!key) return key.error();
    auto value = eq == std::string_view::npos
                     ? Result<std::string>(std::string())
                     : DecodePart(piece.substr(eq + 1), /*plus_is_space=*/true,
                                  "query parameter '" + *key + "'", " of its value");
    if (!value) return value.error();
    // A repeated key is refused rather than resolved silently: `?department=A&department=`
    // meant every department under "last wins" (a helper's finding).
    if (result.query.contains(*key)) {
      return InvalidArgument("query parameter '" + *key + "' given more than once");
    }
    result.query.emplace(std::move(key).value(), std::move(value).value());
  }
  return result;
}

}  // namespace iocstream::http_internal

namespace iocstream {

HttpResponse JsonErrorResponse(int status, std::string_view message) {
  return HttpResponse{.status = status, .body = "{\"error\":" + JsonQuote(message) + "}"};
}

}  // namespace iocstream
