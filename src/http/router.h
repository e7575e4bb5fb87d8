// Router: the route table of an HttpServer and the dispatch rules (exact before prefix, longest
// prefix first, 404/405, HEAD through GET, exceptions to 500). Private; no Beast, so the rules
// are tested without sockets.
//
// Thread-safety: Add() is not thread-safe and must finish before the first Dispatch();
// Dispatch() is const and may run on many threads at once (handlers must be thread-safe).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "iocstream/http/server.h"

namespace iocstream::http_internal {

class Router {
 public:
  enum class Match { kExact, kPrefix };

  // Where a handler runs: on the worker threads (Handle, HandlePrefix), on the priority
  // thread (HandlePriority: scrapes), on the peer threads (HandlePeer, HandlePeerPrefix: other
  // instances' requests), or on the I/O thread itself (HandleQuick: probes).
  enum class Lane { kWorker, kPriority, kPeer, kIo };

  // Registers `handler` for `method` and a path (kExact) or a path prefix (kPrefix); a second
  // registration of the same method and pattern replaces the first.
  void Add(std::string method, std::string pattern, Match match, HttpServer::Handler handler,
           Lane lane = Lane::kWorker);

  struct Outcome {
    HttpResponse response;
    // For 405 responses: the methods the path accepts, comma-separated (the Allow header).
    std::string allow;
  };

  // The handler a request goes to, or, when there is none, the answer (404 or 405).
  struct Resolved {
    const HttpServer::Handler* handler = nullptr;
    Lane lane = Lane::kWorker;
    Outcome answer;  // when handler is null
  };
  [[nodiscard]] Resolved Resolve(const HttpRequest& request) const;

  // Calls `handler` for `request`. Never throws: a handler that throws gives 500 (logged).
  [[nodiscard]] static Outcome Call(const HttpServer::Handler& handler, const HttpRequest& request);

  // Resolve, then Call. Never throws: no route gives 404, a route of other methods only gives
  // 405, a handler that throws gives 500 (logged). For HEAD the response still carries the
  // GET body; the server drops it on the wire.
  [[nodiscard]] Outcome Dispatch(const HttpRequest& request) const;

 private:
  struct Entry {
    HttpServer::Handler handler;
    Lane lane = Lane::kWorker;
  };
  struct Route {
    std::string pattern;
    std::map<std::string, Entry> by_method;
  };

  // Routes whose pattern matches `path`, in precedence order.
  [[nodiscard]] std::vector<const Route*> Candidates(const std::string& path) const;

  std::map<std::string, Route> exact_;
  // Sorted by decreasing prefix length, so the first match is the longest.
  std::vector<Route> prefixes_;
};

}  // namespace iocstream::http_internal
