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
  const auto target = ParseRequestTarget("/api/v1/x%2Fy?commune=Ea+H%C3%A1&k&&dup=1&dup=2&e=");
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->path, "/api/v1/x/y");
  const std::map<std::string, std::string> expected{
      {"commune", "Ea Há"}, {"k", ""}, {"dup", "2"}, {"e", ""}};
  EXPECT_EQ(target->query, expected);
}

TEST(ParseRequestTargetTest, PlainPathAndFragment) {
  EXPECT_EQ(ParseRequestTarget("/healthz").value().path, "/healthz");
  EXPECT_TRUE(ParseRequestTarget("/healthz").value().query.empty());
  EXPECT_EQ(ParseRequestTarget("/a?x=1#frag").value().query.at("x"), "1");
  EXPECT_TRUE(ParseRequestTarget("/a?").value().query.empty());
}

TEST(ParseRequestTargetTest, RejectsBadTargets) {
  EXPECT_FALSE(ParseRequestTarget("").has_value());
  EXPECT_FALSE(ParseRequestTarget("*").has_value());
  EXPECT_FALSE(ParseRequestTarget("http://host/path").has_value());
  EXPECT_FALSE(ParseRequestTarget("/a%zz").has_value());
  EXPECT_FALSE(ParseRequestTarget("/a?k=%").has_value());
}

TEST(JsonQuoteTest, EscapesSpecialCharacters) {
  EXPECT_EQ(JsonQuote(""), R"("")");
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonQuote("\n\r\t"), R"("\n\r\t")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(JsonQuote("Đắk Lắk"), "\"Đắk Lắk\"");
}

TEST(JsonQuoteTest, ReplacesInvalidUtf8) {
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(JsonQuote("\xc3"), R"("\ufffd")");                       // truncated sequence
  EXPECT_EQ(JsonQuote("\xc0\xaf"), R"("\ufffd\ufffd")");             // overlong '/'
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");   // UTF-16 surrogate
  EXPECT_EQ(JsonQuote("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");  // U+1F600 is fine
}

TEST(JsonErrorResponseTest, BuildsJsonBody) {
  const HttpResponse response = JsonErrorResponse(404, "dossier \"X\" not found");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"error":"dossier \"X\" not found"})");
}

}  // namespace
}  // namespace iocstream::http_internal
