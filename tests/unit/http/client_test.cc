#include "iocstream/http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/client_internal.h"
#include "iocstream/http/server.h"
#include "unit/http/http_test_client.h"

namespace iocstream {
namespace {

using std::chrono::milliseconds;

TEST(HttpAuthorityTest, ParsesHostsAndPortsAndNamesWhatIsWrong) {
  auto v4 = ParseHttpAuthority("10.0.0.2:9464");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "10.0.0.2");
  EXPECT_EQ(v4->port, 9464);
  auto v6 = ParseHttpAuthority("[::1]:80");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 80);
  auto name = ParseHttpAuthority("ioc-2.example:9464");
  ASSERT_TRUE(name.has_value());
  EXPECT_EQ(name->host, "ioc-2.example");

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"10.0.0.2", "no port"},
      {"10.0.0.2:", "the port must be a number from 1 to 65535"},
      {"10.0.0.2:0", "the port must be a number from 1 to 65535"},
      {"10.0.0.2:65536", "the port must be a number from 1 to 65535"},
      {"10.0.0.2:94x", "the port must be a number from 1 to 65535"},
      {"::1:9464", "an IPv6 address goes in brackets"},
      {"[::1:9464", "without its closing ']'"},
      {"[::1]9464", "no port"},
      {":9464", "no host"},
      {"http://10.0.0.2:9464", "without a scheme or path"},
      {"10.0.0.2:9464/api", "without a scheme or path"},
      {"a b:1", "is not a host name or an address"},
      {" host:1", "is not a host name or an address"},
      {"[1.2.3.4]:1", "brackets hold an IPv6 address only"},
      {"127.0.0.1:01", "the port must be a number from 1 to 65535"},
      {"a..b:1", "is not a host name or an address"},
      {".a:1", "is not a host name or an address"},
      {"-a.example:1", "is not a host name or an address"},
      {"a-.example:1", "is not a host name or an address"},
      {"..:1", "is not a host name or an address"},
  };
  // A fully qualified name's trailing dot, and a 63-character label, are a host's.
  EXPECT_TRUE(ParseHttpAuthority("ioc-2.example.:9464").has_value());
  EXPECT_TRUE(ParseHttpAuthority(std::string(63, 'a') + ".example:1").has_value());
  EXPECT_FALSE(ParseHttpAuthority(std::string(64, 'a') + ".example:1").has_value());
  for (const auto& [text, why] : bad) {
    auto parsed = ParseHttpAuthority(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_NE(parsed.error().message.find(why), std::string::npos)
        << text << ": " << parsed.error().message;
    EXPECT_NE(parsed.error().message.find("'" + text + "'"), std::string::npos)
        << parsed.error().message;
  }
}

// A loopback socket that accepts connections (the kernel's backlog) and never answers.
struct SilentServer {
  SilentServer() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd, 8), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(fd); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int fd = -1;
  uint16_t port = 0;
};

TEST(HttpGetAllTest, AsksEveryServerAtOnceAndSaysWhichFailedAndWhy) {
  HttpServer a;
  a.Handle("GET", "/who", [](const HttpRequest& req) {
    return HttpResponse{.body = "a " + (req.query.contains("x") ? req.query.at("x") : "")};
  });
  HttpServer b;
  b.Handle("GET", "/who", [](const HttpRequest&) {
    std::this_thread::sleep_for(milliseconds(300));  // slower than a, within the timeout
    return HttpResponse{.status = 404, .body = "b"};
  });
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  SilentServer silent;
  const std::vector<HttpGetRequest> requests = {{{"127.0.0.1", a.port()}, "/who?x=1"},
                                                {{"127.0.0.1", test::FreeLoopbackPort()}, "/who"},
                                                {{"127.0.0.1", b.port()}, "/who"},
                                                {{"127.0.0.1", silent.port}, "/who"},
                                                {{"localhost", a.port()}, "/who?x=%C3%A2%20%2B"}};

  const auto start = std::chrono::steady_clock::now();
  const std::vector<HttpFetch> got = HttpGetAll(requests, milliseconds(1500));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(got.size(), requests.size());
  EXPECT_EQ(got[0].status, 200);
  EXPECT_EQ(got[0].body, "a 1");
  EXPECT_TRUE(got[0].error.empty()) << got[0].error;
  EXPECT_EQ(got[1].status, 0);
  EXPECT_NE(got[1].error.find("cannot connect 127.0.0.1:"), std::string::npos) << got[1].error;
  EXPECT_EQ(got[2].status, 404);  // an answer, whatever its status
  EXPECT_EQ(got[2].body, "b");
  EXPECT_EQ(got[3].status, 0);
  EXPECT_NE(got[3].error.find("within 1500 ms"), std::string::npos) << got[3].error;
  EXPECT_EQ(got[4].status, 200);
  EXPECT_EQ(got[4].body, "a \xC3\xA2 +");  // each request its own target
  // The silent server held the call to its timeout, not past it (nothing waits in turn).
  EXPECT_GE(took, milliseconds(1500));
}

TEST(HttpGetAllTest, AnAnswerOverTheBodyLimitIsAnError) {
  HttpServer server;
  server.Handle("GET", "/big",
                [](const HttpRequest&) { return HttpResponse{.body = std::string(10000, 'x')}; });
  ASSERT_TRUE(server.Start().ok());
  const std::vector<HttpGetRequest> one = {{{"127.0.0.1", server.port()}, "/big"}};
  const auto small = HttpGetAll(one, milliseconds(2000), 1000);
  EXPECT_EQ(small[0].status, 0);
  EXPECT_NE(small[0].error.find("no complete answer from"), std::string::npos) << small[0].error;
  const auto enough = HttpGetAll(one, milliseconds(2000), 20000);
  EXPECT_EQ(enough[0].status, 200);
  EXPECT_EQ(enough[0].body.size(), 10000u);
  EXPECT_TRUE(HttpGetAll({}, milliseconds(10)).empty());
}

// A name is looked up within the call's timeout too (getaddrinfo cannot be cancelled: a DNS
// server that never answered held each call 10 s with a timeout of 2, a helper's trial), and a
// name that does not resolve says so.
TEST(HttpGetAllTest, AHostNameIsLookedUpWithinTheTimeout) {
  const std::vector<HttpGetRequest> requests = {{{"no-such-host.invalid", 80}, "/"}};
  const auto start = std::chrono::steady_clock::now();
  const auto got = HttpGetAll(requests, milliseconds(1500));
  EXPECT_LE(std::chrono::steady_clock::now() - start, milliseconds(1700));
  EXPECT_EQ(got[0].status, 0);
  EXPECT_NE(got[0].error.find("cannot resolve no-such-host.invalid:80"), std::string::npos)
      << got[0].error;
}

// Each exchange starts once its own server's name is looked up, not after the lookups of the
// servers listed before it: a name slow to resolve took its time from the others' timeout (a
// server answering in 400 ms failed a 1000 ms call behind an 800 ms lookup). A lookup that
// outlasts the timeout fails its server alone, and the call does not wait for it.
TEST(HttpGetAllTest, ALookupSlowerThanOthersDelaysOnlyItsOwnServer) {
  HttpServer fast;
  fast.Handle("GET", "/who", [](const HttpRequest&) { return HttpResponse{.body = "fast"}; });
  HttpServer slow_answer;
  slow_answer.Handle("GET", "/who", [](const HttpRequest&) {
    std::this_thread::sleep_for(milliseconds(400));
    return HttpResponse{.body = "slow answer"};
  });
  ASSERT_TRUE(fast.Start().ok());
  ASSERT_TRUE(slow_answer.Start().ok());
  // Captures nothing: a lookup given up on runs on after the call (and the test) returned.
  const http_internal::HostLookup lookup = [](const std::string& host) {
    http_internal::HostAddresses found;
    if (host == "slow-name.test") {
      std::this_thread::sleep_for(milliseconds(800));
      found.addresses = {"127.0.0.1"};
    } else if (host == "stuck-name.test") {
      std::this_thread::sleep_for(milliseconds(3000));
      found.addresses = {"127.0.0.1"};
    } else {
      found.error = "unknown in this test";
    }
    return found;
  };
  const std::vector<HttpGetRequest> requests = {{{"slow-name.test", fast.port()}, "/who"},
                                                {{"stuck-name.test", fast.port()}, "/who"},
                                                {{"127.0.0.1", slow_answer.port()}, "/who"},
                                                {{"other.test", fast.port()}, "/who"}};
  const auto start = std::chrono::steady_clock::now();
  const std::vector<HttpFetch> got =
      http_internal::HttpGetAll(requests, milliseconds(1000), 1 << 20, lookup);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(got.size(), requests.size());
  EXPECT_EQ(got[0].status, 200) << got[0].error;  // looked up at 800 ms, answered at once
  EXPECT_EQ(got[0].body, "fast");
  EXPECT_EQ(got[1].status, 0);
  EXPECT_NE(got[1].error.find("cannot resolve stuck-name.test:"), std::string::npos)
      << got[1].error;
  EXPECT_NE(got[1].error.find("within 1000 ms"), std::string::npos) << got[1].error;
  EXPECT_EQ(got[2].status, 200) << got[2].error;  // asked at once, not after the lookups
  EXPECT_EQ(got[2].body, "slow answer");
  EXPECT_EQ(got[3].status, 0);
  EXPECT_NE(got[3].error.find("cannot resolve other.test:"), std::string::npos) << got[3].error;
  EXPECT_NE(got[3].error.find("unknown in this test"), std::string::npos) << got[3].error;
  // The stuck lookup held the call to its timeout, not to the lookup's end.
  EXPECT_GE(took, milliseconds(1000));
  EXPECT_LT(took, milliseconds(2500));
}

TEST(HttpGetAllTest, TheSystemLookupFindsLocalhost) {
  const http_internal::HostAddresses found = http_internal::SystemLookup("localhost");
  EXPECT_TRUE(found.error.empty()) << found.error;
  ASSERT_FALSE(found.addresses.empty());
  for (const std::string& a : found.addresses) {
    EXPECT_TRUE(a == "127.0.0.1" || a == "::1") << a;
  }
  EXPECT_FALSE(http_internal::SystemLookup("no-such-host.invalid").error.empty());
}

TEST(PercentEncodeTest, KeepsUnreservedBytesOnly) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("a b+c&d=e/f?%"), "a%20b%2Bc%26d%3De%2Ff%3F%25");
  EXPECT_EQ(PercentEncode("Sở"), "S%E1%BB%9F");
  EXPECT_EQ(PercentEncode(std::string("\0\xFF", 2)), "%00%FF");
}

}  // namespace
}  // namespace iocstream
