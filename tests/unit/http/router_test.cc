#include "http/router.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace iocstream::http_internal {
namespace {

HttpServer::Handler Answer(std::string body) {
  return [body = std::move(body)](const HttpRequest&) { return HttpResponse{.body = body}; };
}

HttpRequest Request(std::string method, std::string path) {
  return HttpRequest{.method = std::move(method), .path = std::move(path)};
}

TEST(RouterTest, ExactRouteBeatsPrefixAndLongestPrefixWins) {
  Router router;
  router.Add("GET", "/api/v1/", Router::Match::kPrefix, Answer("api"));
  router.Add("GET", "/api/v1/dossiers/", Router::Match::kPrefix, Answer("dossier"));
  router.Add("GET", "/api/v1/dossiers/stats", Router::Match::kExact, Answer("stats"));
  EXPECT_EQ(router.Dispatch(Request("GET", "/api/v1/dossiers/H14-1")).response.body, "dossier");
  EXPECT_EQ(router.Dispatch(Request("GET", "/api/v1/dossiers/stats")).response.body, "stats");
  EXPECT_EQ(router.Dispatch(Request("GET", "/api/v1/communes")).response.body, "api");
  EXPECT_EQ(router.Dispatch(Request("GET", "/api/v2")).response.status, 404);
}

TEST(RouterTest, FallsThroughToARouteThatHasTheMethod) {
  Router router;
  router.Add("POST", "/api/v1/dossiers/import", Router::Match::kExact, Answer("import"));
  router.Add("GET", "/api/v1/dossiers/", Router::Match::kPrefix, Answer("dossier"));
  EXPECT_EQ(router.Dispatch(Request("GET", "/api/v1/dossiers/import")).response.body, "dossier");
  EXPECT_EQ(router.Dispatch(Request("POST", "/api/v1/dossiers/import")).response.body, "import");
}

TEST(RouterTest, WrongMethodIs405WithAllowList) {
  Router router;
  router.Add("GET", "/x", Router::Match::kExact, Answer("get"));
  router.Add("PUT", "/x", Router::Match::kExact, Answer("put"));
  const Router::Outcome outcome = router.Dispatch(Request("DELETE", "/x"));
  EXPECT_EQ(outcome.response.status, 405);
  EXPECT_EQ(outcome.allow, "GET, HEAD, PUT");
  EXPECT_EQ(outcome.response.body,
            R"({"error":"method not allowed","method":"DELETE","path":"/x"})");
}

// A method HTTP does not define is 501 (RFC 9110 15.6.2), not 405; one that is a known method
// in other case is hinted (method names are case-sensitive).
TEST(RouterTest, AnUnknownMethodIs501) {
  Router router;
  router.Add("GET", "/x", Router::Match::kExact, Answer("get"));
  Router::Outcome outcome = router.Dispatch(Request("get", "/x"));
  EXPECT_EQ(outcome.response.status, 501);
  EXPECT_EQ(outcome.allow, "");
  EXPECT_EQ(outcome.response.body,
            R"({"error":"method not implemented","method":"get","path":"/x",)"
            R"("hint":"method names are case-sensitive: GET"})");
  outcome = router.Dispatch(Request("BREW", "/x"));
  EXPECT_EQ(outcome.response.status, 501);
  EXPECT_EQ(outcome.response.body,
            R"({"error":"method not implemented","method":"BREW","path":"/x"})");
}

TEST(RouterTest, UnknownPathIs404WithEscapedPath) {
  Router router;
  const Router::Outcome outcome = router.Dispatch(Request("GET", "/a\"b"));
  EXPECT_EQ(outcome.response.status, 404);
  EXPECT_EQ(outcome.response.content_type, "application/json");
  EXPECT_EQ(outcome.response.body, R"({"error":"not found","path":"/a\"b"})");
  EXPECT_TRUE(outcome.allow.empty());
}

TEST(RouterTest, HeadUsesGetRouteUnlessHeadIsRegistered) {
  Router router;
  router.Add("GET", "/a", Router::Match::kExact,
             [](const HttpRequest& request) { return HttpResponse{.body = request.method}; });
  router.Add("GET", "/b", Router::Match::kExact, Answer("get"));
  router.Add("HEAD", "/b", Router::Match::kExact, Answer("head"));
  EXPECT_EQ(router.Dispatch(Request("HEAD", "/a")).response.body, "HEAD");
  EXPECT_EQ(router.Dispatch(Request("HEAD", "/b")).response.body, "head");
}

TEST(RouterTest, LaterRegistrationReplacesEarlier) {
  Router router;
  router.Add("GET", "/a", Router::Match::kExact, Answer("first"));
  router.Add("GET", "/a", Router::Match::kExact, Answer("second"));
  router.Add("GET", "/p/", Router::Match::kPrefix, Answer("first"));
  router.Add("GET", "/p/", Router::Match::kPrefix, Answer("second"));
  EXPECT_EQ(router.Dispatch(Request("GET", "/a")).response.body, "second");
  EXPECT_EQ(router.Dispatch(Request("GET", "/p/1")).response.body, "second");
}

TEST(RouterTest, HandlerExceptionsBecome500) {
  Router router;
  router.Add("GET", "/std", Router::Match::kExact,
             [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("disk on fire"); });
  router.Add("GET", "/other", Router::Match::kExact,
             [](const HttpRequest&) -> HttpResponse { throw 42; });
  const Router::Outcome thrown = router.Dispatch(Request("GET", "/std"));
  EXPECT_EQ(thrown.response.status, 500);
  EXPECT_EQ(thrown.response.body, R"({"error":"disk on fire"})");
  EXPECT_EQ(router.Dispatch(Request("GET", "/other")).response.body,
            R"({"error":"unknown exception"})");
}

}  // namespace
}  // namespace iocstream::http_internal
