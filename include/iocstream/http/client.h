// HttpGetAll: one GET sent to several HTTP/1.1 servers at once, for the API of the other
// instances of a consumer group (`http.peers`: app/cluster_api.h). Boost.Beast underneath,
// confined to client.cc like the server's. Plain HTTP on a trusted network: no TLS, no
// redirects followed, no proxy, one request per connection (`Connection: close`).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iocstream/core/result.h"

namespace iocstream {

// A server's "host:port" (an URL's authority, RFC 3986 3.2.2): a host name, an IPv4 address
// or an IPv6 address in brackets ("[::1]:9464"), and a port from 1 to 65535.
struct HttpAuthority {
  std::string host;  // without brackets
  uint16_t port = 0;
};

// Parses "host:port"; kInvalidArgument naming what is wrong (no port, a port out of range,
// an IPv6 address without brackets, an empty host, a path or scheme given). Thread-safe.
[[nodiscard]] Result<HttpAuthority> ParseHttpAuthority(std::string_view text);

// What one server answered: `status` 0 when no response came (`error` then says why: refused,
// no answer within the timeout, a malformed or oversized response).
struct HttpFetch {
  int status = 0;
  std::string body;
  std::string error;  // empty when a response came, whatever its status
};

// One GET: `target` is a path and query, already percent-encoded (e.g.
// "/api/v1/overdue?partitions=0%2C3").
struct HttpGetRequest {
  HttpAuthority server;
  std::string target;
};

// Sends every request at once and waits until each has been answered or failed, or `timeout`
// has passed since the call (then those still waiting fail with "no answer within N ms", or
// "cannot resolve ... within N ms" for a host name still being looked up). Host names are
// looked up in parallel, each request sent as soon as its own server's addresses are known.
// Results come in the order of `requests`. A response body over `body_limit` bytes is an
// error. Blocks the caller; thread-safe (each call runs its own I/O context on the calling
// thread); never throws.
[[nodiscard]] std::vector<HttpFetch> HttpGetAll(std::span<const HttpGetRequest> requests,
                                                std::chrono::milliseconds timeout,
                                                std::size_t body_limit = std::size_t{64} << 20);

// `text` percent-encoded for a query value or a path segment (RFC 3986): every byte but the
// unreserved ones (letters, digits, '-', '.', '_', '~') as %XX. Thread-safe.
[[nodiscard]] std::string PercentEncode(std::string_view text);

}  // namespace iocstream
