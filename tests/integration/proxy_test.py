#!/usr/bin/python3
"""`meshproof proxy` end to end: a real proxy process in front of real upstream HTTP servers on
loopback (ports chosen by the OS), checked against Istio/Envoy behaviour
(istio-envoy-semantics.md §1, §2, §4, §6).

Usage: proxy_test.py MESHPROOF_BINARY
"""
import http.client
import http.server
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import meshtest  # noqa: E402  (proxy_flags)

BINARY = None


class Server(http.server.ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of new proxy connections (8 requests
    # leaving a fault's delay at once) overflowed it, a SYN was dropped and retransmitted a second
    # later, past a 300 ms route timeout.
    request_queue_size = 128


class Upstream:
    """An HTTP/1.1 keep-alive server with a scripted behaviour; records every request it gets."""

    def __init__(self, name, version="v1", mode="ok", fail_first=0, status=500, sleep_ms=0,
                 close_after=False):
        # close_after: every answer is sent as keep-alive (no Connection: close), then the
        # connection is closed, so a client that pools it finds it dead when it reuses it.
        self.close_after = close_after
        self.name, self.version, self.mode = name, version, mode
        self.fail_first, self.status, self.sleep_ms = fail_first, status, sleep_ms
        # Cleared, every request waits here until the test sets it (requests held in flight).
        self.gate = threading.Event()
        self.gate.set()
        self.requests = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with upstream.lock:
                    upstream.requests.append(
                        dict(self.headers, peer_port=self.client_address[1], **{":path": self.path}))
                    n = len(upstream.requests)
                upstream.gate.wait(30)
                if upstream.sleep_ms:
                    time.sleep(upstream.sleep_ms / 1000.0)
                code = 200
                if upstream.mode == "fail" or (upstream.mode == "flaky" and n <= upstream.fail_first):
                    code = upstream.status
                body = f"{upstream.name} {upstream.version}\n".encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("x-served-by", upstream.name)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if upstream.close_after:
                    self.close_connection = True

            do_POST = do_GET

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return len(self.requests)

    def attempt_counts(self):
        with self.lock:
            return [r.get("x-envoy-attempt-count") for r in self.requests]

    def reset(self):
        with self.lock:
            self.requests.clear()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class BatchUpstream:
    """A keep-alive HTTP/1.1 upstream served by one thread (GET only). While held, it keeps every
    request it reads unanswered; release() then writes all their answers back to back, so that
    they reach the proxy together and its loop sees them in one wake-up."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.held, self.requests, self.holding = [], 0, False
        self.closed = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        buffers = {}
        while not self.closed:
            for key, _ in sel.select(timeout=0.2):
                if key.fileobj is self.sock:
                    conn, _ = self.sock.accept()
                    buffers[conn] = b""
                    sel.register(conn, selectors.EVENT_READ)
                    continue
                conn = key.fileobj
                try:
                    data = conn.recv(65536)
                except OSError:  # a reset: the same as a close
                    data = b""
                if not data:
                    sel.unregister(conn)
                    conn.close()
                    del buffers[conn]
                    continue
                buffers[conn] += data
                while b"\r\n\r\n" in buffers[conn]:
                    _, buffers[conn] = buffers[conn].split(b"\r\n\r\n", 1)
                    with self.lock:
                        self.requests += 1
                        if self.holding:
                            self.held.append(conn)
                        else:
                            conn.sendall(self.ANSWER)

    def count(self):
        with self.lock:
            return self.requests

    def hold(self):
        with self.lock:
            self.holding = True

    def release(self, keep_holding=False):
        """Answers every held request; with keep_holding, requests read from now on are held."""
        with self.lock:
            self.holding = keep_holding
            for conn in self.held:
                conn.sendall(self.ANSWER)
            self.held.clear()

    def close(self):
        self.closed = True
        self.sock.close()


def dead_port():
    """A loopback port with nothing listening (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def service_entry(host, endpoints):
    eps = "\n".join(
        f"    - {{address: 127.0.0.1, ports: {{http: {port}}}, labels: {{app: {host}, version: {ver}}}}}"
        for port, ver in endpoints)
    return f"""---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {host}}}
spec:
  hosts: [{host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints:
{eps}
"""


class ProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = {
            "v1": Upstream("backend-v1", "v1"),
            "v2": Upstream("backend-v2", "v2"),
            "flaky": Upstream("flaky", mode="flaky", fail_first=2, status=503),
            "broken": Upstream("broken", mode="fail", status=500),
            "slow": Upstream("slow", sleep_ms=3000),
            "good": Upstream("good"),
            "bad": Upstream("bad", mode="fail", status=503),
            "ok2": Upstream("ok2"),
            "once503": Upstream("once503", mode="flaky", fail_first=1, status=503),
            "guarded": Upstream("guarded"),
            "queued": Upstream("queued"),
            "oneshot": Upstream("oneshot"),
            "pair": BatchUpstream(),
        }
        u = cls.up
        spec = """apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {name: ingress}
spec: {address: 127.0.0.1, port: 0, host: front}
---
# Gateways to hosts without a VirtualService: Istio's default route and retry policy.
apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {name: direct}
spec: {address: 127.0.0.1, port: 0, host: halfdead}
---
apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {name: direct503}
spec: {address: 127.0.0.1, port: 0, host: once503}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: front}
spec:
  hosts: [front]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
"""
        spec += service_entry("backend", [(u["v1"].port, "v1"), (u["v2"].port, "v2")])
        spec += service_entry("flaky", [(u["flaky"].port, "v1")])
        spec += service_entry("broken", [(u["broken"].port, "v1")])
        spec += service_entry("slow", [(u["slow"].port, "v1")])
        spec += service_entry("halfdead", [(dead_port(), "v1"), (u["ok2"].port, "v1")])
        spec += service_entry("once503", [(u["once503"].port, "v1")])
        spec += service_entry("guarded", [(u["guarded"].port, "v1")])
        spec += service_entry("queued", [(u["queued"].port, "v1")])
        spec += service_entry("oneshot", [(u["oneshot"].port, "v1")])
        spec += service_entry("pair", [(u["pair"].port, "v1")])
        spec += service_entry("ejectable", [(u["bad"].port, "v1"), (u["good"].port, "v1")])
        spec += """---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend}
spec:
  host: backend
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ejectable}
spec:
  host: ejectable
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: guarded}
spec:
  host: guarded
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: queued}
spec:
  host: queued
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pair}
spec:
  host: pair
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: oneshot}
spec:
  host: oneshot
  trafficPolicy:
    connectionPool: {http: {maxRequestsPerConnection: 1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front}
spec:
  hosts: [front]
  http:
    - name: split
      match: [{uri: {prefix: /split}}]
      route:
        - {destination: {host: backend, subset: v1}, weight: 50}
        - {destination: {host: backend, subset: v2}, weight: 50}
    - name: retry
      match: [{uri: {prefix: /retry}}]
      route: [{destination: {host: flaky}}]
      retries: {attempts: 3, retryOn: 5xx}
    - name: urx
      match: [{uri: {prefix: /urx}}]
      route: [{destination: {host: broken}}]
      retries: {attempts: 3, retryOn: 5xx}
    - name: no-retry-on
      match: [{uri: {prefix: /noretryon}}]
      route: [{destination: {host: broken}}]
      retries: {attempts: 3}
    - name: pertry
      match: [{uri: {prefix: /pertry}}]
      route: [{destination: {host: slow}}]
      timeout: 5s
      retries: {attempts: 1, perTryTimeout: 200ms, retryOn: 5xx}
    - name: global-timeout
      match: [{uri: {prefix: /timeout}}]
      route: [{destination: {host: slow}}]
      timeout: 300ms
    - name: abort
      match: [{uri: {prefix: /abort}}]
      route: [{destination: {host: backend, subset: v1}}]
      fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
      retries: {attempts: 3, retryOn: 5xx}
    - name: fast-timeout
      match: [{uri: {prefix: /fast}}]
      route: [{destination: {host: backend, subset: v1}}]
      timeout: 300ms
    - name: halfdead
      match: [{uri: {prefix: /halfdead}}]
      route: [{destination: {host: halfdead}}]
    - name: guarded
      match: [{uri: {prefix: /guarded}}]
      route: [{destination: {host: guarded}}]
      retries: {attempts: 3, retryOn: 5xx}
    - name: queued
      match: [{uri: {prefix: /queued}}]
      route: [{destination: {host: queued}}]
    - name: oneshot
      match: [{uri: {prefix: /oneshot}}]
      route: [{destination: {host: oneshot}}]
    - name: pair
      match: [{uri: {prefix: /pair}}]
      route: [{destination: {host: pair}}]
    - name: eject
      match: [{uri: {prefix: /eject}}]
      route: [{destination: {host: ejectable}}]
      retries: {attempts: 0}
"""
        cls.tmp = tempfile.mkdtemp(prefix="meshproof-proxy-")
        cls.spec_path = os.path.join(cls.tmp, "spec.yaml")
        with open(cls.spec_path, "w", encoding="utf-8") as f:
            f.write(spec)
        cls.proc = subprocess.Popen([BINARY, "proxy", "-f", cls.spec_path, "--seed", "7",
                                     *meshtest.proxy_flags()],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cls.port = cls.admin = None
        cls.gateways = {}
        # A reader thread, so a silent or dead proxy cannot hang the test.
        lines_q = queue.Queue()
        threading.Thread(target=lambda: [lines_q.put(l) for l in cls.proc.stdout], daemon=True).start()
        deadline = time.monotonic() + 30
        lines = []
        while (cls.port is None or cls.admin is None) and time.monotonic() < deadline:
            try:
                line = lines_q.get(timeout=0.5)
            except queue.Empty:
                if cls.proc.poll() is not None:
                    break
                continue
            lines.append(line)
            m = re.search(r"Gateway/(\w+) listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                cls.gateways[m.group(1)] = int(m.group(2))
                if m.group(1) == "ingress":
                    cls.port = int(m.group(2))
            m = re.search(r"admin on http://127\.0\.0\.1:(\d+)", line)
            if m:
                cls.admin = int(m.group(1))
        if cls.port is None or cls.admin is None:
            cls.proc.kill()
            raise RuntimeError("proxy did not start: " + "".join(lines) + cls.proc.stderr.read())

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()
        for u in cls.up.values():
            u.close()

    def request(self, path, headers=None, port=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        start = time.monotonic()
        conn.request("GET", path, headers=headers or {})
        res = conn.getresponse()
        body = res.read().decode()
        elapsed = time.monotonic() - start
        conn.close()
        return res, body, elapsed

    def metrics(self):
        _, body, _ = self.request("/metrics", port=self.admin)
        return body

    def sum_metric(self, name, **labels):
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def test_a_forwards_with_envoy_headers(self):
        self.up["v1"].reset()
        self.up["v2"].reset()
        res, body, _ = self.request("/split/x")
        self.assertEqual(res.status, 200)
        self.assertIn("backend", body)
        self.assertEqual(res.getheader("server"), "istio-envoy")
        self.assertIsNotNone(res.getheader("x-envoy-upstream-service-time"))
        seen = self.up["v1"].attempt_counts() + self.up["v2"].attempt_counts()
        self.assertEqual(seen, ["1"])

    def test_b_long_target_and_many_fields_reach_the_upstream_whole(self):
        # Past the 256 bytes the proxy stages its request line and own fields in: a 3,000-byte
        # target, a 2,000-byte field and 40 more arrive as sent, and the answer comes back.
        self.up["v1"].reset()
        self.up["v2"].reset()
        path = "/split/" + "p" * 3000
        headers = {"x-long": "v" * 2000}
        headers.update({f"x-f{i}": str(i) for i in range(40)})
        res, body, _ = self.request(path, headers)
        self.assertEqual(res.status, 200)
        self.assertIn("backend", body)
        got = self.up["v1"].requests + self.up["v2"].requests
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0][":path"], path)
        self.assertEqual(got[0]["x-long"], "v" * 2000)
        self.assertEqual([got[0].get(f"x-f{i}") for i in range(40)], [str(i) for i in range(40)])
        self.assertEqual(got[0]["x-envoy-attempt-count"], "1")
        self.assertIsNotNone(res.getheader("x-served-by"))

    def test_no_route_is_404(self):  # case 17
        res, body, _ = self.request("/nothing-matches")
        self.assertEqual(res.status, 404)
        self.assertEqual(body, "")
        self.assertGreaterEqual(self.sum_metric("istio_requests_total", response_code="404",
                                                response_flags="NR"), 1)

    def test_split_reaches_both_subsets(self):
        self.up["v1"].reset()
        self.up["v2"].reset()
        n = 400
        for _ in range(n):
            self.assertEqual(self.request("/split")[0].status, 200)
        v1, v2 = self.up["v1"].count(), self.up["v2"].count()
        self.assertEqual(v1 + v2, n)
        # 50/50: outside [150, 250] has probability < 1e-6 for a fair split.
        self.assertTrue(150 <= v1 <= 250, (v1, v2))

    def test_retry_until_success(self):  # fail first 2 with 503 -> success on the 3rd attempt
        res, body, _ = self.request("/retry")
        self.assertEqual(res.status, 200, body)
        self.assertEqual(self.up["flaky"].attempt_counts(), ["1", "2", "3"])

    def test_retries_exhausted_returns_upstream_response_with_urx(self):  # case 4
        self.up["broken"].reset()
        res, _, _ = self.request("/urx")
        self.assertEqual(res.status, 500)
        self.assertEqual(self.up["broken"].attempt_counts(), ["1", "2", "3", "4"])
        self.assertGreaterEqual(self.sum_metric("istio_requests_total", response_code="500",
                                                response_flags="URX"), 1)

    def test_attempts_without_retry_on_do_not_retry_5xx(self):  # case 3
        self.up["broken"].reset()
        res, _, _ = self.request("/noretryon")
        self.assertEqual(res.status, 500)
        self.assertEqual(self.up["broken"].count(), 1)

    def test_per_try_timeout_retried_under_5xx(self):  # case 9 (scaled down)
        self.up["slow"].reset()
        res, body, elapsed = self.request("/pertry")
        self.assertEqual(res.status, 504)
        self.assertEqual(body, "upstream request timeout")
        self.assertEqual(self.up["slow"].attempt_counts(), ["1", "2"])
        # Two 200 ms tries and at most 25 ms of backoff, far from the upstream's 3 s.
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 2.0)

    def test_route_timeout(self):  # case 10, no retries on the default policy
        self.up["slow"].reset()
        res, body, elapsed = self.request("/timeout")
        self.assertEqual(res.status, 504)
        self.assertEqual(body, "upstream request timeout")
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 2.0)  # the 300 ms route timeout, not the upstream's 3 s
        self.assertEqual(self.up["slow"].attempt_counts(), ["1"])
        self.assertGreaterEqual(self.sum_metric("istio_requests_total", response_code="504",
                                                response_flags="UT"), 1)

    def test_timeout_override_header(self):  # case 42: x-envoy-upstream-rq-timeout-ms
        self.up["v1"].reset()
        self.up["v2"].reset()
        res, body, _ = self.request("/timeout", headers={"x-envoy-upstream-rq-timeout-ms": "5000"})
        self.assertEqual(res.status, 200, body)

    def test_fault_abort_is_never_retried(self):  # case 18
        self.up["v1"].reset()
        res, body, _ = self.request("/abort")
        self.assertEqual(res.status, 503)
        self.assertEqual(body, "fault filter abort")
        self.assertEqual(self.up["v1"].count(), 0)
        self.assertGreaterEqual(self.sum_metric("istio_requests_total", response_code="503",
                                                response_flags="FI", destination_workload="unknown"), 1)

    def admin_call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        data = res.read().decode()
        conn.close()
        return res.status, json.loads(data) if data.strip().startswith(("{", "[")) else data

    def test_f_runtime_delay_is_outside_the_route_timeout(self):  # cases 20 and §1.7
        status, created = self.admin_call("POST", "/faults", {
            "host": "front", "delay": {"fixedDelay": "500ms", "percentage": 100}})
        self.assertEqual(status, 201, created)
        try:
            _, dump = self.admin_call("GET", "/config_dump")
            self.assertEqual([f["id"] for f in dump["faults"]], [created["id"]])
            self.assertEqual(dump["generation"], created["generation"])
            res, body, elapsed = self.request("/fast")
            # The 500 ms delay happens before the router's 300 ms timeout starts: 200, not 504.
            self.assertEqual(res.status, 200, body)
            self.assertGreaterEqual(elapsed, 0.5)
            self.assertGreaterEqual(self.sum_metric("istio_requests_total", response_code="200",
                                                    response_flags="DI"), 1)
        finally:
            status, deleted = self.admin_call("DELETE", "/faults/" + created["id"])
        self.assertEqual(status, 200)
        self.assertGreater(deleted["generation"], created["generation"])
        _, dump = self.admin_call("GET", "/config_dump")
        self.assertEqual(dump["faults"], [])
        res, _, elapsed = self.request("/fast")
        self.assertEqual(res.status, 200)
        self.assertLess(elapsed, 0.5)

    def test_f_removing_a_fault_while_requests_sleep_in_its_delay(self):
        """A fault deleted while requests wait in its delay: they finish (200) with the fault they
        started with, and the proxy keeps serving (it once read the freed fault after the delay;
        the AddressSanitizer build of this test catches that)."""
        status, created = self.admin_call("POST", "/faults", {
            "host": "front", "delay": {"fixedDelay": "2s", "percentage": 100},
            "abort": {"httpStatus": 503, "percentage": 0}})
        self.assertEqual(status, 201, created)
        results = queue.Queue()
        sent = [threading.Event() for _ in range(8)]

        def one(i):
            sent[i].set()
            try:
                res, _, elapsed = self.request("/fast")
                results.put((res.status, elapsed))
            except Exception as e:  # a proxy that died: said, not a hang
                results.put((repr(e), 0))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for e in sent:
            e.wait(5)
        status, _ = self.admin_call("DELETE", "/faults/" + created["id"])
        self.assertEqual(status, 200)
        for t in threads:
            t.join(15)
        got = [results.get(timeout=40) for _ in threads]
        self.assertEqual([code for code, _ in got], [200] * 8, got)
        # Some were in the delay when the fault went (they took its 2 s): the case under test.
        self.assertTrue(any(elapsed >= 1.9 for _, elapsed in got), got)
        self.assertIsNone(self.proc.poll())
        self.assertEqual(self.request("/fast")[0].status, 200)

    def test_f_runtime_abort_without_percentage_aborts_nothing(self):  # case 19
        status, created = self.admin_call("POST", "/faults", {"host": "front",
                                                             "abort": {"httpStatus": 500}})
        self.assertEqual(status, 201)
        try:
            for _ in range(20):
                self.assertEqual(self.request("/fast")[0].status, 200)
        finally:
            self.admin_call("DELETE", "/faults/" + created["id"])

    def test_f_runtime_delay_then_abort(self):  # case 21 (scaled down)
        status, created = self.admin_call("POST", "/faults", {
            "host": "front", "delay": {"fixedDelay": "50ms", "percentage": 100},
            "abort": {"httpStatus": 500, "percentage": 50}})
        self.assertEqual(status, 201)
        try:
            codes = []
            for _ in range(60):
                res, _, elapsed = self.request("/split")
                self.assertGreaterEqual(elapsed, 0.05)
                codes.append(res.status)
            # Independent 50 % abort roll: 60 draws fall outside [12, 48] with p < 1e-5.
            self.assertTrue(12 <= codes.count(500) <= 48, codes)
            self.assertEqual(codes.count(500) + codes.count(200), 60)
            self.assertGreaterEqual(self.sum_metric("istio_requests_total", response_code="500",
                                                    response_flags="DI,FI"), 1)
        finally:
            self.admin_call("DELETE", "/faults/" + created["id"])

    def test_f_bad_runtime_faults_are_rejected(self):
        for body, message in [
            ({"host": "front", "delay": {"fixedDelay": "0s", "percentage": 100}}, "at least 1ms"),
            ({"host": "front", "abort": {"httpStatus": 700, "percentage": 100}}, "200-599"),
            ({"host": "front", "abort": {"httpStatus": 503, "percentage": 150}}, "percentage"),
            ({"host": "nowhere", "abort": {"httpStatus": 503}}, "unknown host"),
            ({"host": "front"}, "a delay, an abort, or both"),
        ]:
            status, reply = self.admin_call("POST", "/faults", body)
            self.assertEqual(status, 400, (body, reply))
            self.assertIn(message, reply["error"])
        self.assertEqual(self.admin_call("DELETE", "/faults/fault-999")[0], 404)
        _, dump = self.admin_call("GET", "/config_dump")
        self.assertEqual(dump["faults"], [])

    def test_connect_failure_is_retried_on_another_host(self):  # case 1
        self.up["ok2"].reset()
        for _ in range(6):
            res, body, _ = self.request("/halfdead")
            self.assertEqual(res.status, 200, body)
        # Requests whose first try hit the dead host arrive with attempt count 2.
        self.assertIn("2", self.up["ok2"].attempt_counts())

    def test_no_virtual_service_retries_connect_failures_only(self):  # §1.4, Istio >= 1.24
        self.up["ok2"].reset()
        for _ in range(6):
            res, body, _ = self.request("/", port=self.gateways["direct"])
            self.assertEqual(res.status, 200, body)
        self.assertIn("2", self.up["ok2"].attempt_counts())
        # The default policy's retriable-status-codes has no codes: a 503 is not retried.
        self.up["once503"].reset()
        res, _, _ = self.request("/", port=self.gateways["direct503"])
        self.assertEqual(res.status, 503)
        self.assertEqual(self.up["once503"].count(), 1)

    def concurrently(self, path, n, upstream, held):
        """n concurrent requests while `upstream` holds every request it gets; released once
        held() is true (the proxy has queued or refused what it should), never by a timer."""
        results = [None] * n

        def one(i):
            try:
                res, body, _ = self.request(path, timeout=10)
            except OSError as e:  # a request left waiting: the assertion on results says so
                results[i] = (None, None, repr(e))
                return
            results[i] = (res.status, res.getheader("x-envoy-overloaded"), body)

        upstream.gate.clear()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        try:
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while not held() and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            upstream.gate.set()
        for t in threads:
            t.join()
        return results

    @meshtest.one_worker_only
    def test_pending_overflow_is_503_uo_and_never_retried(self):  # case 34
        cluster = "outbound|80||guarded"
        self.assertEqual(self.request("/guarded")[0].status, 200)  # a warm connection
        self.up["guarded"].reset()
        # Held until one request is at the upstream and the pending queue has overflowed.
        results = self.concurrently(
            "/guarded", 3, self.up["guarded"],
            lambda: self.up["guarded"].count() == 1 and self.sum_metric(
                "envoy_cluster_upstream_rq_pending_overflow", cluster_name=cluster) == 1)
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes, [200, 200, 503], results)
        overflowed = [r for r in results if r[0] == 503][0]
        self.assertEqual(overflowed[1], "true")
        self.assertIn("reset reason: overflow", overflowed[2])
        self.assertEqual(self.up["guarded"].count(), 2)  # retryOn 5xx, yet no retry
        self.assertEqual(self.sum_metric("envoy_cluster_upstream_rq_pending_overflow",
                                         cluster_name=cluster), 1)
        self.assertGreaterEqual(self.sum_metric("envoy_cluster_upstream_cx_overflow",
                                                cluster_name=cluster), 1)
        self.assertEqual(self.sum_metric("istio_requests_total", response_code="503",
                                         response_flags="UO", destination_service="guarded"), 1)

    @meshtest.one_worker_only
    def test_connection_limit_queues_without_failing(self):  # case 35
        cluster = "outbound|80||queued"
        # Held until both other requests have found the connection limit reached.
        results = self.concurrently(
            "/queued", 3, self.up["queued"],
            lambda: self.sum_metric("envoy_cluster_upstream_cx_overflow", cluster_name=cluster) >= 2)
        self.assertEqual([r[0] for r in results], [200, 200, 200], results)
        self.assertGreaterEqual(self.sum_metric("envoy_cluster_upstream_cx_overflow",
                                                cluster_name=cluster), 1)
        self.assertEqual(self.sum_metric("envoy_cluster_upstream_rq_pending_overflow",
                                         cluster_name=cluster), 0)
        # One connection served all three, one after the other.
        self.assertEqual(len({r["peer_port"] for r in self.up["queued"].requests}), 1)

    @meshtest.one_worker_only
    def test_connections_freed_together_wake_as_many_waiters(self):
        # maxConnections 2 and four requests: two at the upstream, two waiting for a connection.
        # Both connections come back in the same moment (the upstream answers both at once): each
        # must wake its own waiter, and both waiting requests go out at once. A wake-up spent
        # twice on the first waiter would leave the second waiting beside an idle connection until
        # the first one's answer (which the upstream holds here) frees another.
        up = self.up["pair"]
        cluster = "outbound|80||pair"
        for _ in range(3):
            before, overflows = up.count(), self.sum_metric("envoy_cluster_upstream_cx_overflow",
                                                            cluster_name=cluster)
            results = [None] * 4

            def one(i):
                try:
                    res, body, _ = self.request("/pair", timeout=10)
                    results[i] = (res.status, body)
                except OSError as e:  # left waiting
                    results[i] = (None, repr(e))

            up.hold()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            try:
                meshtest.wait_for(lambda: up.count() - before == 2 and self.sum_metric(
                    "envoy_cluster_upstream_cx_overflow", cluster_name=cluster) - overflows >= 2,
                    10, "two requests at the upstream and two waiting for a connection")
                up.release(keep_holding=True)
                meshtest.wait_for(lambda: up.count() - before == 4, 5,
                                  "both waiting requests at the upstream")
            finally:
                up.release()
            for t in threads:
                t.join()
            self.assertEqual([r[0] for r in results], [200] * 4, results)
            self.assertEqual(up.count() - before, 4)

    def test_max_requests_per_connection_1_disables_keep_alive(self):
        self.up["oneshot"].reset()
        for _ in range(3):
            self.assertEqual(self.request("/oneshot")[0].status, 200)
        self.assertEqual(len({r["peer_port"] for r in self.up["oneshot"].requests}), 3)

    def test_z_outlier_ejection(self):  # case 22 with a 50 % cap over 2 hosts
        self.up["bad"].reset()
        self.up["good"].reset()
        codes = [self.request("/eject")[0].status for _ in range(20)]
        # The bad host gets every other request until its 3rd consecutive 503 ejects it.
        self.assertEqual(self.up["bad"].count(), 3, codes)
        self.assertEqual(codes.count(503), 3)
        self.assertEqual(self.sum_metric("envoy_cluster_outlier_detection_ejections_active"), 1)
        _, clusters, _ = self.request("/clusters", port=self.admin)
        bad = [l for l in clusters.splitlines() if l.endswith("failed_outlier_check")]
        self.assertEqual(len(bad), 1, clusters)
        self.assertIn(str(self.up["bad"].port), bad[0])

    def test_zz_metrics_parse_and_sigterm_stops(self):
        text = self.metrics()
        self.assertIn("# TYPE istio_requests_total counter", text)
        self.assertIn('reporter="source"', text)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertIn(r.returncode, (0, 3), r.stdout + r.stderr)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=10), 0)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv[1])
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
