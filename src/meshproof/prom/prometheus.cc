#include "meshproof/prom/prometheus.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "meshproof/net/http_get.h"

namespace meshproof::prom {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A port the OS says is free on 127.0.0.1 (Prometheus binds it right after; a lost race is
// retried by the caller).
uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return port;
}

std::string seconds(core::Duration d) {
  return std::to_string(std::max<int64_t>(1, core::toMillis(d))) + "ms";
}

} // namespace

std::string urlEncode(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool isExecutableOnPath(const std::string& binary) {
  if (binary.find('/') != std::string::npos) {
    return ::access(binary.c_str(), X_OK) == 0;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) {
      dir = ".";
    }
    if (::access((dir + "/" + binary).c_str(), X_OK) == 0) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

core::Result<std::unique_ptr<Prometheus>> Prometheus::start(const PrometheusOptions& o) {
  if (o.file_sd_path.empty()) {
    return core::invalidArgument("prometheus: a file_sd path is required");
  }
  if (!isExecutableOnPath(o.binary)) {
    return core::notFound("Prometheus is not installed (no `" + o.binary +
                          "` on PATH); install it with `apt-get install prometheus` "
                          "(scripts/install-deps.sh does)");
  }
  char tmpl[] = "/tmp/meshproof-prometheus-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    return core::ioError("prometheus: cannot create a temporary directory");
  }
  std::unique_ptr<Prometheus> p(new Prometheus());
  p->dir_ = tmpl;
  {
    std::ofstream cfg(p->dir_ + "/prometheus.yml");
    cfg << "# Written by meshproof: scrape the local mesh's proxies (file_sd).\n"
        << "global:\n  scrape_interval: " << seconds(o.scrape_interval)
        << "\n  evaluation_interval: " << seconds(o.evaluation_interval) << "\n";
    if (!o.rule_files.empty()) {
      cfg << "rule_files:\n";
      for (const std::string& r : o.rule_files) {
        cfg << "  - " << r << "\n";
      }
    }
    cfg << "scrape_configs:\n  - job_name: meshproof\n    file_sd_configs:\n      - files: ["
        << fs::absolute(o.file_sd_path).string() << "]\n        refresh_interval: 1s\n";
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    p->port_ = freePort();
    const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(p->port_);
    const std::string config = "--config.file=" + p->dir_ + "/prometheus.yml";
    const std::string tsdb = "--storage.tsdb.path=" + p->dir_ + "/data";
    const std::string log = p->dir_ + "/prometheus.log";
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      return core::ioError("prometheus: fork failed");
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execlp(o.binary.c_str(), o.binary.c_str(), config.c_str(), tsdb.c_str(), listen.c_str(),
               "--log.level=warn", "--storage.tsdb.retention.time=1d", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    p->pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + o.ready_timeout;
    for (;;) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        p->pid_ = 0;
        const std::string tail = p->logTail();
        if (tail.find("address already in use") != std::string::npos) {
          break; // lost the port: try another
        }
        return core::unavailable(
            "prometheus exited at start" +
            (WIFEXITED(status) && WEXITSTATUS(status) == 127
                 ? " (is `" + o.binary + "` installed? scripts/install-deps.sh installs it)"
                 : std::string()) +
            ":\n" + tail);
      }
      auto ready = net::httpGet(p->port_, "/-/ready", 1s);
      if (ready && ready->status == 200) {
        return p;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return core::unavailable("prometheus was not ready within " +
                                 core::formatDuration(o.ready_timeout) + ":\n" + p->logTail());
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  return core::unavailable("prometheus: no free port after 3 tries");
}

std::unique_ptr<Prometheus> Prometheus::attach(uint16_t port) {
  std::unique_ptr<Prometheus> p(new Prometheus());
  p->port_ = port;
  return p;
}

Prometheus::~Prometheus() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  std::error_code ec;
  if (!dir_.empty()) {
    fs::remove_all(dir_, ec);
  }
}

std::string Prometheus::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string Prometheus::logTail() const {
  std::ifstream in(dir_ + "/prometheus.log");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    lines.push_back(l);
  }
  std::string out;
  for (size_t i = lines.size() > 10 ? lines.size() - 10 : 0; i < lines.size(); ++i) {
    out += "  " + lines[i] + "\n";
  }
  return out;
}

core::Result<nlohmann::json> Prometheus::api(const std::string& target) const {
  auto reply = net::httpGet(port_, target, 10s);
  if (!reply) {
    return reply.status();
  }
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") {
    return core::unavailable("prometheus " + target + ": " +
                             (j.is_discarded() ? reply->body : j.value("error", reply->body)));
  }
  return j["data"];
}

core::Result<nlohmann::json> Prometheus::query(const std::string& promql) const {
  auto data = api("/api/v1/query?query=" + urlEncode(promql));
  if (!data) {
    return data.status();
  }
  return (*data)["result"];
}

core::Result<nlohmann::json> Prometheus::queryRange(const std::string& promql, double start,
                                                    double end, double step) const {
  auto data =
      api("/api/v1/query_range?query=" + urlEncode(promql) + "&start=" + std::to_string(start) +
          "&end=" + std::to_string(end) + "&step=" + std::to_string(step));
  if (!data) {
    return data.status();
  }
  return (*data)["result"];
}

core::Result<nlohmann::json> Prometheus::alerts() const {
  auto data = api("/api/v1/alerts");
  if (!data) {
    return data.status();
  }
  return (*data)["alerts"];
}

core::Status Prometheus::waitForTargets(size_t n, core::Duration timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t seen = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = query("up == 1");
    seen = r ? r->size() : 0;
    if (seen >= n) {
      return core::Status::ok();
    }
    std::this_thread::sleep_for(200ms);
  }
  return core::unavailable("prometheus scraped " + std::to_string(seen) + " of " +
                           std::to_string(n) + " targets within " + core::formatDuration(timeout));
}

} // namespace meshproof::prom
