#!/usr/bin/python3
"""Side-by-side HTTP/1.1 proxy throughput: meshproof proxy vs HAProxy vs nginx, each with one worker,
configured alike (two upstreams weighted 90/10, retries on connect failures and 5xx, keep-alive on
both sides), in front of the same nginx backend (one process, a 64-byte body on two ports), driven
by the same wrk load on loopback; plus wrk straight at the backend, and each proxy's resident
memory holding 1,000 idle keep-alive client connections. For each proxy it also reports the CPU
time (user + system, from /proc/PID/stat) its process spent per request during the rounds: req/s
on this shared 2-vCPU VM moves with the neighbours and with whatever else bounds the run (wrk and
the backend share a CPU), while CPU per request is what a proxy's own throughput limit is made of.

Usage: proxy_vs_peers.py MESHPROOF_BINARY [--seconds S] [--rounds R] [--connections C] [--idle N]
                         [--instructions] [--baseline OTHER_MESHPROOF_BINARY]

With --instructions, each proxy is then restarted under `valgrind --tool=callgrind` and its
user-space instructions per request counted over a 5 s wrk run (8 connections): a figure that,
unlike req/s, does not move with what else the machine (a shared VM) is doing.

With --baseline, another meshproof build runs too, configured the same, in the same interleaved
rounds (and under callgrind with --instructions): an A/B of two builds, reported as
meshproof/baseline ratios and paired by round like the peers.

Every process gets a port the OS reports free; everything runs on 127.0.0.1 and is stopped at the
end. Rounds are interleaved (direct, meshproof, HAProxy, nginx, then again) so drift hits all alike;
the table shows the median of the rounds and the ratios meshproof/HAProxy and meshproof/nginx,
then the same comparison paired round by round: each round's ratio, how many rounds meshproof won
on req/s and on p99, and an exact sign-test p-value for that count (with 3 rounds the smallest
possible p is 0.25, so a claim on the tail needs --rounds 8 or more).
"""
import argparse
import math
import os
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def pinned(cmd, cpu):
    return (["taskset", "-c", str(cpu)] + cmd) if shutil.which("taskset") and os.cpu_count() > 1 else cmd


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(pct):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat(50), lat(99), int(errors.group(1)) if errors else 0


def sign_test(wins, n):
    """Exact two-sided sign test: the chance, if each round were a fair coin, of a split at least as
    uneven as `wins` out of `n`. 1.0 when n is 0."""
    if n == 0:
        return 1.0
    k = min(wins, n - wins)
    tail = sum(math.comb(n, j) for j in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def cpu_seconds(pid):
    """(user, system) CPU time `pid` has used so far, in seconds (/proc/PID/stat utime, stime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def idle_rss(pid, port, n):
    """RSS (KiB) of `pid` before and while it holds `n` keep-alive connections that each served one
    request and then stay idle."""
    before = rss_kib(pid)
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n")
            got = b""
            while b"0123456789012345678901234567890123456789012345678901234567890123" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError(f"port {port} closed an idle connection")
                got += chunk
            socks.append(s)
        time.sleep(0.5)
        return before, rss_kib(pid)
    finally:
        for s in socks:
            s.close()


def instructions_per_request(cmd, port, tmp, name):
    """Runs `cmd` under callgrind, drives it with wrk (8 connections, 5 s) after a warm-up, and
    returns (requests, user-space instructions per request) of the measured run."""
    out = f"{tmp}/{name}.callgrind"
    proc = subprocess.Popen(pinned(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                    *cmd], 1),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_port(port, timeout=60):
            raise RuntimeError(f"{name} under valgrind did not open port {port}")
        url = f"http://127.0.0.1:{port}/"
        subprocess.run(pinned(["wrk", "-t1", "-c8", "-d2s", url], 0), capture_output=True,
                       check=True)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True,
                       check=True)
        run = subprocess.run(pinned(["wrk", "-t1", "-c8", "-d5s", url], 0), capture_output=True,
                             text=True, check=True).stdout
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True,
                       check=True)
        requests = int(re.search(r"(\d+) requests in", run).group(1))
        total = 0
        for path in (p for p in os.listdir(tmp) if p.startswith(f"{name}.callgrind.")):
            with open(os.path.join(tmp, path)) as f:
                m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
                total = max(total, int(m.group(1)) if m else 0)
        return requests, total / max(requests, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# The system calls of a proxy's loop, counted on syscall tracepoints (perf stat, root).
SYSCALLS = ("recvfrom", "recvmsg", "read", "readv", "sendto", "sendmsg", "write", "writev",
            "epoll_wait", "epoll_pwait", "epoll_ctl")
READS = ("recvfrom", "recvmsg", "read", "readv")


def syscalls_per_request(pid, port, tmp, seconds=5):
    """Counts the system calls `pid` makes while wrk (32 connections) drives it for `seconds`:
    returns (requests, {syscall: count}, reads that found nothing (EAGAIN)), or None where perf
    or the tracepoints are not available. perf starts with its events off and counts from its
    acknowledged "enable" to wrk's end, so the window is wrk's run."""
    perf = shutil.which("perf")
    if not perf or not os.path.isdir("/sys/kernel/tracing/events/syscalls") and \
            not os.path.isdir("/sys/kernel/debug/tracing/events/syscalls"):
        return None
    events = []
    for name in SYSCALLS:
        events += ["-e", f"syscalls:sys_enter_{name}"]
    for name in READS:
        events += ["-e", f"syscalls:sys_exit_{name}", "--filter", "ret == -11"]
    out, ctl, ack = (f"{tmp}/perf-{pid}.{x}" for x in ("csv", "ctl", "ack"))
    for fifo in (ctl, ack):
        os.mkfifo(fifo)
    ack_fd = os.open(ack, os.O_RDONLY | os.O_NONBLOCK)  # before perf opens it to write
    stat = subprocess.Popen([perf, "stat", "-x,", "-o", out, "-p", str(pid), "--delay=-1",
                             f"--control=fifo:{ctl},{ack}", *events],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = None
    try:
        ctl_fd = None
        give_up = time.monotonic() + 10
        while ctl_fd is None and stat.poll() is None and time.monotonic() < give_up:
            try:
                ctl_fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until perf reads it
            except OSError:
                time.sleep(0.01)
        if ctl_fd is not None:
            os.write(ctl_fd, b"enable\n")
            os.close(ctl_fd)
            if select.select([ack_fd], [], [], 10)[0] and os.read(ack_fd, 16).startswith(b"ack"):
                run = subprocess.run(pinned(["wrk", "-t1", "-c32", f"-d{seconds}s",
                                             f"http://127.0.0.1:{port}/"], 0),
                                     capture_output=True, text=True, check=True).stdout
    finally:
        stat.send_signal(signal.SIGINT)
        stat.wait(timeout=10)
        os.close(ack_fd)
        for fifo in (ctl, ack):
            os.unlink(fifo)
    if run is None:
        return None
    requests = int(re.search(r"(\d+) requests in", run).group(1))
    counts, eagain = {}, 0
    try:
        with open(out) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) < 3 or not fields[0].isdigit():
                    continue
                kind, name = fields[2].split(":")[1].split("_", 2)[1:]
                if kind == "enter":
                    counts[name] = int(fields[0])
                else:
                    eagain += int(fields[0])
    finally:
        os.unlink(out)
    if not counts:
        return None
    return requests, counts, eagain


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--instructions", action="store_true",
                    help="also count user-space instructions per request under callgrind")
    ap.add_argument("--baseline", help="another meshproof binary to run beside the first (A/B)")
    args = ap.parse_args()
    # 1,000 idle connections need more descriptors than the usual soft limit of 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    for tool in ("nginx", "haproxy", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is missing: run scripts/install-deps.sh")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    haproxy_bin = shutil.which("haproxy") or "/usr/sbin/haproxy"

    tmp = tempfile.mkdtemp(prefix="meshproof-bench-")
    procs = []
    try:
        backend, backend2, p_mesh, p_haproxy, p_nginx, admin, p_base, admin_base = \
            (free_port() for _ in range(8))
        common = f"""daemon off; master_process off; worker_processes 1; pid {tmp}/%s.pid;
error_log {tmp}/%s.err warn; events {{ worker_connections 4096; }}
"""
        with open(f"{tmp}/backend.conf", "w") as f:
            f.write(common % ("backend", "backend") + f"""http {{ access_log off;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{backend}; listen 127.0.0.1:{backend2};
    location / {{ return 200 "0123456789012345678901234567890123456789012345678901234567890123"; }} }} }}
""")
        with open(f"{tmp}/nginx-proxy.conf", "w") as f:
            f.write(common % ("proxy", "proxy") + f"""http {{ access_log off;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  keepalive_requests 1000000;
  upstream backend {{ server 127.0.0.1:{backend} weight=9; server 127.0.0.1:{backend2} weight=1;
    keepalive 64; keepalive_requests 1000000; }}
  server {{ listen 127.0.0.1:{p_nginx};
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_next_upstream error timeout http_500 http_502 http_503 http_504;
      proxy_next_upstream_tries 3; }} }} }}
""")
        with open(f"{tmp}/haproxy.cfg", "w") as f:
            f.write(f"""global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
  retries 2
  retry-on conn-failure 500 502 503 504
  option redispatch
frontend fe
  bind 127.0.0.1:{p_haproxy}
  default_backend be
backend be
  balance roundrobin
  server b1 127.0.0.1:{backend} weight 90
  server b2 127.0.0.1:{backend2} weight 10
""")
        for name, port in (("mesh", p_mesh), ("mesh-base", p_base)):
            with open(f"{tmp}/{name}.yaml", "w") as f:
                f.write(f"""apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {{name: ingress}}
spec: {{address: 127.0.0.1, port: {port}, host: backend}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: backend}}
spec:
  hosts: [backend]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints:
    - {{address: 127.0.0.1, ports: {{http: {backend}}}, labels: {{version: v1}}}}
    - {{address: 127.0.0.1, ports: {{http: {backend2}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: backend}}
spec:
  host: backend
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: backend}}
spec:
  hosts: [backend]
  http:
    - route:
        - {{destination: {{host: backend, subset: v1}}, weight: 90}}
        - {{destination: {{host: backend, subset: v2}}, weight: 10}}
      retries: {{attempts: 2, retryOn: "connect-failure,5xx"}}
""")
        mesh_cmd = [args.binary, "proxy", "-f", f"{tmp}/mesh.yaml", "--admin-port", str(admin),
                    "--seed", "1"]
        base_cmd = [args.baseline, "proxy", "-f", f"{tmp}/mesh-base.yaml", "--admin-port",
                    str(admin_base), "--seed", "1"] if args.baseline else None
        # CPU 0: backend and wrk; CPU 1: the proxy under test.
        procs.append(subprocess.Popen(pinned([nginx_bin, "-c", f"{tmp}/backend.conf"], 0)))
        nginx = subprocess.Popen(pinned([nginx_bin, "-c", f"{tmp}/nginx-proxy.conf"], 1))
        haproxy = subprocess.Popen(pinned([haproxy_bin, "-f", f"{tmp}/haproxy.cfg"], 1),
                                   stdout=subprocess.DEVNULL)
        mesh = subprocess.Popen(pinned(mesh_cmd, 1), stdout=subprocess.DEVNULL)
        procs += [nginx, haproxy, mesh]
        base = None
        if base_cmd:
            base = subprocess.Popen(pinned(base_cmd, 1), stdout=subprocess.DEVNULL)
            procs.append(base)
        for port in (backend, backend2, p_nginx, p_haproxy, p_mesh) + ((p_base,) if base else ()):
            if not wait_port(port):
                sys.exit(f"port {port} did not open")

        targets = {"direct": backend, "meshproof": p_mesh, "haproxy": p_haproxy, "nginx": p_nginx}
        pids = {"meshproof": mesh.pid, "haproxy": haproxy.pid, "nginx": nginx.pid}
        if base:
            targets["baseline"] = p_base
            pids["baseline"] = base.pid
        results = {name: [] for name in targets}
        cpu_us = {name: [] for name in pids}  # the proxy's CPU time per request, per round
        for _ in range(args.rounds):
            for name, port in targets.items():
                cmd = pinned(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
                              "--latency", f"http://127.0.0.1:{port}/"], 0)
                cpu_before = cpu_seconds(pids[name]) if name in pids else (0.0, 0.0)
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                results[name].append(parse_wrk(out))
                if name in pids:
                    requests = int(re.search(r"(\d+) requests in", out).group(1))
                    cpu_after = cpu_seconds(pids[name])
                    cpu_us[name].append(tuple((cpu_after[i] - cpu_before[i]) * 1e6 / max(requests, 1)
                                              for i in range(2)))

        med = {name: tuple(statistics.median(r[i] for r in rows) for i in range(3))
               for name, rows in results.items()}
        print(f"wrk -t1 -c{args.connections} -d{args.seconds}s --latency, {args.rounds} rounds "
              f"interleaved, medians; proxies pinned to CPU 1, wrk and backend to CPU 0; 90/10 "
              f"weighted upstreams, retries, keep-alive both sides")
        print(f"{'target':<10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}  rounds (req/s; p99 ms)")
        for name, rows in results.items():
            rps, p50, p99 = med[name]
            errors = sum(r[3] for r in rows)
            rounds = " ".join(f"{r[0]:.0f}" for r in rows) + "; " + " ".join(f"{r[2]:.3f}" for r in rows)
            print(f"{name:<10} {rps:>10.0f} {p50:>8.3f} {p99:>8.3f} {errors:>8}  {rounds}")
        m = med["meshproof"]
        for peer in ("haproxy", "nginx"):
            p = med[peer]
            print(f"meshproof/{peer}: req/s {m[0] / p[0]:.2f}x, p50 {m[1] / p[1]:.2f}x, "
                  f"p99 {m[2] / p[2]:.2f}x")
        # The rounds are interleaved, so round i of meshproof and round i of a peer ran under the
        # same neighbours: compare them pair by pair. A ratio of medians hides how often the tail
        # flips between rounds; the paired view says how many rounds meshproof won and whether
        # that count could be chance (exact two-sided sign test against "each wins half").
        others = ("haproxy", "nginx") + (("baseline",) if base else ())
        if base:
            b = med["baseline"]
            print(f"meshproof/baseline: req/s {m[0] / b[0]:.2f}x, p50 {m[1] / b[1]:.2f}x, "
                  f"p99 {m[2] / b[2]:.2f}x")
        print("paired by round (meshproof/peer in each round; wins: rounds meshproof was better; "
              "sign-test p):")
        for peer in others:
            for label, i, better in (("req/s", 0, lambda a, b: a > b), ("p99", 2, lambda a, b: a < b)):
                pairs = list(zip(results["meshproof"], results[peer]))
                ratios = [a[i] / b[i] for a, b in pairs if b[i] > 0]
                wins = sum(1 for a, b in pairs if better(a[i], b[i]))
                ties = sum(1 for a, b in pairs if a[i] == b[i])
                print(f"  vs {peer:<7} {label:<5} median {statistics.median(ratios):.2f}x, "
                      f"wins {wins}/{len(pairs) - ties}, p = {sign_test(wins, len(pairs) - ties):.2f}   "
                      + " ".join(f"{r:.2f}" for r in ratios))
        # What each request costs the proxy's own CPU (user + system, so the kernel's loopback TCP
        # work on its sockets is in): the throughput a proxy can reach when it, not the load or
        # the backend, is the limit, and a figure the VM's neighbours move less than req/s.
        print("proxy CPU time per request, µs (user + system; medians of rounds; rounds):")
        cpu_med = {}
        for name, v in cpu_us.items():
            total = [u + k for u, k in v]
            cpu_med[name] = statistics.median(total)
            print(f"{name:<10} {cpu_med[name]:>8.2f} = user {statistics.median(u for u, _ in v):.2f}"
                  f" + system {statistics.median(k for _, k in v):.2f}   "
                  + " ".join(f"{x:.2f}" for x in total))
        print(", ".join(f"meshproof/{peer}: {cpu_med['meshproof'] / cpu_med[peer]:.2f}x"
                        for peer in others))
        for name, proc, port in (("meshproof", mesh, p_mesh), ("haproxy", haproxy, p_haproxy),
                                 ("nginx", nginx, p_nginx)):
            before, after = idle_rss(proc.pid, port, args.idle)
            print(f"{name} RSS: {before / 1024:.1f} MiB idle, {after / 1024:.1f} MiB with "
                  f"{args.idle} idle keep-alive connections")
        per_request = {}
        for name in ("meshproof", "haproxy", "nginx"):
            r = syscalls_per_request(pids[name], targets[name], tmp)
            if r is None:
                print("system calls per request: perf or its syscall tracepoints are missing")
                break
            per_request[name] = r
        if per_request:
            print("system calls per request (perf stat on syscall tracepoints, wrk -t1 -c32 -d5s):")
            for name, (requests, counts, eagain) in per_request.items():
                total = sum(counts.values())
                detail = ", ".join(f"{k} {v / requests:.2f}" for k, v in counts.items() if v)
                print(f"{name:<10} {total / requests:>6.2f}  ({detail}; reads finding nothing "
                      f"{eagain / requests:.2f})")
        if args.instructions:
            commands = {
                "meshproof": (mesh_cmd, p_mesh, mesh),
                "haproxy": ([haproxy_bin, "-f", f"{tmp}/haproxy.cfg"], p_haproxy, haproxy),
                "nginx": ([nginx_bin, "-c", f"{tmp}/nginx-proxy.conf"], p_nginx, nginx),
            }
            if base:
                commands["baseline"] = (base_cmd, p_base, base)
            counts = {}
            for name, (cmd, port, proc) in commands.items():
                proc.send_signal(signal.SIGTERM)  # the same process again, under callgrind
                proc.wait(timeout=10)
                counts[name] = instructions_per_request(cmd, port, tmp, name)
            print("user-space instructions per request (callgrind, wrk -t1 -c8 -d5s):")
            for name, (requests, ipr) in counts.items():
                print(f"{name:<10} {ipr:>10.0f}  ({requests} requests)")
            m = counts["meshproof"][1]
            print(", ".join(f"meshproof/{peer}: {m / counts[peer][1]:.2f}x" for peer in others))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
