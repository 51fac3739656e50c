#include "meshproof/net/http1_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace meshproof::net::http1 {
namespace {

using namespace std::string_literals;

Error parse(const std::string& bytes, RequestHead& head, Limits limits = {}) {
  return parseRequestHead(bytes, limits, head);
}

Error parse(const std::string& bytes) {
  RequestHead head;
  return parse(bytes, head);
}

TEST(Http1Parser, ParsesAPlainRequestInPlace) {
  const std::string bytes = "GET /api/x?y=1 HTTP/1.1\r\nHost: service-b\r\nX-A:  v a \r\n\r\nNEXT";
  RequestHead head;
  ASSERT_EQ(parse(bytes, head), Error::Ok);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/api/x?y=1");
  EXPECT_EQ(head.version_minor, 1u);
  ASSERT_EQ(head.fields.size(), 2u);
  EXPECT_EQ(head.fields[1].name, "X-A");
  EXPECT_EQ(head.fields[1].value, "v a");
  EXPECT_EQ(head.find("host"), "service-b");
  EXPECT_TRUE(head.keep_alive);
  EXPECT_FALSE(head.content_length);
  EXPECT_EQ(bytes.substr(head.head_bytes), "NEXT");
}

TEST(Http1Parser, FieldValuesLoseOnlyTheirOuterWhitespace) {
  const std::string bytes = "GET / HTTP/1.1\r\nHost:a\r\nX-Tabs:\t \tin\tside \t\r\nX-Empty:\r\n"
                            "X-Blank: \t \r\nX-Obs: caf\xc3\xa9\r\n\r\n";
  RequestHead head;
  ASSERT_EQ(parse(bytes, head), Error::Ok);
  ASSERT_EQ(head.fields.size(), 5u);
  EXPECT_EQ(head.fields[0].value, "a");
  EXPECT_EQ(head.fields[1].value, "in\tside");
  EXPECT_EQ(head.fields[2].value, "");
  EXPECT_EQ(head.fields[3].value, "");
  EXPECT_EQ(head.fields[4].value, "caf\xc3\xa9"); // obs-text is a value byte
}

TEST(Http1Parser, FieldNamesCompareWithoutCase) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("X-ENVOY-0", "x-envoy-0"));
  EXPECT_FALSE(iequals("content-lengtH", "content-length!"));
  // Only letters fold: bytes that differ in bit 0x20 otherwise are different.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("-", "\r"));
  EXPECT_FALSE(iequals("0", "\x10"));
  RequestHead head;
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nHOST: a\r\nCONTENT-length: 2\r\n\r\n", head), Error::Ok);
  EXPECT_EQ(head.content_length, 2u);
}

// iequals against the plain definition (equal after lower-casing ASCII capitals), for every pair
// of byte values at every position of strings of 1 to 18 bytes (the 8-byte steps, their
// overlapping tail, and the byte loop below 8), the rest of the strings a mixed-case match.
TEST(Http1Parser, IequalsIsCaseFoldingOfAsciiLettersOnly) {
  auto reference = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
      if (lowerAscii(a[i]) != lowerAscii(b[i])) {
        return false;
      }
    }
    return true;
  };
  const std::string left = "Content-LENGTH-x9Z";
  const std::string right = "cONTENT-length-X9z";
  size_t equal = 0;
  for (size_t n = 1; n <= left.size(); ++n) {
    for (size_t at = 0; at < n; ++at) {
      for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
          std::string a = left.substr(0, n);
          std::string b = right.substr(0, n);
          a[at] = static_cast<char>(x);
          b[at] = static_cast<char>(y);
          const bool want = reference(a, b);
          ASSERT_EQ(iequals(a, b), want)
              << ::testing::PrintToString(a) << " vs " << ::testing::PrintToString(b);
          equal += want ? 1 : 0;
        }
      }
    }
  }
  // Per position: each byte value with itself, and the 52 letters with their other case.
  EXPECT_EQ(equal, size_t{(256 + 52) * 171});
  EXPECT_FALSE(iequals("abc", "abcd"));
  EXPECT_TRUE(iequals("", ""));
}

TEST(Http1Parser, IncompleteUntilTheEmptyLine) {
  const std::string full = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(parse(full.substr(0, n)), Error::Incomplete) << n;
  }
  RequestHead head;
  ASSERT_EQ(parse(full, head), Error::Ok);
  EXPECT_EQ(head.content_length, 3u);
}

TEST(Http1Parser, KeepAliveFollowsVersionAndConnection) {
  RequestHead head;
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", head), Error::Ok);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", head), Error::Ok);
  EXPECT_TRUE(head.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", head), Error::Ok);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", head), Error::Ok);
  EXPECT_TRUE(head.expect_continue);
}

TEST(Http1Parser, AcceptsLeadingEmptyLinesAbsoluteFormAndAsterisk) {
  EXPECT_EQ(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), Error::Ok);
  EXPECT_EQ(parse("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n"), Error::Ok);
  EXPECT_EQ(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), Error::Ok);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), Error::Ok);
}

struct Hostile {
  const char* name;
  std::string bytes;
  Error error;
  unsigned status;
};

TEST(Http1Parser, RejectsHostileHeads) {
  const std::string host = "Host: a\r\n";
  const std::vector<Hostile> cases = {
      {"no spaces", "GET/HTTP/1.1\r\n\r\n", Error::BadRequestLine, 400},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n", Error::BadRequestLine, 400},
      {"trailing space", "GET / HTTP/1.1 \r\n\r\n", Error::BadRequestLine, 400},
      {"lower-case version", "GET / http/1.1\r\n" + host + "\r\n", Error::BadVersion, 400},
      {"http/0.9", "GET /\r\n\r\n", Error::BadRequestLine, 400},
      {"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Error::UnsupportedVersion, 505},
      {"unknown method", "BREW / HTTP/1.1\r\n" + host + "\r\n", Error::UnknownMethod, 400},
      {"lower-case method", "get / HTTP/1.1\r\n" + host + "\r\n", Error::UnknownMethod, 400},
      {"method not a token", "G(T / HTTP/1.1\r\n" + host + "\r\n", Error::BadRequestLine, 400},
      {"target without slash", "GET api HTTP/1.1\r\n" + host + "\r\n", Error::BadTarget, 400},
      {"authority-form", "CONNECT a:443 HTTP/1.1\r\n" + host + "\r\n", Error::BadTarget, 400},
      {"NUL in target", "GET /\0 HTTP/1.1\r\n"s + host + "\r\n", Error::BadTarget, 400},
      {"non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", Error::BadTarget, 400},
      {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", Error::BareLineFeed, 400},
      {"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Error::BadHeaderValue,
       400},
      // A bare CR is reported before what else is wrong with its line (a fold, a bad name).
      {"bare CR in a folded line", "GET / HTTP/1.1\r\nHost: a\r\n X\rb\r\n\r\n",
       Error::BadHeaderValue, 400},
      {"bare CR in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\ry: b\r\n\r\n", Error::BadHeaderValue,
       400},
      {"bare CR right before CRLF", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n",
       Error::BadHeaderValue, 400},
      {"header injection by LF", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nInjected: 1\r\n\r\n",
       Error::BareLineFeed, 400},
      {"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s, Error::BadHeaderValue,
       400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", Error::BadHeaderName, 400},
      {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", Error::BadHeaderName, 400},
      {"no colon", "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", Error::BadHeaderName, 400},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Error::ObsFold, 400},
      {"content-length letters", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1x\r\n\r\n",
       Error::BadContentLength, 400},
      {"content-length sign", "POST / HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\n",
       Error::BadContentLength, 400},
      {"content-length overflow",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999999\r\n\r\n",
       Error::BadContentLength, 400},
      {"content-length empty", "POST / HTTP/1.1\r\n" + host + "Content-Length: \r\n\r\n",
       Error::BadContentLength, 400},
      {"two content-lengths",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
       Error::ConflictingContentLength, 400},
      {"content-length list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5, 6\r\n\r\n",
       Error::ConflictingContentLength, 400},
      {"content-length and chunked",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
       Error::ContentLengthWithTransferEncoding, 400},
      {"gzip coding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n",
       Error::UnsupportedTransferEncoding, 501},
      {"chunked not last",
       "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n",
       Error::BadTransferEncoding, 400},
      {"chunked twice",
       "POST / HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       Error::BadTransferEncoding, 400},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
       Error::TransferEncodingInHttp10, 400},
      {"no host", "GET / HTTP/1.1\r\n\r\n", Error::MissingHost, 400},
      {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Error::DuplicateHost, 400},
      {"body over the limit", "POST / HTTP/1.1\r\n" + host + "Content-Length: 16777217\r\n\r\n",
       Error::BodyTooLarge, 413},
  };
  for (const Hostile& c : cases) {
    RequestHead head;
    const Error e = parse(c.bytes, head);
    EXPECT_EQ(static_cast<int>(e), static_cast<int>(c.error)) << c.name << ": " << describe(e);
    EXPECT_EQ(statusFor(e), c.status) << c.name;
  }
}

TEST(Http1Parser, HeadLimitsAre431) {
  Limits limits;
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 99; ++i) {
    many += "X-" + std::to_string(i) + ": v\r\n";
  }
  RequestHead head;
  EXPECT_EQ(parse(many + "\r\n", head), Error::Ok); // 100 fields: the limit itself
  EXPECT_EQ(parse(many + "X-last: v\r\n\r\n", head), Error::TooManyHeaders);
  // The field past the limit with a bare CR in it: the CR is what is reported.
  EXPECT_EQ(parse(many + "X-last: a\rb\r\n\r\n", head), Error::BadHeaderValue);

  const std::string big_value(limits.max_head_bytes, 'v');
  const std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + big_value;
  EXPECT_EQ(parse(big, head), Error::HeadTooLarge); // refused before the line even ends
  EXPECT_EQ(statusFor(Error::HeadTooLarge), 431u);
  // A head that never ends is refused once it passes the limit, not read forever.
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nX: 1", head), Error::Incomplete);
}

std::string decode(const std::string& body, Error expected, size_t chunk_size = 1,
                   Limits limits = {}) {
  ChunkedDecoder decoder(limits);
  std::string out;
  Error e = Error::Incomplete;
  for (size_t pos = 0; pos < body.size() && e == Error::Incomplete; pos += chunk_size) {
    size_t consumed = 0;
    e = decoder.feed(std::string_view(body).substr(pos, chunk_size), out, consumed);
  }
  EXPECT_EQ(static_cast<int>(e), static_cast<int>(expected)) << describe(e) << " for " << body;
  return out;
}

TEST(Http1Parser, DecodesChunkedBodiesByteByByte) {
  EXPECT_EQ(decode("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n", Error::Ok),
            "hello world");
  EXPECT_EQ(decode("A\r\n0123456789\r\n0\r\n\r\n", Error::Ok, 7), "0123456789");
  ChunkedDecoder decoder{Limits{}};
  std::string out;
  size_t consumed = 0;
  const std::string two = "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
  ASSERT_EQ(decoder.feed(two, out, consumed), Error::Ok);
  EXPECT_EQ(two.substr(consumed), "GET / HTTP/1.1\r\n"); // the next request stays
}

TEST(Http1Parser, RejectsBadChunks) {
  decode("g\r\nhello\r\n0\r\n\r\n", Error::BadChunk);   // not hex
  decode("\r\nhello\r\n0\r\n\r\n", Error::BadChunk);    // no size
  decode("-1\r\nx\r\n0\r\n\r\n", Error::BadChunk);      // sign
  decode("5\r\nhelloXX\r\n0\r\n\r\n", Error::BadChunk); // data longer than its size
  decode("5\nhello\r\n0\r\n\r\n", Error::BadChunk);     // bare LF after the size
  decode("fffffffffffffffff\r\n", Error::BadChunk);     // 2^68: overflow
  decode("5 \r\nhello\r\n0\r\n\r\n", Error::BadChunk);  // space after the size
  decode("0\r\nX: a\n\r\n", Error::BareLineFeed);       // bare LF in a trailer
  Limits small;
  small.max_body_bytes = 8;
  decode("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", Error::BodyTooLarge, 1, small);
  EXPECT_EQ(statusFor(Error::BodyTooLarge), 413u);
  small.max_head_bytes = 16;
  decode("1;" + std::string(32, 'e') + "\r\na\r\n0\r\n\r\n", Error::BadChunk, 1, small);
  decode("0\r\nX: " + std::string(32, 't') + "\r\n\r\n", Error::HeadTooLarge, 1, small);
}

Error parseResponse(const std::string& bytes, ResponseHead& head, Limits limits = {}) {
  return parseResponseHead(bytes, limits, head);
}

TEST(Http1Parser, ParsesAResponseHeadAndItsFraming) {
  const std::string bytes =
      "HTTP/1.1 503 Service Unavailable\r\nServer: nginx\r\nContent-Length: 5\r\n\r\nhello";
  ResponseHead head;
  ASSERT_EQ(parseResponse(bytes, head), Error::Ok);
  EXPECT_EQ(head.status, 503u);
  EXPECT_EQ(head.reason, "Service Unavailable");
  EXPECT_EQ(head.find("server"), "nginx");
  ASSERT_TRUE(head.content_length);
  EXPECT_EQ(*head.content_length, 5u);
  EXPECT_FALSE(head.chunked);
  EXPECT_FALSE(head.until_close);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(bytes.substr(head.head_bytes), "hello");
  EXPECT_TRUE(head.hasBody(false));
  EXPECT_FALSE(head.hasBody(true)); // a response to HEAD

  // Every prefix of the head is incomplete, not an error.
  for (size_t n = 0; n < head.head_bytes; ++n) {
    ResponseHead partial;
    EXPECT_EQ(parseResponse(bytes.substr(0, n), partial), Error::Incomplete) << n;
  }

  // An empty reason, with or without its SP; 1xx, 204 and 304 have no body.
  ASSERT_EQ(parseResponse("HTTP/1.1 204\r\n\r\n", head), Error::Ok);
  EXPECT_EQ(head.status, 204u);
  EXPECT_FALSE(head.hasBody(false));
  ASSERT_EQ(parseResponse("HTTP/1.1 100 \r\n\r\n", head), Error::Ok);
  EXPECT_FALSE(head.hasBody(false));
  ASSERT_EQ(parseResponse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", head),
            Error::Ok);
  EXPECT_FALSE(head.hasBody(false));

  // Chunked wins over Content-Length, and such a connection is not reused (RFC 9112 §6.3).
  ASSERT_EQ(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n",
                          head),
            Error::Ok);
  EXPECT_TRUE(head.chunked);
  EXPECT_FALSE(head.content_length);
  EXPECT_FALSE(head.keep_alive);
  // Another final coding, or no framing at all: the body runs to the close.
  ASSERT_EQ(parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", head),
            Error::Ok);
  EXPECT_TRUE(head.until_close);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parseResponse("HTTP/1.1 200 OK\r\n\r\n", head), Error::Ok);
  EXPECT_TRUE(head.until_close);
  // Keep-alive: 1.1 unless Connection: close; 1.0 only with Connection: keep-alive.
  ASSERT_EQ(
      parseResponse("HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 0\r\n\r\n", head),
      Error::Ok);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", head), Error::Ok);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(
      parseResponse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", head),
      Error::Ok);
  EXPECT_TRUE(head.keep_alive);
}

TEST(Http1Parser, RejectsBrokenResponses) {
  const std::vector<std::pair<std::string, Error>> cases = {
      {"HTTP/1.1 20 OK\r\n\r\n", Error::BadStatusLine},
      {"HTTP/1.1 2000 OK\r\n\r\n", Error::BadStatusLine},
      {"HTTP/1.1 abc OK\r\n\r\n", Error::BadStatusLine},
      {"HTTP/1.1 099 Low\r\n\r\n", Error::BadStatusLine},
      {"ICY 200 OK\r\n\r\n", Error::BadStatusLine},
      {"HTTP/2.0 200 OK\r\n\r\n", Error::UnsupportedVersion},
      {"HTTP/1.1 200 OK\nServer: x\r\n\r\n", Error::BareLineFeed},
      {"HTTP/1.1 200 OK\r\nServer: x\ry\r\n\r\n", Error::BadHeaderValue},
      {"HTTP/1.1 200 OK\r\nServer : x\r\n\r\n", Error::BadHeaderName},
      {"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", Error::ObsFold},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", Error::BadContentLength},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       Error::ConflictingContentLength},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", Error::BodyTooLarge},
  };
  for (const auto& [bytes, want] : cases) {
    ResponseHead head;
    EXPECT_EQ(parseResponse(bytes, head), want) << bytes;
  }
  ResponseHead head;
  Limits small;
  small.max_head_bytes = 64;
  EXPECT_EQ(
      parseResponse("HTTP/1.1 200 OK\r\nX: " + std::string(80, 'a') + "\r\n\r\n", head, small),
      Error::HeadTooLarge);
  small = Limits{};
  small.max_headers = 2;
  EXPECT_EQ(parseResponse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", head, small),
            Error::TooManyHeaders);
}

// The general path's verdict on the line at `pos`: a field line ending in the first LF from
// `pos`, that LF before `stop`, the byte before it a CR, and parseFieldLine taking the rest.
bool generalTakes(std::string_view buffer, size_t stop, size_t pos, Field& field, size_t& next) {
  const size_t lf = buffer.find('\n', pos);
  if (lf == std::string_view::npos || lf + 1 > std::min(stop, buffer.size()) || lf <= pos + 1 ||
      buffer[lf - 1] != '\r') {
    return false;
  }
  std::vector<Field> fields;
  if (detail::parseFieldLine(buffer.substr(pos, lf - 1 - pos), fields) != Error::Ok) {
    return false;
  }
  field = fields.at(0);
  next = lf + 1;
  return true;
}

// The one-pass scan and the general path give the same answer for `line` at offset `at` of a
// buffer, with `after` following it, the head limit at `stop_shift` from the buffer's end. Returns
// whether they agree; `took` counts the lines the scan took.
::testing::AssertionResult sameVerdict(const std::string& line, const std::string& after, size_t at,
                                       long stop_shift, size_t& took) {
  const std::string buffer = std::string(at, 'p') + line + after;
  const auto stop = static_cast<size_t>(static_cast<long>(buffer.size()) + stop_shift);
  Field want;
  size_t want_next = 0;
  const bool general = generalTakes(buffer, stop, at, want, want_next);
  std::vector<Field> fields;
  size_t pos = at;
  const bool scan = detail::scanFieldLine(buffer, stop, pos, fields);
  if (scan != general) {
    return ::testing::AssertionFailure()
           << "scan " << (scan ? "took" : "refused") << " a line the general path "
           << (general ? "takes" : "refuses") << ": \"" << ::testing::PrintToString(line) << "\" + "
           << ::testing::PrintToString(after) << " at " << at << ", stop " << stop_shift;
  }
  if (!scan) {
    if (pos != at || !fields.empty()) {
      return ::testing::AssertionFailure() << "a refused line changed pos or the fields";
    }
    return ::testing::AssertionSuccess();
  }
  ++took;
  if (fields.size() != 1 || fields[0].name != want.name || fields[0].value != want.value ||
      pos != want_next) {
    return ::testing::AssertionFailure()
           << "different field for " << ::testing::PrintToString(line) << ": scan \""
           << (fields.empty()
                   ? ""
                   : std::string(fields[0].name) + "\" = \"" + std::string(fields[0].value))
           << "\" next " << pos << ", general \"" << want.name << "\" = \"" << want.value
           << "\" next " << want_next;
  }
  return ::testing::AssertionSuccess();
}

// Every byte value in every position of lines around the 16-byte steps of the scan (names and
// values shorter than, equal to and longer than 16 and 32 bytes, tchars outside the letters,
// trailing whitespace, empty values), each replaced and inserted, with the line ending at the
// buffer's end (the byte loop), followed by more (the 16-byte loads), and with the head limit
// cutting it at, just after and just before its LF.
TEST(Http1Parser, OneFieldScanTakesExactlyWhatTheGeneralPathTakes) {
  const std::vector<std::string> templates = {
      "Host: a",
      "Date: Fri, 04 Dec 2026 21:14:00 GMT",
      "content-type:application/json",
      "X:",
      "X: \t ",
      "X-Sixteen-Bytes-: v",
      "A-Header-Name-Of-Thirty-Three-By: a value of exactly thirty-two by",
      "x_y~z!#$%&'*+.^`|: caf\xc3\xa9 \t",
  };
  const std::vector<std::pair<std::string, long>> endings = {
      {"\r\n", 0},   {"\r\n", -1},  {"\r\nNext: 1\r\n\r\n0123456789abcdef0123456789abcdef", 0},
      {"\r\nN", -1}, {"\r\nN", -2}, {"\r\n", 1}};
  size_t checked = 0;
  size_t took = 0;
  for (const std::string& base : templates) {
    for (size_t i = 0; i <= base.size(); ++i) {
      for (int b = 0; b < 256; ++b) {
        std::vector<std::string> lines;
        std::string inserted = base;
        inserted.insert(inserted.begin() + static_cast<long>(i), static_cast<char>(b));
        lines.push_back(std::move(inserted));
        if (i < base.size()) {
          std::string replaced = base;
          replaced[i] = static_cast<char>(b);
          lines.push_back(std::move(replaced));
        }
        for (const std::string& line : lines) {
          for (const auto& [after, stop_shift] : endings) {
            for (size_t at : {size_t{0}, size_t{5}}) {
              ASSERT_TRUE(sameVerdict(line, after, at, stop_shift, took));
              ++checked;
            }
          }
        }
      }
    }
  }
  // Most of these lines are well formed and the scan takes them; the rest it leaves.
  EXPECT_GT(took, checked / 3);
  EXPECT_LT(took, checked);
}

// Seeded random lines over the bytes that matter (name and value bytes, colon, SP, HTAB, CR, LF,
// NUL, DEL, obs-text, delimiters), lengths 0 to 80.
TEST(Http1Parser, OneFieldScanAgreesOnRandomLines) {
  std::mt19937 rng(20261204);
  const std::string alphabet = "aZ09-_~!:  \t\r\n\x00\x7f\x80\xff(,;\"/=\x1f\x20";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<size_t> length(0, 80);
  size_t took = 0;
  for (int n = 0; n < 200000; ++n) {
    std::string line;
    const size_t len = length(rng);
    for (size_t i = 0; i < len; ++i) {
      // Mostly letters, so that long valid names and values come up too.
      line += (rng() % 3 != 0) ? static_cast<char>('a' + rng() % 26) : alphabet[pick(rng)];
    }
    if (rng() % 2 == 0) {
      line.insert(std::min(line.size(), size_t{rng() % 20}), ": ");
    }
    ASSERT_TRUE(
        sameVerdict(line, (rng() % 2 == 0) ? "\r\n" : "\r\nX: 1\r\n0123456789abcdef", 0, 0, took));
  }
  EXPECT_GT(took, size_t{1000});
}

} // namespace
} // namespace meshproof::net::http1
