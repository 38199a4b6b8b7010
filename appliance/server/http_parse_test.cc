#include "appliance/server/http_parse.h"

#include <gtest/gtest.h>

#include <string>

namespace sealgate::appliance::http {
namespace {

std::optional<ParseError> parse(const std::string& head, RequestHead& out) { return parseRequestHead(head, out); }

// The head of a request with these header lines (each without CRLF).
std::string req(std::initializer_list<std::string> lines, std::string start = "POST /v1/authorize HTTP/1.1") {
  std::string s = start + "\r\n";
  for (const auto& l : lines) s += l + "\r\n";
  return s + "\r\n";
}

void expectRefused(const std::string& head, int status, ErrorCode code) {
  RequestHead h;
  auto e = parse(head, h);
  ASSERT_TRUE(e.has_value()) << head;
  EXPECT_EQ(e->status(), status) << head;
  EXPECT_EQ(e->code, code) << head;
  EXPECT_FALSE(e->message.empty());
}

TEST(HttpParse, AcceptsAPlainRequest) {
  RequestHead h;
  auto e = parse(req({"Host: localhost:8443", "Content-Type: application/json", "Content-Length: 12", "DPoP: a",
                      "Accept: a", "accept: b"}),
                 h);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/v1/authorize");
  EXPECT_EQ(h.minorVersion, 1);
  EXPECT_EQ(h.body, RequestHead::Body::Length);
  EXPECT_EQ(h.contentLength, 12u);
  EXPECT_TRUE(h.keepAlive);
  ASSERT_TRUE(h.host);
  EXPECT_EQ(h.host->host, "localhost");
  EXPECT_EQ(h.host->port, 8443);
  EXPECT_EQ(h.get("content-type"), "application/json");
  EXPECT_EQ(h.get("accept"), "a, b");  // a list field, combined
  EXPECT_EQ(h.all("dpop"), std::vector<std::string>{"a"});
  EXPECT_FALSE(h.get("x-none"));
}

TEST(HttpParse, ChunkedExpectAndConnection) {
  RequestHead h;
  ASSERT_FALSE(parse(
      req({"Host: a", "Transfer-Encoding: Chunked", "Expect: 100-Continue", "Connection: keep-alive, close"}), h));
  EXPECT_EQ(h.body, RequestHead::Body::Chunked);
  EXPECT_TRUE(h.expectContinue);
  EXPECT_FALSE(h.keepAlive);
  // HTTP/1.0: no Host needed, closes, Expect ignored.
  ASSERT_FALSE(parse(req({"Expect: 100-continue"}, "GET /healthz HTTP/1.0"), h));
  EXPECT_FALSE(h.host);
  EXPECT_FALSE(h.keepAlive);
  EXPECT_FALSE(h.expectContinue);
  EXPECT_EQ(h.body, RequestHead::Body::None);
  // Leading empty lines are ignored (RFC 9112 §2.2).
  ASSERT_FALSE(parse("\r\n\r\n" + req({"Host: a"}), h));
  EXPECT_EQ(h.method, "POST");
}

TEST(HttpParse, ContentLengthAmbiguityIsRefused) {
  // The smuggling of issue 12: two different lengths, the first used, the rest a second request.
  expectRefused(req({"Host: a", "Content-Length: 5", "Content-Length: 40"}), 400, kFraming);
  // Identical repeats are refused too (RFC 9112 §6.3 lets a server choose).
  expectRefused(req({"Host: a", "Content-Length: 5", "Content-Length: 5"}), 400, kFraming);
  expectRefused(req({"Host: a", "content-length: 5", "Content-length: 5"}), 400, kFraming);
  for (const char* v : {"5, 5", "+5", "-1", "0x10", "5 5", "5;", "", "1e3", "５"}) {
    expectRefused(req({"Host: a", std::string("Content-Length: ") + v}), 400, kFraming);
  }
  // Surrounding whitespace is OWS, and leading zeros are digits.
  RequestHead h;
  ASSERT_FALSE(parse(req({"Host: a", "Content-Length: \t 007 "}), h));
  EXPECT_EQ(h.contentLength, 7u);
  // A number too large for 64 bits saturates (and then exceeds any body limit).
  ASSERT_FALSE(parse(req({"Host: a", "Content-Length: 99999999999999999999999"}), h));
  EXPECT_EQ(h.contentLength, UINT64_MAX);
}

TEST(HttpParse, TransferEncodingRules) {
  expectRefused(req({"Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"}), 400, kFraming);
  expectRefused(req({"Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"}), 400, kFraming);
  for (const char* v :
       {"gzip, chunked", "chunked, chunked", "identity", "chunked;q=1", "xchunked", "chunked, gzip", ""}) {
    expectRefused(req({"Host: a", std::string("Transfer-Encoding: ") + v}), 400, kFraming);
  }
  expectRefused(req({"Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}), 400, kFraming);
  expectRefused(req({"Transfer-Encoding: chunked"}, "POST / HTTP/1.0"), 400, kFraming);
}

TEST(HttpParse, HeaderSyntaxIsStrict) {
  expectRefused(req({"Host: a", "X-A: 1", " folded"}), 400, kMalformed);  // obs-fold
  expectRefused(req({"Host: a", "X-A: 1", "\tfolded"}), 400, kMalformed);
  expectRefused(req({" Host: a"}), 400, kMalformed);                       // whitespace before the first field
  expectRefused(req({"Host: a", "Content-Length : 5"}), 400, kMalformed);  // whitespace before the colon
  expectRefused(req({"Host: a", "Bad Name: 1"}), 400, kMalformed);
  expectRefused(req({"Host: a", "NoColon"}), 400, kMalformed);
  expectRefused(req({"Host: a", ": empty name"}), 400, kMalformed);
  expectRefused(req({"Host: a", std::string("X-A: a\0b", 8)}), 400, kMalformed);
  expectRefused(req({"Host: a", "X-A: a\x7f"}), 400, kMalformed);
  expectRefused(req({"Host: a", "X-Vault-Token: one", "X-Vault-Token: two"}), 400, kMalformed);  // first-wins is gone
  expectRefused(req({"Host: a", "Content-Type: application/json", "Content-Type: text/plain"}), 400, kMalformed);
  // Bare LF and bare CR, anywhere in the head.
  expectRefused("POST / HTTP/1.1\nHost: a\r\n\r\n", 400, kMalformed);
  expectRefused("POST / HTTP/1.1\r\nHost: a\n\r\n", 400, kMalformed);
  expectRefused("POST / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, kMalformed);
  // obs-text in a value is allowed (RFC 9110 §5.5).
  RequestHead h;
  EXPECT_FALSE(parse(req({"Host: a", "X-A: caf\xc3\xa9"}), h));
}

TEST(HttpParse, RequestLineIsStrict) {
  for (const char* line : {"GARBAGE", "GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", "GET / http/1.1",
                           "GET / HTTP/1.10", "G(T / HTTP/1.1", "GET http://evil.example/ HTTP/1.1", "GET * HTTP/1.1",
                           "CONNECT a:443 HTTP/1.1", "GET /a b HTTP/1.1", "GET /a%zz HTTP/1.1", "GET /a%4 HTTP/1.1",
                           "GET /a\\b HTTP/1.1", "GET /<x> HTTP/1.1", "GET /a#frag HTTP/1.1", "\x01GET / HTTP/1.1"}) {
    expectRefused(req({"Host: a"}, line), 400, kMalformed);
  }
  expectRefused(req({"Host: a"}, "GET / HTTP/2.0"), 505, kVersionNotSupported);
  expectRefused(req({"Host: a"}, "GET / HTTP/0.9"), 505, kVersionNotSupported);
  RequestHead h;
  ASSERT_FALSE(parse(req({"Host: a"}, "GET /v1/kv/data/a%2Fb?version=1&x=y:z@w HTTP/1.1"), h));
  EXPECT_EQ(h.target, "/v1/kv/data/a%2Fb?version=1&x=y:z@w");
  ASSERT_FALSE(parse(req({"Host: a"}, "GET / HTTP/1.2"), h));  // a later 1.x is handled as 1.1
  EXPECT_EQ(h.minorVersion, 1);
}

TEST(HttpParse, HostRules) {
  expectRefused(req({}), 400, kHostInvalid);  // HTTP/1.1 without Host
  expectRefused(req({"Host: a", "Host: a"}), 400, kHostInvalid);
  expectRefused(req({"Host: a", "Host: b"}, "GET / HTTP/1.0"), 400, kHostInvalid);
  for (const char* v : {"", "a b", "a:", "a:0", "a:65536", "a:1x", "[::1", "[zz]:1", "[1.2.3.4]", "a..b", ".a", "a/b",
                        "user@a", "a%41", "a:1:2", "[::1]x"}) {
    expectRefused(req({std::string("Host: ") + v}), 400, kHostInvalid);
  }
  auto h = parseHost("LocalHost.:8443");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->host, "localhost");
  EXPECT_EQ(h->port, 8443);
  EXPECT_FALSE(h->isIp);
  h = parseHost("[0:0::1]");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->host, "::1");
  EXPECT_TRUE(h->isIp);
  EXPECT_FALSE(h->port);
  h = parseHost("127.0.0.1:1");
  ASSERT_TRUE(h && h->isIp);
}

TEST(HttpParse, LimitsAndExpect) {
  std::vector<std::string> many;
  std::string lines;
  for (int i = 0; i < 101; ++i) lines += "X-" + std::to_string(i) + ": v\r\n";
  expectRefused("GET / HTTP/1.1\r\nHost: a\r\n" + lines + "\r\n", 431, kHeadersTooLarge);
  expectRefused(req({"Host: a", "X-Big: " + std::string(kMaxHeadBytes, 'a')}), 431, kHeadersTooLarge);
  expectRefused(req({"Host: a", "Expect: something-else"}), 417, kExpectationFailed);
  expectRefused(req({"Host: a", "Expect: 100-continue, x"}), 417, kExpectationFailed);
}

TEST(HttpParse, ScanHeadFindsTheEndAndFailsEarly) {
  EXPECT_EQ(scanHead("GET / HTTP/1.1\r\nHost: a\r\n").state, HeadScan::Incomplete);
  EXPECT_EQ(scanHead("GET / HTTP/1.1\r\nHost: a\r\n\r").state, HeadScan::Incomplete);
  EXPECT_EQ(scanHead("\r\n\r\n").state, HeadScan::Incomplete);  // empty lines before a request line
  auto s = scanHead("GET / HTTP/1.1\r\nHost: a\r\n\r\nnext request");
  ASSERT_EQ(s.state, HeadScan::Complete);
  EXPECT_EQ(s.end, std::string("GET / HTTP/1.1\r\nHost: a\r\n\r\n").size());
  EXPECT_EQ(scanHead("GET / HTTP/1.1\nHost").state, HeadScan::Invalid);  // no waiting for a CRLF that cannot help
  EXPECT_EQ(scanHead("GET / HTTP/1.1\rX").state, HeadScan::Invalid);
  s = scanHead(std::string(kMaxHeadBytes, 'a'));
  EXPECT_EQ(s.state, HeadScan::Invalid);
  EXPECT_EQ(s.error.status(), 431);
}

// Feeds `body` to a decoder in pieces of `step` bytes.
ChunkedDecoder::Status decode(const std::string& body, std::string& out, std::size_t& rest, std::size_t step,
                              std::size_t max = 1024, ParseError* error = nullptr) {
  ChunkedDecoder d(max);
  std::size_t pos = 0;
  auto status = ChunkedDecoder::Status::NeedMore;
  while (pos < body.size()) {
    std::size_t used = 0;
    const std::string_view piece = std::string_view(body).substr(pos, step);
    status = d.feed(piece, out, used);
    pos += used;
    if (status != ChunkedDecoder::Status::NeedMore) break;
    if (used < piece.size()) ADD_FAILURE() << "NeedMore without consuming everything";
  }
  rest = body.size() - pos;
  if (error) *error = d.error();
  return status;
}

TEST(ChunkedDecoder, DecodesInAnyPieces) {
  const std::string body = "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /next";
  for (std::size_t step : {1u, 2u, 3u, 7u, 1000u}) {
    std::string out;
    std::size_t rest = 0;
    EXPECT_EQ(decode(body, out, rest, step), ChunkedDecoder::Status::Done) << step;
    EXPECT_EQ(out, "hello world");
    EXPECT_EQ(rest, std::string("GET /next").size());  // the next request is left alone
  }
  std::string out;
  std::size_t rest = 0;
  EXPECT_EQ(decode("00A\r\n0123456789\r\n0\r\n\r\n", out, rest, 4), ChunkedDecoder::Status::Done);
  EXPECT_EQ(out, "0123456789");
}

TEST(ChunkedDecoder, RefusesBadFraming) {
  const char* bad[] = {
      "x\r\nhello\r\n0\r\n\r\n",   // not hex
      "\r\n",                      // no size
      "-5\r\nhello\r\n0\r\n\r\n",  // sign
      "+5\r\nhello\r\n0\r\n\r\n",
      "0x5\r\nhello\r\n0\r\n\r\n",      // 0x prefix
      " 5\r\nhello\r\n0\r\n\r\n",       // leading whitespace
      "5 \r\nhello\r\n0\r\n\r\n",       // trailing whitespace without an extension
      "5\nhello\r\n0\r\n\r\n",          // bare LF
      "5\r\nhello\n0\r\n\r\n",          // chunk data not followed by CRLF
      "5\r\nhelloX\r\n0\r\n\r\n",       // data longer than the size
      "5\rX\nhello\r\n0\r\n\r\n",       // bare CR
      "5;\r\nhello\r\n0\r\n\r\n",       // an empty extension
      "5;a\x01\r\nhello\r\n0\r\n\r\n",  // a control character in an extension
      "5x\r\nhello\r\n0\r\n\r\n",
      "00000000000000005\r\nhello\r\n0\r\n\r\n",  // 17 digits
      "0\r\n folded: t\r\n\r\n",                  // obs-fold in the trailer
      "0\r\nBad Trailer: t\r\n\r\n",
      "0\r\nX-T: a\nb\r\n\r\n",
  };
  for (const char* b : bad) {
    for (std::size_t step : {1u, 1000u}) {
      std::string out;
      std::size_t rest = 0;
      ParseError e;
      EXPECT_EQ(decode(b, out, rest, step, 1024, &e), ChunkedDecoder::Status::Error) << b << " step " << step;
      EXPECT_EQ(e.status(), 400) << b;
      EXPECT_EQ(e.code, kFraming) << b;
    }
  }
}

TEST(ChunkedDecoder, EnforcesTheBodyLimitBeforeReadingData) {
  std::string out;
  std::size_t rest = 0;
  ParseError e;
  // The size line alone is enough to refuse: no data needs to arrive.
  EXPECT_EQ(decode("400\r\n", out, rest, 1000, 1000, &e), ChunkedDecoder::Status::Error);
  EXPECT_EQ(e.status(), 413);
  EXPECT_EQ(e.code, kBodyTooLarge);
  EXPECT_EQ(decode("FFFFFFFFFFFFFFFF\r\n", out, rest, 1000, 1000, &e), ChunkedDecoder::Status::Error);
  EXPECT_EQ(e.status(), 413);
  // Over the limit in total, across chunks.
  out.clear();
  EXPECT_EQ(decode("3\r\nabc\r\n3\r\ndef\r\n", out, rest, 1000, 5, &e), ChunkedDecoder::Status::Error);
  EXPECT_EQ(e.status(), 413);
  // Exactly at the limit is fine.
  out.clear();
  EXPECT_EQ(decode("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", out, rest, 1000, 5), ChunkedDecoder::Status::Done);
  // Endless size lines and trailers are bounded.
  EXPECT_EQ(decode("5;" + std::string(kMaxChunkLineBytes, 'a'), out, rest, 100, 1000, &e),
            ChunkedDecoder::Status::Error);
  std::string trailers = "0\r\n";
  for (int i = 0; i < 1000; ++i) trailers += "X-T: v\r\n";
  EXPECT_EQ(decode(trailers, out, rest, 100, 1000, &e), ChunkedDecoder::Status::Error);
}

TEST(HttpParse, ReasonPhrasesMatchTheStatus) {
  EXPECT_STREQ(reasonPhrase(200), "OK");
  EXPECT_STREQ(reasonPhrase(404), "Not Found");
  EXPECT_STREQ(reasonPhrase(413), "Content Too Large");
  EXPECT_STREQ(reasonPhrase(421), "Misdirected Request");
  EXPECT_STREQ(reasonPhrase(503), "Service Unavailable");
  EXPECT_STREQ(reasonPhrase(799), "");
}

TEST(ServerNames, MatchesConfiguredNamesAndPorts) {
  ServerNames n;
  n.addName("LocalHost");
  n.addName("127.0.0.1");
  n.addName("[::1]");
  n.addName("*.sealgate.example");
  n.addPort(8443);
  auto is = [&n](const char* host) {
    auto h = parseHost(host);
    return h && n.matches(*h);
  };
  EXPECT_TRUE(is("localhost"));
  EXPECT_TRUE(is("localhost:8443"));
  EXPECT_TRUE(is("LOCALHOST.:8443"));
  EXPECT_TRUE(is("127.0.0.1:8443"));
  EXPECT_TRUE(is("[0::1]:8443"));
  EXPECT_TRUE(is("a.sealgate.example"));
  EXPECT_FALSE(is("localhost:8444"));  // another port
  EXPECT_FALSE(is("evil.example"));
  EXPECT_FALSE(is("evil.example:8443"));
  EXPECT_FALSE(is("127.0.0.2"));
  EXPECT_FALSE(is("sealgate.example"));  // the wildcard needs one more label
  EXPECT_FALSE(is("a.b.sealgate.example"));
  EXPECT_FALSE(is("localhost.evil.example"));
}

}  // namespace
}  // namespace sealgate::appliance::http
