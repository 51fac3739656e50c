#!/usr/bin/python3
"""Side-by-side HTTP/1.1 proxy throughput: meshproof proxy vs HAProxy vs nginx, each with one worker,
keep-alive on both sides, in front of the same nginx backend, driven by wrk on loopback.

Usage: proxy_bench.py MESHPROOF_BINARY [--seconds S] [--rounds R] [--connections C]

Every process gets a port the OS reports free; everything runs on 127.0.0.1 and is stopped at the
end. Rounds are interleaved (A B C, A B C, ...) so drift hits all three alike; the table shows the
median of the rounds and each proxy's ratio to HAProxy.
"""
import argparse
import os
import re
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    for tool in ("nginx", "haproxy", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is missing: run scripts/install-deps.sh")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    haproxy_bin = shutil.which("haproxy") or "/usr/sbin/haproxy"

    tmp = tempfile.mkdtemp(prefix="meshproof-bench-")
    procs = []
    try:
        backend, p_mesh, p_haproxy, p_nginx, admin = (free_port() for _ in range(5))
        common = f"""daemon off; master_process off; worker_processes 1; pid {tmp}/%s.pid;
error_log {tmp}/%s.err warn; events {{ worker_connections 4096; }}
"""
        with open(f"{tmp}/backend.conf", "w") as f:
            f.write(common % ("backend", "backend") + f"""http {{ access_log off;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{backend}; location / {{ return 200 "0123456789012345678901234567890123456789012345678901234567890123"; }} }} }}
""")
        with open(f"{tmp}/nginx-proxy.conf", "w") as f:
            f.write(common % ("proxy", "proxy") + f"""http {{ access_log off;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  keepalive_requests 1000000;
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; keepalive_requests 1000000; }}
  server {{ listen 127.0.0.1:{p_nginx};
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
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
frontend fe
  bind 127.0.0.1:{p_haproxy}
  default_backend be
backend be
  server b1 127.0.0.1:{backend}
""")
        with open(f"{tmp}/mesh.yaml", "w") as f:
            f.write(f"""apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {{name: ingress}}
spec: {{address: 127.0.0.1, port: {p_mesh}, host: backend}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: backend}}
spec:
  hosts: [backend]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {backend}}}}}]
""")
        # CPU 0: backend and wrk; CPU 1: the proxy under test.
        procs.append(subprocess.Popen(pinned([nginx_bin, "-c", f"{tmp}/backend.conf"], 0)))
        procs.append(subprocess.Popen(pinned([nginx_bin, "-c", f"{tmp}/nginx-proxy.conf"], 1)))
        procs.append(subprocess.Popen(pinned([haproxy_bin, "-f", f"{tmp}/haproxy.cfg"], 1),
                                      stdout=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            pinned([args.binary, "proxy", "-f", f"{tmp}/mesh.yaml", "--admin-port", str(admin),
                    "--seed", "1"], 1), stdout=subprocess.DEVNULL))
        for port in (backend, p_nginx, p_haproxy, p_mesh):
            if not wait_port(port):
                sys.exit(f"port {port} did not open")

        targets = {"meshproof": p_mesh, "haproxy": p_haproxy, "nginx": p_nginx}
        results = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, port in targets.items():
                cmd = pinned(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
                              "--latency", f"http://127.0.0.1:{port}/"], 0)
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                results[name].append(parse_wrk(out))

        base = statistics.median(r[0] for r in results["haproxy"])
        print(f"wrk -t1 -c{args.connections} -d{args.seconds}s --latency, {args.rounds} rounds, "
              f"medians; proxies pinned to CPU 1, wrk and backend to CPU 0")
        print(f"{'proxy':<10} {'req/s':>10} {'vs haproxy':>11} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for name, rows in results.items():
            rps = statistics.median(r[0] for r in rows)
            p50 = statistics.median(r[1] for r in rows)
            p99 = statistics.median(r[2] for r in rows)
            errors = sum(r[3] for r in rows)
            print(f"{name:<10} {rps:>10.0f} {rps / base:>10.2f}x {p50:>8.3f} {p99:>8.3f} {errors:>8}")
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
