#include "meshproof/control/control_plane.h"

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "meshproof/core/duration.h"
#include "meshproof/core/random.h"
#include "meshproof/net/asio.h"

namespace meshproof::control {

using namespace std::chrono_literals;
using net::asio::awaitable;
using net::asio::use_awaitable;
namespace asio = net::asio;
namespace beast = net::beast;
namespace http = net::http;
using tcp = net::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using nlohmann::json;

namespace {

constexpr const char* kGateway = "istio-ingressgateway";

// One request to 127.0.0.1:port on a fresh connection; nullopt when there was no answer in time.
awaitable<std::optional<Response>> call(asio::io_context& io, http::verb verb, uint16_t port,
                                        const std::string& target, std::string body,
                                        core::Duration timeout) {
  beast::tcp_stream stream(io);
  stream.expires_after(timeout);
  boost::system::error_code ec;
  co_await stream.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                                asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_return std::nullopt;
  }
  Request req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.keep_alive(false);
  req.prepare_payload();
  co_await http::async_write(stream, req, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_return std::nullopt;
  }
  beast::flat_buffer buffer;
  Response res;
  co_await http::async_read(stream, buffer, res, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_return std::nullopt;
  }
  co_return res;
}

Response jsonReply(const Request& req, http::status status, const json& body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.body() = body.dump(2) + "\n";
  return res;
}

Response errorReply(const Request& req, http::status status, const std::string& message) {
  return jsonReply(req, status, json{{"error", message}});
}

struct Ack {
  uint16_t port = 0;
  uint64_t generation = 0;
};

} // namespace

struct ControlPlane::Impl {
  Impl(const spec::Spec& s, ControlPlaneOptions o, platform::Platform& p, core::Clock& c)
      : spec(s), options(std::move(o)), platform(p), clock(c),
        random(options.seed != 0 ? options.seed
                                 : static_cast<uint64_t>(c.wallNow().time_since_epoch().count())),
        retry_timer(io) {}

  const spec::Spec& spec;
  ControlPlaneOptions options;
  platform::Platform& platform;
  core::Clock& clock;
  core::SeededRandom random;

  std::unique_ptr<proxy::ProxyServer> gateway;
  asio::io_context io{1};
  std::unique_ptr<tcp::acceptor> admin;
  std::optional<asio::signal_set> signals;
  asio::steady_timer retry_timer;
  std::thread api_thread;
  std::thread gateway_thread;
  std::thread watcher_thread;

  // Shared with waitReady() and the watcher.
  mutable std::mutex mu;
  std::condition_variable changed;
  bool stopping = false;
  std::string not_ready = "starting"; // why GET /ready says 503; empty when ready

  // The io thread's own state.
  size_t expected_pods = 0; // every Workload replica; set by start() before the first reconcile
  uint64_t generation = 0;
  json endpoints = json::object();
  std::map<std::string, json> faults; // by id, as posted
  uint64_t next_fault_id = 1;
  std::map<std::string, Ack> acked; // by proxy (pod name or the gateway)
  std::set<std::string> in_flight;  // proxies with a push outstanding
  std::string file_sd_written;

  void reconcile();
  json configBody() const;
  awaitable<void> push(std::string name, uint16_t port, uint64_t gen);
  void writeFileSd(const std::vector<platform::PodStatus>& pods);
  awaitable<void> accept();
  awaitable<void> session(tcp::socket socket);
  awaitable<Response> handle(const Request& req);
  json podsJson() const;
  void setStopping();
};

json ControlPlane::Impl::configBody() const {
  json fs = json::array();
  for (const auto& [id, f] : faults) {
    json copy = f;
    copy["id"] = id;
    fs.push_back(copy);
  }
  return json{{"generation", generation}, {"endpoints", endpoints}, {"faults", fs}};
}

void ControlPlane::Impl::reconcile() {
  const std::vector<platform::PodStatus> pods = platform.pods();
  // Endpoint sets: every ready pod of each Workload host.
  json next = json::object();
  for (const spec::Workload& w : spec.workloads) {
    next[spec::shortHost(w.app)] = json::array();
  }
  for (const platform::PodStatus& p : pods) {
    if (!p.ready || p.port == 0) {
      continue;
    }
    auto app = p.labels.find("app");
    if (app == p.labels.end()) {
      continue;
    }
    next[spec::shortHost(app->second)].push_back({{"address", "127.0.0.1"},
                                                  {"port", p.port},
                                                  {"labels", p.labels},
                                                  {"workload", p.workload},
                                                  {"pod", p.name}});
  }
  if (next != endpoints || generation == 0) {
    endpoints = std::move(next);
    ++generation;
  }
  writeFileSd(pods);
  // Push to every proxy that does not run this generation yet.
  std::vector<std::pair<std::string, uint16_t>> proxies{{kGateway, gateway->adminPort()}};
  for (const platform::PodStatus& p : pods) {
    if (p.phase == platform::PodPhase::Running && p.admin_port != 0) {
      proxies.emplace_back(p.name, p.admin_port);
    }
  }
  std::string why;
  // Every replica must exist first: the first reconcile may run before the platform has the
  // pods, and on an empty list it would find only the gateway's ack missing.
  if (pods.size() < expected_pods) {
    why = std::to_string(pods.size()) + " of " + std::to_string(expected_pods) + " pods exist yet";
  }
  for (const auto& [name, port] : proxies) {
    auto it = acked.find(name);
    const bool current =
        it != acked.end() && it->second.port == port && it->second.generation == generation;
    if (!current) {
      why += (why.empty() ? "" : "; ") + name + " does not run generation " +
             std::to_string(generation) + " yet";
      if (in_flight.insert(name).second) {
        asio::co_spawn(io, push(name, port, generation), asio::detached);
      }
    }
  }
  for (const platform::PodStatus& p : pods) {
    if (!p.ready) {
      why += (why.empty() ? "" : "; ") + p.name + " is not ready (" + platform::phaseName(p.phase) +
             ")";
    }
  }
  {
    std::lock_guard lock(mu);
    not_ready = why;
  }
  changed.notify_all();
}

awaitable<void> ControlPlane::Impl::push(std::string name, uint16_t port, uint64_t gen) {
  auto res = co_await call(io, http::verb::put, port, "/config", configBody().dump(),
                           std::chrono::seconds(2));
  in_flight.erase(name);
  if (res && res->result() == http::status::ok) {
    acked[name] = {port, gen};
    reconcile(); // the generation may have moved on meanwhile
    co_return;
  }
  // The proxy is starting or gone; a platform change or this retry tries again.
  retry_timer.expires_after(200ms);
  retry_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      reconcile();
    }
  });
}

void ControlPlane::Impl::writeFileSd(const std::vector<platform::PodStatus>& pods) {
  if (options.file_sd_path.empty()) {
    return;
  }
  json groups = json::array();
  groups.push_back({{"targets", {"127.0.0.1:" + std::to_string(gateway->adminPort())}},
                    {"labels", {{"pod", kGateway}, {"app", kGateway}, {"version", "unknown"}}}});
  for (const platform::PodStatus& p : pods) {
    if (p.admin_port == 0) {
      continue;
    }
    auto label = [&](const char* k) {
      auto it = p.labels.find(k);
      return it == p.labels.end() ? std::string("unknown") : it->second;
    };
    groups.push_back(
        {{"targets", {"127.0.0.1:" + std::to_string(p.admin_port)}},
         {"labels", {{"pod", p.name}, {"app", label("app")}, {"version", label("version")}}}});
  }
  std::string text = groups.dump(2) + "\n";
  if (text == file_sd_written) {
    return;
  }
  // Prometheus reads the file whole: write a temporary file and rename it over the old one.
  const std::string tmp = options.file_sd_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) {
      return; // reported by the next write that succeeds; the mesh keeps running
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, options.file_sd_path, ec);
  if (!ec) {
    file_sd_written = std::move(text);
  }
}

json ControlPlane::Impl::podsJson() const {
  json out = json::array();
  for (const platform::PodStatus& p : platform.pods()) {
    auto it = acked.find(p.name);
    out.push_back(
        {{"name", p.name},
         {"workload", p.workload},
         {"labels", p.labels},
         {"phase", platform::phaseName(p.phase)},
         {"pid", p.pid},
         {"port", p.port},
         {"admin", p.admin_port},
         {"ready", p.ready},
         {"restarts", p.restarts},
         {"readinessLost", p.readiness_lost},
         {"lastExit", p.last_exit},
         {"generation",
          it != acked.end() && it->second.port == p.admin_port ? it->second.generation : 0},
         {"stderrTail", p.stderr_tail}});
  }
  return out;
}

awaitable<void> ControlPlane::Impl::accept() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await admin->async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      continue;
    }
    asio::co_spawn(io, session(std::move(socket)), asio::detached);
  }
}

awaitable<void> ControlPlane::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1u << 20);
    boost::system::error_code ec;
    stream.expires_after(60s);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      break;
    }
    Request req = parser.release();
    Response res = co_await handle(req);
    res.version(11);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    if (ec || !req.keep_alive()) {
      break;
    }
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<Response> ControlPlane::Impl::handle(const Request& req) {
  const std::string target(req.target());
  const bool get = req.method() == http::verb::get;
  const bool post = req.method() == http::verb::post;
  const bool del = req.method() == http::verb::delete_;
  if ((post || del) && !options.admin_token.empty() &&
      std::string(req[http::field::authorization]) != "Bearer " + options.admin_token) {
    co_return errorReply(req, http::status::unauthorized, "a bearer token is required");
  }
  if (get && target == "/ready") {
    std::string why;
    {
      std::lock_guard lock(mu);
      why = not_ready;
    }
    Response res{why.empty() ? http::status::ok : http::status::service_unavailable, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.body() = why.empty() ? "READY generation " + std::to_string(generation) + "\n" : why + "\n";
    co_return res;
  }
  if (get && target == "/pods") {
    co_return jsonReply(req, http::status::ok, podsJson());
  }
  if (get && target == "/config_dump") {
    json acks = json::object();
    for (const auto& [name, a] : acked) {
      acks[name] = {{"adminPort", a.port}, {"generation", a.generation}};
    }
    json body = configBody();
    body["proxies"] = acks;
    co_return jsonReply(req, http::status::ok, body);
  }
  if (get && target == "/faults") {
    co_return jsonReply(req, http::status::ok, configBody()["faults"]);
  }
  if (post && target == "/faults") {
    if (auto st = proxy::validateFault(req.body()); !st.isOk()) {
      co_return errorReply(req, http::status::bad_request, st.message());
    }
    json body = json::parse(req.body());
    const std::string host = spec::shortHost(body["host"].get<std::string>());
    bool known = false;
    for (const spec::Workload& w : spec.workloads) {
      known = known || spec::shortHost(w.app) == host;
    }
    for (const spec::VirtualService& vs : spec.virtual_services) {
      for (const std::string& h : vs.hosts) {
        known = known || spec::shortHost(h) == host;
      }
    }
    if (!known) {
      co_return errorReply(req, http::status::bad_request,
                           "unknown host \"" + host + "\": no Workload or VirtualService has it");
    }
    const std::string id = "fault-" + std::to_string(next_fault_id++);
    faults[id] = body;
    ++generation;
    reconcile();
    co_return jsonReply(req, http::status::created, {{"id", id}, {"generation", generation}});
  }
  if (del && target.rfind("/faults/", 0) == 0) {
    const std::string id = target.substr(8);
    if (faults.erase(id) == 0) {
      co_return errorReply(req, http::status::not_found, "no fault \"" + id + "\"");
    }
    ++generation;
    reconcile();
    co_return jsonReply(req, http::status::ok, {{"deleted", id}, {"generation", generation}});
  }
  if (post && target.rfind("/pods/", 0) == 0) {
    const std::string rest = target.substr(6);
    const size_t slash = rest.find('/');
    const std::string name = rest.substr(0, slash);
    const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (action == "kill") {
      platform::KillMode mode = platform::KillMode::Kill;
      core::Duration grace = 5s;
      if (!req.body().empty()) {
        const json j = json::parse(req.body(), nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          co_return errorReply(req, http::status::bad_request, "body must be a JSON object");
        }
        const std::string signal = j.value("signal", "KILL");
        if (signal != "KILL" && signal != "TERM") {
          co_return errorReply(req, http::status::bad_request, "signal must be KILL or TERM");
        }
        mode = signal == "KILL" ? platform::KillMode::Kill : platform::KillMode::Terminate;
        if (j.contains("grace")) {
          auto d = j["grace"].is_string()
                       ? core::parseDuration(j["grace"].get<std::string>())
                       : core::Result<core::Duration>(core::invalidArgument("not a string"));
          if (!d) {
            co_return errorReply(req, http::status::bad_request,
                                 "grace must be a duration such as \"5s\"");
          }
          grace = *d;
        }
      }
      if (auto st = platform.kill(name, mode, grace); !st.isOk()) {
        co_return errorReply(req, http::status::not_found, st.message());
      }
      co_return jsonReply(
          req, http::status::accepted,
          {{"killed", name}, {"signal", mode == platform::KillMode::Kill ? "KILL" : "TERM"}});
    }
    if (action == "behaviour") {
      uint16_t port = 0;
      for (const platform::PodStatus& p : platform.pods()) {
        if (p.name == name) {
          port = p.port;
        }
      }
      if (port == 0) {
        co_return errorReply(req, http::status::not_found, "no running pod \"" + name + "\"");
      }
      auto res = co_await call(io, http::verb::post, port, "/control/behaviour", req.body(), 5s);
      if (!res) {
        co_return errorReply(req, http::status::bad_gateway, "pod \"" + name + "\" did not answer");
      }
      Response out = std::move(*res);
      out.version(req.version());
      co_return out;
    }
    co_return errorReply(req, http::status::not_found,
                         "unknown pod action; try POST /pods/NAME/kill or /pods/NAME/behaviour");
  }
  co_return errorReply(req, http::status::not_found,
                       "unknown path; try /ready, /pods, /faults, /config_dump");
}

void ControlPlane::Impl::setStopping() {
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  changed.notify_all();
}

// ------------------------------------------------------------------------------------ facade

ControlPlane::ControlPlane(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlPlane::~ControlPlane() {
  stop();
  for (std::thread* t : {&impl_->api_thread, &impl_->gateway_thread, &impl_->watcher_thread}) {
    if (t->joinable()) {
      t->join();
    }
  }
}

core::Result<std::unique_ptr<ControlPlane>> ControlPlane::create(const spec::Spec& spec,
                                                                 ControlPlaneOptions options,
                                                                 platform::Platform& platform,
                                                                 core::Clock& clock) {
  auto impl = std::make_unique<Impl>(spec, std::move(options), platform, clock);
  if (impl->options.executable.empty()) {
    return core::invalidArgument("control plane: no executable to start pods with");
  }
  proxy::ProxyOptions po;
  po.mode = proxy::ProxyMode::Gateway;
  po.managed = true;
  po.seed = impl->random.next();
  auto gateway = proxy::ProxyServer::create(spec, po, clock);
  if (!gateway) {
    return gateway.status();
  }
  impl->gateway = std::move(gateway).value();
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(impl->options.admin_address, ec);
  if (ec) {
    return core::invalidArgument("control plane admin: \"" + impl->options.admin_address +
                                 "\" is not an IP address");
  }
  if (!ip.is_loopback() && impl->options.admin_token.empty()) {
    return core::invalidArgument("control plane admin: binding " + impl->options.admin_address +
                                 " (not loopback) requires a bearer token");
  }
  impl->admin = std::make_unique<tcp::acceptor>(impl->io);
  if (auto st = net::listen(*impl->admin, impl->options.admin_address, impl->options.admin_port,
                            "control plane admin");
      !st.isOk()) {
    return st;
  }
  return std::unique_ptr<ControlPlane>(new ControlPlane(std::move(impl)));
}

core::Status ControlPlane::start() {
  Impl& i = *impl_;
  std::vector<platform::PodTemplate> pods;
  for (const spec::Workload& w : i.spec.workloads) {
    for (uint32_t r = 0; r < w.replicas; ++r) {
      platform::PodTemplate t;
      t.name = w.meta.name + "-" + std::to_string(r);
      t.workload = w.meta.name;
      t.labels = w.labels;
      t.argv = {i.options.executable, "workload", "--workload", w.meta.name, "--pod", t.name};
      for (const std::string& path : i.options.spec_paths) {
        t.argv.push_back("-f");
        t.argv.push_back(path);
      }
      t.argv.push_back("--seed");
      t.argv.push_back(std::to_string(i.random.next() | 1));
      pods.push_back(std::move(t));
    }
  }
  asio::co_spawn(i.io, i.accept(), asio::detached);
  if (i.options.handle_signals) {
    i.signals.emplace(i.io, SIGINT, SIGTERM);
    i.signals->async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) {
        stop();
      }
    });
  }
  i.expected_pods = pods.size();
  asio::post(i.io, [&i] { i.reconcile(); });
  i.api_thread = std::thread([&i] {
    auto guard = asio::make_work_guard(i.io);
    i.io.run();
  });
  i.gateway_thread = std::thread([&i] { i.gateway->run(); });
  if (auto st = i.platform.start(pods); !st.isOk()) {
    return st;
  }
  i.watcher_thread = std::thread([&i] {
    uint64_t seen = 0;
    for (;;) {
      {
        std::lock_guard lock(i.mu);
        if (i.stopping) {
          return;
        }
      }
      seen = i.platform.waitForChange(seen, 500ms);
      asio::post(i.io, [&i] { i.reconcile(); });
    }
  });
  return core::Status::ok();
}

core::Status ControlPlane::waitReady(core::Duration timeout, uint32_t crash_limit) {
  Impl& i = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(i.mu);
  for (;;) {
    if (i.stopping) {
      return core::invalidArgument("stopped before the mesh was ready");
    }
    if (i.not_ready.empty()) {
      return core::Status::ok();
    }
    lock.unlock();
    for (const platform::PodStatus& p : i.platform.pods()) {
      if (!p.ever_ready && p.restarts + (p.pid == 0 ? 1 : 0) >= crash_limit &&
          !p.last_exit.empty()) {
        std::string tail;
        for (const std::string& l : p.stderr_tail) {
          tail += "\n    " + l;
        }
        return core::invalidArgument(
            "pod " + p.name + " cannot start: it exited " +
            std::to_string(p.restarts + (p.pid == 0 ? 1 : 0)) + " times (last: " + p.last_exit +
            "); its last stderr lines:" + (tail.empty() ? std::string("\n    (none)") : tail));
      }
    }
    lock.lock();
    if (std::chrono::steady_clock::now() >= deadline) {
      return core::invalidArgument("the mesh was not ready within " +
                                   core::formatDuration(timeout) + ": " + i.not_ready);
    }
    i.changed.wait_for(lock, 100ms);
  }
}

void ControlPlane::wait() {
  Impl& i = *impl_;
  std::unique_lock lock(i.mu);
  i.changed.wait(lock, [&i] { return i.stopping; });
}

void ControlPlane::stop() {
  Impl& i = *impl_;
  i.setStopping();
  i.io.stop();
  if (i.gateway) {
    i.gateway->stop();
  }
}

bool ControlPlane::stopped() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stopping;
}

uint16_t ControlPlane::adminPort() const {
  return impl_->admin->local_endpoint().port();
}

uint16_t ControlPlane::gatewayAdminPort() const {
  return impl_->gateway->adminPort();
}

const std::vector<proxy::Listener>& ControlPlane::gatewayListeners() const {
  return impl_->gateway->listeners();
}

} // namespace meshproof::control
