#pragma once
// A strict HTTP/1.1 parser (RFC 9112) for the proxy: requests on its downstream side (below),
// responses on its upstream side (parseResponseHead). The request line and
// header block are parsed in place (views into the caller's buffer, no allocation per field), the
// body is framed by Content-Length or decoded from chunked transfer coding incrementally. What it
// rejects, and with which status, is what a request smuggler or a hostile client must not get past
// (Envoy's codec defaults where Envoy has one):
//  - head (request line + fields) over Limits::max_head_bytes (Envoy max_request_headers_kb, 60
//  KiB)
//    or more than Limits::max_headers fields (Envoy max_headers_count, 100): 431;
//  - a Content-Length over Limits::max_body_bytes, or a chunked body growing past it: 413;
//  - a transfer coding other than a final "chunked": 501 (RFC 9112 §6.1);
//  - an HTTP major version other than 1: 505;
//  - everything else malformed: 400 — a request line that is not `token SP target SP HTTP/1.x
//  CRLF`,
//    a method outside Envoy's known list (allow_custom_methods is off by default), a target that is
//    not origin-form, absolute-form or `*` (OPTIONS only), a bare LF or CR, a NUL or other control
//    byte in a field, whitespace before the colon, obs-fold, a Content-Length that is not digits or
//    overflows, two different Content-Lengths, Content-Length together with Transfer-Encoding,
//    Transfer-Encoding in HTTP/1.0, "chunked" twice or not last, a missing or repeated Host in
//    HTTP/1.1, a bad chunk size, a chunk not followed by CRLF, chunk extensions or trailers over
//    the head limit.
// After any error the connection must be closed: the parser does not resynchronise.
//
// A departure from DESIGN.md, which names Boost.Beast for HTTP/1.1 parsing: Beast's request parser
// (1.74) takes `Transfer-Encoding: chunked, identity` as a request without a body (the body then
// parses as the next request: a smuggling vector), merges trailers into the header fields, unfolds
// obs-fold, has no field-count limit and reports every error the same way, so the proxy could not
// answer 431/413/501/505 as Envoy does. Upstream responses are parsed here too
// (parseResponseHead): Beast's parser allocates every field, a fifth of the proxy's user-space
// work per request; Beast stays for building messages.
//
// Thread-safety: plain values; one parser per connection.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshproof::net::http1 {

struct Limits {
  size_t max_head_bytes = size_t{60} * 1024;
  size_t max_headers = 100;
  uint64_t max_body_bytes = 16u << 20;
};

enum class Error : uint8_t {
  Ok,
  Incomplete, // not an error: more bytes are needed
  BadRequestLine,
  UnknownMethod,
  BadTarget,
  BadVersion,
  UnsupportedVersion,
  BadHeaderName,
  BadHeaderValue,
  ObsFold,
  BareLineFeed,
  HeadTooLarge,
  TooManyHeaders,
  BadContentLength,
  ConflictingContentLength,
  ContentLengthWithTransferEncoding,
  BadTransferEncoding,
  UnsupportedTransferEncoding,
  TransferEncodingInHttp10,
  MissingHost,
  DuplicateHost,
  BodyTooLarge,
  BadChunk,
  BadStatusLine, // responses only
};

// The status a proxy answers `e` with (400, 413, 431, 501 or 505); 0 for Ok and Incomplete.
unsigned statusFor(Error e);
// A short stable description, e.g. "conflicting content-length" (for local-reply bodies and logs).
const char* describe(Error e);

struct Field {
  std::string_view name;  // as sent (compare case-insensitively)
  std::string_view value; // leading and trailing SP/HTAB removed
};

struct RequestHead {
  std::string_view method;
  std::string_view target;
  unsigned version_minor = 1; // 0 or 1
  std::vector<Field> fields;
  std::optional<uint64_t> content_length; // set when the body is framed by Content-Length
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false; // "Expect: 100-continue"
  size_t head_bytes = 0;        // bytes of `buffer` the head took, final CRLF included

  // The first field named `name` (ASCII case-insensitive), or nullopt.
  std::optional<std::string_view> find(std::string_view name) const;
};

// `c` lower-cased if it is an ASCII capital letter (field names are ASCII, RFC 9110 §5.1).
inline char lowerAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

namespace detail {
// Whether the `n` bytes at `a` and at `b` are equal but for the case of ASCII letters.
bool iequalBytes(const char* a, const char* b, size_t n);
} // namespace detail

// ASCII case-insensitive equality, as field names and tokens compare (RFC 9110 §5.1). The length
// check is inlined at every call (the proxy asks this about 30 times per request, nearly always of
// names of another length); only strings of one length go on to compare their bytes.
[[gnu::always_inline]] inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && detail::iequalBytes(a.data(), b.data(), a.size());
}

// `s` without leading and trailing SP and HTAB (OWS, RFC 9110 §5.6.3).
std::string_view trimOws(std::string_view s);

// Whether the comma-separated list `value` (a Connection field's, say) has the element `token`,
// ASCII case-insensitive, elements trimmed of SP/HTAB (RFC 9110 §5.6.1).
bool listContains(std::string_view value, std::string_view token);

// Parses the head at the start of `buffer`. Ok: `out` is filled (its views point into `buffer`).
// Incomplete: no complete head yet and the limits are not exceeded (read more, call again with the
// grown buffer; the parser starts over, bounded by max_head_bytes). Any other value: reject.
Error parseRequestHead(std::string_view buffer, const Limits& limits, RequestHead& out);

// A response head (the upstream side of the proxy). Parsed as strictly as a request's fields
// (no obs-fold, no bare CR/LF, no control bytes, the same size and count limits); the status line
// is `HTTP/1.x SP 3DIGIT [SP reason]`.
struct ResponseHead {
  unsigned status = 0;
  std::string_view reason;
  unsigned version_minor = 1;
  std::vector<Field> fields;
  // The body's framing when hasBody(): exactly one of content_length, chunked, until_close (the
  // body ends when the server closes). Transfer-Encoding wins over Content-Length (and clears it).
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool until_close = false;
  // The connection may carry another request after this response: HTTP/1.1 without
  // "Connection: close", or HTTP/1.0 with "keep-alive"; never after a body read to the close or a
  // Transfer-Encoding that came with a Content-Length.
  bool keep_alive = true;
  size_t head_bytes = 0;

  std::optional<std::string_view> find(std::string_view name) const;
  // 1xx, 204, 304 and a response to HEAD have no body, whatever their fields say (RFC 9112 §6.3).
  bool hasBody(bool head_request) const;
};

// As parseRequestHead, for a response: Ok, Incomplete, or an error (BadStatusLine,
// UnsupportedVersion, BadHeaderName, BadHeaderValue, ObsFold, BareLineFeed, HeadTooLarge,
// TooManyHeaders, BadContentLength, ConflictingContentLength, BodyTooLarge for a Content-Length
// over limits.max_body_bytes). `out.fields` keeps its capacity from one call to the next.
Error parseResponseHead(std::string_view buffer, const Limits& limits, ResponseHead& out);

namespace detail {
// The two ways parseRequestHead and parseResponseHead read a field line; exposed for the test
// that holds them to the same answers.
//
// scanFieldLine: the usual line, `token ":" OWS *value-byte CRLF`, in one pass from `pos` with
// no search for its LF first (16 bytes at a time where SSE2 is there). True: the field is
// appended (its value's trailing OWS trimmed) and `pos` is past the CRLF. False: the line is not
// of that form, or its LF is not before min(stop, buffer.size()); nothing is changed, and the
// general path decides (it also says what is wrong). It accepts exactly the lines parseFieldLine
// accepts, with the same name and value.
bool scanFieldLine(std::string_view buffer, size_t stop, size_t& pos, std::vector<Field>& fields);
// parseFieldLine: one field line, CRLF removed: Ok and the field appended, or the error
// (BadHeaderValue, ObsFold, BadHeaderName).
Error parseFieldLine(std::string_view line, std::vector<Field>& fields);
} // namespace detail

// Incremental decoder for a chunked body (RFC 9112 §7.1). Trailer fields are read and dropped.
class ChunkedDecoder {
public:
  explicit ChunkedDecoder(const Limits& limits) : limits_(limits) {}

  // Consumes bytes from the front of `in` (sets `consumed`), appends the decoded data to `body`.
  // Ok: the last chunk and the trailers are done (bytes after them belong to the next request).
  // Incomplete: everything given was consumed; call again with more.
  Error feed(std::string_view in, std::string& body, size_t& consumed);

private:
  enum class State : uint8_t { Size, SizeLf, Ext, Data, DataCr, DataLf, Trailer, TrailerLf, Done };
  Limits limits_;
  State state_ = State::Size;
  uint64_t remaining_ = 0; // of the current chunk
  unsigned size_digits_ = 0;
  size_t line_bytes_ = 0; // of the current size/extension or trailer line
  size_t trailer_bytes_ = 0;
  bool trailer_empty_ = true;
};

} // namespace meshproof::net::http1
