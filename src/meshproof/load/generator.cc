#include "meshproof/load/generator.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <string_view>
#include <vector>

#include "meshproof/core/time.h"
#include "meshproof/net/asio.h"

namespace meshproof::load {

using namespace std::chrono_literals;
using net::asio::awaitable;
using net::asio::use_awaitable;
namespace asio = net::asio;
using tcp = net::tcp;

core::Result<Target> parseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return core::invalidArgument("URL \"" + url + "\": only http:// URLs are supported");
  }
  const std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Target t;
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      return core::invalidArgument("URL \"" + url + "\": unterminated IPv6 address");
    }
    t.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return core::invalidArgument("URL \"" + url + "\": junk after the IPv6 address");
      }
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    t.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  if (t.host.empty()) {
    return core::invalidArgument("URL \"" + url + "\": no host");
  }
  if (!port_text.empty() || authority.find(':') != std::string::npos) {
    unsigned port = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
        port == 0 || port > 65535) {
      return core::invalidArgument("URL \"" + url + "\": port \"" + port_text +
                                   "\" is not a number in 1-65535");
    }
    t.port = static_cast<uint16_t>(port);
  }
  if (t.host == "localhost") {
    t.address = "127.0.0.1";
  } else {
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(t.host, ec);
    if (ec) {
      return core::invalidArgument("URL \"" + url + "\": host \"" + t.host +
                                   "\" must be localhost or a loopback IP address");
    }
    if (!ip.is_loopback()) {
      return core::invalidArgument("URL \"" + url + "\": " + t.host +
                                   " is not a loopback address; meshproof sends load to this "
                                   "machine only");
    }
    t.address = t.host;
  }
  return t;
}

namespace {

// One response, parsed in place from the connection's buffer.
struct ResponseHead {
  int status = 0;
  size_t header_bytes = 0; // through the blank line
  std::optional<size_t> content_length;
  bool chunked = false;
  bool close = false;
  std::string_view version;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Parses the head when complete; nullopt while more bytes are needed; status -1 when malformed.
std::optional<ResponseHead> parseHead(std::string_view data, std::string_view version_header) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  ResponseHead h;
  h.header_bytes = end + 4;
  const std::string_view head = data.substr(0, end);
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/") {
    h.status = -1;
    return h;
  }
  std::from_chars(head.data() + 9, head.data() + 12, h.status);
  h.close = head.substr(0, 8) == "HTTP/1.0";
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    const size_t start = pos + 2;
    size_t next = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, next == std::string_view::npos ? std::string_view::npos : next - start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = line.substr(0, colon);
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        size_t n = 0;
        std::from_chars(value.data(), value.data() + value.size(), n);
        h.content_length = n;
      } else if (iequals(name, "transfer-encoding")) {
        h.chunked = value.find("chunked") != std::string_view::npos;
      } else if (iequals(name, "connection")) {
        h.close = iequals(value, "close") || (h.close && !iequals(value, "keep-alive"));
      } else if (iequals(name, version_header)) {
        h.version = value;
      }
    }
    pos = next;
  }
  return h;
}

// Bytes of a complete chunked body starting at `data`, or nullopt when incomplete.
std::optional<size_t> chunkedLength(std::string_view data) {
  size_t pos = 0;
  for (;;) {
    const size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      return std::nullopt;
    }
    size_t size = 0;
    std::from_chars(data.data() + pos, data.data() + eol, size, 16);
    pos = eol + 2;
    if (size == 0) {
      // Trailers end with an empty line.
      const size_t end = data.find("\r\n", pos);
      if (end == std::string_view::npos) {
        return std::nullopt;
      }
      if (end == pos) {
        return end + 2;
      }
      const size_t blank = data.find("\r\n\r\n", pos);
      return blank == std::string_view::npos ? std::nullopt : std::optional(blank + 4);
    }
    if (data.size() < pos + size + 2) {
      return std::nullopt;
    }
    pos += size + 2;
  }
}

struct Connection {
  explicit Connection(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::vector<char> buffer = std::vector<char>(size_t{64} * 1024);
  size_t filled = 0;
  std::optional<core::MonoTime> busy_since; // a request in flight; the watchdog's view
  bool timed_out = false;
};

struct Run {
  Run(const LoadOptions& o, core::Clock& c, const std::atomic<bool>* s)
      : options(o), clock(c), stop(s) {}
  const LoadOptions& options;
  core::Clock& clock;
  const std::atomic<bool>* stop;
  asio::io_context io{1};
  tcp::endpoint endpoint;
  std::string request;
  core::MonoTime start;
  core::MonoTime warm_end;
  std::optional<core::MonoTime> end;       // the duration's end
  std::optional<core::MonoTime> stop_seen; // when `stop` was first seen
  uint64_t next = 0;
  uint64_t done = 0;
  LoadResult result;
  std::vector<std::unique_ptr<Connection>> connections;
  int live = 0;

  bool openLoop() const { return options.rate > 0; }

  // Open loop: when request i is due.
  core::MonoTime intendedAt(uint64_t i) const {
    return start + std::chrono::duration_cast<core::Duration>(
                       std::chrono::duration<double>(static_cast<double>(i) / options.rate));
  }

  // Open loop: how many requests are due before `t` (the i with intendedAt(i) < t).
  uint64_t dueBefore(core::MonoTime t) const {
    if (t <= start) {
      return 0;
    }
    auto n = static_cast<uint64_t>(
        std::ceil(std::chrono::duration<double>(t - start).count() * options.rate));
    while (n > 0 && intendedAt(n - 1) >= t) {
      --n;
    }
    while (intendedAt(n) < t) {
      ++n;
    }
    return n;
  }

  // The end of the run's time: the duration's end, or the moment `stop` was first seen (noted
  // here, by whichever connection or the watchdog looks first). nullopt: neither yet.
  std::optional<core::MonoTime> runEnd() {
    if (!stop_seen && stop != nullptr && stop->load(std::memory_order_relaxed)) {
      stop_seen = clock.monotonicNow();
    }
    if (stop_seen && end) {
      return std::min(*stop_seen, *end);
    }
    return stop_seen ? stop_seen : end;
  }

  // Open loop: how long after the schedule's end its late requests are still sent.
  core::Duration grace(core::MonoTime schedule_end) const {
    const core::Duration measured = std::max(schedule_end - warm_end, core::Duration::zero());
    return std::max<core::Duration>(std::chrono::seconds(1), measured / 10);
  }

  void record(int status, std::string_view version, core::MonoTime intended, core::MonoTime sent,
              core::MonoTime answered) {
    ++done;
    const core::Duration lag = std::max(sent - intended, core::Duration::zero());
    if (options.timeline_bucket > core::Duration::zero()) {
      const auto i = static_cast<size_t>((intended - start) / options.timeline_bucket);
      if (i >= result.timeline.size()) {
        result.timeline.resize(i + 1);
      }
      TimelineBucket& b = result.timeline[i];
      ++(status == 0 || status >= 500 ? b.failed : b.ok);
      if (openLoop()) {
        b.max_send_lag = std::max(b.max_send_lag, lag);
      }
    }
    if (intended < warm_end) {
      return;
    }
    ++result.requests;
    if (openLoop()) {
      result.send_lag.record(static_cast<uint64_t>(lag.count()));
    }
    ++result.status_counts[status];
    if (status == 0) {
      ++result.errors;
    }
    if (!version.empty()) {
      auto it = result.versions.find(std::string(version)); // few distinct values
      if (it == result.versions.end()) {
        result.versions.emplace(std::string(version), 1);
      } else {
        ++it->second;
      }
    }
    result.latency.record(static_cast<uint64_t>((answered - intended).count()));
    result.latency_uncorrected.record(static_cast<uint64_t>((answered - sent).count()));
  }

  // Reads one response; returns its status (0 on error) and whether the connection stays open.
  awaitable<std::pair<int, bool>> readResponse(Connection& c, std::string& version) {
    boost::system::error_code ec;
    for (;;) {
      const std::string_view data(c.buffer.data(), c.filled);
      if (auto head = parseHead(data, options.version_header)) {
        if (head->status < 0) {
          co_return std::pair{0, false};
        }
        std::optional<size_t> total;
        if (head->content_length) {
          total = head->header_bytes + *head->content_length;
        } else if (head->chunked) {
          if (auto body = chunkedLength(data.substr(head->header_bytes))) {
            total = head->header_bytes + *body;
          }
        } else if (head->status == 204 || head->status == 304 || head->status / 100 == 1) {
          total = head->header_bytes;
        }
        if (total && c.filled >= *total) {
          version.assign(head->version);
          const int status = head->status;
          const bool keep = !head->close;
          std::copy(c.buffer.begin() + static_cast<std::ptrdiff_t>(*total),
                    c.buffer.begin() + static_cast<std::ptrdiff_t>(c.filled), c.buffer.begin());
          c.filled -= *total;
          co_return std::pair{status, keep};
        }
        if (!total && !head->chunked && !head->content_length && ec == asio::error::eof) {
          version.assign(head->version); // body delimited by the connection's end
          c.filled = 0;
          co_return std::pair{head->status, false};
        }
      }
      if (ec) {
        co_return std::pair{0, false};
      }
      if (c.filled == c.buffer.size()) {
        c.buffer.resize(c.buffer.size() * 2);
      }
      const size_t n = co_await c.socket.async_read_some(
          asio::buffer(c.buffer.data() + c.filled, c.buffer.size() - c.filled),
          asio::redirect_error(use_awaitable, ec));
      c.filled += n;
    }
  }

  awaitable<bool> connect(Connection& c) {
    boost::system::error_code ec;
    if (c.socket.is_open()) {
      c.socket.close(ec);
    }
    c.filled = 0;
    c.busy_since = clock.monotonicNow();
    co_await c.socket.async_connect(endpoint, asio::redirect_error(use_awaitable, ec));
    c.busy_since.reset();
    if (ec) {
      co_return false;
    }
    c.socket.set_option(tcp::no_delay(true), ec);
    co_return true;
  }

  awaitable<void> drive(Connection& c) {
    asio::steady_timer timer(io);
    std::string version;
    bool connected = co_await connect(c);
    const bool open_loop = openLoop();
    for (;;) {
      if (options.requests && next >= *options.requests) {
        break;
      }
      const core::MonoTime now = clock.monotonicNow();
      const std::optional<core::MonoTime> until = runEnd();
      core::MonoTime intended = now;
      if (open_loop) {
        // A late request is still sent (its latency counts from `intended`), until the grace
        // after the schedule's end; the ones left then are unsent (counted after the run).
        intended = intendedAt(next);
        if (until && (intended >= *until || now >= *until + grace(*until))) {
          break;
        }
      } else if (until && now >= *until) {
        break;
      }
      ++next;
      if (open_loop && intended > now) {
        timer.expires_at(intended);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
        // stop() while this connection waited: a request due after it is not part of the run.
        if (const auto after = runEnd(); after && intended >= *after) {
          // Untake it. Every connection still waiting holds a request due after the end too (it
          // would have sent it otherwise) and untakes its own, so `next` ends at those sent.
          --next;
          break;
        }
      }
      if (!connected) {
        connected = co_await connect(c);
        if (!connected) {
          const core::MonoTime failed_at = clock.monotonicNow();
          record(0, {}, intended, failed_at, failed_at);
          // A refused connection fails at once; do not spin through the whole request budget.
          timer.expires_after(10ms);
          boost::system::error_code ec;
          co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
          continue;
        }
      }
      const core::MonoTime sent = clock.monotonicNow();
      c.busy_since = sent;
      c.timed_out = false;
      boost::system::error_code ec;
      co_await asio::async_write(c.socket, asio::buffer(request),
                                 asio::redirect_error(use_awaitable, ec));
      int status = 0;
      bool keep = false;
      if (!ec) {
        std::tie(status, keep) = co_await readResponse(c, version);
      }
      c.busy_since.reset();
      record(status, status == 0 ? std::string_view() : std::string_view(version), intended, sent,
             clock.monotonicNow());
      if (!keep) {
        connected = false;
      }
    }
    boost::system::error_code ignored;
    c.socket.close(ignored);
    if (--live == 0) {
      io.stop();
    }
  }

  // Closes connections whose request has run past the timeout; reports progress.
  awaitable<void> watchdog() {
    asio::steady_timer timer(io);
    core::MonoTime last_progress = clock.monotonicNow();
    for (;;) {
      timer.expires_after(100ms);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      const core::MonoTime now = clock.monotonicNow();
      (void)runEnd(); // notes when stop() came, even with every connection waiting for an answer
      for (auto& c : connections) {
        if (c->busy_since && now - *c->busy_since > options.timeout) {
          c->timed_out = true;
          c->busy_since.reset();
          c->socket.close(ec); // the pending read fails; the request counts as an error
        }
      }
      if (options.progress && now - last_progress >= 1s) {
        last_progress = now;
        options.progress(done, std::chrono::duration<double>(now - start).count());
      }
    }
  }
};

} // namespace

core::Result<LoadResult> runLoad(const LoadOptions& options, core::Clock& clock,
                                 const std::atomic<bool>* stop) {
  if (!(options.rate >= 0) || std::isinf(options.rate)) {
    return core::invalidArgument("--rate must be 0 (closed loop) or a positive number");
  }
  if (options.connections == 0) {
    return core::invalidArgument("--connections must be at least 1");
  }
  if (options.duration.has_value() == options.requests.has_value()) {
    return core::invalidArgument("give exactly one of --duration and -n");
  }
  if (options.duration && *options.duration <= core::Duration::zero()) {
    return core::invalidArgument("--duration must be positive");
  }
  if (options.requests && *options.requests == 0) {
    return core::invalidArgument("-n must be at least 1");
  }
  Run run(options, clock, stop);
  boost::system::error_code ec;
  run.endpoint =
      tcp::endpoint(asio::ip::make_address(options.target.address, ec), options.target.port);
  if (ec) {
    return core::invalidArgument("bad address " + options.target.address);
  }
  {
    // Reachable at all? A clear error instead of a run full of failures.
    tcp::socket probe(run.io);
    probe.connect(run.endpoint, ec);
    if (ec) {
      return core::unavailable("cannot connect to " + options.target.address + ":" +
                               std::to_string(options.target.port) + ": " + ec.message());
    }
  }
  std::string& r = run.request;
  r = options.method + " " + options.target.path + " HTTP/1.1\r\nHost: " + options.target.host +
      ":" + std::to_string(options.target.port) + "\r\n";
  for (const auto& [k, v] : options.headers) {
    r += k + ": " + v + "\r\n";
  }
  r += "User-Agent: meshproof-load\r\n\r\n";

  run.result.connections = options.connections;
  run.result.intended_rate = options.rate;
  run.result.started_at = clock.wallNow();
  run.result.start_time = core::formatIso8601(run.result.started_at);
  run.start = clock.monotonicNow();
  run.warm_end = run.start + options.warmup;
  if (options.duration) {
    run.end = run.start + options.warmup + *options.duration;
  }
  for (uint32_t i = 0; i < options.connections; ++i) {
    run.connections.push_back(std::make_unique<Connection>(run.io));
  }
  run.live = static_cast<int>(options.connections);
  for (auto& c : run.connections) {
    asio::co_spawn(run.io, run.drive(*c), asio::detached);
  }
  asio::co_spawn(run.io, run.watchdog(), asio::detached);
  run.io.run();
  const core::MonoTime finished = clock.monotonicNow();
  const core::MonoTime measured_from = std::min(run.warm_end, finished);
  core::MonoTime measured_to = finished;
  if (const auto until = run.runEnd(); until && options.rate > 0) {
    // The schedule's time, not the wait for its last answers; what it never sent is counted.
    measured_to = std::max(std::min(*until, finished), measured_from);
    const uint64_t due = run.dueBefore(measured_to);
    const uint64_t taken = std::max(run.next, run.dueBefore(measured_from));
    run.result.unsent = due > taken ? due - taken : 0;
  }
  run.result.seconds = std::chrono::duration<double>(measured_to - measured_from).count();
  if (run.result.seconds > 0) {
    run.result.achieved_rate = static_cast<double>(run.result.requests) / run.result.seconds;
  }
  run.result.load_invalid = options.rate > 0 && run.result.achieved_rate < 0.95 * options.rate;
  return std::move(run.result);
}

} // namespace meshproof::load
