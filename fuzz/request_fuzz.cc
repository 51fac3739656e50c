// libFuzzer target over the proxy's downstream request path: the HTTP/1.1 head parser, the chunked
// body decoder and the VirtualService router, built with clang's
// -fsanitize=fuzzer,address,undefined (fuzz/CMakeLists.txt). Besides "no crash, no sanitizer
// report", every input checks invariants the proxy relies on; a violation traps:
//  - a parsed head lies inside the input, its fields hold no CR, LF or NUL, its framing is one of
//    Content-Length (within the body limit) or chunked, never both;
//  - the chunked decoder gives the same verdict and the same body whether the bytes come at once or
//    split at an input-chosen point (the proxy reads in arbitrary pieces), and never yields more
//    than the body limit;
//  - the one-pass field scan (detail::scanFieldLine) takes a line, from every offset the input
//    has, exactly when the general path does (a field line ending in CRLF that parseFieldLine
//    takes), with the same name, value and end;
//  - routing a parsed request over a fixed route table (exact, prefix, regex, header, method,
//    query, ignoreUriCase, withoutHeaders matchers) returns a route of that table or none, and the
//    weighted pick stays within the route's destinations.
// MESHPROOF_FUZZ_PLANTED_BUG=1 reads one byte past the input after a successful parse: the test
// suite's positive control that AddressSanitizer is live in this binary.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "meshproof/core/random.h"
#include "meshproof/net/http1_parser.h"
#include "meshproof/proxy/router.h"

namespace {

using meshproof::net::http1::ChunkedDecoder;
using meshproof::net::http1::Error;
using meshproof::net::http1::Limits;
using meshproof::net::http1::RequestHead;
namespace spec = meshproof::spec;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

spec::StringMatch match(spec::StringMatch::Kind kind, std::string value) {
  spec::StringMatch m;
  m.kind = kind;
  m.value = std::move(value);
  return m;
}

struct Routes {
  std::vector<spec::HttpRoute> storage;
  std::unique_ptr<meshproof::proxy::RouteTable> table;
};

spec::HttpRoute route(std::string name, std::vector<spec::HttpMatchRequest> blocks,
                      std::vector<int32_t> weights) {
  spec::HttpRoute r;
  r.name = std::move(name);
  r.match = std::move(blocks);
  for (int32_t w : weights) {
    spec::RouteDestination d;
    d.destination.host = "service-b";
    d.destination.subset = "v" + std::to_string(r.route.size() + 1);
    d.weight = w;
    r.route.push_back(d);
  }
  return r;
}

const Routes& routes() {
  static const Routes* built = [] {
    auto* r = new Routes;
    using K = spec::StringMatch::Kind;
    spec::HttpMatchRequest exact;
    exact.uri = match(K::Exact, "/api/v1/items");
    exact.method = match(K::Exact, "GET");
    spec::HttpMatchRequest header;
    header.uri = match(K::Prefix, "/api");
    header.headers.push_back({"x-canary", match(K::Regex, "(true|yes)[0-9]*")});
    header.without_headers.push_back({"x-block", std::nullopt});
    spec::HttpMatchRequest regex;
    regex.uri = match(K::Regex, "/orders/[0-9]+(/items)?");
    regex.query_params.emplace("debug", match(K::Exact, "1"));
    spec::HttpMatchRequest icase;
    icase.uri = match(K::Prefix, "/Static/");
    icase.ignore_uri_case = true;
    icase.authority = match(K::Prefix, "service-b");
    r->storage.push_back(route("exact", {exact}, {100}));
    r->storage.push_back(route("canary", {header}, {10, 90}));
    r->storage.push_back(route("regex", {regex}, {1, 3, 0}));
    r->storage.push_back(route("icase", {icase}, {0}));
    r->storage.push_back(route("prefix", {}, {90, 10}));
    std::vector<const spec::HttpRoute*> ptrs;
    for (const spec::HttpRoute& h : r->storage) {
      ptrs.push_back(&h);
    }
    auto table = meshproof::proxy::RouteTable::build(ptrs);
    check(table.isOk());
    r->table = std::make_unique<meshproof::proxy::RouteTable>(std::move(*table));
    return r;
  }();
  return *built;
}

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// Decodes `body` in one feed and split at `cut`; both must agree.
void checkChunked(std::string_view body, size_t cut, const Limits& limits) {
  ChunkedDecoder whole(limits);
  std::string out_whole;
  size_t used_whole = 0;
  const Error e_whole = whole.feed(body, out_whole, used_whole);
  check(used_whole <= body.size());

  ChunkedDecoder split(limits);
  std::string out_split;
  cut = body.empty() ? 0 : cut % (body.size() + 1);
  size_t used = 0;
  Error e = split.feed(body.substr(0, cut), out_split, used);
  size_t total = used;
  if (e == Error::Incomplete) {
    check(used == cut);
    e = split.feed(body.substr(cut), out_split, used);
    total += used;
  }
  check(e == e_whole);
  check(out_split == out_whole);
  if (e == Error::Ok) {
    check(total == used_whole);
  }
  check(out_whole.size() <= limits.max_body_bytes);
}

// The one-pass scan against the general path for the line at `pos` (cut at the limit `stop`).
void checkFieldScan(std::string_view input, size_t pos, size_t stop) {
  std::vector<meshproof::net::http1::Field> scanned;
  size_t scan_pos = pos;
  const bool scan = meshproof::net::http1::detail::scanFieldLine(input, stop, scan_pos, scanned);
  const size_t lf = input.find('\n', pos);
  bool general = lf != std::string_view::npos && lf + 1 <= std::min(stop, input.size()) &&
                 lf > pos + 1 && input[lf - 1] == '\r';
  std::vector<meshproof::net::http1::Field> parsed;
  general = general && meshproof::net::http1::detail::parseFieldLine(
                           input.substr(pos, lf - 1 - pos), parsed) == Error::Ok;
  check(scan == general);
  if (scan) {
    check(scanned.size() == 1 && scanned[0].name == parsed[0].name &&
          scanned[0].value == parsed[0].value && scan_pos == lf + 1);
  } else {
    check(scanned.empty() && scan_pos == pos);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool planted = std::getenv("MESHPROOF_FUZZ_PLANTED_BUG") != nullptr;
  // Small limits, so the fuzzer reaches them.
  Limits limits;
  limits.max_head_bytes = 2048;
  limits.max_headers = 16;
  limits.max_body_bytes = 4096;

  // An exact-size heap copy: any read past the input is an AddressSanitizer report.
  std::unique_ptr<char[]> copy(new char[size == 0 ? 1 : size]);
  if (size != 0) {
    std::memcpy(copy.get(), data, size);
  }
  const std::string_view input(copy.get(), size);
  const size_t cut = size == 0 ? 0 : data[0];

  RequestHead head;
  const Error e = meshproof::net::http1::parseRequestHead(input, limits, head);
  check(e == Error::Ok || e == Error::Incomplete || meshproof::net::http1::statusFor(e) >= 400);
  if (e == Error::Ok) {
    if (planted && size != 0) {
      volatile char past = copy.get()[size]; // the planted bug: one byte past the input
      (void)past;
    }
    check(head.head_bytes <= size);
    check(inside(head.method, input) && inside(head.target, input));
    check(!(head.content_length && head.chunked));
    check(!head.content_length || *head.content_length <= limits.max_body_bytes);
    check(head.fields.size() <= limits.max_headers);
    meshproof::proxy::RequestHead rh;
    rh.method = std::string(head.method);
    rh.path = std::string(head.target);
    for (const auto& f : head.fields) {
      check(inside(f.name, input) && inside(f.value, input));
      for (char c : f.value) {
        check(c != '\r' && c != '\n' && c != '\0');
      }
      std::string name(f.name);
      for (char& c : name) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      }
      if (name == "host") {
        rh.authority = std::string(f.value);
      }
      rh.headers[name] = std::string(f.value);
    }
    const Routes& r = routes();
    const spec::HttpRoute* matched = r.table->match(rh);
    if (matched != nullptr) {
      check(matched >= r.storage.data() && matched < r.storage.data() + r.storage.size());
      meshproof::core::SeededRandom random(size);
      for (int i = 0; i < 4; ++i) {
        check(meshproof::proxy::pickDestination(*matched, random) < matched->route.size());
      }
    }
    if (head.chunked) {
      checkChunked(input.substr(head.head_bytes), cut, limits);
    }
  }
  // The field scan from the start, after each LF, and with the limit cut at the input's length.
  for (size_t pos = 0; pos < size;) {
    checkFieldScan(input, pos, limits.max_head_bytes);
    checkFieldScan(input, pos, cut);
    const size_t lf = input.find('\n', pos);
    pos = lf == std::string_view::npos ? size : lf + 1;
  }
  // The decoder on its own, over the whole input as a body.
  checkChunked(input, cut, limits);
  return 0;
}
