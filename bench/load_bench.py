#!/usr/bin/python3
"""Load generator benchmarks, side by side in one run:

1. Maximum rate: `meshproof load` (closed loop) vs wrk, both one thread and the same number of
   keep-alive connections, against the same nginx backend (one worker). Generators on CPU 0,
   backend on CPU 1; rounds interleaved; medians and the ratio to wrk.
2. Coordinated omission: an open-loop run at 100 req/s for 10 s against a server that pauses every
   request for 2 s once; corrected p99 (from the intended send times) beside the uncorrected p99.

Usage: load_bench.py MESHPROOF_BINARY [--seconds S] [--rounds R] [--connections C]
Everything binds 127.0.0.1 on ports the OS reports free.
"""
import argparse
import http.server
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from proxy_vs_peers import free_port, pinned, wait_port  # the same helpers, one place


def max_rate(binary, seconds, rounds, connections):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = tempfile.mkdtemp(prefix="meshproof-load-bench-")
    port = free_port()
    with open(f"{tmp}/backend.conf", "w") as f:
        f.write(f"""worker_processes 1; daemon off; error_log /dev/null; pid {tmp}/nginx.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{ return 200 "hello world\\n"; }} }} }}
""")
    backend = subprocess.Popen(pinned([nginx, "-c", f"{tmp}/backend.conf", "-p", tmp], 1))
    try:
        if not wait_port(port):
            sys.exit("nginx backend did not start")
        url = f"http://127.0.0.1:{port}/"
        wrk_cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
        mesh_cmd = [binary, "load", url, "--connections", str(connections), "--duration",
                    f"{seconds}s", "--json"]
        results = {"meshproof load": [], "wrk": []}
        for _ in range(rounds):
            out = subprocess.run(pinned(wrk_cmd, 0), capture_output=True, text=True).stdout
            results["wrk"].append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))
            out = subprocess.run(pinned(mesh_cmd, 0), capture_output=True, text=True).stdout
            results["meshproof load"].append(json.loads(out)["ActualQPS"])
        print(f"max rate: {' '.join(wrk_cmd)}  vs  {' '.join(mesh_cmd[:-1])}")
        print(f"  {rounds} interleaved rounds, medians; generators on CPU 0, nginx backend on CPU 1")
        base = statistics.median(results["wrk"])
        for name, values in results.items():
            m = statistics.median(values)
            print(f"  {name:15s} {m:10.0f} req/s  {m / base:5.2f}x wrk   rounds: "
                  + " ".join(f"{v:.0f}" for v in values))
    finally:
        backend.terminate()
        backend.wait()


class Stalling(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    count = 0
    lock = threading.Lock()
    pause = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        with Stalling.lock:
            Stalling.count += 1
            n = Stalling.count
        with Stalling.pause:
            if n == 300:  # 3 s into the run: every request waits 2 s
                time.sleep(2.0)
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")


def coordinated_omission(binary):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    cmd = [binary, "load", url, "--rate", "100", "--duration", "10s", "--connections", "4", "--json"]
    j = json.loads(subprocess.run(cmd, capture_output=True, text=True).stdout)
    httpd.shutdown()

    def pct(h, q):
        return [x["Value"] for x in h["Percentiles"] if x["Percentile"] == q][0]

    print(f"coordinated omission: {' '.join(cmd[:-1])}  (server pauses every request 2 s once)")
    for name in ("DurationHistogram", "UncorrectedDurationHistogram"):
        h = j[name]
        label = "corrected  " if name == "DurationHistogram" else "uncorrected"
        print(f"  {label}  p50 {pct(h, 50.0) * 1000:8.1f} ms  p99 {pct(h, 99.0) * 1000:8.1f} ms  "
              f"max {h['Max'] * 1000:8.1f} ms")
    print(f"  achieved {j['ActualQPS']:.1f} req/s of 100, load-invalid: {j['LoadInvalid']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    max_rate(os.path.abspath(args.binary), args.seconds, args.rounds, args.connections)
    coordinated_omission(os.path.abspath(args.binary))


if __name__ == "__main__":
    main()
