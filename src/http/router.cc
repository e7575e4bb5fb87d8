#include "http/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include "http/encoding.h"
#include "iocstream/core/json_string.h"

namespace iocstream::http_internal {

void Router::Add(std::string method, std::string pattern, Match match, HttpServer::Handler handler,
                 Lane lane) {
  if (match == Match::kExact) {
    Route& route = exact_[pattern];
    route.pattern = std::move(pattern);
    route.by_method.insert_or_assign(std::move(method), Entry{std::move(handler), lane});
    return;
  }
  auto it = std::find_if(prefixes_.begin(), prefixes_.end(),
                         [&](const Route& route) { return route.pattern == pattern; });
  if (it == prefixes_.end()) {
    prefixes_.push_back(Route{.pattern = std::move(pattern)});
    it = std::prev(prefixes_.end());
  }
  it->by_method.insert_or_assign(std::move(method), Entry{std::move(handler), lane});
  std::stable_sort(prefixes_.begin(), prefixes_.end(), [](const Route& a, const Route& b) {
    return a.pattern.size() > b.pattern.size();
  });
}

std::vector<const Router::Route*> Router::Candidates(const std::string& path) const {
  std::vector<const Route*> candidates;
  if (const auto it = exact_.find(path); it != exact_.end()) candidates.push_back(&it->second);
  for (const Route& route : prefixes_) {
    if (path.starts_with(route.pattern)) candidates.push_back(&route);
  }
  return candidates;
}

Router::Resolved Router::Resolve(const HttpRequest& request) const {
  const std::vector<const Route*> candidates =
      Candidates(request.raw_path.empty() ? request.path : request.raw_path);
  if (candidates.empty()) {
    // Routes match the path as sent: an escaped slash (%2F) is a byte of a segment, not a
    // separator. The path as sent is shown beside the decoded one when they differ, so that
    // /api%2Fv1%2F... is not answered with only the name of a route that exists (a helper's
    // nit).
    std::string body = "{\"error\":\"not found\",\"path\":" + JsonQuote(request.path);
    if (!request.raw_path.empty() && request.raw_path != request.path) {
      body += ",\"path_as_sent\":" + JsonQuote(request.raw_path);
      if (request.raw_path.find("%2F") != std::string::npos ||
          request.raw_path.find("%2f") != std::string::npos) {
        body +=
            ",\"hint\":\"routes are matched on the path as sent: %2F is a slash within a "
            "path segment, not a separator\"";
      }
    }
    return {.answer = {.response = {.status = 404, .body = body + "}"}}};
  }

  for (const Route* route : candidates) {
    auto it = route->by_method.find(request.method);
    if (it == route->by_method.end() && request.method == "HEAD") it = route->by_method.find("GET");
    if (it != route->by_method.end()) {
      return {.handler = &it->second.handler, .lane = it->second.lane};
    }
  }
  // A method HTTP does not define (RFC 9110 section 9; PATCH, RFC 5789) is 501, not 405, which
  // is for a method the server knows but the resource does not take (a lowercase `get` was
  // 405: a helper's nit). Method names are case-sensitive: a name known in capitals is hinted.
  static const std::set<std::string, std::less<>> kMethods = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  if (!kMethods.contains(request.method)) {
    std::string upper = request.method;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string body =
        "{\"error\":\"method not implemented\",\"method\":" + JsonQuote(request.method) +
        ",\"path\":" + JsonQuote(request.path);
    if (kMethods.contains(upper)) {
      body += ",\"hint\":" + JsonQuote("method names are case-sensitive: " + upper);
    }
    return {.answer = {.response = {.status = 501, .body = body + "}"}}};
  }
  std::set<std::string> allowed;
  for (const Route* route : candidates) {
    for (const auto& [method, unused] : route->by_method) allowed.insert(method);
  }
  if (allowed.contains("GET")) allowed.insert("HEAD");
  std::string allow;
  for (const std::string& method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  return {.answer = {.response = {.status = 405,
                                  .body = "{\"error\":\"method not allowed\",\"method\":" +
                                          JsonQuote(request.method) +
                                          ",\"path\":" + JsonQuote(request.path) + "}"},
                     .allow = std::move(allow)}};
}

Router::Outcome Router::Dispatch(const HttpRequest& request) const {
  Resolved resolved = Resolve(request);
  if (resolved.handler == nullptr) return std::move(resolved.answer);
  return Call(*resolved.handler, request);
}

Router::Outcome Router::Call(const HttpServer::Handler& handler, const HttpRequest& request) {
  // The boundary between handlers and the server: nothing a handler throws may take a server
  // thread down.
  std::string failure;
  try {
    return {.response = handler(request)};
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  spdlog::error("http: handler for {} {} threw: {}", request.method, request.path, failure);
  return {.response = JsonErrorResponse(500, failure)};
}

}  // namespace iocstream::http_internal
