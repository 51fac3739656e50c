#include "meshproof/workload/pod.h"

#include <charconv>
#include <deque>
#include <thread>
#include <unordered_map>

#include "meshproof/core/random.h"
#include "meshproof/metrics/istio_metrics.h"
#include "meshproof/net/asio.h"
#include "meshproof/proxy/proxy_server.h"
#include "meshproof/workload/behaviour.h"
#include <nlohmann/json.hpp>

namespace meshproof::workload {

using namespace std::chrono_literals;
using net::asio::awaitable;
using net::asio::use_awaitable;
namespace asio = net::asio;
namespace beast = net::beast;
namespace http = net::http;
using tcp = net::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

namespace {

struct Connection {
  explicit Connection(const asio::any_io_executor& ex) : stream(ex) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

struct CallResult {
  unsigned status = 0; // 0: no answer
  std::string trace;
  std::string error;
};

std::string header(const Request& req, const char* name) {
  auto it = req.find(name);
  return it == req.end() ? std::string("unknown") : std::string(it->value());
}

} // namespace

struct Pod::Impl {
  Impl(const spec::Spec& s, const spec::Workload& w, PodOptions o, core::Clock& c)
      : spec(s), workload(w), options(std::move(o)), clock(c),
        random(options.seed != 0 ? options.seed
                                 : static_cast<uint64_t>(c.wallNow().time_since_epoch().count())),
        behaviour(workload, clock, random), hang_release(io) {
    hang_release.expires_at(asio::steady_timer::time_point::max());
  }

  const spec::Spec& spec;
  const spec::Workload& workload;
  PodOptions options;
  core::Clock& clock;
  core::SeededRandom random;
  Behaviour behaviour;
  std::unique_ptr<proxy::ProxyServer> sidecar;
  std::thread sidecar_thread;

  asio::io_context io{1};
  asio::steady_timer hang_release; // requests that hang wait on it; recover cancels it
  std::unique_ptr<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::vector<std::unique_ptr<Connection>> idle; // to the sidecar's outbound listener
  std::unordered_map<std::string, metrics::IstioMetrics::Series> series;
  // Requests by x-envoy-attempt-count: a split is judged on first attempts only.
  metrics::Counter* first_attempts = nullptr;
  metrics::Counter* retries = nullptr;
  // The last kServedLog requests served, oldest first (GET /control/served).
  struct Served {
    uint64_t seq;
    int64_t unix_ms;
    std::string source_pod; // x-meshproof-source-pod: which client proxy sent it
    unsigned status;
    uint64_t attempt;
  };
  static constexpr size_t kServedLog = 8192;
  std::deque<Served> served;
  uint64_t served_total = 0;

  awaitable<void> accept();
  awaitable<void> session(tcp::socket socket);
  awaitable<Response> serve(Request& req);
  awaitable<CallResult> call(const spec::Call& c, const Request& inbound);
  Response control(const Request& req);
  void record(const Request& req, const Response& res, core::MonoTime start);
};

awaitable<void> Pod::Impl::accept() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor->async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io, session(std::move(socket)), asio::detached);
  }
}

awaitable<void> Pod::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(16u << 20);
    boost::system::error_code ec;
    stream.expires_after(1h);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      break;
    }
    Request req = parser.release();
    const core::MonoTime start = clock.monotonicNow();
    Response res;
    const bool is_control = req.target().starts_with("/control/");
    if (is_control) {
      res = control(req);
    } else {
      res = co_await serve(req);
      record(req, res, start);
    }
    res.version(11);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    stream.expires_after(60s);
    co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    if (ec || !req.keep_alive()) {
      break;
    }
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<Response> Pod::Impl::serve(Request& req) {
  Response res{http::status::ok, req.version()};
  res.set("x-meshproof-pod", options.pod);
  res.set("x-meshproof-version", workload.version);
  res.set(http::field::content_type, "text/plain");
  const std::string self = options.pod + "/" + workload.version;
  uint64_t attempt = 1;
  if (auto it = req.find("x-envoy-attempt-count"); it != req.end()) {
    const auto text = it->value();
    std::from_chars(text.data(), text.data() + text.size(), attempt);
  }
  Verdict v = behaviour.next(attempt);
  if (v.kind == Verdict::Kind::Hang) {
    boost::system::error_code ec;
    co_await hang_release.async_wait(asio::redirect_error(use_awaitable, ec));
    v = behaviour.next(attempt); // released by recover: served under the behaviour now in force
  }
  if (v.kind == Verdict::Kind::Fail) {
    res.result(static_cast<http::status>(v.status));
    res.set("x-meshproof-trace", self);
    res.body() = "injected failure at " + options.pod + "\n";
    co_return res;
  }
  asio::steady_timer timer(io);
  timer.expires_after(sampleLatency(workload.latency, random));
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));

  std::vector<std::string> traces;
  for (const spec::Call& c : workload.calls) {
    CallResult r = co_await call(c, req);
    traces.push_back(r.trace.empty() ? c.host + "/?" : r.trace);
    if (r.status == 0 || r.status >= 500) {
      res.result(r.status == 0 ? http::status::bad_gateway : static_cast<http::status>(r.status));
      res.body() = "call to " + c.host +
                   " failed: " + (r.status == 0 ? r.error : std::to_string(r.status)) + "\n";
      break;
    }
  }
  std::string trace = self;
  if (traces.size() == 1) {
    trace += " -> " + traces.front();
  } else if (!traces.empty()) {
    trace += " -> [";
    for (size_t i = 0; i < traces.size(); ++i) {
      trace += (i == 0 ? "" : ", ") + traces[i];
    }
    trace += "]";
  }
  res.set("x-meshproof-trace", trace);
  if (res.result() == http::status::ok) {
    res.body().assign(workload.payload_bytes, 'x');
  }
  co_return res;
}

awaitable<CallResult> Pod::Impl::call(const spec::Call& c, const Request& inbound) {
  CallResult out;
  Request req{http::string_to_verb(c.method), c.path, 11};
  if (req.method() == http::verb::unknown) {
    req.method_string(c.method);
  }
  req.set(http::field::host, c.host);
  for (const char* h : {"x-request-id", "x-b3-traceid", "traceparent"}) {
    if (auto it = inbound.find(h); it != inbound.end()) {
      req.set(h, it->value());
    }
  }
  req.keep_alive(true);
  req.prepare_payload();
  const tcp::endpoint outbound(asio::ip::make_address("127.0.0.1"), sidecar->listeners()[0].port);
  // A pooled connection the sidecar closed meanwhile fails before any byte: try a fresh one.
  for (int fresh = 0; fresh < 2; ++fresh) {
    std::unique_ptr<Connection> conn;
    boost::system::error_code ec;
    const bool reused = fresh == 0 && !idle.empty();
    if (reused) {
      conn = std::move(idle.back());
      idle.pop_back();
    } else {
      conn = std::make_unique<Connection>(io.get_executor());
      conn->stream.expires_after(5s);
      co_await conn->stream.async_connect(outbound, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        out.error = "cannot reach the sidecar: " + ec.message();
        co_return out;
      }
      conn->stream.socket().set_option(tcp::no_delay(true), ec);
    }
    // The sidecar enforces the route's timeouts; this only bounds a sidecar that stops answering.
    conn->stream.expires_after(5min);
    co_await http::async_write(conn->stream, req, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (reused) {
        continue;
      }
      out.error = ec.message();
      co_return out;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    co_await http::async_read(conn->stream, conn->buffer, parser,
                              asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (reused && !parser.got_some()) {
        continue;
      }
      out.error = ec.message();
      co_return out;
    }
    Response res = parser.release();
    out.status = res.result_int();
    if (auto it = res.find("x-meshproof-trace"); it != res.end()) {
      out.trace = std::string(it->value());
    } else {
      out.trace = c.host + "/(" + std::to_string(out.status) + " from the sidecar)";
    }
    if (res.keep_alive()) {
      conn->stream.expires_never();
      idle.push_back(std::move(conn));
    }
    co_return out;
  }
  out.error = "the sidecar closed the connection";
  co_return out;
}

Response Pod::Impl::control(const Request& req) {
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "application/json");
  if (req.target() == "/control/served" && req.method() == http::verb::get) {
    nlohmann::json list = nlohmann::json::array();
    for (const Served& s : served) {
      list.push_back({{"seq", s.seq},
                      {"unixMs", s.unix_ms},
                      {"source", s.source_pod},
                      {"status", s.status},
                      {"attempt", s.attempt}});
    }
    res.body() = nlohmann::json{{"total", served_total}, {"entries", list}}.dump() + "\n";
    return res;
  }
  if (req.target() != "/control/behaviour") {
    res.result(http::status::not_found);
    res.body() = R"({"error": "unknown control path; try /control/behaviour, /control/served"})";
    return res;
  }
  if (req.method() == http::verb::post) {
    auto o = parseOverride(req.body());
    if (!o) {
      res.result(http::status::bad_request);
      res.body() = nlohmann::json{{"error", o.status().message()}}.dump() + "\n";
      return res;
    }
    behaviour.apply(*o);
    if (!behaviour.hanging()) {
      hang_release.cancel(); // wakes every hanging request
      hang_release.expires_at(asio::steady_timer::time_point::max());
    }
  } else if (req.method() != http::verb::get) {
    res.result(http::status::method_not_allowed);
    res.body() = R"({"error": "GET or POST"})";
    return res;
  }
  res.body() = behaviour.describe() + "\n";
  return res;
}

void Pod::Impl::record(const Request& req, const Response& res, core::MonoTime start) {
  metrics::IstioLabels l;
  l.reporter = "destination";
  l.source_workload = header(req, "x-meshproof-source-workload");
  l.source_app = header(req, "x-meshproof-source-app");
  l.source_version = header(req, "x-meshproof-source-version");
  l.source_canonical_service = l.source_app;
  if (l.source_workload != "unknown") {
    l.source_workload_namespace = "default";
  }
  l.destination_workload = workload.meta.name;
  l.destination_workload_namespace = "default";
  l.destination_app = workload.app;
  l.destination_version = workload.version;
  l.destination_service = workload.app;
  l.destination_service_name = workload.app;
  l.destination_canonical_service = workload.app;
  l.destination_canonical_revision = workload.version;
  l.destination_service_namespace = "default";
  l.response_code = std::to_string(res.result_int());
  l.connection_security_policy = "none";
  auto attempt = req.find("x-envoy-attempt-count");
  (attempt == req.end() || attempt->value() == "1" ? first_attempts : retries)->inc();
  uint64_t attempt_number = 1;
  if (attempt != req.end()) {
    const auto v = attempt->value();
    std::from_chars(v.data(), v.data() + v.size(), attempt_number);
  }
  if (served.size() == kServedLog) {
    served.pop_front();
  }
  served.push_back(
      {++served_total,
       std::chrono::duration_cast<std::chrono::milliseconds>(clock.wallNow().time_since_epoch())
           .count(),
       header(req, "x-meshproof-source-pod"), res.result_int(), attempt_number});
  const std::string key = l.response_code + '|' + l.source_workload + '|' + l.source_version;
  auto it = series.find(key);
  if (it == series.end()) {
    it = series.emplace(key, sidecar->istioMetrics().series(l)).first;
  }
  const double ms = std::chrono::duration<double, std::milli>(clock.monotonicNow() - start).count();
  it->second.record(ms, static_cast<double>(req.body().size() + req.target().size() + 64),
                    static_cast<double>(res.body().size() + 64));
}

Pod::Pod(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pod::~Pod() {
  stop();
  if (impl_->sidecar_thread.joinable()) {
    impl_->sidecar_thread.join();
  }
}

core::Result<std::unique_ptr<Pod>> Pod::create(const spec::Spec& spec, PodOptions options,
                                               core::Clock& clock) {
  const spec::Workload* workload = nullptr;
  for (const spec::Workload& w : spec.workloads) {
    if (w.meta.name == options.workload) {
      workload = &w;
    }
  }
  if (workload == nullptr) {
    return core::invalidArgument("no Workload named \"" + options.workload + "\" in the spec");
  }
  auto impl = std::make_unique<Impl>(spec, *workload, std::move(options), clock);
  proxy::ProxyOptions po;
  po.mode = proxy::ProxyMode::Sidecar;
  po.managed = true;
  po.wait_for_config = true;
  po.seed = impl->random.next();
  po.workload = workload->meta.name;
  po.app = workload->app;
  po.pod = impl->options.pod;
  po.version = workload->version;
  auto sidecar = proxy::ProxyServer::create(spec, po, clock);
  if (!sidecar) {
    return core::invalidArgument(impl->options.pod + ": sidecar: " + sidecar.status().message());
  }
  impl->sidecar = std::move(sidecar).value();
  auto& family = impl->sidecar->registry().counter(
      "meshproof_workload_requests_total",
      "Requests this pod served, by attempt (x-envoy-attempt-count 1: first, else retry)",
      {"pod", "app", "version", "attempt"});
  impl->first_attempts = &family.with(
      std::vector<std::string>{impl->options.pod, workload->app, workload->version, "first"});
  impl->retries = &family.with(
      std::vector<std::string>{impl->options.pod, workload->app, workload->version, "retry"});

  const uint16_t port =
      impl->options.port != 0 ? impl->options.port : static_cast<uint16_t>(workload->port);
  impl->acceptor = std::make_unique<tcp::acceptor>(impl->io);
  if (auto st = net::listen(*impl->acceptor, impl->options.address, port,
                            "Workload/" + workload->meta.name);
      !st.isOk()) {
    return st;
  }
  return std::unique_ptr<Pod>(new Pod(std::move(impl)));
}

uint16_t Pod::port() const {
  return impl_->acceptor->local_endpoint().port();
}

uint16_t Pod::adminPort() const {
  return impl_->sidecar->adminPort();
}

uint16_t Pod::outboundPort() const {
  return impl_->sidecar->listeners()[0].port;
}

void Pod::run() {
  Impl& i = *impl_;
  i.sidecar_thread = std::thread([&i] { i.sidecar->run(); });
  asio::co_spawn(i.io, i.accept(), asio::detached);
  if (i.options.handle_signals) {
    i.signals.emplace(i.io, SIGINT, SIGTERM);
    i.signals->async_wait([&i](const boost::system::error_code&, int) { i.io.stop(); });
  }
  i.io.run();
  i.sidecar->stop();
  i.sidecar_thread.join();
}

void Pod::stop() {
  impl_->io.stop();
  impl_->sidecar->stop();
}

} // namespace meshproof::workload
