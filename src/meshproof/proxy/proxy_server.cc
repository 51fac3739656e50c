#include "meshproof/proxy/proxy_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/container/small_vector.hpp>

#include "meshproof/core/random.h"
#include "meshproof/core/time.h"
#include "meshproof/metrics/envoy_stats.h"
#include "meshproof/metrics/istio_metrics.h"
#include "meshproof/net/asio.h"
#include "meshproof/net/byte_buffer.h"
#include "meshproof/net/socket_read.h"

#include "meshproof/proxy/message.h"
#include "meshproof/proxy/outlier_detector.h"
#include "meshproof/proxy/read_deadline.h"
#include "meshproof/proxy/retry_state.h"
#include "meshproof/proxy/router.h"
#include <nlohmann/json.hpp>

namespace meshproof::proxy {

using namespace std::chrono_literals;
namespace asio = net::asio;
namespace beast = net::beast;
namespace http = net::http;
using tcp = net::tcp;
// The proxy's one io_context's executor, named as a concrete type: Asio's default
// any_io_executor is type-erased, and its copies, moves and dispatch through a function table
// cost more than a tenth of the proxy's user-space instructions per request (callgrind).
using Executor = asio::io_context::executor_type;
template <typename T>
using awaitable = asio::awaitable<T, Executor>;
constexpr asio::use_awaitable_t<Executor> use_awaitable;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
using Stream = beast::basic_stream<tcp, Executor>;

namespace {

// Envoy's local-reply bodies (istio-envoy-semantics.md §4.3).
constexpr const char* kNoHealthyUpstream = "no healthy upstream";
constexpr const char* kUpstreamTimeout = "upstream request timeout";
constexpr const char* kFaultAbort = "fault filter abort";
constexpr const char* kResetPrefix = "upstream connect error or disconnect/reset before headers. ";

struct Endpoint {
  std::string address;
  uint16_t port = 0;
  // Transparent, as RequestLog::flags: record()'s find("app") per request builds no string.
  std::map<std::string, std::string, std::less<>> labels;
  std::string workload; // the pod's Workload (control-plane endpoints); empty for ServiceEntries
  // "address:port": routing, pooling and outlier detection look it up per request. Set by share(),
  // before the endpoint is shared with the workers (EndpointPtr is to const, read by every worker).
  const std::string& key() const { return key_cache; }
  std::string key_cache;
};

using EndpointPtr = std::shared_ptr<const Endpoint>;

// `e` as the workers read it, its key set.
EndpointPtr share(const Endpoint& e) {
  auto out = std::make_shared<Endpoint>(e);
  out->key_cache = e.address + ":" + std::to_string(e.port);
  return out;
}

// A cluster's connection-pool circuit breakers (istio-envoy-semantics.md §2.6-2.7), shared by
// every worker as Envoy's resource manager is: connections (open, idle or busy, in every worker's
// pool) against max_connections, requests in flight against max_requests, and requests queued for
// a connection against max_pending_requests. Slots are taken by compare-and-swap (tryTakeSlot), so
// racing workers cannot both take the last one: max_requests and max_pending_requests are never
// exceeded, and max_connections only by the one-connection-per-pool rule (LocalPool::open).
// Envoy's checks are approximate under concurrency; these are what its documentation promises.
struct ClusterBudget {
  uint64_t max_connections = spec::kUnlimited;
  uint64_t max_pending = spec::kUnlimited;
  uint64_t max_requests = spec::kUnlimited;
  uint64_t max_requests_per_connection = 0; // 0: unlimited
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> active_requests{0};
  std::atomic<uint64_t> pending{0};
  metrics::ClusterStats* stats = nullptr;
  // Set when more than one worker shares the cluster: the gauges are then set under `gauges`, so
  // the last value set is computed from the latest counts (two workers computing at once could
  // otherwise leave an older count's value, a breaker shown open with nothing in flight).
  bool shared = false;
  mutable std::mutex gauges;

  void updateGauges() const {
    if (stats == nullptr) {
      return;
    }
    std::unique_lock<std::mutex> lock(gauges, std::defer_lock);
    if (shared) {
      lock.lock();
    }
    const uint64_t cx = connections.load(std::memory_order_relaxed);
    const uint64_t queued = pending.load(std::memory_order_relaxed);
    stats->cb_cx_open.set(cx >= max_connections ? 1 : 0);
    stats->cb_rq_pending_open.set(queued >= max_pending ? 1 : 0);
    stats->cb_remaining_cx.set(remaining(max_connections, cx));
    stats->cb_remaining_pending.set(remaining(max_pending, queued));
    setRequestGauges();
  }
  // The two of them that follow active_requests alone (set twice per request).
  void updateRequestGauges() const {
    if (stats == nullptr) {
      return;
    }
    std::unique_lock<std::mutex> lock(gauges, std::defer_lock);
    if (shared) {
      lock.lock();
    }
    setRequestGauges();
  }
  static double remaining(uint64_t max, uint64_t used) {
    return static_cast<double>(used >= max ? 0 : max - used);
  }

private:
  void setRequestGauges() const {
    const uint64_t active = active_requests.load(std::memory_order_relaxed);
    stats->cb_rq_open.set(active >= max_requests ? 1 : 0);
    stats->cb_remaining_rq.set(remaining(max_requests, active));
  }
};

// A connection's reads into a ByteBuffer, each bounded by the connection's one ReadDeadline.
struct Reader {
  explicit Reader(const Executor& ex) : deadline(ex) {}
  ReadDeadline deadline;
  size_t old = 0; // the buffer's size when the current read began
};

struct UpstreamConnection;

// One worker's connections to one cluster's hosts (Envoy's per-worker connection pool) and that
// worker's requests waiting for one. Used on its worker's thread only.
struct LocalPool {
  explicit LocalPool(ClusterBudget& b) : budget(b) {}
  LocalPool(const LocalPool&) = delete;
  LocalPool& operator=(const LocalPool&) = delete;
  ClusterBudget& budget;
  // Keep-alive connections by endpoint key.
  std::map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>, std::less<>> idle;
  // This pool's connections by endpoint key, idle, busy or connecting: a host with none gets one
  // even past max_connections (§2.7), so no worker's requests wait for connections of another.
  std::map<std::string, uint32_t, std::less<>> open;
  // Pending requests, oldest first. A waiter leaves the queue when notify() wakes it, so a second
  // notify() before it has run wakes the next one (a wake-up is never spent twice on one waiter).
  std::deque<std::shared_ptr<Timer>> waiters;
  size_t next = 0;      // round robin over the cluster's hosts
  bool closing = false; // the proxy is being destroyed: wake nobody

  // Wakes the oldest pending request: a connection went idle or closed. A waiter whose time ran
  // out already (its wait completed, cancel() finds nothing) is passed over.
  void notify() {
    while (!closing && !waiters.empty()) {
      const std::shared_ptr<Timer> waiter = std::move(waiters.front());
      waiters.pop_front();
      if (waiter->cancel() > 0) {
        return;
      }
    }
  }
  uint32_t openTo(std::string_view key) const {
    auto it = open.find(key);
    return it == open.end() ? 0 : it->second;
  }
};

// A connection to an upstream host. It is made after its attempt took one of the cluster's
// connection slots (ClusterBudget::connections) and gives the slot back when it closes.
struct UpstreamConnection {
  UpstreamConnection(const Executor& ex, LocalPool& p, const std::string& endpoint_key)
      : stream(ex), reader(ex), pool(p), key(endpoint_key) {
    ++pool.open[key];
    pool.budget.updateGauges();
  }
  ~UpstreamConnection() {
    if (auto it = pool.open.find(key); it != pool.open.end() && --it->second == 0) {
      pool.open.erase(it);
    }
    if (pass_slot_on) {
      return; // the slot stays taken, for the connection that replaces this one
    }
    pool.budget.connections.fetch_sub(1, std::memory_order_relaxed);
    if (!pool.closing) {
      try {
        pool.budget.updateGauges();
        pool.notify();
      } catch (...) { // NOLINT(bugprone-empty-catch): a waiter wakes at its own timeout instead
      }
    }
  }
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;
  Stream stream;
  Reader reader;                 // the reads' deadline (Beast's expiry bounds connect and writes)
  net::ByteBuffer in;            // bytes read from the upstream and not yet consumed
  net::http1::ResponseHead head; // the last response's (its fields' capacity is reused)
  std::string wire;              // the request being sent (its capacity is reused)
  LocalPool& pool;               // outlives its connections (Impl's destructor)
  const std::string key;         // the endpoint's
  uint64_t requests = 0;         // served on this connection
  // Set on a pooled connection that failed when reused: its slot goes to the fresh connection
  // that replaces it, so closing it neither gives the slot back nor wakes a waiter.
  bool pass_slot_on = false;
};

// The hosts a request has tried (previous_hosts), inline for the usual few attempts.
using TriedHosts = boost::container::small_vector<std::string, 4>;

// A cluster (host and subset) as every worker shares it. Built before the workers start; at run
// time only the main thread changes `endpoints` (the workers read theirs from the ConfigSnapshot)
// and the rest is thread-safe (detector, breaker, budget, stats) or constant.
struct Cluster {
  size_t index = 0; // in Impl::cluster_list, ConfigSnapshot::endpoints and Worker::pools
  std::string name;
  std::string host;
  std::string subset;
  std::map<std::string, std::string> selector; // the subset's labels
  std::vector<Endpoint> static_endpoints;      // from ServiceEntries
  // Static plus the control plane's, selected by `selector`; the main thread's copy.
  std::vector<EndpointPtr> endpoints;
  std::unique_ptr<OutlierDetector> outlier;
  std::unique_ptr<ResourceLimit> retry_breaker;
  metrics::ClusterStats* stats = nullptr;
  core::Duration connect_timeout = spec::kDefaultConnectTimeout;
  ClusterBudget budget;
};

struct HostRoutes {
  std::vector<const spec::HttpRoute*> routes;
  std::optional<RouteTable> table;
};

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<int64_t> headerMillis(const std::map<std::string, std::string>& h, const char* name) {
  if (h.empty()) {
    return std::nullopt; // (find would build a std::string of `name` first)
  }
  auto it = h.find(name);
  if (it == h.end()) {
    return std::nullopt;
  }
  try {
    size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 0) {
      return std::nullopt;
    }
    // Bounded, so that converting to nanoseconds cannot overflow: 30 days is "no timeout" anyway.
    return std::min<long long>(v, 30LL * 24 * 3600 * 1000);
  } catch (...) {
    return std::nullopt;
  }
}

// Outcome of one attempt.
struct Attempt {
  bool has_response = false;
  Response response;
  ResetReason reason = ResetReason::RemoteReset;
  // Set with RemoteReset: the upstream broke the framing (a bad status line, a bad chunk, a 101 the
  // proxy did not ask for): 502 UPE, not retried.
  bool protocol_error = false;
  // Set with RemoteReset: the response head had arrived when the connection broke. Envoy would
  // have streamed it downstream already, so it is not retried (503 UC: meshproof buffers).
  bool after_headers = false;
  // No byte from the upstream for stream_idle_timeout on a request without a timeout: 504 SI.
  bool idle_timeout = false;
  // The response fields the retry decision reads (grpc-status, x-envoy-ratelimited), names lower
  // case; taken while the fields are copied, so the decision searches nothing.
  std::map<std::string, std::string> retry_fields;
};

// A fault set through the admin API; applies to every route of `host` (short name).
struct RuntimeFault { // NOLINT(bugprone-exception-escape): json's moves are noexcept in practice
  std::string id;
  std::string host;
  spec::FaultInjection fault;
  nlohmann::json source; // as posted, for /faults and /config_dump
};

struct RequestLog {
  std::set<std::string, std::less<>> flags; // transparent: count("UH") builds no string
  EndpointPtr endpoint;
  std::string destination_host;

  std::string flagString() const {
    if (flags.empty()) {
      return "-";
    }
    std::string out;
    for (const auto& f : flags) {
      out += (out.empty() ? "" : ",") + f;
    }
    return out;
  }
};

// The x-meshproof-source-* lines of `options`, as UpstreamFields::source_fields (built once).
std::string sourceFields(const ProxyOptions& options) {
  std::string out;
  appendField(out, "x-meshproof-source-workload", options.workload);
  appendField(out, "x-meshproof-source-app", options.app);
  appendField(out, "x-meshproof-source-version", options.version);
  if (!options.pod.empty()) {
    appendField(out, "x-meshproof-source-pod", options.pod);
  }
  return out;
}

} // namespace

// What the admin API changes at run time, as the workers read it. Replaced whole, never changed:
// a worker takes the newest at the start of each request (Impl::refresh(Worker&)).
struct ConfigSnapshot {
  uint64_t version = 0;                            // Impl::snapshot_version when published
  std::vector<std::vector<EndpointPtr>> endpoints; // by Cluster::index
  // Runtime faults in id order (a later one for the same host wins), as (short host, fault).
  std::vector<std::pair<std::string, spec::FaultInjection>> faults;

  // Whether `key` is one of cluster `index`'s endpoints (a worker pools connections to those
  // only). A cluster has a few endpoints: a scan.
  bool serves(size_t index, std::string_view key) const {
    const std::vector<EndpointPtr>& list = endpoints[index];
    return std::any_of(list.begin(), list.end(),
                       [&](const EndpointPtr& e) { return e->key() == key; });
  }
};

// A connection being served; a drain closes the idle ones.
struct Session {
  Stream* stream;
  bool admin;
  bool idle = true; // waiting for the first byte of a request
};

// A downstream listener's statistics for one worker, as Envoy names them
// (envoy_listener_worker_<N>_downstream_cx_total{envoy_listener_address="127.0.0.1_8080"}) and
// summed over the workers (envoy_listener_downstream_cx_total, _active).
struct ListenerStats {
  metrics::Counter* worker_total = nullptr;
  metrics::Gauge* worker_active = nullptr;
  metrics::Counter* total = nullptr;
  metrics::Gauge* active = nullptr;
};

// One thread's loop: its io_context and the connections it serves. The main loop serves the admin
// port (and, with one worker, is that worker's loop too); a worker serves downstream connections
// with its own upstream pools, generator, metrics handles and configuration snapshot. Everything
// here is used on its own thread only, except `connections` (read by the main thread's balancer).
struct Worker {
  Worker(size_t i, asio::io_context& loop, core::SeededRandom r)
      : index(i), io(loop), random(std::move(r)) {}
  size_t index;
  asio::io_context& io;
  core::SeededRandom random;
  std::set<Session*> sessions;
  bool draining = false;
  bool drained = false;                 // told the main loop, once
  std::atomic<uint64_t> connections{0}; // downstream connections handed to it and still open
  std::vector<std::unique_ptr<LocalPool>> pools; // by Cluster::index
  std::vector<ListenerStats> listener_stats;     // by listener index
  std::shared_ptr<const ConfigSnapshot> snapshot;
  uint64_t snapshot_version = 0;
  // istio_* children per distinct label set; the labels that vary per request form the key.
  std::unordered_map<std::string, metrics::IstioMetrics::Series> series;
  std::string series_key; // record()'s scratch
};

struct ProxyServer::Impl {
  Impl(const spec::Spec& s, ProxyOptions o, core::Clock& c)
      : spec(s), options(std::move(o)), clock(c),
        random(options.seed != 0 ? options.seed
                                 : static_cast<uint64_t>(c.wallNow().time_since_epoch().count())),
        istio(registry), envoy(registry) {}

  // The loops go first, while everything their coroutines and sockets use is still there: idle
  // pooled connections and listening sockets close on their live io_context, then each io_context
  // is destroyed with the coroutine frames it holds (whose connections give back their budget to
  // pools and clusters that are still alive).
  ~Impl() {
    stopAll(); // run() joined the threads; this is for a server destroyed without run() returning
    for (std::thread& t : threads) {
      if (t.joinable()) {
        t.join();
      }
    }
    stopping = true; // coroutine frames destroyed below must not stop or post anything
    for (auto& w : workers) {
      for (auto& pool : w->pools) {
        pool->closing = true;
        pool->idle.clear();
        pool->waiters.clear();
      }
    }
    acceptors.clear();
    admin.reset();
    signals.reset();
    drain_timer.reset();
    worker_ios.clear();
    main_io.reset();
  }

  const spec::Spec& spec;
  ProxyOptions options;
  const std::string source_fields = sourceFields(options); // UpstreamFields::source_fields
  core::Clock& clock;
  core::SeededRandom random; // worker 0's generator; the others are forked from it
  metrics::Registry registry;
  metrics::IstioMetrics istio;
  metrics::EnvoyClusterMetrics envoy;

  // ---- the main thread's: the admin API reads and changes these
  std::map<std::string, RuntimeFault> faults; // by id
  uint64_t generation = 1;                    // bumped on every configuration change
  uint64_t next_fault_id = 1;
  std::set<std::string> dynamic_hosts; // Workload hosts: endpoints from the control plane
  std::map<std::string, std::vector<Endpoint>> dynamic_endpoints; // by short host
  bool configured = false;                                        // a PUT /config arrived
  std::atomic<bool> stopping{false};
  size_t drained = 0; // loops (workers and main) that finished draining
  std::vector<Listener> listeners;

  // ---- built before run(), then read by every worker
  std::map<std::string, HostRoutes> routes;                 // by short host
  std::map<std::string, std::unique_ptr<Cluster>> clusters; // by host|subset
  std::vector<Cluster*> cluster_list;                       // by Cluster::index
  // clusterFor's answers by destination: the spec (and so its routes' destinations) is fixed for
  // the server's life and clusters are never removed, so the pointers stay valid.
  std::unordered_map<const spec::Destination*, Cluster*> cluster_of;
  // Upstream responses: the downstream head limits (Envoy applies max_headers_count to both),
  // bodies up to 64 MiB.
  const net::http1::Limits upstream_limits = [this] {
    net::http1::Limits l = options.limits;
    l.max_body_bytes = uint64_t{64} << 20;
    return l;
  }();
  std::deque<spec::HttpRoute> default_routes; // for hosts without a VirtualService

  // ---- the configuration the workers see (publish(), Worker::refresh)
  std::mutex snapshot_mutex;
  std::shared_ptr<const ConfigSnapshot> snapshot; // guarded by snapshot_mutex
  std::atomic<uint64_t> snapshot_version{0};

  // ---- the loops. One thread runs each io_context and only stop(), posts and the balancer's
  // handoffs come from another, so Asio's per-descriptor locks are off (the scheduler's stay).
  std::unique_ptr<asio::io_context> main_io =
      std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  std::vector<std::unique_ptr<asio::io_context>> worker_ios; // empty with one worker
  std::unique_ptr<Worker> main_loop;                         // the admin port's sessions
  std::vector<std::unique_ptr<Worker>> workers;
  size_t next_worker = 0; // the balancer's tie-break
  std::optional<Timer> drain_timer;
  std::vector<std::unique_ptr<Acceptor>> acceptors; // by listener, on main_io
  std::unique_ptr<Acceptor> admin;
  std::optional<asio::basic_signal_set<Executor>> signals;
  std::vector<std::thread> threads;

  // ------------------------------------------------------------------ building
  core::Status build();
  Cluster& clusterFor(const spec::Destination& d);
  core::Status buildRoutes(const std::string& host);
  void buildWorkers();
  void refresh(Cluster& c);
  // Makes the main thread's endpoints and faults the workers' (every request started afterwards
  // sees them). Main thread.
  void publish();
  Response putConfig(const Request& req);

  // ------------------------------------------------------------------ serving
  // Accepts connections on `acceptor` (main loop) and hands each to a worker (`listener`), or
  // serves it on the main loop (the admin port: `listener` null).
  awaitable<void> accept(Acceptor& acceptor, const Listener* listener);
  Worker& pickWorker();
  void handOff(Worker& w, int fd, const Listener* listener, tcp protocol);
  awaitable<void> session(Worker& w, Socket socket, const Listener* listener);
  awaitable<void> closeAfterError(Stream& stream, unsigned status, const std::string& body);
  // Takes the newest configuration snapshot if it changed; closes pooled connections to endpoints
  // that left. Worker thread.
  void refresh(Worker& w);
  void beginDrain();                // main thread
  void beginWorkerDrain(Worker& w); // w's thread
  void maybeFinishDrain(Worker& w); // w's thread
  void stopAll();                   // any thread
  // The short host a request on `listener` goes to: its Gateway's, or (sidecar outbound) the one
  // its Host field names; empty when no route knows that host (404 NR). Not a coroutine: a frame
  // per request for it cost an allocation.
  std::string routeHost(const Request& req, const Listener& listener) const;
  // `storage`: a response whose buffers the upstream's response is read into (moved from), so a
  // keep-alive connection allocates none per request.
  awaitable<Response> route(Worker& w, Request& req, const std::string& host, uint16_t port,
                            RequestLog& log, Response& storage);
  awaitable<Attempt> attempt(Worker& w, Cluster& cluster, const Endpoint& ep, Request& req,
                             Response& storage, uint32_t attempt_count,
                             std::optional<core::Duration> timeout, int64_t expected_timeout_ms);
  awaitable<void> tick(Cluster& cluster);
  awaitable<bool> sleepFor(asio::io_context& io, core::Duration d);
  Response adminResponse(const Request& req);
  Response postFault(const Request& req);
  nlohmann::json configDump() const;
  nlohmann::json outlierEvents() const;
  EndpointPtr pickHost(Worker& w, Cluster& c, const TriedHosts& tried);
  Response localReply(const Request& req, unsigned status, const std::string& body);
  // `took`: from the request read to its response ready.
  void record(Worker& w, const Request& req, const Response& res, const RequestLog& log,
              core::Duration took);
};

Cluster& ProxyServer::Impl::clusterFor(const spec::Destination& d) {
  if (auto cached = cluster_of.find(&d); cached != cluster_of.end()) {
    return *cached->second;
  }
  const std::string key = spec::shortHost(d.host) + "|" + d.subset;
  auto it = clusters.find(key);
  if (it != clusters.end()) {
    cluster_of.emplace(&d, it->second.get());
    return *it->second;
  }
  auto c = std::make_unique<Cluster>();
  c->host = d.host;
  c->subset = d.subset;
  const spec::DestinationRule* dr = spec.destinationRuleFor(d.host);
  const spec::TrafficPolicy* policy = dr != nullptr ? &dr->traffic_policy : nullptr;
  std::map<std::string, std::string>& selector = c->selector;
  if (dr != nullptr && !d.subset.empty()) {
    if (const spec::Subset* s = dr->findSubset(d.subset)) {
      selector = s->labels;
      policy = &s->traffic_policy;
    }
  }
  uint32_t port_number = d.port.value_or(0);
  for (const spec::ServiceEntry* se : spec.serviceEntriesFor(d.host)) {
    const spec::ServicePort* sp = nullptr;
    for (const spec::ServicePort& p : se->ports) {
      if (port_number == 0 || p.number == port_number) {
        sp = &p;
        break;
      }
    }
    if (sp == nullptr) {
      continue;
    }
    port_number = sp->number;
    for (const spec::WorkloadEntry& e : se->endpoints) {
      const bool selected = std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
        auto l = e.labels.find(kv.first);
        return l != e.labels.end() && l->second == kv.second;
      });
      if (!selected) {
        continue;
      }
      auto named = e.ports.find(sp->name);
      const uint32_t port = named != e.ports.end() ? named->second
                            : sp->target_port != 0 ? sp->target_port
                                                   : sp->number;
      c->static_endpoints.push_back(
          {e.address, static_cast<uint16_t>(port), {e.labels.begin(), e.labels.end()}, "", {}});
    }
  }
  if (port_number == 0 && dynamic_hosts.count(spec::shortHost(d.host)) != 0) {
    port_number = 80; // a Workload host: its Kubernetes Service port, as Istio names the cluster
  }
  c->name = metrics::outboundClusterName(port_number, d.subset, d.host);
  c->stats = &envoy.forCluster(c->name);
  uint64_t max_retries = spec::kUnlimited;
  c->budget.stats = c->stats;
  c->budget.shared = options.concurrency > 1;
  if (policy != nullptr && policy->connection_pool) {
    const spec::ConnectionPool& pool = *policy->connection_pool;
    max_retries = pool.max_retries;
    c->connect_timeout = pool.connect_timeout;
    c->budget.max_connections = pool.max_connections;
    c->budget.max_pending = pool.http1_max_pending_requests;
    c->budget.max_requests = pool.http2_max_requests;
    c->budget.max_requests_per_connection = pool.max_requests_per_connection;
  }
  c->budget.updateGauges();
  c->retry_breaker = std::make_unique<ResourceLimit>(max_retries);
  if (policy != nullptr && policy->outlier_detection) {
    c->outlier = std::make_unique<OutlierDetector>(*policy->outlier_detection, clock, c->stats);
  }
  refresh(*c);
  auto& ref = *c;
  ref.index = cluster_list.size();
  cluster_list.push_back(&ref);
  clusters.emplace(key, std::move(c));
  cluster_of.emplace(&d, &ref);
  return ref;
}

void ProxyServer::Impl::refresh(Cluster& c) {
  std::vector<EndpointPtr> next;
  auto selected = [&](const Endpoint& e) {
    return std::all_of(c.selector.begin(), c.selector.end(), [&](const auto& kv) {
      auto l = e.labels.find(kv.first);
      return l != e.labels.end() && l->second == kv.second;
    });
  };
  for (const Endpoint& e : c.static_endpoints) {
    next.push_back(share(e));
  }
  auto dyn = dynamic_endpoints.find(spec::shortHost(c.host));
  if (dyn != dynamic_endpoints.end()) {
    for (const Endpoint& e : dyn->second) {
      if (selected(e)) {
        next.push_back(share(e));
      }
    }
  }
  c.endpoints = std::move(next);
  if (c.outlier) {
    std::vector<std::string> keys;
    for (const EndpointPtr& e : c.endpoints) {
      keys.push_back(e->key());
    }
    c.outlier->setHosts(keys);
  }
}

core::Status ProxyServer::Impl::buildRoutes(const std::string& host) {
  // Routes for a host: its VirtualServices, or Istio's default route (no VS).
  if (routes.count(host) != 0) {
    return core::Status::ok();
  }
  HostRoutes hr;
  for (const spec::VirtualService* vs : spec.virtualServicesFor(host)) {
    for (const spec::HttpRoute& r : vs->http) {
      hr.routes.push_back(&r);
    }
  }
  if (hr.routes.empty()) {
    spec::HttpRoute r;
    r.name = "default";
    r.path = "(no VirtualService)";
    r.retries = spec::defaultRetryPolicy();
    spec::RouteDestination rd;
    rd.destination.host = host;
    r.route.push_back(rd);
    default_routes.push_back(std::move(r));
    hr.routes.push_back(&default_routes.back());
  }
  auto table = RouteTable::build(hr.routes);
  if (!table) {
    return table.status();
  }
  hr.table = std::move(table).value();
  for (const spec::HttpRoute* r : hr.routes) {
    for (const spec::RouteDestination& rd : r->route) {
      clusterFor(rd.destination);
    }
  }
  routes.emplace(host, std::move(hr));
  return core::Status::ok();
}

core::Status ProxyServer::Impl::build() {
  if (options.concurrency < 1 || options.concurrency > kMaxConcurrency) {
    return core::invalidArgument("concurrency: " + std::to_string(options.concurrency) +
                                 " workers; it must be 1 to " + std::to_string(kMaxConcurrency));
  }
  if (options.managed) {
    for (const spec::Workload& w : spec.workloads) {
      dynamic_hosts.insert(spec::shortHost(w.app));
    }
  }
  if (options.mode == ProxyMode::Sidecar) {
    // Every host the spec knows, routed by the Host header.
    std::set<std::string> hosts = dynamic_hosts;
    for (const spec::VirtualService& vs : spec.virtual_services) {
      for (const std::string& h : vs.hosts) {
        hosts.insert(spec::shortHost(h));
      }
    }
    for (const spec::ServiceEntry& se : spec.service_entries) {
      for (const std::string& h : se.hosts) {
        hosts.insert(spec::shortHost(h));
      }
    }
    for (const std::string& h : hosts) {
      if (auto st = buildRoutes(h); !st.isOk()) {
        return st;
      }
    }
    auto acceptor = std::make_unique<Acceptor>(*main_io);
    if (auto st =
            net::listen(*acceptor, options.outbound_address, options.outbound_port, "outbound");
        !st.isOk()) {
      return st;
    }
    listeners.push_back(
        {"outbound", options.outbound_address, acceptor->local_endpoint().port(), ""});
    acceptors.push_back(std::move(acceptor));
  } else if (spec.gateways.empty()) {
    return core::invalidArgument(
        "the spec has no Gateway (meshproof.dev/v1alpha1): nothing to listen on");
  }
  for (const spec::Gateway& g : spec.gateways) {
    if (options.mode != ProxyMode::Gateway) {
      break;
    }
    const std::string host = spec::shortHost(g.host);
    if (auto st = buildRoutes(host); !st.isOk()) {
      return st;
    }
    size_t endpoints = 0;
    for (const spec::HttpRoute* r : routes.at(host).routes) {
      for (const spec::RouteDestination& rd : r->route) {
        endpoints += clusterFor(rd.destination).endpoints.size();
      }
    }
    if (endpoints == 0 && dynamic_hosts.count(host) == 0) {
      return core::invalidArgument(
          "Gateway/" + g.meta.name + ": host \"" + g.host +
          "\" has no ServiceEntry endpoints; `meshproof proxy` forwards to ServiceEntry "
          "endpoints (your own running services), Workload pods run with `meshproof up`");
    }
    auto acceptor = std::make_unique<Acceptor>(*main_io);
    if (auto st = net::listen(*acceptor, g.address, static_cast<uint16_t>(g.port),
                              "Gateway/" + g.meta.name);
        !st.isOk()) {
      return st;
    }
    listeners.push_back({g.meta.name, g.address, acceptor->local_endpoint().port(), g.host});
    acceptors.push_back(std::move(acceptor));
  }
  admin = std::make_unique<Acceptor>(*main_io);
  boost::system::error_code ec;
  const auto admin_ip = asio::ip::make_address(options.admin_address, ec);
  if (!ec && !admin_ip.is_loopback() && options.admin_token.empty()) {
    return core::invalidArgument("admin: binding " + options.admin_address +
                                 " (not loopback) requires a bearer token for mutating calls");
  }
  if (auto st = net::listen(*admin, options.admin_address, options.admin_port, "admin");
      !st.isOk()) {
    return st;
  }
  buildWorkers();
  publish();
  return core::Status::ok();
}

void ProxyServer::Impl::buildWorkers() {
  main_loop = std::make_unique<Worker>(SIZE_MAX, *main_io, core::SeededRandom(random.seed()));
  registry
      .gauge("envoy_server_concurrency", "Worker threads of this proxy (Envoy's --concurrency).")
      .with({})
      .set(options.concurrency);
  auto& total =
      registry.counter("envoy_listener_downstream_cx_total",
                       "Downstream connections accepted, all workers.", {"envoy_listener_address"});
  auto& active =
      registry.gauge("envoy_listener_downstream_cx_active",
                     "Downstream connections open, all workers.", {"envoy_listener_address"});
  for (uint32_t k = 0; k < options.concurrency; ++k) {
    asio::io_context* io = main_io.get();
    if (options.concurrency > 1) {
      worker_ios.push_back(
          std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
      io = worker_ios.back().get();
    }
    // Worker 0 keeps the seeded generator itself, so one worker repeats a seeded run exactly.
    auto w = std::make_unique<Worker>(k, *io, k == 0 ? random : random.fork());
    for (Cluster* c : cluster_list) {
      w->pools.push_back(std::make_unique<LocalPool>(c->budget));
    }
    const std::string prefix = "envoy_listener_worker_" + std::to_string(k) + "_";
    auto& worker_total = registry.counter(prefix + "downstream_cx_total",
                                          "Downstream connections this worker accepted.",
                                          {"envoy_listener_address"});
    auto& worker_active =
        registry.gauge(prefix + "downstream_cx_active",
                       "Downstream connections this worker serves.", {"envoy_listener_address"});
    for (const Listener& l : listeners) {
      // Envoy's listener address tag: the address and port joined by '_'.
      const std::string address = l.address + "_" + std::to_string(l.port);
      w->listener_stats.push_back({&worker_total.with({address}), &worker_active.with({address}),
                                   &total.with({address}), &active.with({address})});
    }
    workers.push_back(std::move(w));
  }
}

void ProxyServer::Impl::publish() {
  auto next = std::make_shared<ConfigSnapshot>();
  next->version = snapshot_version.load(std::memory_order_relaxed) + 1;
  for (const Cluster* c : cluster_list) {
    next->endpoints.push_back(c->endpoints);
  }
  for (const auto& [id, f] : faults) {
    next->faults.emplace_back(f.host, f.fault);
  }
  const uint64_t version = next->version;
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex);
    snapshot = std::move(next);
  }
  snapshot_version.store(version, std::memory_order_release);
  // Each worker also takes it now, not only at its next request, so one without traffic closes
  // its pooled connections to endpoints that left (they hold max_connections slots).
  for (auto& w : workers) {
    if (&w->io == main_io.get()) {
      refresh(*w);
    } else {
      asio::post(w->io, [this, &worker = *w] { refresh(worker); });
    }
  }
}

void ProxyServer::Impl::refresh(Worker& w) {
  if (snapshot_version.load(std::memory_order_acquire) == w.snapshot_version) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex);
    w.snapshot = snapshot;
  }
  w.snapshot_version = w.snapshot->version;
  // Pooled connections to endpoints that left a cluster (a pod that restarted on another port, or
  // was relabelled out of a subset) are closed.
  for (size_t k = 0; k < w.pools.size(); ++k) {
    auto& idle = w.pools[k]->idle;
    for (auto it = idle.begin(); it != idle.end();) {
      it = w.snapshot->serves(k, it->first) ? std::next(it) : idle.erase(it);
    }
  }
}

// ------------------------------------------------------------------------------------- serving

awaitable<bool> ProxyServer::Impl::sleepFor(asio::io_context& io, core::Duration d) {
  Timer timer(io);
  timer.expires_after(d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

awaitable<void> ProxyServer::Impl::tick(Cluster& cluster) {
  for (;;) {
    const core::Duration wait = cluster.outlier->nextTick() - clock.monotonicNow();
    if (!co_await sleepFor(*main_io, std::max<core::Duration>(wait, 0ms))) {
      co_return;
    }
    cluster.outlier->onIntervalTick();
  }
}

namespace {

// A descriptor on its way to a worker: closed if the worker never takes it (a handler destroyed
// unrun when the proxy stops).
class OwnedFd {
public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int release() { return std::exchange(fd_, -1); }

private:
  int fd_;
};

} // namespace

awaitable<void> ProxyServer::Impl::accept(Acceptor& acceptor, const Listener* listener) {
  // accept4 on the non-blocking listening socket until it has nothing, then wait for readiness:
  // the connection's descriptor goes to its worker's io_context unregistered anywhere else (an
  // Asio accept would register it with this loop's reactor first, and moving it costs two
  // epoll_ctl calls). The wait only completes on a new edge, so the loop never waits while
  // connections are queued: it yields to the loop's other work every 64 instead.
  boost::system::error_code ec;
  acceptor.native_non_blocking(true, ec);
  const tcp protocol = acceptor.local_endpoint(ec).protocol();
  for (;;) {
    for (int taken = 0;;) {
      const int fd =
          ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) {
          break;
        }
        if (error == EBADF || error == EINVAL || error == ENOTSOCK || !acceptor.is_open()) {
          co_return; // the listening socket was closed (a drain)
        }
        // EINTR, ECONNABORTED and the network errors Linux passes on from the new connection
        // (accept(2)) concern one connection: take the next. Anything else (EMFILE and the other
        // resource limits, a security policy refusing accept before the connection leaves the
        // queue) may repeat at once: wait a little, keep serving the connections there are, and
        // do not spin on a socket that stays readable.
        const bool one_connection =
            error == EINTR || error == ECONNABORTED || error == EPROTO || error == ENETDOWN ||
            error == ENOPROTOOPT || error == EHOSTDOWN || error == ENONET ||
            error == EHOSTUNREACH || error == EOPNOTSUPP || error == ENETUNREACH;
        if (!one_connection) {
          co_await sleepFor(*main_io, 50ms);
        }
      } else {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        handOff(listener == nullptr ? *main_loop : pickWorker(), fd, listener, protocol);
      }
      if (++taken % 64 == 0) {
        co_await asio::post(*main_io, use_awaitable);
      }
    }
    co_await acceptor.async_wait(Acceptor::wait_read, asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
  }
}

Worker& ProxyServer::Impl::pickWorker() {
  const size_t n = workers.size();
  size_t best = next_worker % n;
  uint64_t fewest = workers[best]->connections.load(std::memory_order_relaxed);
  for (size_t i = 1; i < n; ++i) {
    const size_t k = (next_worker + i) % n;
    const uint64_t open = workers[k]->connections.load(std::memory_order_relaxed);
    if (open < fewest) {
      best = k;
      fewest = open;
    }
  }
  next_worker = best + 1; // ties go round
  return *workers[best];
}

void ProxyServer::Impl::handOff(Worker& w, int fd, const Listener* listener, tcp protocol) {
  w.connections.fetch_add(1, std::memory_order_relaxed);
  auto start = [this, &w, listener, protocol](OwnedFd owned) {
    Socket socket(w.io);
    boost::system::error_code ec;
    const int raw = owned.release();
    socket.assign(protocol, raw, ec);
    if (ec) {
      ::close(raw);
      w.connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    asio::co_spawn(w.io, session(w, std::move(socket), listener), asio::detached);
  };
  if (&w.io == main_io.get()) {
    start(OwnedFd(fd)); // this thread's loop
  } else {
    asio::post(w.io, [start, owned = OwnedFd(fd)]() mutable { start(std::move(owned)); });
  }
}

namespace {

constexpr size_t kReadChunk = size_t{16} * 1024; // at most this much per read
constexpr size_t kReadMin = 2048;                // room a read always has

// Appends what the socket has to `in` (at most kReadChunk bytes), waiting until `by`; then ec is
// beast::error::timeout and the connection is still open (tcp_stream's own expiry would close
// it, and the proxy has a 408 to send).
//
// The read goes straight into `in`'s spare room (at least kReadMin bytes, so an idle
// connection holds 2 KiB, not a 16 KiB buffer). It is net::asyncReadSome: like async_read_some
// it neither re-arms the descriptor (epoll_ctl) nor sets non-blocking mode (ioctl) per read, and
// with ReadStart::AfterWrite (the first read for a response or for the next request) it does not
// try a recv that can only return EAGAIN when the last read drained the socket.
//
// Two calls, not one coroutine, so a read costs no coroutine frame: co_await what beginRead
// returns, then call endRead with its result.
auto beginRead(Socket& socket, Reader& reader, net::ByteBuffer& in,
               ReadDeadline::Clock::time_point by, boost::system::error_code& ec,
               net::ReadStart start = net::ReadStart::Continue) {
  reader.deadline.begin(socket, by);
  reader.old = in.size();
  const size_t room = std::min(std::max(in.capacity() - reader.old, kReadMin), kReadChunk);
  in.resize(reader.old + room);
  return net::asyncReadSome(socket, asio::buffer(in.data() + reader.old, room), start,
                            asio::redirect_error(use_awaitable, ec));
}

// The same, waiting at most `limit` from now.
auto beginRead(Socket& socket, Reader& reader, net::ByteBuffer& in, core::Duration limit,
               boost::system::error_code& ec, net::ReadStart start = net::ReadStart::Continue) {
  return beginRead(socket, reader, in,
                   ReadDeadline::Clock::now() + std::max<core::Duration>(limit, 0ms), ec, start);
}

// After `co_await beginRead(...)` gave `n`: keeps what was read, and sets `ec` to timeout when
// the deadline cut the read.
void endRead(Reader& reader, net::ByteBuffer& in, size_t n, boost::system::error_code& ec) {
  in.resize(reader.old + (ec ? 0 : n));
  if (reader.deadline.end()) {
    ec = beast::error::timeout;
  }
}

// Sends what the socket takes of `data` now (a non-blocking socket: set by the session and at
// connect), returning how much; `ec` is set only for a real error, not for a full socket buffer.
// A response or request that fits the socket buffer (nearly all) then needs neither an
// asynchronous operation nor a timer; the caller writes the rest asynchronously, bounded by the
// stream's expiry.
size_t writeNow(Stream& stream, std::string_view data, boost::system::error_code& ec) {
  size_t sent = 0;
  while (sent < data.size()) {
    sent += stream.socket().write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
    if (ec) {
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
      }
      break;
    }
  }
  return sent;
}

// The reason phrase Envoy's HTTP/1 codec writes for `status` (envoyproxy/envoy
// source/common/http/codes.cc, CodeUtility::toString): the registered phrase of the codes it
// names, "Unknown" for any other (Envoy does not pass an upstream's own phrase on).
std::string_view reasonPhrase(unsigned status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 203:
    return "Non-Authoritative Information";
  case 204:
    return "No Content";
  case 205:
    return "Reset Content";
  case 206:
    return "Partial Content";
  case 207:
    return "Multi-Status";
  case 208:
    return "Already Reported";
  case 226:
    return "IM Used";
  case 300:
    return "Multiple Choices";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 305:
    return "Use Proxy";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 402:
    return "Payment Required";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 407:
    return "Proxy Authentication Required";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 416:
    return "Range Not Satisfiable";
  case 417:
    return "Expectation Failed";
  case 421:
    return "Misdirected Request";
  case 422:
    return "Unprocessable Entity";
  case 423:
    return "Locked";
  case 424:
    return "Failed Dependency";
  case 426:
    return "Upgrade Required";
  case 428:
    return "Precondition Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  case 506:
    return "Variant Also Negotiates";
  case 507:
    return "Insufficient Storage";
  case 508:
    return "Loop Detected";
  case 510:
    return "Not Extended";
  case 511:
    return "Network Authentication Required";
  default:
    return "Unknown";
  }
}

// What the proxy puts on a response it sends downstream.
struct DownstreamFields {
  bool keep_alive;         // else "Connection: close"
  bool head_request;       // no body; the upstream's framing fields stay
  int64_t service_time_ms; // Server: istio-envoy and x-envoy-upstream-service-time; -1: neither
};

// A response as it goes downstream, HTTP/1.1: the status line (the standard reason phrase, as
// Envoy sends), its fields less Server, Connection and (except for HEAD) the framing,
// `add`'s fields, Content-Length (none for 1xx, 204 and 304; for HEAD only when the upstream's
// framing is not there), and the body unless it answers HEAD.
void serialize(const Response& res, const DownstreamFields& add, std::string& out) {
  out.clear();
  const unsigned status = res.status;
  StagedAppend text(out);
  text.put("HTTP/1.1 ");
  text.putNumber(status);
  text.put(" ");
  text.put(reasonPhrase(status));
  text.put("\r\n");
  text.flush();
  bool framed = false; // a HEAD response with the upstream's Content-Length or Transfer-Encoding
  res.fields.appendLines(out, [&](Fields::View f) {
    if (net::http1::iequals(f.name, "server") || net::http1::iequals(f.name, "connection")) {
      return false;
    }
    if (net::http1::iequals(f.name, "content-length") ||
        net::http1::iequals(f.name, "transfer-encoding")) {
      if (!add.head_request) {
        return false;
      }
      framed = true;
    }
    return true;
  });
  if (add.service_time_ms >= 0) {
    text.put("Server: istio-envoy\r\nx-envoy-upstream-service-time: ");
    text.putNumber(add.service_time_ms);
    text.put("\r\n");
  }
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (!bodiless && !framed) {
    text.put("Content-Length: ");
    text.putNumber(static_cast<int64_t>(res.body.size()));
    text.put("\r\n");
  }
  if (!add.keep_alive) {
    text.put("Connection: close\r\n");
  }
  text.put("\r\n");
  text.flush();
  if (!add.head_request && !bodiless && !res.body.empty()) {
    out.append(res.body);
  }
}

// What the router adds to a request it sends upstream.
struct UpstreamFields {
  uint32_t attempt_count;      // x-envoy-attempt-count
  int64_t expected_timeout_ms; // x-envoy-expected-rq-timeout-ms; -1: none
  // Who is calling, for the destination's reporter="destination" labels (Istio exchanges this as
  // x-envoy-peer-metadata; meshproof's workloads read these plain headers): the lines of
  // x-meshproof-source-workload, -app, -version and (a sidecar's) -pod, from sourceFields.
  std::string_view source_fields;
};

// A downstream request field that does not go upstream: hop-by-hop (RFC 9110 §7.6.1: Connection,
// Keep-Alive, Proxy-Connection, TE, Upgrade), framing (re-framed with Content-Length), the
// x-envoy-* overrides the router consumed (Envoy removes them), and the fields the router sets.
bool dropFromUpstreamRequest(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  switch (net::http1::lowerAscii(name.front())) {
  case 'c':
    return net::http1::iequals(name, "connection") || net::http1::iequals(name, "content-length");
  case 'k':
    return net::http1::iequals(name, "keep-alive");
  case 'p':
    return net::http1::iequals(name, "proxy-connection");
  case 't':
    return net::http1::iequals(name, "te") || net::http1::iequals(name, "transfer-encoding");
  case 'u':
    return net::http1::iequals(name, "upgrade");
  case 'x':
    break;
  default:
    return false;
  }
  static constexpr std::array<std::string_view, 15> kRouterFields = {
      "x-envoy-retry-on",
      "x-envoy-retry-grpc-on",
      "x-envoy-max-retries",
      "x-envoy-retriable-status-codes",
      "x-envoy-retriable-header-names",
      "x-envoy-upstream-rq-timeout-ms",
      "x-envoy-upstream-rq-per-try-timeout-ms",
      "x-envoy-upstream-rq-timeout-alt-response",
      "x-envoy-hedge-on-per-try-timeout",
      "x-envoy-attempt-count",
      "x-envoy-expected-rq-timeout-ms",
      "x-meshproof-source-workload",
      "x-meshproof-source-app",
      "x-meshproof-source-version",
      "x-meshproof-source-pod"};
  return std::any_of(kRouterFields.begin(), kRouterFields.end(),
                     [&](std::string_view f) { return net::http1::iequals(name, f); });
}

// The request as it goes upstream: HTTP/1.1, origin-form target, the downstream fields less
// dropFromUpstreamRequest's and what a Connection field names (Host and Content-Length excepted,
// as before), the router's fields, Content-Length as Beast's prepare_payload sets it (when there is
// a body, or for OPTIONS, POST and PUT), the body.
void serializeUpstream(const Request& req, const UpstreamFields& add, std::string& out) {
  out.clear();
  StagedAppend text(out);
  text.put(req.method);
  text.put(" ");
  text.put(req.target);
  text.put(" HTTP/1.1\r\n");
  text.flush();
  std::array<std::string_view, 4> named{}; // the options of (at most 4) Connection fields
  size_t connections = 0;
  for (const Fields::View f : req.fields) {
    if (connections < named.size() && net::http1::iequals(f.name, "connection")) {
      named[connections++] = f.value;
    }
  }
  req.fields.appendLines(out, [&](Fields::View f) {
    const std::string_view name = f.name;
    if (dropFromUpstreamRequest(name)) {
      return false;
    }
    return connections == 0 || net::http1::iequals(name, "host") ||
           std::none_of(named.begin(), named.begin() + static_cast<std::ptrdiff_t>(connections),
                        [&](std::string_view v) { return net::http1::listContains(v, name); });
  });
  text.put("x-envoy-attempt-count: ");
  text.putNumber(add.attempt_count);
  text.put("\r\n");
  text.put(add.source_fields);
  if (add.expected_timeout_ms >= 0) {
    text.put("x-envoy-expected-rq-timeout-ms: ");
    text.putNumber(add.expected_timeout_ms);
    text.put("\r\n");
  }
  const std::string& body = req.body;
  if (!body.empty() || req.is("OPTIONS") || req.is("POST") || req.is("PUT")) {
    text.put("Content-Length: ");
    text.putNumber(static_cast<int64_t>(body.size()));
    text.put("\r\n");
  }
  text.put("\r\n");
  text.flush();
  if (!body.empty()) {
    out.append(body);
  }
}

// An upstream response field the proxy does not pass on: hop-by-hop (RFC 9110 §7.6.1), framing
// (re-framed with Content-Length, except that a response to HEAD keeps the upstream's framing
// fields: they describe the body a GET would get), Server.
bool dropFromResponse(std::string_view name, bool head_request) {
  switch (name.empty() ? '\0' : net::http1::lowerAscii(name.front())) {
  case 'c':
    return net::http1::iequals(name, "connection") ||
           (!head_request && net::http1::iequals(name, "content-length"));
  case 'k':
    return net::http1::iequals(name, "keep-alive");
  case 'p':
    return net::http1::iequals(name, "proxy-connection");
  case 's':
    return net::http1::iequals(name, "server");
  case 't':
    return net::http1::iequals(name, "te") ||
           (!head_request && net::http1::iequals(name, "transfer-encoding"));
  case 'u':
    return net::http1::iequals(name, "upgrade");
  default:
    return false;
  }
}

} // namespace

awaitable<void> ProxyServer::Impl::closeAfterError(Stream& stream, unsigned status,
                                                   const std::string& body) {
  // As Beast wrote it before: Server, Content-Type, Connection: close, Content-Length, the body.
  const std::string_view reason = reasonPhrase(status);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason).append("\r\n");
  appendField(out, "Server", "istio-envoy");
  appendField(out, "Content-Type", "text/plain");
  appendField(out, "Connection", "close");
  appendField(out, "Content-Length", std::to_string(body.size()));
  out.append("\r\n").append(body);
  boost::system::error_code ec;
  stream.expires_after(options.stream_idle_timeout);
  co_await asio::async_write(stream, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
  // Lingering close: stop sending, then read and drop what the client still sends for a moment, so
  // that closing with unread bytes does not reset the connection before it has read the reply.
  stream.socket().shutdown(Socket::shutdown_send, ec);
  Reader reader(stream.get_executor());
  net::ByteBuffer sink;
  const core::MonoTime until = clock.monotonicNow() + 1s; // Envoy's delayed_close_timeout
  while (!ec && clock.monotonicNow() < until) {
    sink.clear();
    const size_t n =
        co_await beginRead(stream.socket(), reader, sink, until - clock.monotonicNow(), ec);
    endRead(reader, sink, n, ec);
  }
}

awaitable<void> ProxyServer::Impl::session(Worker& w, Socket socket, const Listener* listener) {
  Stream stream(std::move(socket));
  Reader reader(stream.get_executor()); // beginRead's
  {
    boost::system::error_code ignored; // writeNow needs it; Asio's async operations do not care
    stream.socket().non_blocking(true, ignored);
    net::enableDrainHint(stream.socket().native_handle());
  }
  Session self{&stream, listener == nullptr};
  w.sessions.insert(&self);
  const ListenerStats* stats = nullptr;
  if (listener != nullptr) {
    stats = &w.listener_stats[static_cast<size_t>(listener - listeners.data())];
    stats->worker_total->inc();
    stats->total->inc();
    stats->worker_active->add(1);
    stats->active->add(1);
  }
  struct Leave {
    Impl& impl;
    Worker& w;
    Session& s;
    const ListenerStats* stats;
    ~Leave() {
      if (stats != nullptr) {
        stats->worker_active->add(-1);
        stats->active->add(-1);
      }
      w.connections.fetch_sub(1, std::memory_order_relaxed);
      w.sessions.erase(&s);
      impl.maybeFinishDrain(w);
    }
  } leave{*this, w, self, stats};

  net::ByteBuffer in; // bytes read and not yet consumed (pipelined requests stay here)
  std::string out;    // the response being written
  // The request head being read; parseRequestHead resets it but keeps its fields' capacity, so a
  // keep-alive connection allocates no field list per request.
  net::http1::RequestHead head;
  Request req; // cleared per request, its storage kept, as `head`'s
  // The last response's storage, handed to the next one's upstream read (route, attempt), so a
  // response's fields and body take no allocation either.
  Response spare;
  const net::http1::Limits& limits = options.limits;
  for (;;) {
    if (w.draining) {
      break;
    }
    if (in.empty() && in.capacity() > 4096) {
      in.shrinkToFit(); // a large request's buffer does not stay with an idle connection
    }
    // The head. Waiting for its first byte is idling (a drain closes the connection then); once a
    // byte is there, the whole head must come within request_headers_timeout.
    net::http1::Error e = net::http1::Error::Incomplete;
    bool head_begun = !in.empty(); // a byte of the head is there
    // Taken when a read for the rest of the head begins: the parse since the byte came took no
    // time to speak of, and a head that came whole (nearly all) reads no clock for it.
    std::optional<core::MonoTime> head_deadline;
    if (head_begun) {
      e = net::http1::parseRequestHead(in, limits, head);
    }
    boost::system::error_code ec;
    // Nothing left over: the response went out since the last read (or this is the first). Every
    // pass of this loop ends with a response written or leaves it: a `continue` that skipped the
    // write would make this AfterWrite wrong (net/socket_read.h).
    net::ReadStart read_start = in.empty() ? net::ReadStart::AfterWrite : net::ReadStart::Continue;
    while (e == net::http1::Error::Incomplete) {
      self.idle = !head_begun;
      if (head_begun && !head_deadline) {
        head_deadline = clock.monotonicNow() + options.request_headers_timeout;
      }
      const core::Duration limit =
          head_deadline ? *head_deadline - clock.monotonicNow() : options.idle_timeout;
      const size_t old = in.size();
      const size_t n = co_await beginRead(stream.socket(), reader, in, limit, ec, read_start);
      endRead(reader, in, n, ec);
      read_start = net::ReadStart::Continue;
      if (ec) {
        break;
      }
      self.idle = false;
      head_begun = true;
      // Empty lines before a request line are dropped as they come (RFC 9112 §2.2), so that a
      // stream of CRLFs cannot make every read re-parse a growing buffer.
      size_t blank = 0;
      while (blank + 1 < in.size() && in[blank] == '\r' && in[blank + 1] == '\n') {
        blank += 2;
      }
      in.consume(blank);
      const size_t fresh = old > blank ? old - blank : 0; // where this read's bytes now start
      // Only a new line end (or passing the size limit) can change the verdict: at most one
      // parse per line (and at most Limits::max_headers + 1 lines), so a client sending a byte at
      // a time costs no more than one that does not.
      if (in.size() > limits.max_head_bytes ||
          std::string_view(in).find('\n', fresh) != std::string_view::npos) {
        e = net::http1::parseRequestHead(in, limits, head);
      }
    }
    self.idle = false;
    if (ec) {
      if (ec == beast::error::timeout && head_begun) {
        co_await closeAfterError(stream, 408, "request header timeout");
      }
      break;
    }
    if (e != net::http1::Error::Ok) {
      co_await closeAfterError(stream, net::http1::statusFor(e), net::http1::describe(e));
      break;
    }

    const bool has_body = head.chunked || head.content_length.value_or(0) > 0;
    if (head.method == "TRACE" && has_body) {
      co_await closeAfterError(stream, 400, "trace with a body");
      break;
    }
    // An absolute-form target (RFC 9112 §3.2.2) is routed on its own authority and path, as Envoy
    // does with allow_absolute_url; the request goes on in origin form.
    std::string_view target = head.target;
    std::optional<std::string_view> authority;
    if (target.front() != '/' && target != "*") {
      target.remove_prefix(target.find("://") + 3);
      const size_t slash = target.find('/');
      authority = target.substr(0, slash);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    req.clear();
    req.method.assign(head.method);
    req.target.assign(target);
    req.version = head.version_minor == 0 ? 10 : 11;
    for (const net::http1::Field& f : head.fields) {
      if ((head.chunked && net::http1::iequals(f.name, "transfer-encoding")) ||
          (head.expect_continue && net::http1::iequals(f.name, "expect")) ||
          (authority && net::http1::iequals(f.name, "host"))) {
        continue; // the body is re-framed with Content-Length; 100-continue is answered here
      }
      req.fields.insert(f.name, f.value);
    }
    if (authority) {
      req.fields.set(http::field::host, *authority);
    }
    const bool keep_alive = head.keep_alive;
    const bool is_head = head.method == "HEAD";
    in.consume(head.head_bytes);

    // The body, whole (the proxy buffers requests; Limits::max_body_bytes bounds it).
    if (has_body && head.expect_continue) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream.expires_after(options.stream_idle_timeout);
      co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec) {
        break;
      }
    }
    std::string& body = req.body;
    if (head.content_length) {
      const auto length = static_cast<size_t>(*head.content_length);
      while (in.size() < length && !ec) {
        const size_t n =
            co_await beginRead(stream.socket(), reader, in, options.stream_idle_timeout, ec);
        endRead(reader, in, n, ec);
      }
      if (ec) {
        if (ec == beast::error::timeout) {
          co_await closeAfterError(stream, 408, "stream timeout");
        }
        break;
      }
      body.assign(in.data(), length);
      in.consume(length);
    } else if (head.chunked) {
      net::http1::ChunkedDecoder decoder(limits);
      for (;;) {
        size_t consumed = 0;
        e = decoder.feed(in, body, consumed);
        in.consume(consumed);
        if (e != net::http1::Error::Incomplete) {
          break;
        }
        const size_t n =
            co_await beginRead(stream.socket(), reader, in, options.stream_idle_timeout, ec);
        endRead(reader, in, n, ec);
        if (ec) {
          break;
        }
      }
      if (ec) {
        if (ec == beast::error::timeout) {
          co_await closeAfterError(stream, 408, "stream timeout");
        }
        break;
      }
      if (e != net::http1::Error::Ok) {
        co_await closeAfterError(stream, net::http1::statusFor(e), net::http1::describe(e));
        break;
      }
    }

    const core::MonoTime start = clock.monotonicNow();
    Response res;
    RequestLog log;
    if (listener == nullptr) {
      res = adminResponse(req);
    } else if (const std::string host = routeHost(req, *listener); host.empty()) {
      log.flags.insert("NR");
      res = localReply(req, 404, "");
    } else {
      res = co_await route(w, req, host, listener->port, log, spare);
    }
    const bool keep = keep_alive && !w.draining;
    const unsigned status = res.status;
    if (status < 200 || status == 204 || status == 304) {
      res.body.clear(); // no body, whatever a fault's httpStatus asked for
    }
    DownstreamFields add{keep, is_head, -1};
    if (listener != nullptr) {
      const core::Duration took = clock.monotonicNow() - start;
      record(w, req, res, log, took);
      add.service_time_ms = core::toMillis(took);
    }
    serialize(res, add, out);
    const size_t sent = writeNow(stream, out, ec);
    if (!ec && sent < out.size()) {
      stream.expires_after(options.stream_idle_timeout); // a client that does not read
      co_await asio::async_write(stream, asio::buffer(out.data() + sent, out.size() - sent),
                                 asio::redirect_error(use_awaitable, ec));
    }
    if (out.capacity() > size_t{64} * 1024) {
      std::string().swap(out); // a large response's buffer does not stay with the connection
    }
    if (req.body.capacity() > size_t{64} * 1024) {
      std::string().swap(req.body); // nor a large request's body
    }
    if (res.body.capacity() <= size_t{64} * 1024) {
      spare = std::move(res); // else a large response's buffer does not stay with the connection
    }
    if (ec || !keep) {
      break;
    }
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(Socket::shutdown_send, ignored);
}

void ProxyServer::Impl::beginDrain() {
  if (main_loop->draining) {
    return;
  }
  boost::system::error_code ec;
  for (auto& a : acceptors) {
    a->close(ec); // new connections are refused from now on
  }
  admin->close(ec);
  drain_timer.emplace(*main_io);
  drain_timer->expires_after(options.drain_timeout);
  drain_timer->async_wait([this](const boost::system::error_code& error) {
    if (!error) {
      stopAll(); // requests still in flight after the drain time are cut
    }
  });
  for (auto& w : workers) {
    if (&w->io == main_io.get()) {
      beginWorkerDrain(*w);
    } else {
      asio::post(w->io, [this, &worker = *w] { beginWorkerDrain(worker); });
    }
  }
  beginWorkerDrain(*main_loop);
}

void ProxyServer::Impl::beginWorkerDrain(Worker& w) {
  w.draining = true;
  for (Session* s : w.sessions) {
    if (s->idle || s->admin) {
      s->stream->cancel(); // nothing in flight: close now
    }
  }
  maybeFinishDrain(w);
}

void ProxyServer::Impl::maybeFinishDrain(Worker& w) {
  if (!w.draining || w.drained || stopping || !w.sessions.empty()) {
    return;
  }
  w.drained = true;
  auto done = [this] {
    if (++drained == workers.size() + 1) {
      stopAll();
    }
  };
  if (&w.io == main_io.get()) {
    done();
  } else {
    asio::post(*main_io, done);
  }
}

void ProxyServer::Impl::stopAll() {
  stopping = true;
  main_io->stop();
  for (auto& io : worker_ios) {
    io->stop();
  }
}

Response ProxyServer::Impl::localReply(const Request& req, unsigned status,
                                       const std::string& body) {
  Response res{status, req.version};
  res.fields.set(http::field::content_type, "text/plain");
  res.body = body;
  return res;
}

EndpointPtr ProxyServer::Impl::pickHost(Worker& w, Cluster& c, const TriedHosts& tried) {
  // Inline for the usual few endpoints: no allocation per request.
  const std::vector<EndpointPtr>& endpoints = w.snapshot->endpoints[c.index];
  size_t& next = w.pools[c.index]->next;
  boost::container::small_vector<const EndpointPtr*, 16> available;
  if (c.outlier) {
    const std::vector<std::string> keys = c.outlier->availableHosts();
    for (const EndpointPtr& e : endpoints) {
      if (std::find(keys.begin(), keys.end(), e->key()) != keys.end()) {
        available.push_back(&e);
      }
    }
  } else {
    for (const EndpointPtr& e : endpoints) {
      available.push_back(&e);
    }
  }
  if (available.empty()) {
    return nullptr;
  }
  // Round robin, preferring hosts this request has not tried (previous_hosts, up to 5 picks).
  for (int i = 0; i < 5; ++i) {
    const EndpointPtr& e = *available[next++ % available.size()];
    if (std::find(tried.begin(), tried.end(), e->key()) == tried.end()) {
      return e;
    }
  }
  return *available[next++ % available.size()];
}

awaitable<Attempt> ProxyServer::Impl::attempt(Worker& w, Cluster& cluster, const Endpoint& ep,
                                              Request& req, Response& storage,
                                              uint32_t attempt_count,
                                              std::optional<core::Duration> timeout,
                                              int64_t expected_timeout_ms) {
  Attempt out;
  const core::MonoTime begin = timeout ? clock.monotonicNow() : core::MonoTime{}; // for remaining
  auto remaining = [&]() -> std::optional<core::Duration> {
    if (!timeout) {
      return std::nullopt;
    }
    return *timeout - (clock.monotonicNow() - begin);
  };
  // The downstream request goes upstream as it is, less what stays on this hop, plus the
  // router's fields (serializeUpstream; the Request itself is not changed).
  const Request& upstream = req;
  const UpstreamFields router_fields{attempt_count, timeout ? expected_timeout_ms : -1,
                                     source_fields};

  // Circuit breakers (§2.7): max_requests overflows at once; a request that finds neither an idle
  // connection nor room for a new one waits in the pending queue, which overflows at
  // max_pending_requests. Overflow is a local 503 UO that is never retried nor counted by outlier
  // detection. The counts are the cluster's, over every worker; the connections and the queue
  // are this worker's.
  ClusterBudget& budget = cluster.budget;
  LocalPool& local = *w.pools[cluster.index];
  if (!tryTakeSlot(budget.active_requests, budget.max_requests)) {
    cluster.stats->upstream_rq_pending_overflow.inc();
    out.reason = ResetReason::Overflow;
    co_return out;
  }
  budget.updateRequestGauges();
  struct ActiveRequest {
    LocalPool& p;
    ~ActiveRequest() {
      p.budget.active_requests.fetch_sub(1, std::memory_order_relaxed);
      if (!p.closing) {
        p.budget.updateRequestGauges();
      }
    }
  } active{local};
  // Looked up at each use: a configuration change may drop the entry while this attempt waits.
  auto pool = [&]() -> std::vector<std::unique_ptr<UpstreamConnection>>& {
    return local.idle[ep.key()];
  };
  const uint64_t config_at_start = w.snapshot_version;

  // A pooled connection may have been closed by the upstream meanwhile: if it fails before any
  // response byte, the request goes out once more on a fresh connection (not a retry).
  bool counted_cx_overflow = false;
  // A pooled connection that failed keeps its connection slot for the fresh one that replaces it:
  // given back, the slot could go to another worker (or the count stay at the limit through
  // other pools' extra connections), and this request would then wait while its worker's other
  // idle connections to the host, likely stale too, wake nobody.
  bool carried_slot = false;
  for (int fresh = 0; fresh < 2; ++fresh) {
    std::unique_ptr<UpstreamConnection> conn;
    bool reused = false;
    // An idle connection to this host goes first; otherwise a new connection takes one of the
    // cluster's max_connections slots (compare-and-swap: workers racing for the last slot cannot
    // both take it).
    bool create = std::exchange(carried_slot, false);
    while (!create && !(fresh == 0 && !pool().empty())) {
      if (tryTakeSlot(budget.connections, budget.max_connections)) {
        create = true;
        break;
      }
      // No room for another connection. A host this pool has no connection to gets one all the
      // same, as Envoy's pools do (counted as an overflow), so a request never waits for
      // connections it cannot use, such as another worker's. Otherwise close an idle one of
      // another host if there is one, else wait for a connection to come back (it does not
      // fail; §2.7 max_connections).
      if (local.openTo(ep.key()) == 0) {
        if (!counted_cx_overflow) {
          cluster.stats->upstream_cx_overflow.inc();
          counted_cx_overflow = true;
        }
        budget.connections.fetch_add(1, std::memory_order_relaxed); // past the limit
        create = true;
        break;
      }
      bool freed = false;
      for (auto& [key, conns] : local.idle) {
        if (key != ep.key() && !conns.empty()) {
          conns.pop_back();
          freed = true;
          break;
        }
      }
      if (freed) {
        continue;
      }
      if (!counted_cx_overflow) {
        cluster.stats->upstream_cx_overflow.inc();
        counted_cx_overflow = true;
      }
      if (!tryTakeSlot(budget.pending, budget.max_pending)) {
        cluster.stats->upstream_rq_pending_overflow.inc();
        out.reason = ResetReason::Overflow;
        co_return out;
      }
      auto waiter = std::make_shared<Timer>(w.io);
      if (auto r = remaining()) {
        waiter->expires_after(std::max<core::Duration>(*r, 0ms));
      } else {
        waiter->expires_at(Timer::time_point::max());
      }
      local.waiters.push_back(waiter);
      budget.updateGauges();
      boost::system::error_code ec;
      co_await waiter->async_wait(asio::redirect_error(use_awaitable, ec));
      // Still queued when its time ran out (notify() took it out if it woke it).
      if (auto queued = std::find(local.waiters.begin(), local.waiters.end(), waiter);
          queued != local.waiters.end()) {
        local.waiters.erase(queued);
      }
      budget.pending.fetch_sub(1, std::memory_order_relaxed);
      budget.updateGauges();
      if (!ec) {
        out.reason = ResetReason::PerTryTimeout; // the attempt's time ran out in the queue
        co_return out;
      }
    }
    if (!create) {
      auto& idle = pool();
      conn = std::move(idle.back());
      idle.pop_back();
      reused = true;
    } else {
      // Takes over the slot taken above (no suspension since), and gives it back when it closes.
      conn = std::make_unique<UpstreamConnection>(w.io.get_executor(), local, ep.key());
      boost::system::error_code ec;
      const auto ip = asio::ip::make_address(ep.address, ec);
      if (ec) {
        out.reason = ResetReason::ConnectFailure;
        co_return out;
      }
      core::Duration limit = cluster.connect_timeout;
      if (auto r = remaining()) {
        limit = std::min(limit, *r);
      }
      conn->stream.expires_after(limit);
      co_await conn->stream.async_connect(tcp::endpoint(ip, ep.port),
                                          asio::redirect_error(use_awaitable, ec));
      if (ec) {
        const bool attempt_timed_out = remaining() && *remaining() <= 0ms;
        out.reason = ec == beast::error::timeout ? (attempt_timed_out ? ResetReason::PerTryTimeout
                                                                      : ResetReason::ConnectTimeout)
                                                 : ResetReason::ConnectFailure;
        co_return out;
      }
      conn->stream.socket().set_option(tcp::no_delay(true), ec);
      conn->stream.socket().non_blocking(true, ec); // for writeNow
      net::enableDrainHint(conn->stream.socket().native_handle());
    }
    // Without a per-try or route timeout, an upstream that sends nothing is still bounded by the
    // stream idle timeout (Envoy's 5 min), not waited on forever.
    const std::optional<core::Duration> left = remaining();
    const bool idle_bound = !left;
    const core::Duration io_limit =
        idle_bound ? options.stream_idle_timeout : std::max<core::Duration>(*left, 1ms);
    const ReadDeadline::Clock::time_point io_by = ReadDeadline::Clock::now() + io_limit;
    boost::system::error_code ec;
    std::string& wire = conn->wire;
    serializeUpstream(upstream, router_fields, wire);
    const size_t sent = writeNow(conn->stream, wire, ec);
    if (!ec && sent < wire.size()) {
      conn->stream.expires_at(io_by);
      co_await asio::async_write(conn->stream, asio::buffer(wire.data() + sent, wire.size() - sent),
                                 asio::redirect_error(use_awaitable, ec));
    }
    if (wire.capacity() > size_t{64} * 1024) {
      std::string().swap(wire); // a large request's buffer does not stay with a pooled connection
    }
    if (ec) {
      if (reused && ec != beast::error::timeout) {
        conn->pass_slot_on = carried_slot = true;
        continue;
      }
      out.reason = ec == beast::error::timeout ? ResetReason::PerTryTimeout
                                               : ResetReason::ResetBeforeRequest;
      co_return out;
    }
    // 1xx responses other than 101 are interim: read on to the final one (Envoy drops them while
    // proxy_100_continue is off). A 101 was not asked for (Upgrade is not forwarded).
    const bool head_request = upstream.is("HEAD");
    net::ByteBuffer& in = conn->in;
    net::http1::ResponseHead& head = conn->head;
    bool any_byte = false;
    // Reads into `in`'s spare room, all by the attempt's deadline. The first follows the request
    // written just now.
    net::ReadStart start = net::ReadStart::AfterWrite;
    auto startRead = [&] {
      return beginRead(conn->stream.socket(), conn->reader, in, io_by, ec,
                       std::exchange(start, net::ReadStart::Continue));
    };
    auto endRead = [&](size_t n) {
      proxy::endRead(conn->reader, in, n, ec);
      any_byte = any_byte || (!ec && n > 0);
      return !ec;
    };
    net::http1::Error e = net::http1::Error::Incomplete;
    for (;;) {
      e = in.empty() ? net::http1::Error::Incomplete
                     : net::http1::parseResponseHead(in, upstream_limits, head);
      while (e == net::http1::Error::Incomplete) {
        const size_t n = co_await startRead();
        if (!endRead(n)) {
          break;
        }
        if (in.size() > upstream_limits.max_head_bytes ||
            std::string_view(in).find('\n', conn->reader.old) != std::string_view::npos) {
          e = net::http1::parseResponseHead(in, upstream_limits, head);
        }
      }
      if (e != net::http1::Error::Ok || head.status >= 200 || head.status == 101) {
        break;
      }
      in.consume(head.head_bytes); // an interim response
    }
    const bool head_done = !ec && e == net::http1::Error::Ok;
    bool keep_alive = false;
    Response& res = out.response;
    if (head_done && head.status != 101) {
      std::swap(res, storage); // its buffers (a retry's attempt after the first gets empty ones)
      res.clear();
      keep_alive = head.keep_alive;
      // The fields go on (copied now: `head` views `in`, which the body reads move), less the
      // framing (the proxy re-frames with Content-Length; a HEAD response keeps the upstream's),
      // the hop-by-hop fields and what Connection names (RFC 9110 §7.6.1), and Server (Envoy's
      // server_header_transformation OVERWRITE puts its own).
      res.status = head.status;
      res.version = 11;
      res.fields.reserve(head.head_bytes, head.fields.size());
      std::array<std::string_view, 4> named{}; // the options of (at most 4) Connection fields
      size_t connections = 0;
      for (const net::http1::Field& f : head.fields) {
        if (connections < named.size() && net::http1::iequals(f.name, "connection")) {
          named[connections++] = f.value;
        }
      }
      for (const net::http1::Field& f : head.fields) {
        if (dropFromResponse(f.name, head_request) ||
            std::any_of(named.begin(), named.begin() + static_cast<std::ptrdiff_t>(connections),
                        [&](std::string_view v) { return net::http1::listContains(v, f.name); })) {
          continue;
        }
        res.fields.insert(f.name, f.value);
        static constexpr std::array<std::string_view, 2> kRetryFields = {"grpc-status",
                                                                         "x-envoy-ratelimited"};
        for (const std::string_view name : kRetryFields) {
          if (net::http1::iequals(f.name, name)) {
            out.retry_fields.emplace(name, f.value); // the first, as find() gave
          }
        }
      }
      std::string& body = res.body;
      if (!head.hasBody(head_request)) {
        in.consume(head.head_bytes);
      } else if (head.content_length) {
        const size_t length = static_cast<size_t>(*head.content_length);
        const size_t need = head.head_bytes + length;
        if (in.capacity() < need) {
          in.reserve(need);
        }
        // No co_await in a && operand: GCC 12 ran this read although the left side was false
        // (seen here: the proxy waited for bytes past the body).
        while (in.size() < need) {
          const size_t n = co_await startRead();
          if (!endRead(n)) {
            break;
          }
        }
        if (!ec) {
          body.assign(in.data() + head.head_bytes, length);
          in.consume(need);
        }
      } else if (head.chunked) {
        in.consume(head.head_bytes);
        net::http1::ChunkedDecoder decoder(upstream_limits);
        for (;;) {
          size_t consumed = 0;
          e = decoder.feed(in, body, consumed);
          in.consume(consumed);
          if (e != net::http1::Error::Incomplete) {
            break;
          }
          const size_t n = co_await startRead();
          if (!endRead(n)) {
            break;
          }
        }
      } else { // the body ends when the upstream closes
        in.consume(head.head_bytes);
        keep_alive = false;
        for (;;) {
          const size_t n = co_await startRead();
          if (!endRead(n)) {
            break;
          }
          if (in.size() > upstream_limits.max_body_bytes) {
            e = net::http1::Error::BodyTooLarge;
            break;
          }
        }
        if (ec == asio::error::eof) {
          ec = {};
          body.assign(in.data(), in.size());
          in.clear();
        }
      }
    }
    if (ec) {
      if (reused && ec != beast::error::timeout && !any_byte) {
        conn->pass_slot_on = carried_slot = true;
        continue;
      }
      if (ec == beast::error::timeout) {
        out.reason = ResetReason::PerTryTimeout;
        out.idle_timeout = idle_bound;
        co_return out;
      }
      out.reason = ResetReason::RemoteReset;
      out.after_headers = head_done;
      co_return out;
    }
    if (e != net::http1::Error::Ok || head.status == 101) {
      // The upstream broke HTTP/1.1 (a bad status line, bad fields or chunks, a body over the
      // limit, a 101 the proxy did not ask for): 502 UPE.
      out.reason = ResetReason::RemoteReset;
      out.protocol_error = true;
      co_return out;
    }
    out.has_response = true;
    ++conn->requests;
    const bool spent = budget.max_requests_per_connection != 0 &&
                       conn->requests >= budget.max_requests_per_connection;
    // Bytes after the response (more than its Content-Length) mean the connection cannot be
    // trusted for the next request: it is not pooled. Nor is it when its endpoint left the
    // cluster while it was busy (the worker already closed the others to it, refresh()).
    const bool endpoint_left =
        w.snapshot_version != config_at_start && !w.snapshot->serves(cluster.index, ep.key());
    if (keep_alive && !spent && in.empty() && !endpoint_left) {
      if (in.capacity() > size_t{64} * 1024) {
        in.shrinkToFit(); // empty here: a large response's buffer does not stay with the pool
      }
      pool().push_back(std::move(conn));
      local.notify(); // a pending request may take it
    }
    co_return out;
  }
  out.reason = ResetReason::RemoteReset;
  co_return out;
}

std::string ProxyServer::Impl::routeHost(const Request& req, const Listener& listener) const {
  if (!listener.host.empty()) {
    return spec::shortHost(listener.host);
  }
  // Sidecar outbound: the Host header names the destination ("service-b", "service-b:8080",
  // "service-b.default.svc.cluster.local").
  std::string authority(req.fields.find(http::field::host).value_or(""));
  if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    authority.resize(colon);
  }
  std::string host = spec::shortHost(authority);
  if (routes.count(host) == 0) {
    return {};
  }
  return host;
}

awaitable<Response> ProxyServer::Impl::route(Worker& w, Request& req, const std::string& host,
                                             uint16_t port, RequestLog& log, Response& storage) {
  refresh(w);
  const HostRoutes& hr = routes.at(host);
  RequestHead head;
  head.method = req.method;
  head.path = req.target;
  const std::optional<std::string_view> host_field = req.fields.find(http::field::host);
  const bool has_host = host_field.has_value();
  if (has_host) {
    head.authority = std::string(*host_field);
  }
  head.port = port;
  // Only the fields something reads: the routes' header matchers and the x-envoy-* overrides (a
  // map of every field, lower-cased, cost more than the routing itself).
  const std::set<std::string>& wanted = hr.table->headerNames();
  for (const Fields::View field : req.fields) {
    const std::string_view name = field.name;
    const bool overrides =
        name.size() > 8 && net::http1::iequals(std::string_view(name.data(), 8), "x-envoy-");
    if (!overrides && wanted.empty()) {
      continue;
    }
    std::string lower = lowerCopy(std::string_view(name.data(), name.size()));
    if (overrides || wanted.count(lower) != 0) {
      head.headers[std::move(lower)] = std::string(field.value);
    }
  }
  const spec::HttpRoute* matched = hr.table->match(head);
  if (matched == nullptr) {
    log.flags.insert("NR");
    co_return localReply(req, 404, "");
  }
  if (matched->route.empty()) {
    // A redirect, directResponse or delegate rule: the loader accepts it with a warning ("not
    // served locally"); the proxy says so instead of picking from no destinations.
    co_return localReply(req, 501,
                         "meshproof does not simulate this route's action (redirect, "
                         "directResponse or delegate)");
  }
  // The weighted destination is chosen with the route, before the filters run (Envoy resolves the
  // route's cluster first), so a fault-aborted request is still reported against its service.
  const spec::RouteDestination& rd = matched->route[pickDestination(*matched, w.random)];
  log.destination_host = rd.destination.host;
  // Fault filter, before the router: delay, then an independent abort roll (§1.7). A fault set at
  // run time for this host (chaos) replaces the route's own.
  // A copy: a control-plane push (PUT /config, DELETE /faults/ID) may replace the snapshot while
  // this request sleeps in its delay, and the abort roll below still needs the fault.
  std::optional<spec::FaultInjection> fault = matched->fault;
  for (const auto& [fault_host, f] : w.snapshot->faults) {
    if (fault_host == host) {
      fault = f;
    }
  }
  if (fault) {
    if (fault->delay && w.random.unit() * 100.0 < fault->delay->percentage) {
      log.flags.insert("DI");
      core::Duration d = fault->delay->fixed_delay;
      if (fault->delay->jitter > core::Duration::zero()) {
        const auto j = static_cast<double>(fault->delay->jitter.count());
        d += core::Duration(static_cast<int64_t>((2 * w.random.unit() - 1) * j));
        d = std::max(d, core::Duration::zero());
      }
      co_await sleepFor(w.io, d);
    }
    if (fault->abort && w.random.unit() * 100.0 < fault->abort->percentage) {
      log.flags.insert("FI");
      const unsigned status = fault->abort->http_status != 0 ? fault->abort->http_status : 200;
      co_return localReply(req, status, kFaultAbort);
    }
  }

  // Every route's destinations got their cluster when the routes were built: a lookup only, so
  // workers can share the map.
  Cluster& cluster = *cluster_of.at(&rd.destination);

  // Timeouts (§1.3): the route timeout covers all attempts and backoff; a per-try timeout not below
  // it is ignored; the x-envoy-upstream-rq-* headers override both.
  std::optional<core::Duration> global = matched->timeout;
  if (auto ms = headerMillis(head.headers, "x-envoy-upstream-rq-timeout-ms")) {
    global =
        *ms == 0 ? std::nullopt : std::optional<core::Duration>(std::chrono::milliseconds(*ms));
  }
  std::optional<core::Duration> per_try =
      matched->retries.enabled ? matched->retries.per_try_timeout : std::nullopt;
  if (auto ms = headerMillis(head.headers, "x-envoy-upstream-rq-per-try-timeout-ms")) {
    per_try = std::chrono::milliseconds(*ms);
  }
  if (per_try && global && *per_try >= *global) {
    per_try.reset();
  }
  const core::MonoTime start = global ? clock.monotonicNow() : core::MonoTime{}; // read if global
  const std::optional<core::MonoTime> deadline =
      global ? std::optional<core::MonoTime>(start + *global) : std::nullopt;

  RetryState retry(matched->retries, head.headers, w.random, cluster.retry_breaker.get(),
                   cluster.stats);
  // The x-envoy-* overrides read above, the hop-by-hop fields and the framing do not go
  // upstream: serializeUpstream leaves them out. An HTTP/1.0 request without Host gets the
  // route's (HTTP/1.1 needs one).
  if (!has_host) {
    req.fields.set(http::field::host, host);
  }
  auto globalTimeout = [&]() {
    cluster.stats->upstream_rq_timeout.inc();
    log.flags.insert("UT");
    return localReply(req, 504, kUpstreamTimeout);
  };
  TriedHosts tried;
  bool retried = false;
  for (;;) {
    const EndpointPtr ep = pickHost(w, cluster, tried);
    if (ep == nullptr) {
      cluster.stats->upstream_cx_none_healthy.inc();
      log.flags.insert("UH");
      co_return localReply(req, 503, kNoHealthyUpstream);
    }
    if (std::find(tried.begin(), tried.end(), ep->key()) == tried.end()) {
      tried.push_back(ep->key());
    }
    log.endpoint = ep;
    std::optional<core::Duration> limit = per_try;
    bool limited_by_global = false;
    if (deadline) {
      const core::Duration left = *deadline - clock.monotonicNow();
      if (left <= 0ms) {
        co_return globalTimeout();
      }
      if (!limit || left < *limit) {
        limit = left;
        limited_by_global = true;
      }
    }
    // x-envoy-expected-rq-timeout-ms as Envoy computes it (E-R.cc setTimeoutHeaders): whole
    // milliseconds, the route timeout less the elapsed time floored, or the per-try timeout.
    int64_t expected_ms = 0;
    if (limit) {
      expected_ms = per_try ? core::toMillis(*per_try) : std::numeric_limits<int64_t>::max();
      if (global) {
        expected_ms = std::min(expected_ms, core::toMillis(*global) -
                                                core::toMillis(clock.monotonicNow() - start));
      }
    }
    Attempt a =
        co_await attempt(w, cluster, *ep, req, storage, retry.attemptCount(), limit, expected_ms);
    retry.retryFinished();
    RetryState::Decision decision;
    if (a.has_response) {
      const int status = static_cast<int>(a.response.status);
      if (cluster.outlier) {
        cluster.outlier->reportStatus(ep->key(), status);
      }
      decision = retry.onResponse(status, a.retry_fields);
      if (decision != RetryState::Decision::Retry) {
        if (decision == RetryState::Decision::LimitExceeded) {
          log.flags.insert("URX");
        } else if (decision == RetryState::Decision::Overflow) {
          log.flags.insert("UO");
        } else if (retried && status < 500) {
          cluster.stats->upstream_rq_retry_success.inc();
        }
        co_return std::move(a.response);
      }
    } else {
      if (a.reason == ResetReason::Overflow) {
        log.flags.insert("UO");
        Response overflow =
            localReply(req, 503, std::string(kResetPrefix) + "reset reason: overflow");
        overflow.fields.set("x-envoy-overloaded", "true");
        co_return overflow;
      }
      if (a.idle_timeout) {
        log.flags.insert("SI");
        co_return localReply(req, 504, "stream timeout");
      }
      if (a.protocol_error || a.after_headers) {
        if (cluster.outlier) {
          cluster.outlier->reportLocalOrigin(ep->key(), LocalOrigin::Reset);
        }
        log.flags.insert(a.protocol_error ? "UPE" : "UC");
        co_return localReply(
            req, a.protocol_error ? 502 : 503,
            std::string(kResetPrefix) +
                (retried ? "retried and the latest reset reason: " : "reset reason: ") +
                (a.protocol_error ? "protocol error" : "connection termination"));
      }
      if (a.reason == ResetReason::PerTryTimeout && limited_by_global) {
        if (cluster.outlier) {
          cluster.outlier->reportLocalOrigin(ep->key(), LocalOrigin::Timeout);
        }
        co_return globalTimeout();
      }
      if (cluster.outlier) {
        cluster.outlier->reportLocalOrigin(
            ep->key(), a.reason == ResetReason::PerTryTimeout ? LocalOrigin::Timeout
                       : a.reason == ResetReason::RemoteReset ? LocalOrigin::Reset
                                                              : LocalOrigin::ConnectFailure);
      }
      if (a.reason == ResetReason::PerTryTimeout) {
        cluster.stats->upstream_rq_per_try_timeout.inc();
      }
      decision = retry.onReset(a.reason);
      if (decision != RetryState::Decision::Retry) {
        if (decision == RetryState::Decision::LimitExceeded) {
          log.flags.insert("URX");
        } else if (decision == RetryState::Decision::Overflow) {
          log.flags.insert("UO");
        }
        switch (a.reason) {
        case ResetReason::PerTryTimeout:
          log.flags.insert("UT");
          co_return localReply(req, 504, kUpstreamTimeout);
        case ResetReason::ConnectFailure:
        case ResetReason::ConnectTimeout:
          log.flags.insert("UF");
          co_return localReply(
              req, 503,
              std::string(kResetPrefix) +
                  (retried ? "retried and the latest reset reason: " : "reset reason: ") +
                  (a.reason == ResetReason::ConnectTimeout ? "connection timeout"
                                                           : "remote connection failure"));
        default:
          log.flags.insert("UC");
          co_return localReply(
              req, 503,
              std::string(kResetPrefix) +
                  (retried ? "retried and the latest reset reason: " : "reset reason: ") +
                  "connection termination");
        }
      }
    }
    // Retry after a full-jitter backoff that still counts against the route timeout.
    retried = true;
    core::Duration wait = retry.backoff();
    if (deadline && clock.monotonicNow() + wait >= *deadline) {
      co_await sleepFor(w.io, std::max<core::Duration>(*deadline - clock.monotonicNow(), 0ms));
      co_return globalTimeout();
    }
    co_await sleepFor(w.io, wait);
  }
}

void ProxyServer::Impl::record(Worker& w, const Request& req, const Response& res,
                               const RequestLog& log, core::Duration took) {
  // Destination workload labels only when an upstream answered (§3.4: local replies say unknown).
  const bool upstream_answered = log.endpoint && log.flags.count("UH") == 0 &&
                                 log.flags.count("UF") == 0 && log.flags.count("UC") == 0 &&
                                 log.flags.count("UT") == 0 && log.flags.count("FI") == 0;
  // A string_view: a const char* key would cost a strlen per node compared.
  auto label = [&](std::string_view k) -> const std::string& {
    static const std::string kUnknown = "unknown";
    auto it = log.endpoint->labels.find(k);
    return it == log.endpoint->labels.end() ? kUnknown : it->second;
  };
  const unsigned code = res.status;
  const std::string flags = log.flagString();
  // The series of this label set, looked up by the labels that vary per request; the full label
  // set is built only the first time.
  std::string& key = w.series_key; // reused: no allocation per request
  key.clear();
  key.append(std::to_string(code)).append(1, '|').append(flags).append(1, '|');
  key.append(log.destination_host).append(1, '|');
  if (upstream_answered) {
    key.append(log.endpoint->workload).append(1, '|').append(label("app")).append(1, '|');
    key.append(label("version"));
  }
  auto it = w.series.find(key);
  if (it == w.series.end()) {
    metrics::IstioLabels l;
    l.reporter = "source";
    l.source_workload = options.workload;
    l.source_canonical_service = options.app;
    l.source_app = options.app;
    l.source_version = options.version;
    l.source_workload_namespace = "default";
    if (!log.destination_host.empty()) {
      l.destination_service = log.destination_host;
      l.destination_service_name = spec::shortHost(log.destination_host);
      l.destination_canonical_service = l.destination_service_name;
      l.destination_service_namespace = "default";
    }
    if (upstream_answered) {
      l.destination_app = label("app");
      l.destination_version = label("version");
      l.destination_workload = !log.endpoint->workload.empty() ? log.endpoint->workload
                               : label("app") == "unknown"     ? "unknown"
                                                           : label("app") + "-" + label("version");
      l.destination_canonical_revision =
          label("version") == "unknown" ? "latest" : label("version");
      l.destination_workload_namespace = "default";
    }
    l.response_code = std::to_string(code);
    l.response_flags = flags;
    it = w.series.emplace(key, istio.series(l)).first;
  }
  const double request_bytes =
      static_cast<double>(req.body.size() + req.method.size() + req.target.size() + 64);
  const double response_bytes = static_cast<double>(res.body.size() + 64);
  const double ms = std::chrono::duration<double, std::milli>(took).count();
  it->second.record(ms, request_bytes, response_bytes);
}

namespace {

Response jsonReply(const Request& req, http::status status, const nlohmann::json& body) {
  Response res{status, req.version};
  res.fields.set(http::field::content_type, "application/json");
  res.body = body.dump(2) + "\n";
  return res;
}

Response errorReply(const Request& req, http::status status, const std::string& message) {
  return jsonReply(req, status, nlohmann::json{{"error", message}});
}

// Reads {"fixedDelay": "200ms", "percentage": 100} or {"httpStatus": 503, "percentage": 50} with
// the same limits Istio applies to a VirtualService fault (§1.7); percentage unset means 0.
std::optional<std::string> readPercentage(const nlohmann::json& j, double& out) {
  if (!j.contains("percentage")) {
    out = 0;
    return std::nullopt;
  }
  const auto& p = j["percentage"];
  if (!p.is_number()) {
    return "percentage must be a number";
  }
  out = p.get<double>();
  if (out < 0 || out > 100 || (out > 0 && out < 0.0001)) {
    return "percentage must be 0 or within [0.0001, 100]";
  }
  return std::nullopt;
}

} // namespace

namespace {

// Reads one runtime fault ({"host", "delay", "abort"}) into `f`; the problem when it is invalid.
std::optional<std::string> parseFault(const nlohmann::json& body, RuntimeFault& f) {
  if (!body.is_object()) {
    return std::string("a fault must be a JSON object");
  }
  f.source = body;
  if (!body.contains("host") || !body["host"].is_string()) {
    return std::string("\"host\" (a string) is required");
  }
  f.host = spec::shortHost(body["host"].get<std::string>());
  if (body.contains("delay")) {
    const auto& d = body["delay"];
    if (!d.is_object() || !d.contains("fixedDelay") || !d["fixedDelay"].is_string()) {
      return std::string("delay.fixedDelay (e.g. \"200ms\") is required");
    }
    auto duration = core::parseDuration(d["fixedDelay"].get<std::string>());
    if (!duration || *duration < 1ms) {
      return std::string("delay.fixedDelay must be a duration of at least 1ms");
    }
    spec::FaultDelay delay;
    delay.fixed_delay = *duration;
    if (d.contains("jitter")) {
      auto jitter = d["jitter"].is_string()
                        ? core::parseDuration(d["jitter"].get<std::string>())
                        : core::Result<core::Duration>(core::invalidArgument("not a string"));
      if (!jitter || *jitter < core::Duration::zero()) {
        return std::string("delay.jitter must be a duration such as \"20ms\"");
      }
      delay.jitter = *jitter;
    }
    if (auto problem = readPercentage(d, delay.percentage)) {
      return std::string("delay." + *problem);
    }
    f.fault.delay = delay;
  }
  if (body.contains("abort")) {
    const auto& a = body["abort"];
    if (!a.is_object() || !a.contains("httpStatus") || !a["httpStatus"].is_number_integer()) {
      return std::string("abort.httpStatus (an integer) is required");
    }
    const int status = a["httpStatus"].get<int>();
    if (status < 200 || status > 599) {
      return std::string("abort.httpStatus must be in range 200-599");
    }
    spec::FaultAbort abort;
    abort.http_status = static_cast<uint32_t>(status);
    if (auto problem = readPercentage(a, abort.percentage)) {
      return std::string("abort." + *problem);
    }
    f.fault.abort = abort;
  }
  if (!f.fault.delay && !f.fault.abort) {
    return std::string("a fault needs a delay, an abort, or both");
  }
  return std::nullopt;
}

} // namespace

core::Status validateFault(const std::string& json_text) {
  const nlohmann::json body = nlohmann::json::parse(json_text, nullptr, false);
  if (body.is_discarded()) {
    return core::invalidArgument("body must be a JSON object");
  }
  RuntimeFault f;
  if (auto problem = parseFault(body, f)) {
    return core::invalidArgument(*problem);
  }
  return core::Status::ok();
}

Response ProxyServer::Impl::postFault(const Request& req) {
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return errorReply(req, http::status::bad_request, "body must be a JSON object");
  }
  RuntimeFault f;
  if (auto problem = parseFault(body, f)) {
    return errorReply(req, http::status::bad_request, *problem);
  }
  if (routes.count(f.host) == 0) {
    return errorReply(req, http::status::bad_request,
                      "unknown host \"" + f.host + "\": this proxy routes no traffic to it");
  }
  f.id = "fault-" + std::to_string(next_fault_id++);
  const std::string id = f.id;
  faults.emplace(id, std::move(f));
  ++generation;
  publish();
  return jsonReply(req, http::status::created, {{"id", id}, {"generation", generation}});
}

Response ProxyServer::Impl::putConfig(const Request& req) {
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return errorReply(req, http::status::bad_request, "body must be a JSON object");
  }
  if (!body.contains("generation") || !body["generation"].is_number_unsigned()) {
    return errorReply(req, http::status::bad_request,
                      "\"generation\" (a non-negative integer) is required");
  }
  // Validate everything first: a bad push changes nothing.
  std::map<std::string, std::vector<Endpoint>> endpoints;
  if (body.contains("endpoints")) {
    if (!body["endpoints"].is_object()) {
      return errorReply(req, http::status::bad_request,
                        "\"endpoints\" must map hosts to lists of endpoints");
    }
    for (const auto& [host_name, list] : body["endpoints"].items()) {
      const std::string host = spec::shortHost(host_name);
      if (dynamic_hosts.count(host) == 0) {
        return errorReply(req, http::status::bad_request,
                          "endpoints." + host_name + ": not a Workload host of the spec");
      }
      if (!list.is_array()) {
        return errorReply(req, http::status::bad_request,
                          "endpoints." + host_name + " must be a list");
      }
      auto& out = endpoints[host];
      for (size_t i = 0; i < list.size(); ++i) {
        const auto& e = list[i];
        const std::string where = "endpoints." + host_name + "[" + std::to_string(i) + "]";
        if (!e.is_object() || !e.contains("address") || !e["address"].is_string() ||
            !e.contains("port") || !e["port"].is_number_unsigned() ||
            e["port"].get<uint64_t>() == 0 || e["port"].get<uint64_t>() > 65535) {
          return errorReply(req, http::status::bad_request,
                            where + " needs \"address\" (string) and \"port\" (1-65535)");
        }
        Endpoint ep;
        ep.address = e["address"].get<std::string>();
        ep.port = static_cast<uint16_t>(e["port"].get<uint64_t>());
        if (e.contains("workload") && e["workload"].is_string()) {
          ep.workload = e["workload"].get<std::string>();
        }
        if (e.contains("labels")) {
          if (!e["labels"].is_object()) {
            return errorReply(req, http::status::bad_request,
                              where + ".labels must map strings to strings");
          }
          for (const auto& [k, v] : e["labels"].items()) {
            if (!v.is_string()) {
              return errorReply(req, http::status::bad_request,
                                where + ".labels." + k + " must be a string");
            }
            ep.labels[k] = v.get<std::string>();
          }
        }
        out.push_back(std::move(ep));
      }
    }
  }
  std::map<std::string, RuntimeFault> next_faults;
  if (body.contains("faults")) {
    if (!body["faults"].is_array()) {
      return errorReply(req, http::status::bad_request, "\"faults\" must be a list");
    }
    for (size_t i = 0; i < body["faults"].size(); ++i) {
      const auto& j = body["faults"][i];
      RuntimeFault f;
      if (auto problem = parseFault(j, f)) {
        return errorReply(req, http::status::bad_request,
                          "faults[" + std::to_string(i) + "]: " + *problem);
      }
      if (!j.contains("id") || !j["id"].is_string()) {
        return errorReply(req, http::status::bad_request,
                          "faults[" + std::to_string(i) + "]: \"id\" (a string) is required");
      }
      f.id = j["id"].get<std::string>();
      next_faults[f.id] = std::move(f);
    }
  }
  dynamic_endpoints = std::move(endpoints);
  faults = std::move(next_faults);
  generation = body["generation"].get<uint64_t>();
  configured = true;
  for (auto& [key, c] : clusters) {
    refresh(*c);
  }
  // Each worker closes its pooled connections to endpoints that left (a pod that restarted on
  // another port) when it takes this snapshot, before its next request picks a host.
  publish();
  return jsonReply(req, http::status::ok, {{"generation", generation}});
}

nlohmann::json ProxyServer::Impl::configDump() const {
  nlohmann::json out{{"generation", generation}, {"concurrency", options.concurrency}};
  nlohmann::json ls = nlohmann::json::array();
  for (const Listener& l : listeners) {
    ls.push_back({{"name", l.name}, {"address", l.address}, {"port", l.port}, {"host", l.host}});
  }
  out["listeners"] = ls;
  nlohmann::json rs = nlohmann::json::object();
  for (const auto& [host, hr] : routes) {
    nlohmann::json list = nlohmann::json::array();
    for (const spec::HttpRoute* r : hr.routes) {
      nlohmann::json dests = nlohmann::json::array();
      for (const spec::RouteDestination& rd : r->route) {
        dests.push_back({{"host", rd.destination.host},
                         {"subset", rd.destination.subset},
                         {"weight", rd.weight}});
      }
      nlohmann::json route{{"name", r->name}, {"destinations", dests}};
      route["timeout"] = r->timeout ? core::formatDuration(*r->timeout) : "none";
      route["retries"] = r->retries.enabled ? static_cast<int>(r->retries.num_retries) : 0;
      route["fault"] = r->fault.has_value();
      list.push_back(route);
    }
    rs[host] = list;
  }
  out["routes"] = rs;
  nlohmann::json fs = nlohmann::json::array();
  for (const auto& [id, f] : faults) {
    fs.push_back({{"id", id}, {"fault", f.source}});
  }
  out["faults"] = fs;
  return out;
}

nlohmann::json ProxyServer::Impl::outlierEvents() const {
  // Events carry monotonic times; the wall time is derived once, so their order is kept.
  const core::WallTime wall_now = clock.wallNow();
  const core::MonoTime mono_now = clock.monotonicNow();
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, c] : clusters) {
    if (!c->outlier) {
      continue;
    }
    nlohmann::json list = nlohmann::json::array();
    for (const OutlierEvent& e : c->outlier->events()) {
      const auto wall =
          wall_now - std::chrono::duration_cast<core::WallTime::duration>(mono_now - e.at);
      nlohmann::json j{
          {"kind", e.kind == OutlierEvent::Kind::Ejected     ? "ejected"
                   : e.kind == OutlierEvent::Kind::Unejected ? "unejected"
                                                             : "overflow"},
          {"host", e.host},
          {"time", core::formatIso8601(wall)},
          {"unixMs",
           std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count()}};
      if (e.kind != OutlierEvent::Kind::Unejected) {
        j["reason"] = ejectionReasonName(e.reason);
      }
      if (e.kind == OutlierEvent::Kind::Ejected) {
        j["ejectionTimeMs"] = core::toMillis(e.ejection_time);
      }
      list.push_back(std::move(j));
    }
    out[c->name] = std::move(list);
  }
  return {{"clusters", out}};
}

Response ProxyServer::Impl::adminResponse(const Request& req) {
  const std::string& target = req.target;
  const bool mutating = req.is("POST") || req.is("PUT") || req.is("DELETE");
  if (mutating && !options.admin_token.empty() &&
      req.fields.find(http::field::authorization).value_or("") != "Bearer " + options.admin_token) {
    return errorReply(req, http::status::unauthorized, "a bearer token is required");
  }
  if (req.is("PUT") && target == "/config") {
    return putConfig(req);
  }
  if (req.is("POST") && target == "/faults") {
    return postFault(req);
  }
  if (req.is("DELETE") && target.rfind("/faults/", 0) == 0) {
    const std::string id = target.substr(8);
    if (faults.erase(id) == 0) {
      return errorReply(req, http::status::not_found, "no fault \"" + id + "\"");
    }
    ++generation;
    publish();
    return jsonReply(req, http::status::ok, {{"deleted", id}, {"generation", generation}});
  }
  Response res{http::status::ok, req.version};
  res.fields.set(http::field::content_type, "text/plain");
  if (!req.is("GET")) {
    res.status = 405;
    res.body = "not served here\n";
  } else if (target == "/metrics") {
    res.fields.set(http::field::content_type, metrics::Registry::kContentType);
    res.body = registry.expose();
  } else if (target == "/ready") {
    if (options.wait_for_config && !configured) {
      res.status = 503;
      res.body = "waiting for configuration from the control plane\n";
    } else {
      res.body = "LIVE generation " + std::to_string(generation) + "\n";
    }
  } else if (target == "/config_dump") {
    return jsonReply(req, http::status::ok, configDump());
  } else if (target == "/faults") {
    return jsonReply(req, http::status::ok, configDump()["faults"]);
  } else if (target == "/outlier_events") {
    return jsonReply(req, http::status::ok, outlierEvents());
  } else if (target == "/clusters") {
    std::string body;
    for (const auto& [key, c] : clusters) {
      for (const EndpointPtr& e : c->endpoints) {
        const bool ejected = c->outlier && c->outlier->isEjected(e->key());
        body += c->name + "::" + e->key() +
                "::health_flags::" + (ejected ? "/failed_outlier_check" : "healthy") + "\n";
      }
    }
    res.body = body;
  } else {
    res.status = 404;
    res.body = "unknown admin path; try /metrics, /ready, /clusters, /config_dump, /faults, "
               "/outlier_events\n";
  }
  return res;
}

// --------------------------------------------------------------------------------- the facade

ProxyServer::ProxyServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProxyServer::~ProxyServer() = default;

core::Result<std::unique_ptr<ProxyServer>>
ProxyServer::create(const spec::Spec& spec, ProxyOptions options, core::Clock& clock) {
  auto impl = std::make_unique<Impl>(spec, std::move(options), clock);
  if (auto st = impl->build(); !st.isOk()) {
    return st;
  }
  return std::unique_ptr<ProxyServer>(new ProxyServer(std::move(impl)));
}

const std::vector<Listener>& ProxyServer::listeners() const {
  return impl_->listeners;
}

metrics::IstioMetrics& ProxyServer::istioMetrics() {
  return impl_->istio;
}

metrics::Registry& ProxyServer::registry() {
  return impl_->registry;
}

uint16_t ProxyServer::adminPort() const {
  return impl_->admin->local_endpoint().port();
}

void ProxyServer::run() {
  Impl& i = *impl_;
  asio::io_context& main = *i.main_io;
  for (size_t k = 0; k < i.acceptors.size(); ++k) {
    asio::co_spawn(main, i.accept(*i.acceptors[k], &i.listeners[k]), asio::detached);
  }
  asio::co_spawn(main, i.accept(*i.admin, nullptr), asio::detached);
  for (auto& [key, c] : i.clusters) {
    if (c->outlier) {
      asio::co_spawn(main, i.tick(*c), asio::detached);
    }
  }
  if (i.options.handle_signals) {
    i.signals.emplace(main, SIGINT, SIGTERM);
    i.signals->async_wait([&i](const boost::system::error_code& ec, int) {
      if (!ec) {
        i.beginDrain();
      }
    });
  }
  // Every loop runs until stopAll(): a worker with no connection yet has nothing queued.
  auto guard = asio::make_work_guard(main);
  std::vector<asio::executor_work_guard<Executor>> guards;
  for (auto& io : i.worker_ios) {
    guards.push_back(asio::make_work_guard(*io));
    i.threads.emplace_back([&loop = *io] { loop.run(); });
  }
  main.run();
  i.stopAll();
  for (std::thread& t : i.threads) {
    t.join();
  }
  i.threads.clear();
}

void ProxyServer::stop() {
  impl_->stopAll();
}

} // namespace meshproof::proxy
