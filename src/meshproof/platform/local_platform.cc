#include "meshproof/platform/local_platform.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

namespace meshproof::platform {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxLine = 4096;

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

// GET /ready on 127.0.0.1:port with a short timeout; true on a 200 answer.
bool probeReady(uint16_t port, core::Duration timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    static constexpr char kRequest[] =
        "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) ==
        static_cast<ssize_t>(sizeof kRequest - 1)) {
      char buf[32] = {};
      size_t got = 0;
      while (got < 12) {
        const ssize_t n = ::recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) {
          break;
        }
        got += static_cast<size_t>(n);
      }
      ok = got >= 12 && std::strncmp(buf + 8, " 200", 4) == 0;
    }
  }
  ::close(fd);
  return ok;
}

// Signals the pod's process group (the pod and anything it started); the pod itself when the
// group does not exist yet.
void signalPod(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0) {
    ::kill(pid, sig);
  }
}

std::string describeExit(int status) {
  if (WIFEXITED(status)) {
    return "exit status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  }
  return "status " + std::to_string(status);
}

} // namespace

struct LocalPlatform::Impl {
  struct Proc {
    PodTemplate tmpl;
    PodStatus status;
    int pidfd = -1;
    int out_fd = -1;
    int err_fd = -1;
    std::string out_buf;
    std::string err_buf;
    RestartBackoff backoff;
    Clock::time_point next_start;
    Clock::time_point ready_since;
    Clock::time_point next_probe;
    uint32_t probe_failures = 0;
    bool started_once = false;
    std::optional<Clock::time_point> kill_deadline;
  };

  explicit Impl(LocalPlatformOptions o) : options(o) {
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  ~Impl() { closeFd(wake_fd); }

  LocalPlatformOptions options;
  mutable std::mutex mu;
  mutable std::condition_variable changed;
  std::vector<std::unique_ptr<Proc>> procs;
  uint64_t version = 0;
  bool stopping = false;
  int wake_fd = -1;
  std::thread supervisor;

  void bump() {
    ++version;
    changed.notify_all();
  }
  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }
  Proc* find(const std::string& name) {
    for (auto& p : procs) {
      if (p->tmpl.name == name) {
        return p.get();
      }
    }
    return nullptr;
  }

  void loop();
  void spawn(Proc& p, Clock::time_point now);
  void drain(Proc& p, int& fd, std::string& buf, bool is_stdout, Clock::time_point now);
  void line(Proc& p, const std::string& text, bool is_stdout, Clock::time_point now);
  void reap(Proc& p, Clock::time_point now);
};

void LocalPlatform::Impl::spawn(Proc& p, Clock::time_point now) {
  std::vector<char*> argv;
  for (std::string& a : p.tmpl.argv) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const std::string exec_error = "meshproof: cannot execute " + p.tmpl.argv.front() + "\n";
  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    p.status.last_exit = std::string("cannot create a pipe: ") + std::strerror(errno);
    p.next_start = now + 1s;
    return;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    p.status.last_exit = std::string("cannot create a pipe: ") + std::strerror(errno);
    p.next_start = now + 1s;
    return;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127); // the supervisor died before prctl took effect
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
    }
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execv(argv[0], argv.data());
    [[maybe_unused]] auto n = ::write(2, exec_error.data(), exec_error.size());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pid > 0) {
    ::setpgid(pid, pid); // as the child does: whichever runs first, the group exists after this
  }
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    p.status.last_exit = std::string("fork failed: ") + std::strerror(errno);
    p.next_start = now + 1s;
    return;
  }
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err[0], F_SETFL, O_NONBLOCK);
  p.out_fd = out[0];
  p.err_fd = err[0];
  p.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (p.started_once) {
    ++p.status.restarts;
  }
  p.started_once = true;
  p.status.pid = pid;
  p.status.phase = PodPhase::Starting;
  p.status.port = 0;
  p.status.admin_port = 0;
  p.status.ready = false;
  p.probe_failures = 0;
  p.kill_deadline.reset();
  bump();
}

void LocalPlatform::Impl::line(Proc& p, const std::string& text, bool is_stdout,
                               Clock::time_point now) {
  if (!is_stdout) {
    p.status.stderr_tail.push_back(text);
    if (p.status.stderr_tail.size() > options.stderr_lines) {
      p.status.stderr_tail.erase(p.status.stderr_tail.begin());
    }
    return;
  }
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.value("event", "") == "listening" && j.contains("port") &&
      j["port"].is_number_unsigned() && j.contains("admin") && j["admin"].is_number_unsigned()) {
    p.status.port = j["port"].get<uint16_t>();
    p.status.admin_port = j["admin"].get<uint16_t>();
    p.status.phase = PodPhase::Running;
    p.next_probe = now;
    bump();
  }
}

void LocalPlatform::Impl::drain(Proc& p, int& fd, std::string& buf, bool is_stdout,
                                Clock::time_point now) {
  if (fd < 0) {
    return;
  }
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      size_t pos;
      while ((pos = buf.find('\n')) != std::string::npos) {
        line(p, buf.substr(0, std::min(pos, kMaxLine)), is_stdout, now);
        buf.erase(0, pos + 1);
      }
      if (buf.size() > kMaxLine) {
        line(p, buf.substr(0, kMaxLine), is_stdout, now);
        buf.clear();
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      return;
    }
    if (!buf.empty()) {
      line(p, buf, is_stdout, now);
      buf.clear();
    }
    closeFd(fd); // EOF
    return;
  }
}

void LocalPlatform::Impl::reap(Proc& p, Clock::time_point now) {
  int status = 0;
  if (::waitpid(p.status.pid, &status, WNOHANG) != p.status.pid) {
    return;
  }
  drain(p, p.out_fd, p.out_buf, true, now);
  drain(p, p.err_fd, p.err_buf, false, now);
  closeFd(p.out_fd);
  closeFd(p.err_fd);
  closeFd(p.pidfd);
  const core::Duration ready_for =
      p.status.ready ? std::chrono::duration_cast<core::Duration>(now - p.ready_since) : 0ns;
  p.status.pid = 0;
  p.status.ready = false;
  p.status.port = 0;
  p.status.admin_port = 0;
  p.status.last_exit = describeExit(status);
  p.kill_deadline.reset();
  if (stopping || !options.restart) {
    p.status.phase = PodPhase::Stopped;
  } else {
    p.status.phase = PodPhase::Backoff;
    p.next_start = now + p.backoff.onExit(ready_for);
  }
  bump();
}

void LocalPlatform::Impl::loop() {
  std::unique_lock lock(mu);
  for (;;) {
    auto now = Clock::now();
    if (stopping &&
        std::all_of(procs.begin(), procs.end(), [](const auto& p) { return p->status.pid == 0; })) {
      for (auto& p : procs) {
        p->status.phase = PodPhase::Stopped;
      }
      bump();
      return;
    }
    // Starts, kill deadlines, and which pods to probe now.
    std::vector<std::pair<Proc*, uint16_t>> probes;
    for (auto& p : procs) {
      if (p->status.pid == 0 && !stopping && p->status.phase != PodPhase::Stopped &&
          now >= p->next_start) {
        spawn(*p, now);
      }
      if (p->status.pid != 0 && p->kill_deadline && now >= *p->kill_deadline) {
        signalPod(p->status.pid, SIGKILL);
        p->kill_deadline.reset();
      }
      if (p->status.pid != 0 && p->status.phase == PodPhase::Running && now >= p->next_probe &&
          !stopping) {
        probes.emplace_back(p.get(), p->status.admin_port);
      }
    }
    if (!probes.empty()) {
      // Probe without the lock; only this thread changes a pod's process state.
      std::vector<bool> results;
      results.reserve(probes.size());
      lock.unlock();
      for (auto& [p, port] : probes) {
        results.push_back(probeReady(port, options.probe_timeout));
      }
      lock.lock();
      now = Clock::now();
      for (size_t i = 0; i < probes.size(); ++i) {
        Proc& p = *probes[i].first;
        if (p.status.pid == 0 || p.status.admin_port != probes[i].second) {
          continue; // exited or restarted meanwhile
        }
        if (results[i]) {
          p.probe_failures = 0;
          if (!p.status.ready) {
            p.status.ready = true;
            p.status.ever_ready = true;
            p.ready_since = now;
            bump();
          }
        } else if (p.status.ready && ++p.probe_failures >= options.failure_threshold) {
          p.status.ready = false;
          ++p.status.readiness_lost;
          bump();
        }
        p.next_probe =
            now + (p.status.ready ? options.ready_probe_interval : options.probe_interval);
      }
    }
    // Wait for output, exits, a wake-up, or the next timed event.
    auto next = now + 1s;
    std::vector<pollfd> fds{{wake_fd, POLLIN, 0}};
    std::vector<std::pair<Proc*, int>> owners{{nullptr, 0}};
    for (auto& p : procs) {
      if (p->status.pid == 0) {
        if (!stopping && p->status.phase != PodPhase::Stopped) {
          next = std::min(next, p->next_start);
        }
        continue;
      }
      if (p->status.phase == PodPhase::Running) {
        next = std::min(next, p->next_probe);
      }
      if (p->kill_deadline) {
        next = std::min(next, *p->kill_deadline);
      }
      for (auto [fd, kind] : {std::pair{p->pidfd, 0}, {p->out_fd, 1}, {p->err_fd, 2}}) {
        if (fd >= 0) {
          fds.push_back({fd, POLLIN, 0});
          owners.emplace_back(p.get(), kind);
        }
      }
    }
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
    lock.unlock();
    ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait_ms + 1, 0, 1000)));
    lock.lock();
    now = Clock::now();
    if (fds[0].revents != 0) {
      uint64_t value;
      [[maybe_unused]] auto n = ::read(wake_fd, &value, sizeof value);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      Proc& p = *owners[i].first;
      if (owners[i].second == 1) {
        drain(p, p.out_fd, p.out_buf, true, now);
      } else if (owners[i].second == 2) {
        drain(p, p.err_fd, p.err_buf, false, now);
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0 && owners[i].second == 0 && owners[i].first->status.pid != 0) {
        reap(*owners[i].first, now);
      }
    }
    // A pod whose pidfd could not be opened is reaped by polling.
    for (auto& p : procs) {
      if (p->status.pid != 0 && p->pidfd < 0) {
        reap(*p, now);
      }
    }
  }
}

LocalPlatform::LocalPlatform(LocalPlatformOptions options)
    : impl_(std::make_unique<Impl>(options)) {}

LocalPlatform::~LocalPlatform() {
  shutdown(2s);
}

core::Status LocalPlatform::start(const std::vector<PodTemplate>& pods) {
  std::lock_guard lock(impl_->mu);
  if (impl_->stopping) {
    return core::invalidArgument("the platform is shutting down");
  }
  for (const PodTemplate& t : pods) {
    if (impl_->find(t.name) != nullptr) {
      return core::invalidArgument("pod \"" + t.name + "\" already exists");
    }
    if (t.argv.empty() || t.argv.front().empty() || t.argv.front()[0] != '/') {
      return core::invalidArgument("pod \"" + t.name + "\": argv[0] must be an absolute path");
    }
  }
  for (const PodTemplate& t : pods) {
    auto p = std::make_unique<Impl::Proc>();
    p->tmpl = t;
    p->status.name = t.name;
    p->status.workload = t.workload;
    p->status.labels = t.labels;
    p->backoff = RestartBackoff(impl_->options.backoff);
    p->next_start = Clock::now();
    impl_->procs.push_back(std::move(p));
  }
  if (!impl_->supervisor.joinable()) {
    impl_->supervisor = std::thread([this] { impl_->loop(); });
  }
  impl_->bump();
  impl_->wake();
  return core::Status::ok();
}

std::vector<PodStatus> LocalPlatform::pods() const {
  std::lock_guard lock(impl_->mu);
  std::vector<PodStatus> out;
  for (const auto& p : impl_->procs) {
    out.push_back(p->status);
  }
  return out;
}

core::Status LocalPlatform::kill(const std::string& pod, KillMode mode, core::Duration grace) {
  std::lock_guard lock(impl_->mu);
  Impl::Proc* p = impl_->find(pod);
  if (p == nullptr) {
    return core::notFound("no pod \"" + pod + "\"");
  }
  if (p->status.pid == 0) {
    return core::invalidArgument("pod \"" + pod + "\" has no running process (" +
                                 phaseName(p->status.phase) + ")");
  }
  if (mode == KillMode::Kill) {
    signalPod(p->status.pid, SIGKILL);
  } else {
    signalPod(p->status.pid, SIGTERM);
    p->kill_deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::max(grace, 0ns));
  }
  impl_->wake();
  return core::Status::ok();
}

void LocalPlatform::shutdown(core::Duration grace) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->stopping = true;
      const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(grace);
      for (auto& p : impl_->procs) {
        if (p->status.pid != 0) {
          signalPod(p->status.pid, SIGTERM);
          p->kill_deadline = deadline;
        }
      }
    }
    impl_->wake();
  }
  if (impl_->supervisor.joinable()) {
    impl_->supervisor.join();
  }
}

uint64_t LocalPlatform::version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->version;
}

uint64_t LocalPlatform::waitForChange(uint64_t seen, core::Duration timeout) const {
  std::unique_lock lock(impl_->mu);
  impl_->changed.wait_for(lock, timeout, [&] { return impl_->version != seen; });
  return impl_->version;
}

} // namespace meshproof::platform
