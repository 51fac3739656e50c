#pragma once
// Route selection as Envoy does it for Istio's VirtualService HTTP routes
// (istio-envoy-semantics.md §1.1-1.2):
//  - match blocks are ORed, conditions inside a block ANDed; the first route that matches wins;
//    no match -> nullptr, which the proxy answers with 404 and flag NR (Istio adds no default
//    route);
//  - uri exact and regex compare the path without its query string, prefix the whole :path
//    (Envoy's path / prefix / safe_regex); ignoreUriCase affects exact and prefix only;
//  - header names are lower case; an empty matcher tests presence; withoutHeaders negates;
//  - the weighted destination is picked once per request: random % total, first interval that
//    contains it, weight-0 entries dropped; a single destination takes everything.
//
// Thread-safety: a built RouteTable is immutable and may be shared by workers.

#include <re2/re2.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshproof/core/random.h"
#include "meshproof/core/result.h"
#include "meshproof/spec/spec.h"

namespace meshproof::proxy {

// What routing looks at in a request.
struct RequestHead {
  std::string method = "GET";
  std::string path = "/"; // :path, query string included
  std::string authority;  // Host / :authority
  std::string scheme = "http";
  uint32_t port = 0;                          // the listener port
  std::map<std::string, std::string> headers; // names lower case
};

class RouteTable {
public:
  // Compiles the routes (regexes once). The HttpRoutes must outlive the table.
  static core::Result<RouteTable> build(const std::vector<const spec::HttpRoute*>& routes);

  // The first route that matches, or nullptr (404 NR).
  const spec::HttpRoute* match(const RequestHead& request) const;

  size_t size() const { return routes_.size(); }
  // The request header names (lower case) that some matcher of the table reads: the only ones
  // RequestHead::headers needs besides x-envoy-* (which retries and timeouts read).
  const std::set<std::string>& headerNames() const { return header_names_; }

private:
  struct Matcher {
    spec::StringMatch::Kind kind;
    std::string value;
    std::shared_ptr<const RE2> regex;
    bool matches(const std::string& text, bool ignore_case = false) const;
  };
  struct HeaderMatcher {
    std::string name;
    std::optional<Matcher> value; // nullopt: presence
  };
  struct Block {
    std::optional<Matcher> uri, method, authority, scheme;
    std::vector<HeaderMatcher> headers, without_headers;
    std::vector<std::pair<std::string, Matcher>> query_params;
    bool ignore_uri_case = false;
    std::optional<uint32_t> port;
    bool matches(const RequestHead& request) const;
  };
  struct Route {
    const spec::HttpRoute* route;
    std::vector<Block> blocks; // empty: matches everything
  };
  static core::Result<Matcher> compile(const spec::StringMatch& m);

  std::vector<Route> routes_;
  std::set<std::string> header_names_;
};

// The index in route.route of the destination for one request (E-WC pickClusterIndex).
// Precondition: route.route is not empty.
size_t pickDestination(const spec::HttpRoute& route, core::Random& random);

// The query-string value of `name` in `path` ("/a?x=1&y=2", "y" -> "2"), or nullopt.
std::optional<std::string> queryParam(const std::string& path, const std::string& name);

} // namespace meshproof::proxy
