// HttpGetAll (iocstream/http/client.h). With server.cc, the only translation units that
// include Boost.Beast.
#include "iocstream/http/client.h"

#include <netdb.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "http/client_internal.h"

namespace iocstream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// One server's exchange: resolve, connect, write, read; each step's failure ends it.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(asio::io_context& io, const HttpAuthority& server, std::string_view target,
           std::size_t body_limit, HttpFetch& out)
      : stream_(io), server_(server), out_(out) {
    request_.method(http::verb::get);
    request_.target(beast::string_view(target.data(), target.size()));
    request_.version(11);
    // The Host field as RFC 9110 7.2 writes it (an IPv6 address in brackets).
    const bool v6 = server.host.find(':') != std::string::npos;
    request_.set(http::field::host,
                 (v6 ? "[" + server.host + "]" : server.host) + ":" + std::to_string(server.port));
    request_.set(http::field::connection, "close");
    request_.set(http::field::user_agent, "iocstream");
    parser_.body_limit(body_limit);
  }

  // Connects to the server's addresses (in order) and sends the request.
  void Start(const std::vector<tcp::endpoint>& endpoints) {
    stream_.async_connect(endpoints,
                          [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                            if (ec) return self->Fail("cannot connect", ec);
                            self->Write();
                          });
  }

  // Ends the exchange where it is (the call's timeout): its handlers run with an error, which
  // Fail ignores once `out_` says why.
  void Cancel() {
    if (done_) return;
    done_ = true;
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }
  [[nodiscard]] bool done() const { return done_; }

 private:
  void Write() {
    http::async_write(stream_, request_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->Fail("cannot send the request to", ec);
                        self->Read();
                      });
  }
  void Read() {
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->Fail("no complete answer from", ec);
                       self->out_.status = static_cast<int>(self->parser_.get().result_int());
                       self->out_.body = std::move(self->parser_.get().body());
                       self->out_.error.clear();
                       self->done_ = true;
                       beast::error_code ignored;
                       self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                     });
  }
  void Fail(const char* what, const beast::error_code& ec) {
    if (done_) return;  // cancelled: the timeout said why
    done_ = true;
    out_.status = 0;
    out_.error = std::string(what) + " " + server_.host + ":" + std::to_string(server_.port) +
                 ": " + ec.message();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  http::response_parser<http::string_body> parser_;
  HttpAuthority server_;
  HttpFetch& out_;
  bool done_ = false;
};

// A host name's addresses, looked up on a thread of its own: getaddrinfo cannot be cancelled,
// and asio's resolver waited for it past the call's timeout (a helper's DNS server that never
// answered held every request 10 s with a timeout of 2). The thread outlives a lookup given
// up on; it owns its share of the result.
struct Resolution {
  std::mutex mu;
  bool done = false;
  std::vector<tcp::endpoint> endpoints;
  std::string error;
};

std::shared_ptr<Resolution> Resolve(const HttpAuthority& server,
                                    const http_internal::HostLookup& lookup) {
  auto r = std::make_shared<Resolution>();
  beast::error_code ec;
  const asio::ip::address numeric = asio::ip::make_address(server.host, ec);
  if (!ec) {  // an address: nothing to look up
    r->endpoints.emplace_back(numeric, server.port);
    r->done = true;
    return r;
  }
  std::thread([r, lookup, host = server.host, port = server.port] {
    http_internal::HostAddresses found;
    try {
      found = lookup(host);
    } catch (const std::exception& e) {
      found.error = e.what();
    }
    std::vector<tcp::endpoint> endpoints;
    for (const std::string& text : found.addresses) {
      beast::error_code bad;
      const asio::ip::address address = asio::ip::make_address(text, bad);
      if (!bad) endpoints.emplace_back(address, port);
    }
    const std::lock_guard lock(r->mu);
    r->endpoints = std::move(endpoints);
    r->error = std::move(found.error);
    r->done = true;
  }).detach();
  return r;
}

}  // namespace

Result<HttpAuthority> ParseHttpAuthority(std::string_view text) {
  const auto bad = [&](const std::string& why) -> Error {
    return InvalidArgument("'" + std::string(text) + "': " + why +
                           " (expected host:port, e.g. 10.0.0.2:9464 or [::1]:9464)");
  };
  if (text.find("://") != std::string_view::npos || text.find('/') != std::string_view::npos) {
    return bad("a host and port only, without a scheme or path");
  }
  HttpAuthority a;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address without its closing ']'");
    a.host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad("no port");
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    a.host = std::string(text.substr(0, colon));
    if (a.host.find(':') != std::string::npos) return bad("an IPv6 address goes in brackets");
    port = text.substr(colon + 1);
  }
  if (a.host.empty()) return bad("no host");
  // A host name's letters, digits, '-' and '.', or an address ("a b:1" was taken and failed
  // at every request: a helper's trial).
  if (a.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:"
                               "%_") != std::string::npos) {
    return bad("'" + a.host + "' is not a host name or an address");
  }
  if (text.starts_with('[') && a.host.find(':') == std::string::npos) {
    return bad("brackets hold an IPv6 address only");
  }
  // A name's (or an IPv4 address's) labels between dots: none empty ("a..b:1" was taken and
  // failed at every request: a helper's trial), none starting or ending with '-'; a trailing
  // dot (a fully qualified name) is one.
  if (!text.starts_with('[')) {
    std::string_view rest = a.host;
    if (rest.size() > 1 && rest.ends_with('.')) rest.remove_suffix(1);
    while (true) {
      const size_t dot = rest.find('.');
      const std::string_view label = rest.substr(0, dot);
      if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
        return bad("'" + a.host + "' is not a host name or an address");
      }
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
  int value = 0;
  const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
  // "01" is refused rather than read as port 1 (a helper's trial): written so, it was meant
  // otherwise.
  if (port.empty() || port.front() == '0' || r.ec != std::errc() ||
      r.ptr != port.data() + port.size() || value < 1 || value > 65535) {
    return bad("the port must be a number from 1 to 65535");
  }
  a.port = static_cast<uint16_t>(value);
  return a;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' ||
        b == '.' || b == '_' || b == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
    }
  }
  return out;
}

namespace http_internal {

HostAddresses SystemLookup(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  HostAddresses out;
  if (rc != 0) out.error = gai_strerror(rc);
  for (const addrinfo* a = found; rc == 0 && a != nullptr; a = a->ai_next) {
    char text[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) ==
        0) {
      out.addresses.emplace_back(text);
    }
  }
  if (found != nullptr) freeaddrinfo(found);
  return out;
}

std::vector<HttpFetch> HttpGetAll(std::span<const HttpGetRequest> requests,
                                  std::chrono::milliseconds timeout, std::size_t body_limit,
                                  HostLookup lookup) {
  std::vector<HttpFetch> out(requests.size());
  if (requests.empty()) return out;
  try {
    asio::io_context io;
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::vector<std::shared_ptr<Resolution>> resolutions;
    std::vector<std::shared_ptr<Exchange>> exchanges;
    for (size_t i = 0; i < requests.size(); ++i) {
      resolutions.push_back(Resolve(requests[i].server, lookup));
      exchanges.push_back(std::make_shared<Exchange>(io, requests[i].server, requests[i].target,
                                                     body_limit, out[i]));
    }
    const auto where = [&](size_t i) {
      return requests[i].server.host + ":" + std::to_string(requests[i].server.port);
    };
    // Each exchange starts as soon as its server's addresses are known, whatever the lookups
    // of the others: a name slow to resolve must not eat the timeout of the servers after it.
    std::vector<bool> started(requests.size(), false);
    // Whether a lookup may still start an exchange: one neither started nor ended (by the
    // timeout).
    const auto lookups_pending = [&] {
      for (size_t i = 0; i < requests.size(); ++i) {
        if (!started[i] && !exchanges[i]->done()) return true;
      }
      return false;
    };
    const auto start_resolved = [&] {
      for (size_t i = 0; i < requests.size(); ++i) {
        if (started[i] || exchanges[i]->done()) continue;  // done: the timeout ended it
        Resolution& r = *resolutions[i];
        const std::lock_guard lock(r.mu);
        if (!r.done) continue;
        started[i] = true;
        if (r.endpoints.empty()) {
          out[i].error = "cannot resolve " + where(i) + ": " +
                         (r.error.empty() ? std::string("no address") : r.error);
          exchanges[i]->Cancel();
        } else {
          exchanges[i]->Start(r.endpoints);
        }
      }
    };
    asio::steady_timer deadline(io, until);
    deadline.async_wait([&](beast::error_code ec) {
      if (ec) return;  // cancelled: every exchange ended first
      for (size_t i = 0; i < exchanges.size(); ++i) {
        if (exchanges[i]->done()) continue;
        out[i].status = 0;
        out[i].error = (started[i] ? "no answer from " : "cannot resolve ") + where(i) +
                       " within " + std::to_string(timeout.count()) + " ms";
        exchanges[i]->Cancel();
      }
    });
    start_resolved();
    // Runs until every exchange ended; the timer is then the only work left. While lookups
    // are still running, the loop wakes every few milliseconds to start those that ended.
    constexpr auto kLookupPoll = std::chrono::milliseconds(5);
    const auto all_done = [&] {
      return std::all_of(exchanges.begin(), exchanges.end(),
                         [](const auto& e) { return e->done(); });
    };
    while (!all_done()) {
      if (lookups_pending()) {
        io.run_one_for(kLookupPoll);
        start_resolved();
      } else if (io.run_one() == 0) {
        break;
      }
    }
    deadline.cancel();
    io.run();  // the timer's cancellation and the sockets' last handlers
  } catch (const std::exception& e) {
    for (HttpFetch& f : out) {
      if (f.status == 0 && f.error.empty()) f.error = e.what();
    }
  }
  return out;
}

}  // namespace http_internal

std::vector<HttpFetch> HttpGetAll(std::span<const HttpGetRequest> requests,
                                  std::chrono::milliseconds timeout, std::size_t body_limit) {
  return http_internal::HttpGetAll(requests, timeout, body_limit, &http_internal::SystemLookup);
}

}  // namespace iocstream
