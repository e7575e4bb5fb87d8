// The only translation unit that includes Boost.Beast: everything else in the module (routing,
// target parsing) is plain C++ so that it compiles fast and is tested without sockets.
#include "iocstream/http/server.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/range/iterator_range.hpp>
#include <cassert>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "http/encoding.h"
#include "http/router.h"

namespace iocstream {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

constexpr int kHttp11 = 11;

// The most bytes of a request's line and header fields together (Beast's own default for a
// request parser, set here so that OnRead can tell which of the two went past it).
constexpr std::uint32_t kHeaderLimit = 8 * 1024;

// What HttpServerOptions::address stands for: a numeric address as it is; a host name's
// addresses that belong to this host (users write "localhost"), without repeats. A name whose
// addresses are not this host's is refused, so that a typo fails when the config is loaded
// rather than at bind; an address that cannot be bound here (::1 where IPv6 is off) is left
// out while another one can.
Result<std::vector<net::ip::address>> ListenAddresses(const std::string& address) {
  beast::error_code ec;
  const net::ip::address numeric = net::ip::make_address(address, ec);
  if (!ec) return std::vector<net::ip::address>{numeric};
  if (address.empty()) {
    return InvalidArgument(
        "listen address is empty (give a host name or a numeric address, e.g. localhost, "
        "127.0.0.1, ::1, 0.0.0.0)");
  }
  net::io_context context;
  tcp::resolver resolver(context);
  const tcp::resolver::results_type resolved =
      resolver.resolve(address, "0", tcp::resolver::numeric_service, ec);
  if (ec || resolved.empty()) {
    return InvalidArgument("cannot resolve listen address '" + address +
                           "': " + (ec ? ec.message() : "no address") +
                           " (give a host name of this host or a numeric address, e.g. "
                           "localhost, 127.0.0.1, ::1, 0.0.0.0)");
  }
  std::vector<net::ip::address> local;
  std::string foreign;
  for (const tcp::resolver::results_type::value_type& entry : resolved) {
    const tcp::endpoint endpoint = entry.endpoint();
    const net::ip::address candidate = endpoint.address();
    if (std::find(local.begin(), local.end(), candidate) != local.end()) continue;
    // An address is this host's when a socket can be bound to it (port 0: nothing listens).
    tcp::acceptor probe(context);
    beast::error_code bind_ec;
    probe.open(endpoint.protocol(), bind_ec);
    if (!bind_ec) probe.bind(tcp::endpoint(candidate, 0), bind_ec);
    if (bind_ec) {
      foreign +=
          (foreign.empty() ? "" : ", ") + candidate.to_string() + " (" + bind_ec.message() + ")";
      continue;
    }
    local.push_back(candidate);
  }
  if (local.empty()) {
    return InvalidArgument("listen address '" + address + "' resolves to " + foreign +
                           ", no address of this host");
  }
  return local;
}

// Shared by the server and its sessions (a session may outlive a stopped server's Impl
// briefly).
struct Counts {
  std::atomic<size_t> open{0};              // sessions alive
  std::atomic<size_t> waiting{0};           // requests posted to the workers, not started yet
  std::atomic<size_t> priority_waiting{0};  // posted to the priority thread, not started yet
  std::atomic<size_t> peer_waiting{0};      // posted to the peer threads, not started yet
};

// The answer to a connection past the server's bounds (HttpServerOptions::max_connections).
constexpr std::string_view kTooManyConnections = "too many connections";

// How long a connection past max_connections may take to send its request.
// Short: a probe sends its request as it connects, while idle connections that flood the
// server past its bound would otherwise hold the probes' places (a helper's 300 idle
// connections had /healthz answered 503 for 5 s at a time).
constexpr auto kReserveReadTimeout = std::chrono::milliseconds(1000);

// A connection: reads requests one after another (HTTP/1.1 keep-alive, no pipelining of
// responses), routes each through the Router, and writes the response. A quick handler (and a
// 404 or 405) answers on the I/O thread; a priority handler runs on the priority thread, any
// other on a worker thread, and its response comes back to the session's strand to be written.
// Every I/O operation of one session runs on its own strand; the session lives as long as an
// operation (or a handler on a worker) holds its shared_ptr.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `reserve`: a connection past options.max_connections, kept for one quick or priority
  // request (a probe, a scrape); anything else on it is answered 503.
  Session(tcp::socket socket, const http_internal::Router& router, const HttpServerOptions& options,
          net::io_context::executor_type workers, net::io_context::executor_type priority,
          net::io_context::executor_type peers, std::shared_ptr<Counts> counts, bool reserve)
      : stream_(std::move(socket)),
        router_(router),
        options_(options),
        workers_(workers),
        priority_(priority),
        peers_(peers),
        counts_(std::move(counts)),
        reserve_(reserve) {
    counts_->open.fetch_add(1);
  }
  ~Session() { counts_->open.fetch_sub(1); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::ReadRequest, shared_from_this()));
  }

 private:
  void ReadRequest() {
    // A parser reads exactly one message, so each request gets a fresh one.
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(reserve_ ? std::min(options_.read_timeout, kReserveReadTimeout)
                                   : options_.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  // The header is read (a body over the limit is refused here, by its Content-Length). A
  // client that sends "Expect: 100-continue" waits for an interim 100 before it sends the body
  // (RFC 9110 10.1.1; curl waits a second for it, for any body over 1 KB: a helper's finding):
  // it gets one, then the body is read. Any other expectation is 417, as the RFC allows. The
  // field is a list, over all its lines; an HTTP/1.0 client's is ignored (it cannot read a 100,
  // and the RFC has servers ignore its 100-continue).
  void OnHeader(beast::error_code ec, std::size_t bytes) {
    if (ec) return OnRead(ec, bytes);
    const auto& header = parser_->get();
    if (header.version() >= 11) {
      // RFC 9112 3.2: an HTTP/1.1 request without a Host field, or with more than one, is
      // 400 (it was answered: a helper's nit). HTTP/1.0 requests need none.
      if (const auto hosts = std::distance(header.equal_range(bhttp::field::host).first,
                                           header.equal_range(bhttp::field::host).second);
          hosts != 1) {
        return WriteError(400,
                          "an HTTP/1.1 request has exactly one Host header field (RFC 9112 "
                          "section 3.2); this one has " +
                              std::to_string(hosts));
      }
      bool expects_continue = false;
      std::string other;  // the first expectation other than 100-continue
      for (const auto& line :
           boost::make_iterator_range(header.equal_range(bhttp::field::expect))) {
        std::string_view rest = line.value();
        while (true) {
          const size_t comma = rest.find(',');
          std::string_view member = rest.substr(0, comma);
          const size_t first = member.find_first_not_of(" \t");
          member = first == std::string_view::npos
                       ? std::string_view()
                       : member.substr(first, member.find_last_not_of(" \t") + 1 - first);
          if (beast::iequals(member, "100-continue")) {
            expects_continue = true;
          } else if (!member.empty() && other.empty()) {
            other = member;
          }
          if (comma == std::string_view::npos) break;
          rest.remove_prefix(comma + 1);
        }
      }
      if (!other.empty()) {
        return WriteError(417, "unsupported Expect: '" + other + "' (only 100-continue is)");
      }
      if (expects_continue && !parser_->is_done()) {
        // A request that can only be refused gets its answer instead of the 100, sparing the
        // upload (RFC 9110 10.1.1); the connection then closes, as its body is not read.
        if (Routed routed = Route(std::string(header.method_string()), header.target());
            routed.handler == nullptr) {
          served_ =
              Served{std::string(header.method_string()), std::string(header.target()),
                     header.version(), /*keep_alive=*/false, header.method() == bhttp::verb::head};
          return Respond(std::move(routed.refusal));
        }
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        return net::async_write(
            stream_, net::buffer(kContinue.data(), kContinue.size()),
            beast::bind_front_handler(&Session::OnContinueWritten, shared_from_this()));
      }
    }
    ReadBody();
  }

  // Where a request goes, from its method and target alone: its handler and lane, with the
  // request (its body not read yet), or the answer that refuses it whatever its body: a target
  // that does not parse (400: a bad escape, a repeated query key), no route (404, 405), a
  // worker's route on a connection past the bound (503). Serve and, before a 100, OnHeader.
  struct Routed {
    HttpRequest request;
    const HttpServer::Handler* handler = nullptr;  // null: refused, by `refusal`
    http_internal::Router::Lane lane = http_internal::Router::Lane::kWorker;
    http_internal::Router::Outcome refusal;
  };
  [[nodiscard]] Routed Route(std::string method, std::string_view raw_target) const {
    Routed routed;
    auto target = http_internal::ParseRequestTarget(raw_target);
    if (!target) {
      routed.refusal.response = JsonErrorResponse(400, target.error().message);
      return routed;
    }
    routed.request.method = std::move(method);
    routed.request.path = std::move(target->path);
    routed.request.raw_path = std::move(target->raw_path);
    routed.request.query = std::move(target->query);
    http_internal::Router::Resolved resolved = router_.Resolve(routed.request);
    if (resolved.handler == nullptr) {
      routed.refusal = std::move(resolved.answer);
    } else if (reserve_ && (resolved.lane == http_internal::Router::Lane::kWorker ||
                            resolved.lane == http_internal::Router::Lane::kPeer)) {
      routed.refusal.response = JsonErrorResponse(503, kTooManyConnections);
    } else {
      routed.handler = resolved.handler;
      routed.lane = resolved.lane;
    }
    return routed;
  }

  void OnContinueWritten(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      if (ec != beast::error::timeout && ec != net::error::operation_aborted) {
        spdlog::debug("http: write failed: {}", ec.message());
      }
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRead({}, 0);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (!ec) return Serve(parser_->release());
    if (ec == bhttp::error::end_of_stream) return Close();  // the client closed between requests
    if (ec == bhttp::error::body_limit) {
      return WriteError(
          413, "request body larger than " + std::to_string(options_.body_limit) + " bytes");
    }
    if (ec == bhttp::error::header_limit) {
      if (RequestLineTooLong()) {
        return WriteError(414, "request target too long: the request line exceeds " +
                                   std::to_string(kHeaderLimit) + " bytes");
      }
      return WriteError(431, "request header too large");
    }
    // Empty lines before a request line (a client that ends a request's body with an extra
    // CRLF) are ignored, as RFC 9112 section 2.2 has servers do: Beast took them for a method
    // and the request was 400 (a helper's nit). At most a few, so that a client sending only
    // line ends is still answered (and cannot hold the connection open past the read timeout,
    // which each new read would start again).
    if (ec == bhttp::error::bad_method && blank_lines_skipped_ < kMaxBlankLines) {
      const std::string_view read(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      const size_t blank = std::min(read.find_first_not_of("\r\n"), read.size());
      if (blank > 0 && blank_lines_skipped_ + static_cast<int>(blank) <= kMaxBlankLines) {
        blank_lines_skipped_ += static_cast<int>(blank);
        buffer_.consume(blank);
        return ReadRequest();
      }
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        ec != bhttp::error::partial_message) {
      std::string message = "malformed request: " + ec.message();
      // Beast reads the version up to its CR: a request line ended by a bare LF (a hand-typed
      // request, some scripts) was refused as "bad version" alone (a helper's finding).
      if (ec == bhttp::error::bad_version) {
        message +=
            " (a request line ends with HTTP/1.0 or HTTP/1.1, then CR LF; a space in the "
            "target is sent as %20)";
      }
      return WriteError(400, message);
    }
    // Timeout (the stream already closed the socket), reset or abort: nobody to answer.
    if (ec != beast::error::timeout && ec != net::error::operation_aborted) {
      spdlog::debug("http: read failed: {}", ec.message());
    }
  }

  // Beast reports one error, header_limit, for the request line and the header fields
  // together; a client whose URL is too long should hear 414 (RFC 9110 15.5.15), not 431 about
  // its headers. The line is too long when the parser never took it (no target) and no line end
  // comes within the limit: Beast consumes nothing of the buffer before the line is complete.
  [[nodiscard]] bool RequestLineTooLong() const {
    if (!parser_->get().target().empty()) return false;
    const std::string_view read(static_cast<const char*>(buffer_.data().data()),
                                std::min<std::size_t>(buffer_.size(), kHeaderLimit));
    return read.find('\n') == std::string_view::npos;
  }

  void Serve(bhttp::request<bhttp::string_body> message) {
    blank_lines_skipped_ = 0;
    served_ = Served{std::string(message.method_string()), std::string(message.target()),
                     message.version(), message.keep_alive() && !reserve_,
                     message.method() == bhttp::verb::head};
    // A well-formed message whose target is refused (a bad escape, a repeated query key) is
    // answered like any request: the connection stays open if the client keeps it.
    Routed routed = Route(served_.method, message.target());
    if (!routed.request.path.empty()) served_.path = routed.request.path;  // else the raw target
    if (routed.handler == nullptr) return Respond(std::move(routed.refusal));
    HttpRequest& request = routed.request;
    request.body = std::move(message.body());
    switch (routed.lane) {
      case http_internal::Router::Lane::kIo:
        return Respond(http_internal::Router::Call(*routed.handler, request));
      case http_internal::Router::Lane::kPriority:
        // Its own thread and queue: scrapes never wait behind the workers' requests.
        return Post(priority_, counts_->priority_waiting, *routed.handler, std::move(request));
      case http_internal::Router::Lane::kPeer:
        // Other instances' requests, which this one's workers may be waiting for in turn.
        return Post(peers_, counts_->peer_waiting, *routed.handler, std::move(request));
      case http_internal::Router::Lane::kWorker:
        return Post(workers_, counts_->waiting, *routed.handler, std::move(request));
    }
  }

  // Runs `handler` on `lane`'s threads, off the I/O thread: a slow handler holds a thread of
  // its lane, never the reads, writes and quick answers of other connections.
  void Post(net::io_context::executor_type lane, std::atomic<size_t>& waiting,
            const HttpServer::Handler& handler, HttpRequest request) {
    // Requests waiting for a lane are bounded: past the bound they are answered at once, so
    // that clients that retry (a dashboard timing out) cannot queue work without end, nor
    // hold connections (and probes' places) while it waits.
    const size_t queued = waiting.load();
    if (queued >= options_.max_waiting) {
      return Respond(
          {.response = JsonErrorResponse(503, "server busy: " + std::to_string(queued) +
                                                  " requests wait for a handler thread; retry "
                                                  "later")});
    }
    waiting.fetch_add(1);
    // `waiting` is a member of *counts_, which the session (`self`) keeps alive.
    net::post(lane, [self = shared_from_this(), &waiting, handler = &handler,
                     request = std::move(request)] {
      waiting.fetch_sub(1);
      http_internal::Router::Outcome outcome = http_internal::Router::Call(*handler, request);
      net::post(self->stream_.get_executor(), [self, outcome = std::move(outcome)]() mutable {
        self->Respond(std::move(outcome));
      });
    });
  }

  void Respond(http_internal::Router::Outcome outcome) {
    HttpResponse& response = outcome.response;
    if (response.status < 200 || response.status > 599) {
      spdlog::error("http: handler for {} {} returned invalid status {}", served_.method,
                    served_.path, response.status);
      response = JsonErrorResponse(
          500, "handler returned invalid status " + std::to_string(response.status));
    }
    // These statuses have no body by definition (RFC 9110 15.3.5, 15.4.5).
    if (response.status == 204 || response.status == 304) response.body.clear();

    response_ = {};
    response_.version(served_.version);
    response_.result(static_cast<unsigned>(response.status));
    response_.set(bhttp::field::server, "iocstream");
    if (!response.content_type.empty()) {
      response_.set(bhttp::field::content_type, response.content_type);
    }
    if (!outcome.allow.empty()) response_.set(bhttp::field::allow, outcome.allow);
    response_.keep_alive(served_.keep_alive);
    if (served_.head) {
      // A HEAD response announces the length the GET body would have, and carries none.
      if (response.status != 204 && response.status != 304) {
        response_.content_length(response.body.size());
      }
    } else {
      response_.body() = std::move(response.body);
      response_.prepare_payload();
    }
    Write();
  }

  // Answers a request that could not be read or parsed; the connection closes afterwards,
  // since the rest of the byte stream cannot be trusted.
  void WriteError(int status, const std::string& message) {
    const HttpResponse error = JsonErrorResponse(status, message);
    response_ = {};
    response_.version(kHttp11);
    response_.result(static_cast<unsigned>(status));
    response_.set(bhttp::field::server, "iocstream");
    response_.set(bhttp::field::content_type, error.content_type);
    response_.keep_alive(false);
    response_.body() = error.body;
    response_.prepare_payload();
    Write();
  }

  void Write() {
    stream_.expires_after(options_.read_timeout);
    bhttp::async_write(
        stream_, response_,
        beast::bind_front_handler(&Session::OnWrite, shared_from_this(), response_.need_eof()));
  }

  void OnWrite(bool close, beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      if (ec != beast::error::timeout && ec != net::error::operation_aborted) {
        spdlog::debug("http: write failed: {}", ec.message());
      }
      return;
    }
    if (close) return Close();
    ReadRequest();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // best effort; closed on drop
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  // Line-end bytes skipped before the request line being read (reset once one is served).
  static constexpr int kMaxBlankLines = 8;
  int blank_lines_skipped_ = 0;
  bhttp::response<bhttp::string_body> response_;
  // The request being answered (one at a time per connection), for its response.
  struct Served {
    std::string method;
    std::string path;
    unsigned version = kHttp11;
    bool keep_alive = false;
    bool head = false;
  } served_;
  const http_internal::Router& router_;
  const HttpServerOptions& options_;
  net::io_context::executor_type workers_;
  net::io_context::executor_type priority_;
  net::io_context::executor_type peers_;
  std::shared_ptr<Counts> counts_;  // the server's
  const bool reserve_;
};

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(HttpServerOptions options) : options_(std::move(options)) {}
  ~Impl() { Stop(); }

  void Add(std::string method, std::string pattern, http_internal::Router::Match match,
           Handler handler, http_internal::Router::Lane lane) {
    std::lock_guard lock(mu_);
    assert(!started_ && "routes must be registered before HttpServer::Start()");
    if (started_) {
      spdlog::error("http: route {} {} registered after Start() is ignored", method, pattern);
      return;
    }
    has_peer_routes_ = has_peer_routes_ || lane == http_internal::Router::Lane::kPeer;
    router_.Add(std::move(method), std::move(pattern), match, std::move(handler), lane);
  }

  Status Start() {
    std::lock_guard lock(mu_);
    if (started_) return InvalidArgument("http server already started");
    if (options_.threads < 1) {
      return InvalidArgument("http server needs at least one thread, got " +
                             std::to_string(options_.threads));
    }
    Result<std::vector<net::ip::address>> addresses = ListenAddresses(options_.address);
    if (!addresses) return InvalidArgument("http: " + addresses.error().message);

    io_context_ = std::make_unique<net::io_context>(1);
    // A host name may stand for several addresses ("localhost": 127.0.0.1 and ::1): one
    // listener each, on one port (the first one's, when the kernel chooses it).
    uint16_t port = options_.port;
    std::string bound;  // the addresses listened on, as the kernel has them
    bool every_interface = false;
    for (const net::ip::address& address : *addresses) {
      const tcp::endpoint endpoint(address, port);
      const std::string where = HostPort(address.to_string(), port);
      auto& listener = listeners_.emplace_back(std::make_unique<Listener>(*io_context_));
      tcp::acceptor& acceptor = listener->acceptor;
      beast::error_code ec;
      const auto fail = [&](const char* step) -> Status {
        const std::string message =
            "http: cannot " + std::string(step) + " " + where + ": " + ec.message();
        listeners_.clear();
        io_context_.reset();
        return Error{ErrorCode::kUnavailable, message};
      };
      if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open a socket for");
      // Lets a restarted process bind while old connections sit in TIME_WAIT; on Linux it does
      // not let two servers listen on one port.
      if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) {
        return fail("set SO_REUSEADDR on");
      }
      if (acceptor.bind(endpoint, ec); ec) return fail("bind");
      if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
        return fail("listen on");
      }
      const tcp::endpoint local = acceptor.local_endpoint(ec);
      if (ec) return fail("read the bound port of");
      port = local.port();
      bound += (bound.empty() ? "" : ", ") + HostPort(local.address().to_string(), port);
      every_interface = every_interface || local.address().is_unspecified();
    }
    port_ = port;

    started_ = true;
    workers_ = std::make_unique<net::io_context>(options_.threads);
    workers_guard_.emplace(workers_->get_executor());
    priority_ = std::make_unique<net::io_context>(1);
    priority_guard_.emplace(priority_->get_executor());
    const int peer_threads = has_peer_routes_ ? std::max(1, options_.peer_threads) : 0;
    peers_ = std::make_unique<net::io_context>(std::max(1, peer_threads));
    peers_guard_.emplace(peers_->get_executor());
    for (const auto& listener : listeners_) Accept(*listener);
    threads_.reserve(static_cast<std::size_t>(options_.threads + peer_threads) + 2);
    threads_.emplace_back([this] { RunLoop(*io_context_); });
    threads_.emplace_back([this] { RunLoop(*priority_); });
    for (int i = 0; i < options_.threads; ++i) {
      threads_.emplace_back([this] { RunLoop(*workers_); });
    }
    for (int i = 0; i < peer_threads; ++i) {
      threads_.emplace_back([this] { RunLoop(*peers_); });
    }
    // As configured, then as bound when that reads otherwise ("0" is 0.0.0.0, a host name
    // its addresses: a helper found `address: 0` logged as "0", every interface unsaid).
    const std::string configured = HostPort(options_.address, port_);
    spdlog::info("http: listening on {}{} with {} handler thread(s), one for priority routes{}",
                 configured, bound == configured ? "" : " (" + bound + ")", options_.threads,
                 peer_threads > 0 ? " and " + std::to_string(peer_threads) + " for peers' requests"
                                  : std::string());
    if (every_interface) {
      spdlog::warn(
          "http: listening on every network interface ({}): the API has no authentication "
          "(POST /api/v1/admin/reload included); bind a loopback address behind a proxy "
          "unless every host that reaches this one may use it",
          bound);
    }
    return {};
  }

  void Stop() {
    std::lock_guard lock(mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    io_context_->stop();
    workers_guard_.reset();
    workers_->stop();  // handlers not started yet are dropped; running ones finish
    priority_guard_.reset();
    priority_->stop();
    peers_guard_.reset();
    peers_->stop();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
    // No thread runs either io_context now. Destroying the workers' drops the handlers that
    // never ran (their sessions' references); closing the acceptor, then destroying the
    // io_context destroys every pending operation, and with it the last reference to each
    // Session, which closes its socket.
    workers_.reset();
    priority_.reset();
    peers_.reset();
    listeners_.clear();
    io_context_.reset();
    spdlog::info("http: stopped listening on {}", HostPort(options_.address, port_));
  }

  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] std::size_t waiting() const { return counts_->waiting.load(); }
  [[nodiscard]] std::size_t priority_waiting() const { return counts_->priority_waiting.load(); }

 private:
  // A listening socket, with the timer that paces its accept retries (its own: a retry of one
  // listener must not cancel another's).
  struct Listener {
    explicit Listener(net::io_context& context) : acceptor(context), retry(context) {}
    tcp::acceptor acceptor;
    net::steady_timer retry;
  };

  void Accept(Listener& listener) {
    // Each connection gets its own strand: with several threads, one session's handlers never
    // run concurrently.
    listener.acceptor.async_accept(net::make_strand(*io_context_),
                                   [this, &listener](beast::error_code ec, tcp::socket socket) {
                                     OnAccept(listener, ec, std::move(socket));
                                   });
  }

  void OnAccept(Listener& listener, beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      // E.g. EMFILE: retry after a pause instead of spinning on the failing accept.
      spdlog::warn("http: accept failed: {}", ec.message());
      listener.retry.expires_after(std::chrono::milliseconds(100));
      listener.retry.async_wait([this, &listener](beast::error_code wait_ec) {
        if (!wait_ec) Accept(listener);
      });
      return;
    }
    const size_t open = counts_->open.load();
    if (open >= options_.max_connections + options_.probe_connections) {
      // Answered at once and closed: the request is not read. A short write to a new socket
      // fits its send buffer; errors only mean the client is gone.
      static const std::string kBody = JsonErrorResponse(503, kTooManyConnections).body;
      static const std::string kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Content-Length: " +
          std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + kBody;
      beast::error_code ignored;
      socket.non_blocking(true, ignored);
      net::write(socket, net::buffer(kBusy.data(), kBusy.size()), ignored);
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      const auto now = std::chrono::steady_clock::now();
      if (now - last_busy_warning_ > std::chrono::seconds(10)) {
        last_busy_warning_ = now;
        spdlog::warn("http: {} connections open, the server's bound: refusing more with 503", open);
      }
    } else {
      std::make_shared<Session>(std::move(socket), router_, options_, workers_->get_executor(),
                                priority_->get_executor(), peers_->get_executor(), counts_,
                                open >= options_.max_connections)
          ->Run();
    }
    Accept(listener);
  }

  static void RunLoop(net::io_context& context) {
    pthread_setname_np(pthread_self(), "http");  // for top -H, perf and the CPU summaries
    for (;;) {
      try {
        context.run();
        return;
      } catch (const std::exception& e) {
        // Handlers are wrapped by the Router; this is a bug in the server itself. Keep serving.
        spdlog::error("http: server thread caught: {}", e.what());
      }
    }
  }

  const HttpServerOptions options_;
  http_internal::Router router_;
  std::mutex mu_;  // serialises Add, Start and Stop
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint16_t> port_{0};
  // Accepting, reading, writing, quick handlers: one thread.
  std::unique_ptr<net::io_context> io_context_;
  // The other handlers: options_.threads threads, kept running while idle by the guard.
  std::unique_ptr<net::io_context> workers_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> workers_guard_;
  // Priority handlers (HandlePriority): one thread of their own, kept running by the guard.
  std::unique_ptr<net::io_context> priority_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> priority_guard_;
  // Peer handlers (HandlePeer): options_.peer_threads threads when a peer route is registered.
  std::unique_ptr<net::io_context> peers_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> peers_guard_;
  bool has_peer_routes_ = false;
  // One per address options_.address stands for.
  std::vector<std::unique_ptr<Listener>> listeners_;
  // Sessions alive (shared with them: a session may outlive a stopped server's Impl briefly).
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  std::chrono::steady_clock::time_point last_busy_warning_{};  // accept handler only
  std::vector<std::thread> threads_;
};

Status CheckListenAddress(const std::string& address) {
  Result<std::vector<net::ip::address>> addresses = ListenAddresses(address);
  if (!addresses) return addresses.error();
  return {};
}

std::string HostPort(std::string_view address, uint16_t port) {
  // Only an IPv6 address holds a ':' (a host name holds none).
  const bool v6 = address.find(':') != std::string_view::npos;
  return (v6 ? "[" + std::string(address) + "]" : std::string(address)) + ":" +
         std::to_string(port);
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() = default;

void HttpServer::Handle(std::string method, std::string path, Handler handler) {
  impl_->Add(std::move(method), std::move(path), http_internal::Router::Match::kExact,
             std::move(handler), http_internal::Router::Lane::kWorker);
}

void HttpServer::HandleQuick(std::string method, std::string path, Handler handler) {
  impl_->Add(std::move(method), std::move(path), http_internal::Router::Match::kExact,
             std::move(handler), http_internal::Router::Lane::kIo);
}

void HttpServer::HandlePriority(std::string method, std::string path, Handler handler) {
  impl_->Add(std::move(method), std::move(path), http_internal::Router::Match::kExact,
             std::move(handler), http_internal::Router::Lane::kPriority);
}

void HttpServer::HandlePrefix(std::string method, std::string prefix, Handler handler) {
  impl_->Add(std::move(method), std::move(prefix), http_internal::Router::Match::kPrefix,
             std::move(handler), http_internal::Router::Lane::kWorker);
}

void HttpServer::HandlePeer(std::string method, std::string path, Handler handler) {
  impl_->Add(std::move(method), std::move(path), http_internal::Router::Match::kExact,
             std::move(handler), http_internal::Router::Lane::kPeer);
}

void HttpServer::HandlePeerPrefix(std::string method, std::string prefix, Handler handler) {
  impl_->Add(std::move(method), std::move(prefix), http_internal::Router::Match::kPrefix,
             std::move(handler), http_internal::Router::Lane::kPeer);
}

Status HttpServer::Start() { return impl_->Start(); }

void HttpServer::Stop() { impl_->Stop(); }

uint16_t HttpServer::port() const { return impl_->port(); }

std::size_t HttpServer::WaitingRequests() const { return impl_->waiting(); }

std::size_t HttpServer::WaitingPriorityRequests() const { return impl_->priority_waiting(); }

}  // namespace iocstream
