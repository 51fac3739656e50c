// Route matching and the weighted pick (istio-envoy-semantics.md §1.1-1.2; §6 cases 15-17), on
// VirtualServices loaded through the real spec loader.

#include "meshproof/proxy/router.h"

#include <gtest/gtest.h>

#include "unit/spec/spec_test_util.h"

namespace meshproof::proxy {
namespace {

// A spec with one VirtualService for host svc whose `http:` list is `http_yaml`.
spec::Spec loadRoutes(const std::string& http_yaml) {
  const std::string text = R"(apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: svc-v1}
spec: {app: svc, version: v1}
---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: svc-v2}
spec: {app: svc, version: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
)" + http_yaml;
  return spec::testing::loadCleanOrFail(text, "routes.yaml");
}

RouteTable tableFor(const spec::Spec& s) {
  std::vector<const spec::HttpRoute*> routes;
  for (const spec::HttpRoute& r : s.virtual_services.at(0).http) {
    routes.push_back(&r);
  }
  auto table = RouteTable::build(routes);
  EXPECT_TRUE(table) << table.status().message();
  return std::move(table).value();
}

RequestHead get(std::string path, std::map<std::string, std::string> headers = {}) {
  RequestHead h;
  h.path = std::move(path);
  h.authority = "svc";
  h.headers = std::move(headers);
  return h;
}

std::string routeName(const RouteTable& t, const RequestHead& h) {
  const spec::HttpRoute* r = t.match(h);
  return r == nullptr ? "NR" : r->name;
}

TEST(Router, UnmatchedRequestGetsNoRoute) { // case 17
  spec::Spec s = loadRoutes(R"(    - name: api
      match: [{uri: {prefix: /api}}]
      route: [{destination: {host: svc}}]
)");
  RouteTable t = tableFor(s);
  EXPECT_EQ(routeName(t, get("/api/users")), "api");
  EXPECT_EQ(routeName(t, get("/other")), "NR");
}

TEST(Router, FirstMatchWinsBlocksOrConditionsAnd) {
  spec::Spec s = loadRoutes(R"(    - name: canary-users
      match:
        - {headers: {x-user: {exact: alice}}, uri: {prefix: /shop}}
        - {headers: {x-canary: {}}}
      route: [{destination: {host: svc, subset: v2}}]
    - name: posts
      match: [{method: {exact: POST}}]
      route: [{destination: {host: svc, subset: v1}}]
    - name: default
      route: [{destination: {host: svc, subset: v1}}]
)");
  RouteTable t = tableFor(s);
  EXPECT_EQ(routeName(t, get("/shop", {{"x-user", "alice"}})), "canary-users");
  EXPECT_EQ(routeName(t, get("/cart", {{"x-user", "alice"}})), "default");   // AND inside a block
  EXPECT_EQ(routeName(t, get("/cart", {{"x-canary", ""}})), "canary-users"); // OR across blocks
  RequestHead post = get("/shop", {{"x-canary", "1"}});
  post.method = "POST";
  EXPECT_EQ(routeName(t, post), "canary-users"); // first match wins
  post.headers.clear();
  EXPECT_EQ(routeName(t, post), "posts");
}

TEST(Router, UriSemanticsFollowEnvoy) {
  spec::Spec s = loadRoutes(R"(    - name: exact
      match: [{uri: {exact: /health}}]
      route: [{destination: {host: svc}}]
    - name: regex
      match: [{uri: {regex: "/items/[0-9]+"}}]
      route: [{destination: {host: svc}}]
    - name: nocase
      match: [{uri: {prefix: /Admin}, ignoreUriCase: true}]
      route: [{destination: {host: svc}}]
    - name: query-prefix
      match: [{uri: {prefix: "/q?debug"}}]
      route: [{destination: {host: svc}}]
)");
  RouteTable t = tableFor(s);
  EXPECT_EQ(routeName(t, get("/health?verbose=1")), "exact"); // query string removed
  EXPECT_EQ(routeName(t, get("/healthz")), "NR");
  EXPECT_EQ(routeName(t, get("/items/42?x=1")), "regex");
  EXPECT_EQ(routeName(t, get("/items/42/extra")), "NR"); // regex must match the whole path
  EXPECT_EQ(routeName(t, get("/admin/users")), "nocase");
  EXPECT_EQ(routeName(t, get("/q?debug=1")), "query-prefix"); // prefix sees the query string
}

TEST(Router, WithoutHeadersAndQueryParams) {
  spec::Spec s = loadRoutes(R"(    - name: not-internal
      match: [{withoutHeaders: {x-internal: {exact: "true"}}, queryParams: {v: {exact: "2"}}}]
      route: [{destination: {host: svc}}]
)");
  RouteTable t = tableFor(s);
  EXPECT_EQ(routeName(t, get("/a?v=2")), "not-internal");
  EXPECT_EQ(routeName(t, get("/a?v=2", {{"x-internal", "true"}})), "NR");
  EXPECT_EQ(routeName(t, get("/a?v=2", {{"x-internal", "no"}})), "not-internal");
  EXPECT_EQ(routeName(t, get("/a?v=3")), "NR");
  EXPECT_EQ(routeName(t, get("/a")), "NR");
}

std::vector<uint64_t> countPicks(const spec::HttpRoute& route, int n, uint64_t seed) {
  core::SeededRandom rng(seed);
  std::vector<uint64_t> counts(route.route.size());
  for (int i = 0; i < n; ++i) {
    ++counts[pickDestination(route, rng)];
  }
  return counts;
}

TEST(WeightedPick, TwentyFiveSeventyFive) { // case 15
  spec::Spec s = loadRoutes(R"(    - route:
        - {destination: {host: svc, subset: v1}, weight: 25}
        - {destination: {host: svc, subset: v2}, weight: 75}
)");
  auto counts = countPicks(s.virtual_services[0].http[0], 100000, 1);
  EXPECT_NEAR(counts[0] / 100000.0, 0.25, 0.01);
  EXPECT_NEAR(counts[1] / 100000.0, 0.75, 0.01);
}

TEST(WeightedPick, WeightsNeedNotSumTo100AndZeroGetsNothing) { // case 15
  spec::Spec s = loadRoutes(R"(    - route:
        - {destination: {host: svc, subset: v1}, weight: 1}
        - {destination: {host: svc, subset: v2}, weight: 0}
        - {destination: {host: svc, subset: v2}, weight: 3}
)");
  auto counts = countPicks(s.virtual_services[0].http[0], 40000, 2);
  EXPECT_NEAR(counts[0] / 40000.0, 0.25, 0.01);
  EXPECT_EQ(counts[1], 0u);
  EXPECT_NEAR(counts[2] / 40000.0, 0.75, 0.01);
}

TEST(WeightedPick, SingleDestinationWithWeightZeroTakesEverything) { // case 15
  spec::Spec s = loadRoutes(R"(    - route:
        - {destination: {host: svc, subset: v1}, weight: 0}
)");
  auto counts = countPicks(s.virtual_services[0].http[0], 1000, 3);
  EXPECT_EQ(counts[0], 1000u);
}

TEST(WeightedPick, SameSeedSameSequence) {
  spec::Spec s = loadRoutes(R"(    - route:
        - {destination: {host: svc, subset: v1}, weight: 90}
        - {destination: {host: svc, subset: v2}, weight: 10}
)");
  const auto& route = s.virtual_services[0].http[0];
  core::SeededRandom a(7);
  core::SeededRandom b(7);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(pickDestination(route, a), pickDestination(route, b));
  }
}

TEST(QueryParam, Parses) {
  EXPECT_EQ(queryParam("/a?x=1&y=2", "y"), "2");
  EXPECT_EQ(queryParam("/a?x=1&flag", "flag"), "");
  EXPECT_EQ(queryParam("/a?x=1", "z"), std::nullopt);
  EXPECT_EQ(queryParam("/a", "x"), std::nullopt);
}

} // namespace
} // namespace meshproof::proxy
