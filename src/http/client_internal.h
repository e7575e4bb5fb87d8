// HttpGetAll with the host-name lookup given: the lookup is the one part of a call that
// cannot be cancelled or made fast on demand, so tests give one that takes its time.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "iocstream/http/client.h"

namespace iocstream::http_internal {

// A host name's addresses as text ("10.0.0.2", "::1", "fe80::1%eth0"), or why there are none
// (`error`, e.g. getaddrinfo's "Name or service not known").
struct HostAddresses {
  std::vector<std::string> addresses;
  std::string error;
};
// Looks up a host name. Called on a thread of its own, which the call does not wait for past
// its timeout: it must be safe to call from any thread and may outlive the call that asked.
using HostLookup = std::function<HostAddresses(const std::string& host)>;

// getaddrinfo's addresses of `host` for TCP (the system's resolver: /etc/hosts, DNS...).
[[nodiscard]] HostAddresses SystemLookup(const std::string& host);

// iocstream::HttpGetAll, looking host names up with `lookup` (addresses are not looked up).
[[nodiscard]] std::vector<HttpFetch> HttpGetAll(std::span<const HttpGetRequest> requests,
                                                std::chrono::milliseconds timeout,
                                                std::size_t body_limit, HostLookup lookup);

}  // namespace iocstream::http_internal
