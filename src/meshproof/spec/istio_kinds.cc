// Readers for Istio's ServiceEntry, VirtualService and DestinationRule, validating as Istio does.
// References are to istio-envoy-semantics.md and the Istio sources it names (VAL.go, AVAL.go,
// RETRY.go, ROUTE.go, CTP.go, DRM.go).

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <set>

#include "meshproof/spec/kinds.h"

namespace meshproof::spec::detail {
namespace {

// Status codes Go's http.StatusText knows: AVAL.go accepts an integer retryOn token only for these.
bool isKnownHttpStatus(int code) {
  static constexpr std::array<int, 63> kCodes{
      100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
      302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409,
      410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428,
      429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511, 0};
  return code != 0 && std::find(kCodes.begin(), kCodes.end(), code) != kCodes.end();
}

constexpr std::array<std::string_view, 17> kGrpcStatusNames{
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

std::optional<StringMatch> readStringMatch(const Node& node) {
  MapReader m(node);
  if (!m.valid()) {
    return std::nullopt;
  }
  std::optional<StringMatch> result;
  int count = 0;
  for (auto [key, kind] : {std::pair{"exact", StringMatch::Kind::Exact},
                           std::pair{"prefix", StringMatch::Kind::Prefix},
                           std::pair{"regex", StringMatch::Kind::Regex}}) {
    if (auto v = m.get(key)) {
      ++count;
      if (auto s = v->asString()) {
        if (kind == StringMatch::Kind::Regex) {
          RE2::Options options;
          options.set_log_errors(false);
          RE2 re(*s, options);
          if (!re.ok()) {
            v->error("invalid RE2 regular expression: " + re.error());
            continue;
          }
        }
        result = StringMatch{kind, *s};
      }
    }
  }
  if (count == 0) {
    node.error("expected exactly one of exact, prefix or regex");
    return std::nullopt;
  }
  if (count > 1) {
    node.error("only one of exact, prefix or regex may be set");
    return std::nullopt;
  }
  return result;
}

std::vector<HeaderMatch> readHeaderMatches(const Node& node) {
  std::vector<HeaderMatch> out;
  MapReader m(node);
  for (auto& [key, value] : m.entries()) {
    HeaderMatch h;
    h.name = key.raw().IsScalar() ? key.raw().Scalar() : "";
    if (h.name.empty() ||
        std::any_of(h.name.begin(), h.name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      key.error("header name \"" + h.name + "\" must be lowercase");
      continue;
    }
    // An empty matcher ({}) tests presence only.
    if (!(value.isMap() && value.raw().size() == 0) && !value.isNull()) {
      h.match = readStringMatch(value);
    }
    out.push_back(std::move(h));
  }
  return out;
}

HttpMatchRequest readMatch(const Node& node) {
  HttpMatchRequest r;
  r.location = node.location();
  MapReader m(node);
  if (auto v = m.get("name")) {
    r.name = v->asString().value_or("");
  }
  if (auto v = m.get("uri")) {
    r.uri = readStringMatch(*v);
  }
  if (auto v = m.get("method")) {
    r.method = readStringMatch(*v);
  }
  if (auto v = m.get("authority")) {
    r.authority = readStringMatch(*v);
  }
  if (auto v = m.get("scheme")) {
    r.scheme = readStringMatch(*v);
  }
  if (auto v = m.get("headers")) {
    r.headers = readHeaderMatches(*v);
  }
  if (auto v = m.get("withoutHeaders")) {
    r.without_headers = readHeaderMatches(*v);
  }
  if (auto v = m.get("queryParams")) {
    MapReader q(*v);
    for (auto& [key, value] : q.entries()) {
      if (auto sm = readStringMatch(value)) {
        r.query_params[key.raw().Scalar()] = *sm;
      }
    }
  }
  if (auto v = m.get("ignoreUriCase")) {
    r.ignore_uri_case = v->asBool().value_or(false);
  }
  if (auto v = m.get("port")) {
    if (auto p = v->asInt(1, 65535)) {
      r.port = static_cast<uint32_t>(*p);
    }
  }
  if (auto v = m.get("gateways")) {
    r.gateways = v->asStringList().value_or(std::vector<std::string>{});
  }
  // Istio uses these to decide which proxies get the rule, never per request (§1.1).
  m.notSimulated("sourceLabels", "source selection; every meshproof proxy receives the rule");
  m.notSimulated("sourceNamespace", "source selection; every meshproof proxy receives the rule");
  m.ignore("statPrefix");
  return r;
}

std::optional<RouteDestination> readRouteDestination(const Node& node) {
  MapReader m(node);
  if (!m.valid()) {
    return std::nullopt;
  }
  RouteDestination rd;
  rd.location = node.location();
  if (auto d = m.require("destination")) {
    MapReader dm(*d);
    if (auto h = dm.require("host")) {
      rd.destination.host = h->asString().value_or("");
      if (rd.destination.host.empty() && h->isScalar()) {
        h->error("host must not be empty");
      }
    }
    if (auto s = dm.get("subset")) {
      if (auto name = s->asString()) {
        if (!isDns1123Label(*name)) {
          s->error("subset name \"" + *name +
                   "\" must be a DNS-1123 label (lower-case letters, digits and '-')");
        }
        rd.destination.subset = *name;
      }
    }
    if (auto p = dm.get("port")) {
      MapReader pm(*p);
      if (auto n = pm.require("number")) {
        if (auto v = n->asInt(1, 65535)) {
          rd.destination.port = static_cast<uint32_t>(*v);
        }
      }
    }
  }
  if (auto w = m.get("weight")) {
    rd.weight_set = true;
    rd.weight_location = w->location();
    if (auto v = w->asInt(INT32_MIN, INT32_MAX)) {
      if (*v < 0) {
        w->error("weight must not be negative, got " + std::to_string(*v));
      } else {
        rd.weight = static_cast<int32_t>(*v);
      }
    }
  }
  m.notSimulated("headers", "header manipulation");
  return rd;
}

RetryPolicy readRetries(const Node& node) {
  RetryPolicy p = defaultRetryPolicy();
  p.from_default = false;
  p.location = node.location();
  MapReader m(node);
  if (!m.valid()) {
    return p;
  }
  int64_t attempts = 0; // proto3 default: unset means 0
  bool attempts_valid = true;
  std::optional<Node> attempts_node = m.get("attempts");
  if (attempts_node) {
    attempts_valid = false;
    if (auto v = attempts_node->asInt(INT32_MIN, INT32_MAX)) {
      if (*v < 0) {
        attempts_node->error("attempts must not be negative, got " + std::to_string(*v));
      } else {
        attempts = *v;
        attempts_valid = true;
      }
    }
  }
  std::optional<Node> per_try = m.get("perTryTimeout");
  std::optional<Node> retry_on = m.get("retryOn");
  std::optional<Node> remote = m.get("retryRemoteLocalities");
  if (per_try) {
    p.per_try_timeout = per_try->asIstioDuration();
  }
  if (retry_on) {
    if (auto text = retry_on->asString()) {
      p.retry_on_set = true;
      if (auto problem = parseRetryOn(*text, p)) {
        retry_on->error(*problem);
      }
    }
  }
  if (remote) {
    p.retry_remote_localities = remote->asBool().value_or(false);
  }
  if (auto v = m.get("retryIgnorePreviousHosts")) {
    p.retry_ignore_previous_hosts = v->asBool().value_or(true);
  }
  if (auto v = m.get("backoff")) {
    if (auto d = v->asIstioDuration()) {
      p.backoff_base = *d;
    }
  }
  if (!attempts_valid) {
    return p; // already reported
  }
  if (attempts == 0) {
    // AVAL.go ValidateHTTPRetry: nothing else may be configured once retries are disabled.
    if (per_try || retry_on || remote) {
      std::vector<std::string> fields;
      for (auto* n : {&per_try, &retry_on, &remote}) {
        if (*n) {
          fields.push_back((*n)->path().substr((*n)->path().rfind('.') + 1));
        }
      }
      std::string list;
      for (const auto& f : fields) {
        list += (list.empty() ? "" : ", ") + f;
      }
      const std::string where = node.path() + ".attempts";
      node.ctx().out->push_back({Severity::Error,
                                 attempts_node ? attempts_node->location() : node.location(),
                                 node.ctx().object,
                                 where,
                                 "attempts is 0 (retries disabled) but " + list +
                                     " is set; set attempts to at least 1 or remove " + list,
                                 {}});
    }
    p.enabled = false;
    p.num_retries = 0;
    return p;
  }
  p.num_retries = static_cast<uint32_t>(attempts);
  return p;
}

std::optional<double> readPercentage(MapReader& m) {
  if (auto pct = m.get("percentage")) {
    MapReader pm(*pct);
    if (auto v = pm.get("value")) {
      if (auto d = v->asDouble(-1e300, 1e300)) {
        // VAL.go validatePercentage.
        if (*d < 0 || *d > 100) {
          v->error("percentage must be in range 0..100, got " + v->raw().Scalar());
          return std::nullopt;
        }
        if (*d > 0 && *d < 0.0001) {
          v->error("percentage must be 0 or at least 0.0001 (Envoy's granularity), got " +
                   v->raw().Scalar());
          return std::nullopt;
        }
        return *d;
      }
      return std::nullopt;
    }
    return 0.0;
  }
  if (auto pct = m.get("percent")) {
    // Deprecated integer form.
    if (auto v = pct->asInt(0, 100)) {
      pct->warning("\"percent\" is deprecated; use percentage.value");
      return static_cast<double>(*v);
    }
    return std::nullopt;
  }
  return 0.0; // unset means no request is affected (§1.7)
}

std::optional<FaultInjection> readFault(const Node& node) {
  MapReader m(node);
  if (!m.valid()) {
    return std::nullopt;
  }
  FaultInjection f;
  f.location = node.location();
  if (auto d = m.get("delay")) {
    MapReader dm(*d);
    FaultDelay delay;
    if (auto e = dm.get("exponentialDelay")) {
      e->error("exponentialDelay is not supported by Istio");
    }
    if (auto fd = dm.require("fixedDelay")) {
      if (auto v = fd->asIstioDuration()) {
        delay.fixed_delay = *v;
      }
    }
    if (auto pct = readPercentage(dm)) {
      delay.percentage = *pct;
    }
    f.delay = delay;
  }
  if (auto a = m.get("abort")) {
    MapReader am(*a);
    FaultAbort abort;
    auto http = am.get("httpStatus");
    auto grpc = am.get("grpcStatus");
    if (auto h2 = am.get("http2Error")) {
      h2->error("http2Error aborts are not supported by Istio");
    }
    if (http && grpc) {
      a->error("only one of httpStatus or grpcStatus may be set");
    } else if (http) {
      if (auto v = http->asInt(INT32_MIN, INT32_MAX)) {
        // VAL.go validateHTTPStatus checks < 200 || > 600.
        if (*v < 200 || *v > 600) {
          http->error("httpStatus must be in range 200-599, got " + std::to_string(*v));
        } else {
          abort.http_status = static_cast<uint32_t>(*v);
        }
      }
    } else if (grpc) {
      if (auto s = grpc->asString()) {
        if (std::find(kGrpcStatusNames.begin(), kGrpcStatusNames.end(), *s) ==
            kGrpcStatusNames.end()) {
          grpc->error("grpcStatus must be a gRPC status name such as UNAVAILABLE, got \"" + *s +
                      "\"");
        } else {
          abort.grpc_status = *s;
        }
      }
    } else {
      a->error("abort must set httpStatus or grpcStatus");
    }
    if (auto pct = readPercentage(am)) {
      abort.percentage = *pct;
    }
    f.abort = abort;
  }
  if (!f.delay && !f.abort) {
    node.error("fault must contain a delay, an abort, or both");
  }
  return f;
}

HttpRoute readHttpRoute(const Node& node) {
  HttpRoute r;
  r.location = node.location();
  r.path = node.path();
  r.retries = defaultRetryPolicy();
  r.retries.location = node.location();
  MapReader m(node);
  if (!m.valid()) {
    return r;
  }
  if (auto v = m.get("name")) {
    r.name = v->asString().value_or("");
  }
  if (auto v = m.get("match")) {
    if (auto items = v->asSequence()) {
      for (const Node& item : *items) {
        r.match.push_back(readMatch(item));
      }
    }
  }
  bool has_action = false;
  if (auto v = m.get("route")) {
    has_action = true;
    if (auto items = v->asSequence()) {
      int64_t total = 0;
      for (const Node& item : *items) {
        if (auto rd = readRouteDestination(item)) {
          total += rd->weight;
          r.route.push_back(std::move(*rd));
        }
      }
      if (items->empty()) {
        v->error("route must list at least one destination");
      } else if (r.route.size() > 1 && total == 0) {
        // VAL.go validateHTTPRouteDestinations.
        v->error("total destination weight = 0; with more than one destination the weights must "
                 "add up to more than 0");
      } else if (total > 4294967295LL) {
        v->error("total destination weight must not exceed 4294967295");
      }
    }
  }
  for (const char* key : {"redirect", "directResponse", "delegate"}) {
    if (auto v = m.get(key)) {
      has_action = true;
      v->warning(std::string("accepted but not simulated by meshproof (") + key +
                 "); requests matching this rule are not served locally");
    }
  }
  if (!has_action) {
    node.error("an HTTP route needs a route, redirect, directResponse or delegate");
  }
  if (auto v = m.get("timeout")) {
    r.timeout = v->asIstioDuration();
    r.timeout_location = v->location();
  }
  if (auto v = m.get("retries")) {
    r.retries = readRetries(*v);
  }
  if (auto v = m.get("fault")) {
    r.fault = readFault(*v);
  }
  m.notSimulated("mirror", "mirroring");
  m.notSimulated("mirrors", "mirroring");
  m.notSimulated("mirrorPercentage", "mirroring");
  m.notSimulated("mirrorPercent", "mirroring");
  m.notSimulated("rewrite", "URI and authority rewrites");
  m.notSimulated("headers", "header manipulation");
  m.notSimulated("corsPolicy", "CORS");
  return r;
}

std::optional<OutlierDetection> readOutlier(const Node& node) {
  MapReader m(node);
  if (!m.valid()) {
    return std::nullopt;
  }
  OutlierDetection od;
  od.location = node.location();
  od.max_ejection_percent_location = node.location();
  auto u32 = [](const Node& n) -> std::optional<uint32_t> {
    if (auto v = n.asInt(INT64_MIN, INT64_MAX)) {
      if (*v < 0 || *v > UINT32_MAX) {
        n.error("must be between 0 and 4294967295, got " + std::to_string(*v));
        return std::nullopt;
      }
      return static_cast<uint32_t>(*v);
    }
    return std::nullopt;
  };
  if (auto v = m.get("consecutiveErrors")) {
    v->warning("consecutiveErrors is deprecated and ignored since Istio 1.7; use "
               "consecutive5xxErrors or consecutiveGatewayErrors");
  }
  if (auto v = m.get("consecutive5xxErrors")) {
    od.consecutive_5xx_errors = u32(*v).value_or(kDefaultConsecutive5xx);
  }
  if (auto v = m.get("consecutiveGatewayErrors")) {
    od.consecutive_gateway_errors = u32(*v).value_or(0);
  }
  if (auto v = m.get("interval")) {
    od.interval = v->asIstioDuration().value_or(kDefaultOutlierInterval);
  }
  if (auto v = m.get("baseEjectionTime")) {
    od.base_ejection_time = v->asIstioDuration().value_or(kDefaultBaseEjectionTime);
  }
  if (auto v = m.get("maxEjectionPercent")) {
    od.max_ejection_percent_location = v->location();
    if (auto p = v->asInt(INT64_MIN, INT64_MAX)) {
      if (*p < 0 || *p > 100) {
        v->error("max ejection percent must be in range [0..100], got " + std::to_string(*p));
      } else if (*p > 0) {
        od.max_ejection_percent = static_cast<uint32_t>(*p);
      }
      // 0 is not written by Istio (CTP.go), so Envoy's default of 10 % applies.
    }
  }
  if (auto v = m.get("minHealthPercent")) {
    if (auto p = v->asInt(INT64_MIN, INT64_MAX)) {
      if (*p < 0 || *p > 100) {
        v->error("minimum health percent must be in range [0..100], got " + std::to_string(*p));
      } else {
        od.min_health_percent = static_cast<uint32_t>(*p);
      }
    }
  }
  if (auto v = m.get("splitExternalLocalOriginErrors")) {
    od.split_external_local_origin_errors = v->asBool().value_or(false);
  }
  if (auto v = m.get("consecutiveLocalOriginFailures")) {
    od.consecutive_local_origin_failures = u32(*v).value_or(kDefaultConsecutiveLocalOriginFailures);
    if (!od.split_external_local_origin_errors) {
      v->error("consecutiveLocalOriginFailures is only allowed when splitExternalLocalOriginErrors "
               "is true");
    }
  }
  return od;
}

std::optional<ConnectionPool> readConnectionPool(const Node& node) {
  MapReader m(node);
  if (!m.valid()) {
    return std::nullopt;
  }
  ConnectionPool cp;
  cp.location = node.location();
  // Only values > 0 are applied; an explicit 0 equals unset (CTP.go).
  auto limit = [](const Node& n, uint64_t& field, const char* what) {
    if (auto v = n.asInt(INT32_MIN, INT32_MAX)) {
      if (*v < 0) {
        n.error(std::string(what) + " must be non-negative, got " + std::to_string(*v));
      } else if (*v > 0) {
        field = static_cast<uint64_t>(*v);
      }
    }
  };
  auto tcp = m.get("tcp");
  auto http = m.get("http");
  if (!tcp && !http) {
    node.error("connectionPool must set tcp, http, or both");
  }
  if (tcp) {
    MapReader t(*tcp);
    if (auto v = t.get("maxConnections")) {
      limit(*v, cp.max_connections, "max connections");
    }
    if (auto v = t.get("connectTimeout")) {
      cp.connect_timeout = v->asIstioDuration().value_or(kDefaultConnectTimeout);
    }
    t.notSimulated("tcpKeepalive", "TCP keep-alive probes");
    t.notSimulated("maxConnectionDuration", "connection lifetime limits");
    t.notSimulated("idleTimeout", "TCP idle timeout");
  }
  if (http) {
    MapReader h(*http);
    if (auto v = h.get("http1MaxPendingRequests")) {
      limit(*v, cp.http1_max_pending_requests, "http1 max pending requests");
    }
    if (auto v = h.get("http2MaxRequests")) {
      limit(*v, cp.http2_max_requests, "http2 max requests");
    }
    if (auto v = h.get("maxRequestsPerConnection")) {
      uint64_t value = 0;
      limit(*v, value, "max requests per connection");
      cp.max_requests_per_connection = value;
    }
    if (auto v = h.get("maxRetries")) {
      limit(*v, cp.max_retries, "max retries");
    }
    if (auto v = h.get("idleTimeout")) {
      cp.idle_timeout = v->asIstioDuration().value_or(kDefaultIdleTimeout);
    }
    h.notSimulated("h2UpgradePolicy", "HTTP/2 upgrade; meshproof proxies speak HTTP/1.1");
    h.notSimulated("useClientProtocol", "HTTP/2; meshproof proxies speak HTTP/1.1");
    h.notSimulated("maxConcurrentStreams", "HTTP/2; meshproof proxies speak HTTP/1.1");
  }
  return cp;
}

// The policy as written (blocks unset stay unset) so that subsets can replace block by block.
struct PartialPolicy {
  std::optional<ConnectionPool> connection_pool;
  std::optional<OutlierDetection> outlier_detection;
  std::optional<LoadBalancer> load_balancer;
};

PartialPolicy readTrafficPolicy(const Node& node) {
  PartialPolicy p;
  MapReader m(node);
  if (!m.valid()) {
    return p;
  }
  if (auto v = m.get("connectionPool")) {
    p.connection_pool = readConnectionPool(*v);
  }
  if (auto v = m.get("outlierDetection")) {
    p.outlier_detection = readOutlier(*v);
  }
  if (auto v = m.get("loadBalancer")) {
    MapReader lb(*v);
    if (auto s = lb.get("simple")) {
      if (auto name = s->asString()) {
        static const std::map<std::string, LoadBalancer> kSimple{
            {"UNSPECIFIED", LoadBalancer::LeastRequest},
            {"LEAST_CONN", LoadBalancer::LeastRequest},
            {"LEAST_REQUEST", LoadBalancer::LeastRequest},
            {"RANDOM", LoadBalancer::Random},
            {"PASSTHROUGH", LoadBalancer::Passthrough},
            {"ROUND_ROBIN", LoadBalancer::RoundRobin}};
        auto it = kSimple.find(*name);
        if (it == kSimple.end()) {
          s->error("expected one of UNSPECIFIED, LEAST_CONN, LEAST_REQUEST, RANDOM, PASSTHROUGH, "
                   "ROUND_ROBIN, got \"" +
                   *name + "\"");
        } else {
          p.load_balancer = it->second;
        }
      }
    }
    if (auto c = lb.get("consistentHash")) {
      p.load_balancer = LoadBalancer::ConsistentHash;
      c->warning(
          "accepted but not simulated by meshproof (consistent hashing); requests are "
          "balanced by least request, and Istio's default retry policy drops previous_hosts");
    }
    lb.notSimulated("localityLbSetting", "locality load balancing; one machine has one locality");
    lb.notSimulated("warmupDurationSecs", "slow start");
    lb.notSimulated("warmup", "slow start");
  }
  m.notSimulated("tls", "TLS settings; the local mesh runs plain HTTP");
  m.notSimulated("portLevelSettings", "port-level settings");
  m.notSimulated("tunnel", "tunneling");
  m.notSimulated("proxyProtocol", "PROXY protocol");
  m.notSimulated("retryBudget", "retry budgets");
  return p;
}

TrafficPolicy resolve(const PartialPolicy& top, const PartialPolicy* subset, std::string path) {
  TrafficPolicy tp;
  tp.path = std::move(path);
  const PartialPolicy& base = top;
  // DRM.go MergeTrafficPolicy: a subset block replaces the whole top-level block.
  tp.connection_pool =
      subset != nullptr && subset->connection_pool ? subset->connection_pool : base.connection_pool;
  tp.outlier_detection = subset != nullptr && subset->outlier_detection ? subset->outlier_detection
                                                                        : base.outlier_detection;
  auto lb = subset != nullptr && subset->load_balancer ? subset->load_balancer : base.load_balancer;
  tp.load_balancer = lb.value_or(LoadBalancer::LeastRequest);
  return tp;
}

} // namespace

std::optional<std::string> parseRetryOn(std::string_view text, RetryPolicy& policy) {
  policy.retry_on = 0;
  policy.retriable_status_codes.clear();
  if (text.empty()) {
    return std::string("retryOn must not be empty");
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view token = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // AVAL.go splits on ',' without trimming, so " reset" is not a token.
    if (auto known = retryOnToken(token)) {
      policy.retry_on |= static_cast<uint32_t>(*known);
    } else {
      int code = 0;
      bool numeric =
          !token.empty() && token.size() <= 3 &&
          std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (numeric) {
        for (char c : token) {
          code = code * 10 + (c - '0');
        }
      }
      if (!numeric || !isKnownHttpStatus(code)) {
        std::string message = "\"" + std::string(token) + "\" is not a valid retryOn policy";
        if (!token.empty() && (token.front() == ' ' || token.back() == ' ')) {
          message += " (Istio splits retryOn on ',' without trimming spaces: write \"5xx,reset\", "
                     "not \"5xx, reset\")";
        } else {
          message += " (expected comma-separated tokens such as 5xx, gateway-error, reset, "
                     "connect-failure, retriable-4xx, refused-stream, or HTTP status codes)";
        }
        return message;
      }
      policy.retriable_status_codes.push_back(static_cast<uint32_t>(code));
      // RETRY.go parseRetryOn appends retriable-status-codes when codes are present.
      policy.retry_on |= static_cast<uint32_t>(RetryOn::RetriableStatusCodes);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return std::nullopt;
}

void readVirtualService(const Node& spec, ObjectMeta meta, Spec& out) {
  VirtualService vs;
  vs.meta = std::move(meta);
  MapReader m(spec);
  if (!m.valid()) {
    return;
  }
  if (auto v = m.require("hosts")) {
    if (auto hosts = v->asStringList()) {
      if (hosts->empty()) {
        v->error("a VirtualService must have at least one host");
      }
      vs.hosts = *hosts;
    }
  }
  if (auto v = m.get("gateways")) {
    vs.gateways = v->asStringList().value_or(std::vector<std::string>{});
  }
  bool has_routes = false;
  if (auto v = m.get("http")) {
    has_routes = true;
    if (auto items = v->asSequence()) {
      for (const Node& item : *items) {
        vs.http.push_back(readHttpRoute(item));
      }
    }
  }
  for (const char* key : {"tcp", "tls"}) {
    if (auto v = m.get(key)) {
      has_routes = true;
      v->warning(std::string("accepted but not simulated by meshproof (") +
                 (key[1] == 'c' ? "TCP routes" : "TLS routes") + "); only HTTP routes are served");
    }
  }
  if (!has_routes && m.valid()) {
    spec.error("http, tcp or tls must be provided in a VirtualService");
  }
  m.notSimulated("exportTo", "namespace visibility");
  out.virtual_services.push_back(std::move(vs));
}

void readDestinationRule(const Node& spec, ObjectMeta meta, Spec& out) {
  DestinationRule dr;
  dr.meta = std::move(meta);
  MapReader m(spec);
  if (!m.valid()) {
    return;
  }
  if (auto v = m.require("host")) {
    dr.host = v->asString().value_or("");
    if (dr.host.empty() && v->isScalar()) {
      v->error("host must not be empty");
    }
  }
  PartialPolicy top;
  if (auto v = m.get("trafficPolicy")) {
    top = readTrafficPolicy(*v);
  }
  dr.traffic_policy = resolve(top, nullptr, "spec.trafficPolicy");
  if (auto v = m.get("subsets")) {
    if (auto items = v->asSequence()) {
      std::set<std::string> names;
      for (const Node& item : *items) {
        MapReader sm(item);
        if (!sm.valid()) {
          continue;
        }
        Subset s;
        s.location = item.location();
        if (auto n = sm.require("name")) {
          if (auto name = n->asString()) {
            if (!isDns1123Label(*name)) {
              n->error("subset name \"" + *name +
                       "\" must be a DNS-1123 label (lower-case letters, digits and '-')");
            } else if (!names.insert(*name).second) {
              n->error("duplicate subset name \"" + *name + "\"");
            }
            s.name = *name;
          }
        }
        if (auto l = sm.get("labels")) {
          if (auto labels = l->asStringMap()) {
            for (const auto& [k, val] : *labels) {
              if (!isLabelName(k) || !isLabelValue(val)) {
                l->error("invalid label " + k + "=" + val);
              }
            }
            s.labels = *labels;
          }
        }
        PartialPolicy own;
        const PartialPolicy* own_ptr = nullptr;
        if (auto tp = sm.get("trafficPolicy")) {
          own = readTrafficPolicy(*tp);
          own_ptr = &own;
        }
        s.traffic_policy =
            resolve(top, own_ptr,
                    own_ptr != nullptr && own.outlier_detection ? item.path() + ".trafficPolicy"
                                                                : "spec.trafficPolicy");
        dr.subsets.push_back(std::move(s));
      }
    }
  }
  m.notSimulated("exportTo", "namespace visibility");
  m.notSimulated("workloadSelector", "per-workload rules; the rule applies to every proxy");
  out.destination_rules.push_back(std::move(dr));
}

void readServiceEntry(const Node& spec, ObjectMeta meta, Spec& out) {
  ServiceEntry se;
  se.meta = std::move(meta);
  MapReader m(spec);
  if (!m.valid()) {
    return;
  }
  if (auto v = m.require("hosts")) {
    if (auto items = v->asSequence()) {
      if (items->empty()) {
        v->error("a ServiceEntry must have at least one host");
      }
      for (const Node& item : *items) {
        if (auto h = item.asString()) {
          if (*h == "*") {
            item.error("hostname cannot be the wildcard \"*\"");
          } else if (h->empty()) {
            item.error("host must not be empty");
          }
          se.hosts.push_back(*h);
        }
      }
    }
  }
  if (auto v = m.get("addresses")) {
    se.addresses = v->asStringList().value_or(std::vector<std::string>{});
  }
  if (auto v = m.get("ports")) {
    if (auto items = v->asSequence()) {
      std::set<uint32_t> numbers;
      for (const Node& item : *items) {
        MapReader pm(item);
        if (!pm.valid()) {
          continue;
        }
        ServicePort port;
        if (auto n = pm.require("number")) {
          if (auto num = n->asInt(1, 65535)) {
            port.number = static_cast<uint32_t>(*num);
            if (!numbers.insert(port.number).second) {
              n->error("port number " + std::to_string(*num) + " cannot be duplicated");
            }
          }
        }
        if (auto n = pm.require("name")) {
          port.name = n->asString().value_or("");
        }
        if (auto n = pm.get("protocol")) {
          port.protocol = n->asString().value_or("");
          static const std::set<std::string> kHttp{"HTTP", "HTTP2", "GRPC", "HTTP_PROXY"};
          static const std::set<std::string> kKnown{"HTTP",  "HTTPS",     "GRPC", "GRPC-WEB",
                                                    "HTTP2", "MONGO",     "TCP",  "TLS",
                                                    "UDP",   "HTTP_PROXY"};
          if (kKnown.count(port.protocol) == 0) {
            n->error("unknown protocol \"" + port.protocol +
                     "\" (expected HTTP, HTTPS, GRPC, HTTP2, TCP, TLS, MONGO or UDP)");
          } else if (kHttp.count(port.protocol) == 0) {
            n->warning("accepted but not simulated by meshproof (" + port.protocol +
                       " ports); only HTTP traffic is proxied");
          }
        }
        if (auto n = pm.get("targetPort")) {
          port.target_port = static_cast<uint32_t>(n->asInt(1, 65535).value_or(0));
        }
        se.ports.push_back(std::move(port));
      }
    }
  }
  if (auto v = m.get("location")) {
    if (auto s = v->asString()) {
      if (*s != "MESH_EXTERNAL" && *s != "MESH_INTERNAL") {
        v->error("expected MESH_EXTERNAL or MESH_INTERNAL, got \"" + *s + "\"");
      }
      se.location = *s;
    }
  }
  if (auto v = m.get("resolution")) {
    if (auto s = v->asString()) {
      if (*s != "NONE" && *s != "STATIC" && *s != "DNS" && *s != "DNS_ROUND_ROBIN") {
        v->error("expected NONE, STATIC, DNS or DNS_ROUND_ROBIN, got \"" + *s + "\"");
      }
      se.resolution = *s;
    }
  }
  auto endpoints = m.get("endpoints");
  if (endpoints) {
    if (se.resolution == "NONE") {
      endpoints->error("resolution NONE cannot set endpoints; use STATIC (or DNS) to list them");
    }
    if (auto items = endpoints->asSequence()) {
      if (se.resolution == "DNS_ROUND_ROBIN" && items->size() > 1) {
        endpoints->error("DNS_ROUND_ROBIN cannot have multiple endpoints");
      }
      for (const Node& item : *items) {
        MapReader em(item);
        if (!em.valid()) {
          continue;
        }
        WorkloadEntry e;
        e.location = item.location();
        if (auto a = em.get("address")) {
          e.address = a->asString().value_or("");
        } else if (!em.get("network")) {
          item.error("missing required field \"address\"");
        }
        if (auto p = em.get("ports")) {
          MapReader pm(*p);
          for (auto& [key, value] : pm.entries()) {
            if (auto n = value.asInt(1, 65535)) {
              e.ports[key.raw().Scalar()] = static_cast<uint32_t>(*n);
            }
          }
        }
        if (auto l = em.get("labels")) {
          e.labels = l->asStringMap().value_or(std::map<std::string, std::string>{});
        }
        if (auto w = em.get("weight")) {
          e.weight = static_cast<uint32_t>(w->asInt(0, UINT32_MAX).value_or(0));
        }
        em.notSimulated("network", "multi-network");
        em.notSimulated("locality", "localities");
        em.notSimulated("serviceAccount", "identities");
        se.endpoints.push_back(std::move(e));
      }
    }
  }
  if (auto ws = m.get("workloadSelector")) {
    if (endpoints) {
      ws->error("only one of workloadSelector or endpoints can be set");
    } else {
      ws->warning("accepted but not simulated by meshproof (workloadSelector)");
    }
  }
  m.notSimulated("exportTo", "namespace visibility");
  m.notSimulated("subjectAltNames", "TLS identities");
  out.service_entries.push_back(std::move(se));
}

} // namespace meshproof::spec::detail

namespace meshproof::spec {

RetryPolicy defaultRetryPolicy() {
  RetryPolicy p;
  p.enabled = true;
  p.from_default = true;
  p.num_retries = kDefaultNumRetries;
  RetryPolicy scratch;
  detail::parseRetryOn(kDefaultRetryOn, scratch);
  p.retry_on = scratch.retry_on;
  return p;
}

} // namespace meshproof::spec
