#include "http/encoding.h"

#include <gtest/gtest.h>

#include "iocstream/http/server.h"

namespace iocstream::http_internal {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndPlus) {
  EXPECT_EQ(PercentDecode("H%E1%BB%93%20s%c6%a1", false).value(), "Hồ sơ");
  EXPECT_EQ(PercentDecode("a+b", false).value(), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true).value(), "a b");
  EXPECT_EQ(PercentDecode("%2B", true).value(), "+");
  EXPECT_EQ(PercentDecode("", true).value(), "");
}

TEST(PercentDecodeTest, RejectsMalformedEscapes) {
  for (const char* bad : {"%", "%2", "%zz", "a%g1", "100%"}) {
    const auto decoded = PercentDecode(bad, true);
    ASSERT_FALSE(decoded.has_value()) << bad;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(ParseRequestTargetTest, SplitsPathAndQuery) {
  const auto target = ParseRequestTarget("/api/v1/x%2Fy?commune=Ea+H%C3%A1&k&&e=");
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->path, "/api/v1/x/y");
  const std::map<std::string, std::string> expected{{"commune", "Ea Há"}, {"k", ""}, {"e", ""}};
  EXPECT_EQ(target->query, expected);
}

// Which of two values was meant is not guessed (the last one won: `department=A&department=`
// listed every department).
TEST(ParseRequestTargetTest, RejectsARepeatedQueryKey) {
  for (const char* target : {"/a?dup=1&dup=2", "/a?k&k", "/a?dup=1&d%75p=2", "/a?x=1&x=1"}) {
    const auto parsed = ParseRequestTarget(target);
    ASSERT_FALSE(parsed.has_value()) << target;
    EXPECT_NE(parsed.error().message.find("given more than once"), std::string::npos);
  }
}

// A bad escape is refused naming where it is: "malformed percent-encoding at offset 0" alone,
// for `?after=%ZZ`, named neither the parameter nor the query (a QA finding).
TEST(ParseRequestTargetTest, ABadEscapeNamesItsParameterOrThePartItIsIn) {
  const std::string hint =
      " ('%' must be followed by two hex digits; a literal '%' is sent as %25)";
  EXPECT_EQ(ParseRequestTarget("/api/v1/overdue?after=%ZZ").error().message,
            "query parameter 'after': malformed percent-encoding at offset 0 of its value" + hint);
  EXPECT_EQ(
      ParseRequestTarget("/a?limit=5&department=S%E1%BB%9F+T%2").error().message,
      "query parameter 'department': malformed percent-encoding at offset 12 of its value" + hint);
  EXPECT_EQ(ParseRequestTarget("http://x/a?d%C3%A9p=100%").error().message,
            "query parameter 'dép': malformed percent-encoding at offset 3 of its value" + hint);
  // In a name: the query string, and the offset in it.
  EXPECT_EQ(ParseRequestTarget("/a?x=1&100%=2").error().message,
            "query string: malformed percent-encoding at offset 7, in a parameter name" + hint);
  EXPECT_EQ(ParseRequestTarget("/a?%zz").error().message,
            "query string: malformed percent-encoding at offset 0, in a parameter name" + hint);
  EXPECT_EQ(ParseRequestTarget("/a%2/b?x=1").error().message,
            "request path: malformed percent-encoding at offset 2" + hint);
}

TEST(ParseRequestTargetTest, PlainPathAndFragment) {
  EXPECT_EQ(ParseRequestTarget("/healthz").value().path, "/healthz");
  EXPECT_TRUE(ParseRequestTarget("/healthz").value().query.empty());
  EXPECT_EQ(ParseRequestTarget("/a?x=1#frag").value().query.at("x"), "1");
  EXPECT_TRUE(ParseRequestTarget("/a?").value().query.empty());
}

// RFC 9112 3.2.2: a server must accept the absolute-form (it was refused with 400, a QA
// finding): its path and query are used, the authority is ignored.
TEST(ParseRequestTargetTest, AcceptsTheAbsoluteForm) {
  const auto target = ParseRequestTarget("http://x/api/v1/kpis?department=ISD#frag");
  ASSERT_TRUE(target.has_value()) << target.error().message;
  EXPECT_EQ(target->path, "/api/v1/kpis");
  EXPECT_EQ(target->query.at("department"), "ISD");
  EXPECT_EQ(ParseRequestTarget("HTTPS://[::1]:9479/a%20b").value().path, "/a b");
  EXPECT_EQ(ParseRequestTarget("http://x").value().path, "/");
  const auto query_only = ParseRequestTarget("http://x:80?limit=5");
  ASSERT_TRUE(query_only.has_value());
  EXPECT_EQ(query_only->path, "/");
  EXPECT_EQ(query_only->query.at("limit"), "5");
  EXPECT_EQ(ParseRequestTarget("ftp://x/a").error().message,
            "request target: scheme 'ftp' is not http or https");
}

TEST(ParseRequestTargetTest, RejectsBadTargets) {
  EXPECT_FALSE(ParseRequestTarget("").has_value());
  EXPECT_FALSE(ParseRequestTarget("*").has_value());
  EXPECT_FALSE(ParseRequestTarget("host:443").has_value());
  EXPECT_FALSE(ParseRequestTarget("http://x/a%zz").has_value());
  EXPECT_FALSE(ParseRequestTarget("/a%zz").has_value());
  EXPECT_FALSE(ParseRequestTarget("/a?k=%").has_value());
}

TEST(JsonErrorResponseTest, BuildsJsonBody) {
  const HttpResponse response = JsonErrorResponse(404, "dossier \"X\" not found");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"error":"dossier \"X\" not found"})");
}

}  // namespace
}  // namespace iocstream::http_internal
