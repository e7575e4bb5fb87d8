// HttpServer: the process's small HTTP/1.1 server for /metrics, /healthz, /readyz and the
// read-only /api/v1 endpoints (Boost.Beast underneath; Beast stays out of this header).
//
// The server owns its own io_context and threads, separate from ingest: a slow scrape or API
// call never delays a poll batch, and handlers are expected to read a consistent view (a
// snapshot) rather than take locks that ingest holds.
//
// Routing. Handle() registers an exact path; HandlePrefix() registers every path that starts
// with a prefix (e.g. "/api/v1/dossiers/" for /api/v1/dossiers/{id}; the handler slices the id
// off HttpRequest::path). Exact routes win over prefix routes, longer prefixes over shorter
// ones. Routes are matched on the path as sent (HttpRequest::raw_path), so a route's own part
// must not be percent-encoded: /api%2Fv1%2Fadmin%2Freload or /api/v1/%61dmin/reload is 404,
// not the admin route, as a proxy that restricts /api/v1/admin by the path as sent would let
// them through (a helper's finding); what follows a prefix (an id) may be encoded. A request whose
// path matches no route gets 404 {"error":"not found","path":...}; one whose path matches only
// routes of other methods gets 405 with an Allow header. HEAD is served by the GET route of the
// same path (handler called with method "HEAD", body dropped, Content-Length kept). A handler that
// throws gets 500 {"error":...} with the exception's message; the exception is logged (spdlog) and
// never leaves the server thread.
//
// Protocol limits: HTTP/1.1 keep-alive (HTTP/1.0 closes after each response), a request body
// limit (413 beyond it), 8 KiB for the request line and header fields (414 when the request line
// alone is longer, 431 otherwise), a read timeout per request (the idle connection is closed),
// malformed requests or request targets get 400 and the connection is closed.
//
// Threads: one I/O thread accepts, reads and writes every connection and runs the quick
// handlers (HandleQuick: health checks); the priority handlers (HandlePriority: /metrics) run
// on a thread of their own; the peer handlers (HandlePeer, HandlePeerPrefix: the requests of
// other instances, which a worker's handler may be waiting for) on
// HttpServerOptions::peer_threads threads of their own; the other handlers run on
// HttpServerOptions::threads worker threads. However many slow requests (a large worklist) wait for
// a worker, a health probe is answered at once and a scrape waits only for the scrapes ahead of it.
//
// Thread-safety: Handle(), HandleQuick(), HandlePriority(), HandlePrefix() and Start() must be
// called from one thread before the server starts; adding routes after Start() is not thread-safe
// and is not supported. Handlers run concurrently (the workers, the priority thread and the I/O
// thread) and must be thread-safe; a handler occupies its thread until it returns. Stop() may be
// called from any thread except a handler's, and more than once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "iocstream/core/result.h"

namespace iocstream {

// A parsed request as handlers see it. `path` is the request target's path, percent-decoded
// ('+' stays '+'); `query` is the query string split on '&' and '=', keys and values
// percent-decoded with '+' as space (a key without '=' maps to ""; a request that repeats a
// key is answered 400 by the server). `method` is the request method as sent ("GET", "POST",
// "HEAD", ...).
struct HttpRequest {
  std::string method;
  std::string path;
  // The path as sent, still percent-encoded: what routes are matched on. Empty (a request
  // built by hand, in tests): `path` is matched.
  std::string raw_path;
  std::map<std::string, std::string> query;
  std::string body;
};

// What a handler returns. `status` is an HTTP status code; `body` is sent as-is with
// `content_type` (the server adds Content-Length, Connection and Server headers).
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Builds the JSON error body used by the server itself, {"error":"<message>"}, properly
// escaped, so handlers answer errors (e.g. 404 for an unknown dossier) in the same shape.
[[nodiscard]] HttpResponse JsonErrorResponse(int status, std::string_view message);

struct HttpServerOptions {
  // Numeric IPv4 or IPv6 address to listen on ("0.0.0.0" to listen on every interface), or a
  // host name of this host ("localhost"): the server listens on each of its addresses that can
  // be bound here (see CheckListenAddress).
  std::string address = "127.0.0.1";
  // TCP port; 0 asks the kernel for an ephemeral port (see HttpServer::port()).
  uint16_t port = 0;
  // Worker threads, i.e. how many handlers (other than quick ones) may run at once; the
  // server's I/O runs on one more thread of its own.
  int threads = 1;
  // Threads of the peer handlers (HandlePeer), with their own bound of waiting requests
  // (max_waiting); started only when a peer route is registered. A handler on a worker thread
  // that asks another instance (or this one) never waits behind requests of its own kind:
  // two instances whose workers all waited for each other answered nothing until their
  // timeouts (a helper's trial).
  int peer_threads = 2;
  // Largest accepted request body, in bytes; larger requests get 413 and are closed.
  std::size_t body_limit = std::size_t{1} << 20;
  // How long the server waits for a complete request (and, on a kept-alive connection, for
  // the next one) before it closes the connection; also bounds writing one response.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(30);
  // Connections open at once (and probe_connections more for probes); one more is answered
  // 503 and closed at once. Idle or slow clients (each held for up to read_timeout) would
  // otherwise take every file descriptor of the process, which the state store needs too.
  std::size_t max_connections = 256;
  // Connections past max_connections kept for quick and priority requests (HandleQuick:
  // probes; HandlePriority: scrapes), so that a liveness probe or a scrape is answered when
  // clients fill max_connections; each serves one request (sent within a second) and closes,
  // and any other request on it is answered 503.
  std::size_t probe_connections = 16;
  // Requests waiting for a worker thread; one more is answered 503 at once (a retry storm
  // would otherwise queue work without end, each request holding its connection). The
  // priority thread has a bound of its own, of the same size.
  std::size_t max_waiting = 64;
};

// Whether `address` can be HttpServerOptions::address: a numeric IPv4 or IPv6 address, or a
// host name that resolves (getaddrinfo: /etc/hosts, DNS) to at least one address of this host,
// i.e. one a socket can be bound to. kInvalidArgument with the reason otherwise (empty, cannot
// be resolved, resolves only to other hosts' addresses). May block while a name is resolved;
// thread-safe.
[[nodiscard]] Status CheckListenAddress(const std::string& address);

// "<address>:<port>" as a URL's authority writes it (RFC 3986 3.2.2): an IPv6 address in
// brackets ("[::1]:9479"), any other as is ("127.0.0.1:9479"). For logs and URLs; thread-safe.
[[nodiscard]] std::string HostPort(std::string_view address, uint16_t port);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(HttpServerOptions options = {});
  // Stops the server (see Stop()).
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers `handler` for requests with exactly this method (e.g. "GET", case-sensitive as
  // HTTP methods are) and path. Registering the same method and path twice replaces the
  // first handler. Before Start() only.
  void Handle(std::string method, std::string path, Handler handler);

  // Handle() for a handler that returns at once and never blocks (reads an atomic, formats a
  // few bytes): it runs on the I/O thread, ahead of the requests waiting for a worker. A slow
  // quick handler would stall every connection.
  void HandleQuick(std::string method, std::string path, Handler handler);

  // Handle() for a handler that may take a while (serialises the metrics) but must not wait
  // behind the worker threads' requests: a Prometheus scrape, whose timeout (10 s) a queue of
  // worklist scans would exceed (and page IocstreamDown). It runs on one thread of its own,
  // shared by every priority route, with its own bound of waiting requests (max_waiting).
  void HandlePriority(std::string method, std::string path, Handler handler);

  // Registers `handler` for this method and every path that starts with `prefix`. Before
  // Start() only.
  void HandlePrefix(std::string method, std::string prefix, Handler handler);

  // Handle() and HandlePrefix() for the requests of other instances, which run on the peer
  // threads (see Threads above). A peer handler must not itself wait for a peer.
  void HandlePeer(std::string method, std::string path, Handler handler);
  void HandlePeerPrefix(std::string method, std::string prefix, Handler handler);

  // Binds, listens and starts the server threads. Returns an Error, never throws, when the
  // address is refused by CheckListenAddress (kInvalidArgument), when a socket cannot be opened,
  // bound or put in listening state, e.g. the port is in use (kUnavailable), when
  // options.threads < 1 (kInvalidArgument), or when the server already started successfully
  // (kInvalidArgument: a server runs at most once; after a failed Start() it may be retried).
  [[nodiscard]] Status Start();

  // Stops accepting, closes every connection and joins the server threads; a handler that is
  // running finishes first (its response may not be sent), one still waiting for a worker is
  // dropped. Idempotent; a no-op before
  // Start(). Must not be called from a handler (it would join its own thread).
  void Stop();

  // The port the server listens on (the kernel's choice when options.port was 0); 0 before a
  // successful Start().
  [[nodiscard]] uint16_t port() const;

  // Requests read and waiting for a worker thread now (see max_waiting). Thread-safe.
  [[nodiscard]] std::size_t WaitingRequests() const;

  // Requests read and waiting for the priority thread now (HandlePriority). Thread-safe.
  [[nodiscard]] std::size_t WaitingPriorityRequests() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iocstream
