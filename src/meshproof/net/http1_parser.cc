#include "meshproof/net/http1_parser.h"

#include <algorithm>
#include <array>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace meshproof::net::http1 {

namespace detail {

bool iequalBytes(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    // Equal bytes, or the same letter in the other case (they differ in bit 0x20 only).
    const auto x = static_cast<unsigned char>(a[i] ^ b[i]);
    if (x != 0) {
      const auto lower = static_cast<unsigned char>(a[i] | 0x20);
      if (x != 0x20 || lower < 'a' || lower > 'z') {
        return false;
      }
    }
  }
  return true;
}

} // namespace detail

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

namespace {

// RFC 9110 §5.6.2 tchar.
constexpr std::array<bool, 256> makeTchar() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) {
    t[c] = true;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[c] = true;
    t[c - 'a' + 'A'] = true;
  }
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}
constexpr std::array<bool, 256> kTchar = makeTchar();

// Bytes a field value may hold (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text.
constexpr std::array<bool, 256> makeValueByte() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x100; ++c) {
    t[c] = c != 0x7f;
  }
  t['\t'] = true;
  return t;
}
constexpr std::array<bool, 256> kValueByte = makeValueByte();

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return kTchar[static_cast<unsigned char>(c)]; });
}

// The field names the parser reads, told apart by length first (one comparison for most names).
enum class Known { Other, Host, Expect, Connection, ContentLength, TransferEncoding };
Known known(std::string_view name) {
  switch (name.size()) {
  case 4:
    return iequals(name, "host") ? Known::Host : Known::Other;
  case 6:
    return iequals(name, "expect") ? Known::Expect : Known::Other;
  case 10:
    return iequals(name, "connection") ? Known::Connection : Known::Other;
  case 14:
    return iequals(name, "content-length") ? Known::ContentLength : Known::Other;
  case 17:
    return iequals(name, "transfer-encoding") ? Known::TransferEncoding : Known::Other;
  default:
    return Known::Other;
  }
}

bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Calls f(element) for each comma-separated element of a list field value, trimmed; empty
// elements are skipped (RFC 9110 §5.6.1). Stops when f returns false; returns false then.
template <typename F>
bool forEachElement(std::string_view value, F f) {
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view element = trimOws(value.substr(0, comma));
    if (!element.empty() && !f(element)) {
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    value.remove_prefix(comma + 1);
  }
}

// The methods Envoy's HTTP/1 codec knows (http_parser's list, which BalsaParser keeps while
// allow_custom_methods is off).
bool knownMethod(std::string_view m) {
  static constexpr std::array<std::string_view, 34> kMethods = {
      "GET",         "HEAD",       "POST",       "PUT",   "DELETE",   "CONNECT", "OPTIONS",
      "TRACE",       "PATCH",      "COPY",       "LOCK",  "MKCOL",    "MOVE",    "PROPFIND",
      "PROPPATCH",   "SEARCH",     "UNLOCK",     "BIND",  "REBIND",   "UNBIND",  "ACL",
      "REPORT",      "MKACTIVITY", "CHECKOUT",   "MERGE", "M-SEARCH", "NOTIFY",  "SUBSCRIBE",
      "UNSUBSCRIBE", "PURGE",      "MKCALENDAR", "LINK",  "UNLINK",   "SOURCE"};
  return std::find(kMethods.begin(), kMethods.end(), m) != kMethods.end();
}

bool validTargetByte(unsigned char c) {
  return c > 0x20 && c < 0x7f;
}

Error parseRequestLine(std::string_view line, RequestHead& out) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) {
    return Error::BadRequestLine;
  }
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Error::BadRequestLine;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method) || target.empty()) {
    return Error::BadRequestLine;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Error::BadVersion;
  }
  if (version[5] != '1') {
    return version[5] == '0' ? Error::BadVersion : Error::UnsupportedVersion;
  }
  if (!knownMethod(method)) {
    return Error::UnknownMethod;
  }
  if (!std::all_of(target.begin(), target.end(),
                   [](char c) { return validTargetByte(static_cast<unsigned char>(c)); })) {
    return Error::BadTarget;
  }
  const bool origin = target.front() == '/';
  const bool absolute = istartsWith(target, "http://") || istartsWith(target, "https://");
  const bool asterisk = target == "*" && method == "OPTIONS";
  if (!origin && !absolute && !asterisk) {
    return Error::BadTarget;
  }
  out.method = method;
  out.target = target;
  out.version_minor = version[7] == '0' ? 0 : 1;
  return Error::Ok;
}

} // namespace

namespace detail {

// One field line (CRLF removed). Field values: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). The
// rule checked step by step, in the order the errors are reported: parseHead comes here only with
// the lines scanFieldLine did not take (nearly all of them wrong), and the test holds the two to
// the same answers, so this stays the plain reading of the grammar.
Error parseFieldLine(std::string_view line, std::vector<Field>& fields) {
  if (line.find('\r') != std::string_view::npos) {
    return Error::BadHeaderValue; // a bare CR
  }
  if (line.front() == ' ' || line.front() == '\t') {
    return Error::ObsFold;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
    return Error::BadHeaderName;
  }
  const std::string_view value = line.substr(colon + 1);
  for (char ch : value) {
    if (!kValueByte[static_cast<unsigned char>(ch)]) {
      return Error::BadHeaderValue;
    }
  }
  fields.push_back({line.substr(0, colon), trimOws(value)});
  return Error::Ok;
}

namespace {

#if defined(__SSE2__)
// 16 bytes at `p`, which may be unaligned.
__m128i load16(const char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); // NOLINT: the intrinsic's type
}
// Bit i set when byte i of `v` is in [lo, lo + span] (unsigned).
unsigned inRange(__m128i v, char lo, char span) {
  const __m128i shifted = _mm_sub_epi8(v, _mm_set1_epi8(lo));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(shifted, _mm_set1_epi8(span)), shifted)));
}
// Bit i set when byte i of `v` is not an ASCII letter, digit or '-'.
unsigned notNameBytes(__m128i v) {
  return ~(inRange(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z' - 'a') | inRange(v, '0', 9) |
           static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('-'))))) &
         0xffffU;
}
// Bit i set when byte i of `v` is not a field-value byte (a control byte other than HTAB, or DEL).
unsigned notValueBytes(__m128i v) {
  const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
  const __m128i tab = _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'));
  const __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(tab, control), del)));
}
// How many bytes from `p` (before `stop`) come before one that `stop_at` flags (bit i for byte i
// of 16), 16 at a time: up to that byte, or to where fewer than 16 are left.
template <unsigned (*stop_at)(__m128i)>
size_t run16(const char* p, const char* stop) {
  const char* q = p;
  while (stop - q >= 16) {
    if (const unsigned flagged = stop_at(load16(q)); flagged != 0) {
      return static_cast<size_t>(q - p) + static_cast<size_t>(__builtin_ctz(flagged));
    }
    q += 16;
  }
  return static_cast<size_t>(q - p);
}
#endif

// Bytes from `p` (before `stop`) that are ASCII letters, digits or '-', what field names are made
// of nearly always (tchar has a few more, which the caller's byte loop takes); 0 without SSE2.
size_t nameRun([[maybe_unused]] const char* p, [[maybe_unused]] const char* stop) {
#if defined(__SSE2__)
  return run16<notNameBytes>(p, stop);
#else
  return 0;
#endif
}

// Bytes from `p` (before `stop`) that a field value may hold: HTAB, SP, VCHAR, obs-text.
size_t valueRun(const char* p, const char* stop) {
  const char* q = p;
#if defined(__SSE2__)
  q += run16<notValueBytes>(p, stop);
#endif
  while (q < stop && kValueByte[static_cast<unsigned char>(*q)]) {
    ++q;
  }
  return static_cast<size_t>(q - p);
}

} // namespace

bool scanFieldLine(std::string_view buffer, size_t stop_at, size_t& pos,
                   std::vector<Field>& fields) {
  const char* const begin = buffer.data();
  const char* const stop = begin + std::min(stop_at, buffer.size());
  const char* p = begin + pos;
  const char* const name = p;
  p += nameRun(p, stop);
  while (p < stop && kTchar[static_cast<unsigned char>(*p)]) {
    ++p;
  }
  if (p == name || p == stop || *p != ':') {
    return false;
  }
  const char* const name_end = p++;
  while (p < stop && (*p == ' ' || *p == '\t')) {
    ++p;
  }
  const char* const value = p;
  p += valueRun(p, stop);
  if (stop - p < 2 || p[0] != '\r' || p[1] != '\n') {
    return false;
  }
  const char* value_end = p;
  while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) {
    --value_end;
  }
  fields.push_back({std::string_view(name, static_cast<size_t>(name_end - name)),
                    std::string_view(value, static_cast<size_t>(value_end - value))});
  pos = static_cast<size_t>(p + 2 - begin);
  return true;
}

} // namespace detail

namespace {

Error parseContentLength(std::string_view value, std::optional<uint64_t>& length) {
  bool ok = true;
  const bool all = forEachElement(value, [&](std::string_view element) {
    if (element.size() > 18 ||
        !std::all_of(element.begin(), element.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      ok = false;
      return false;
    }
    uint64_t n = 0;
    for (char c : element) {
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (length && *length != n) {
      return false;
    }
    length = n;
    return true;
  });
  if (!ok) {
    return Error::BadContentLength;
  }
  if (!all) {
    return Error::ConflictingContentLength;
  }
  if (!length) {
    return Error::BadContentLength; // an empty value
  }
  return Error::Ok;
}

// Whether the connection stays open after this message (RFC 9112 §9.3): HTTP/1.1 unless a
// Connection field says "close", HTTP/1.0 only when one says "keep-alive". Fed each Connection
// field by the framing loops, so the fields are walked once.
struct Persistence {
  bool close = false;
  bool keep_alive = false;
  void add(std::string_view connection) {
    forEachElement(connection, [&](std::string_view option) {
      close = close || iequals(option, "close");
      keep_alive = keep_alive || iequals(option, "keep-alive");
      return true;
    });
  }
  bool persistent(unsigned version_minor) const {
    return version_minor == 1 ? !close : (keep_alive && !close);
  }
};

// Reads the framing and connection fields once the whole head is there.
Error interpret(RequestHead& out, const Limits& limits) {
  size_t hosts = 0;
  bool has_te = false;
  bool chunked = false;
  bool te_bad = false;
  bool te_unsupported = false;
  Persistence persistence;
  for (const Field& f : out.fields) {
    const Known k = known(f.name);
    if (k == Known::Other) {
      continue;
    }
    if (k == Known::Connection) {
      persistence.add(f.value);
      continue;
    }
    if (k == Known::ContentLength) {
      if (Error e = parseContentLength(f.value, out.content_length); e != Error::Ok) {
        return e;
      }
    } else if (k == Known::TransferEncoding) {
      has_te = true;
      if (f.value.empty()) {
        te_bad = true;
      }
      forEachElement(f.value, [&](std::string_view coding) {
        if (chunked) {
          te_bad = true; // chunked must be the final coding, applied once (RFC 9112 §6.1)
        }
        if (iequals(coding, "chunked")) {
          chunked = true;
        } else {
          te_unsupported = true;
        }
        return true;
      });
    } else if (k == Known::Host) {
      ++hosts;
    } else {
      out.expect_continue = iequals(f.value, "100-continue");
    }
  }
  if (has_te) {
    if (out.version_minor == 0) {
      return Error::TransferEncodingInHttp10;
    }
    if (out.content_length) {
      return Error::ContentLengthWithTransferEncoding;
    }
    if (te_bad || !chunked) {
      return te_unsupported && !te_bad ? Error::UnsupportedTransferEncoding
                                       : Error::BadTransferEncoding;
    }
    if (te_unsupported) {
      return Error::UnsupportedTransferEncoding;
    }
    out.chunked = true;
  }
  if (out.version_minor == 1 && hosts == 0) {
    return Error::MissingHost;
  }
  if (hosts > 1) {
    return Error::DuplicateHost;
  }
  if (out.content_length && *out.content_length > limits.max_body_bytes) {
    return Error::BodyTooLarge;
  }
  out.keep_alive = persistence.persistent(out.version_minor);
  return Error::Ok;
}

} // namespace

unsigned statusFor(Error e) {
  switch (e) {
  case Error::Ok:
  case Error::Incomplete:
    return 0;
  case Error::HeadTooLarge:
  case Error::TooManyHeaders:
    return 431;
  case Error::BodyTooLarge:
    return 413;
  case Error::UnsupportedTransferEncoding:
    return 501;
  case Error::UnsupportedVersion:
    return 505;
  default:
    return 400;
  }
}

const char* describe(Error e) {
  switch (e) {
  case Error::Ok:
    return "ok";
  case Error::Incomplete:
    return "incomplete";
  case Error::BadRequestLine:
    return "bad request line";
  case Error::UnknownMethod:
    return "unknown method";
  case Error::BadTarget:
    return "bad request target";
  case Error::BadVersion:
    return "bad http version";
  case Error::UnsupportedVersion:
    return "http version not supported";
  case Error::BadHeaderName:
    return "bad header name";
  case Error::BadHeaderValue:
    return "bad header value";
  case Error::ObsFold:
    return "obsolete line folding";
  case Error::BareLineFeed:
    return "bare line feed";
  case Error::HeadTooLarge:
    return "headers too large";
  case Error::TooManyHeaders:
    return "too many headers";
  case Error::BadContentLength:
    return "bad content-length";
  case Error::ConflictingContentLength:
    return "conflicting content-length";
  case Error::ContentLengthWithTransferEncoding:
    return "content-length with transfer-encoding";
  case Error::BadTransferEncoding:
    return "bad transfer-encoding";
  case Error::UnsupportedTransferEncoding:
    return "transfer-encoding not implemented";
  case Error::TransferEncodingInHttp10:
    return "transfer-encoding in http/1.0";
  case Error::MissingHost:
    return "missing host";
  case Error::DuplicateHost:
    return "duplicate host";
  case Error::BodyTooLarge:
    return "payload too large";
  case Error::BadChunk:
    return "bad chunked encoding";
  case Error::BadStatusLine:
    return "bad status line";
  }
  return "error";
}

bool listContains(std::string_view value, std::string_view token) {
  return !forEachElement(value, [&](std::string_view element) { return !iequals(element, token); });
}

std::optional<std::string_view> RequestHead::find(std::string_view name) const {
  for (const Field& f : fields) {
    if (iequals(f.name, name)) {
      return f.value;
    }
  }
  return std::nullopt;
}

namespace {

// The start line and the field lines of a head from `pos` on: `start(line)` parses the first
// line, fields go to `fields`; `pos` ends after the empty line.
template <typename StartLine>
Error parseHead(std::string_view buffer, const Limits& limits, size_t& pos,
                std::vector<Field>& fields, StartLine start) {
  bool first = true;
  while (true) {
    // The usual field line, and the empty line, in one pass (detail::scanFieldLine): it takes
    // only a line the general path below takes the same way, and within the head limit.
    if (!first) {
      if (pos + 2 <= std::min(buffer.size(), limits.max_head_bytes) && buffer[pos] == '\r' &&
          buffer[pos + 1] == '\n') {
        pos += 2;
        return Error::Ok;
      }
      if (fields.size() < limits.max_headers &&
          detail::scanFieldLine(buffer, limits.max_head_bytes, pos, fields)) {
        continue;
      }
    }
    const size_t lf = buffer.find('\n', pos);
    const size_t end = lf == std::string_view::npos ? buffer.size() : lf + 1;
    // A CR that is not right before the LF, or a LF without CR, is refused (no bare CR/LF), before
    // anything else is said about the line (the usual lines, which have none, were taken above).
    const std::string_view partial = buffer.substr(pos, end - pos);
    const size_t cr = partial.find('\r');
    if (cr != std::string_view::npos && cr + 1 < partial.size() && partial[cr + 1] != '\n') {
      return first ? Error::BadRequestLine : Error::BadHeaderValue;
    }
    if (end > limits.max_head_bytes) {
      return Error::HeadTooLarge;
    }
    if (lf == std::string_view::npos) {
      return Error::Incomplete;
    }
    if (lf == pos || buffer[lf - 1] != '\r') {
      return Error::BareLineFeed;
    }
    const std::string_view line = buffer.substr(pos, lf - 1 - pos);
    pos = lf + 1;
    if (first) {
      if (Error e = start(line); e != Error::Ok) {
        return e;
      }
      first = false;
      continue;
    }
    if (line.empty()) {
      return Error::Ok;
    }
    if (fields.size() == limits.max_headers) {
      return Error::TooManyHeaders; // (a bare CR in the line was reported above)
    }
    if (Error e = detail::parseFieldLine(line, fields); e != Error::Ok) {
      return e;
    }
  }
}

// "HTTP/1.x SP 3DIGIT [SP reason]" (RFC 9112 §4; a missing SP before an empty reason is taken, as
// servers send it).
Error parseStatusLine(std::string_view line, ResponseHead& out) {
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[6] != '.' || line[8] != ' ' ||
      line[5] < '0' || line[5] > '9' || line[7] < '0' || line[7] > '9') {
    return Error::BadStatusLine;
  }
  if (line[5] != '1') {
    return Error::UnsupportedVersion;
  }
  unsigned status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      return Error::BadStatusLine;
    }
    status = status * 10 + static_cast<unsigned>(line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) {
    return Error::BadStatusLine;
  }
  out.version_minor = line[7] == '0' ? 0 : 1;
  out.status = status;
  out.reason = line.size() > 12 ? line.substr(13) : std::string_view();
  return Error::Ok;
}

} // namespace

std::optional<std::string_view> ResponseHead::find(std::string_view name) const {
  for (const Field& f : fields) {
    if (iequals(f.name, name)) {
      return f.value;
    }
  }
  return std::nullopt;
}

bool ResponseHead::hasBody(bool head_request) const {
  return !head_request && status >= 200 && status != 204 && status != 304;
}

Error parseRequestHead(std::string_view buffer, const Limits& limits, RequestHead& out) {
  std::vector<Field> fields = std::move(out.fields); // its capacity is kept across requests
  fields.clear();
  out = RequestHead{};
  out.fields = std::move(fields);
  size_t pos = 0;
  // RFC 9112 §2.2: empty lines before the request line are ignored.
  while (buffer.size() - pos >= 2 && buffer[pos] == '\r' && buffer[pos + 1] == '\n') {
    pos += 2;
  }
  if (Error e = parseHead(buffer, limits, pos, out.fields,
                          [&](std::string_view line) { return parseRequestLine(line, out); });
      e != Error::Ok) {
    return e;
  }
  out.head_bytes = pos;
  return interpret(out, limits);
}

Error parseResponseHead(std::string_view buffer, const Limits& limits, ResponseHead& out) {
  std::vector<Field> fields = std::move(out.fields);
  fields.clear();
  out = ResponseHead{};
  out.fields = std::move(fields);
  size_t pos = 0;
  if (Error e = parseHead(buffer, limits, pos, out.fields,
                          [&](std::string_view line) { return parseStatusLine(line, out); });
      e != Error::Ok) {
    return e == Error::BadRequestLine ? Error::BadStatusLine : e;
  }
  out.head_bytes = pos;
  // Framing (RFC 9112 §6.3): a Transfer-Encoding ending in chunked wins over Content-Length (and
  // the connection is not reused after); another coding, or no framing field at all, means the
  // body runs until the server closes.
  bool has_te = false;
  bool chunked_last = false;
  Persistence persistence;
  for (const Field& f : out.fields) {
    const Known k = known(f.name);
    if (k == Known::Connection) {
      persistence.add(f.value);
    } else if (k == Known::ContentLength) {
      if (Error e = parseContentLength(f.value, out.content_length); e != Error::Ok) {
        return e;
      }
    } else if (k == Known::TransferEncoding) {
      has_te = true;
      chunked_last = false;
      forEachElement(f.value, [&](std::string_view coding) {
        chunked_last = iequals(coding, "chunked");
        return true;
      });
    }
  }
  out.keep_alive = persistence.persistent(out.version_minor);
  if (has_te) {
    out.chunked = chunked_last;
    out.until_close = !chunked_last;
    if (out.content_length || !chunked_last) {
      out.keep_alive = false;
    }
    out.content_length.reset();
  } else if (!out.content_length) {
    out.until_close = true;
  }
  if (out.content_length && *out.content_length > limits.max_body_bytes) {
    return Error::BodyTooLarge;
  }
  return Error::Ok;
}

Error ChunkedDecoder::feed(std::string_view in, std::string& body, size_t& consumed) {
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    switch (state_) {
    case State::Size: {
      int digit = -1;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (lowerAscii(c) >= 'a' && lowerAscii(c) <= 'f') {
        digit = lowerAscii(c) - 'a' + 10;
      }
      if (digit >= 0) {
        if (++size_digits_ > 15) {
          consumed = i;
          return Error::BadChunk; // a chunk of 2^60 bytes or more
        }
        remaining_ = remaining_ * 16 + static_cast<uint64_t>(digit);
        ++i;
        break;
      }
      if (size_digits_ == 0 || (c != ';' && c != '\r')) {
        consumed = i;
        return Error::BadChunk;
      }
      state_ = c == ';' ? State::Ext : State::SizeLf;
      line_bytes_ = size_digits_ + 1;
      ++i;
      break;
    }
    case State::Ext:
      if (c == '\r') {
        state_ = State::SizeLf;
      } else if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        consumed = i;
        return Error::BadChunk;
      }
      if (++line_bytes_ > limits_.max_head_bytes) {
        consumed = i;
        return Error::BadChunk;
      }
      ++i;
      break;
    case State::SizeLf:
      if (c != '\n') {
        consumed = i;
        return Error::BadChunk;
      }
      ++i;
      if (remaining_ == 0) {
        state_ = State::Trailer;
        trailer_empty_ = true;
        break;
      }
      if (remaining_ >
          limits_.max_body_bytes - std::min<uint64_t>(body.size(), limits_.max_body_bytes)) {
        consumed = i;
        return Error::BodyTooLarge;
      }
      state_ = State::Data;
      break;
    case State::Data: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
      body.append(in.substr(i, n));
      remaining_ -= n;
      i += n;
      if (remaining_ == 0) {
        state_ = State::DataCr;
      }
      break;
    }
    case State::DataCr:
      if (c != '\r') {
        consumed = i;
        return Error::BadChunk;
      }
      state_ = State::DataLf;
      ++i;
      break;
    case State::DataLf:
      if (c != '\n') {
        consumed = i;
        return Error::BadChunk;
      }
      state_ = State::Size;
      size_digits_ = 0;
      ++i;
      break;
    case State::Trailer:
      if (c == '\r') {
        state_ = State::TrailerLf;
      } else if (c == '\n') {
        consumed = i;
        return Error::BareLineFeed;
      } else {
        trailer_empty_ = false;
      }
      if (++trailer_bytes_ > limits_.max_head_bytes) {
        consumed = i;
        return Error::HeadTooLarge;
      }
      ++i;
      break;
    case State::TrailerLf:
      if (c != '\n') {
        consumed = i;
        return Error::BadChunk;
      }
      ++i;
      if (trailer_empty_) {
        state_ = State::Done;
        consumed = i;
        return Error::Ok;
      }
      state_ = State::Trailer;
      trailer_empty_ = true;
      break;
    case State::Done:
      consumed = i;
      return Error::Ok;
    }
  }
  consumed = i;
  return state_ == State::Done ? Error::Ok : Error::Incomplete;
}

} // namespace meshproof::net::http1
