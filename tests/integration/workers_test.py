#!/usr/bin/python3
"""`meshproof proxy --concurrency N`: several workers, each with its own loop and upstream pools,
and what Envoy shares across a proxy's workers shared across them (istio-envoy-semantics.md §2.3
"counters shared by all worker threads", §2.7 "limits are per cluster and shared across workers").
A real proxy process with four workers in front of real scripted upstreams on loopback.

Connections are spread by the proxy's balancer (the worker with the fewest open connections, ties
in turn), so a test that holds k fresh connections open has them on k different workers; each test
checks that from the per-worker listener counters before it relies on it.

Usage: workers_test.py MESHPROOF_BINARY
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy_test  # noqa: E402  (Upstream, service_entry)
import meshtest  # noqa: E402
from meshtest import wait_for  # noqa: E402

BINARY = None
WORKERS = 4


# Each upstream's traffic policy (a DestinationRule's trafficPolicy, in YAML flow style).
POLICIES = {
    "lone": "outlierDetection: {consecutive5xxErrors: 4, interval: 1s, baseEjectionTime: 60s, "
            "maxEjectionPercent: 100}",
    "capped": "connectionPool: {http: {http2MaxRequests: 2}}",
    "narrow": "connectionPool: {tcp: {maxConnections: 1}}",
    "queued": "connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}",
    "stale": "connectionPool: {tcp: {maxConnections: 2}}",
}


def spec_for(up):
    """A Gateway for host `front`, whose VirtualService routes /NAME to upstream NAME (no
    retries), each upstream a ServiceEntry with its POLICIES entry as a DestinationRule."""
    spec = """apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {name: ingress}
spec: {address: 127.0.0.1, port: 0, host: front}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: front}
spec:
  hosts: [front]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
"""
    for name, u in up.items():
        spec += proxy_test.service_entry(name, [(u.port, "v1")])
        if name in POLICIES:
            spec += f"""---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}}}
spec:
  host: {name}
  trafficPolicy:
    {POLICIES[name]}
"""
    spec += """---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front}
spec:
  hosts: [front]
  http:
"""
    for name in up:
        spec += f"""    - name: {name}
      match: [{{uri: {{prefix: /{name}}}}}]
      route: [{{destination: {{host: {name}}}}}]
      retries: {{attempts: 0}}
"""
    return spec


class Client:
    """One keep-alive client connection (http.client), kept open between requests."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.connect()

    def get(self, path):
        self.conn.request("GET", path)
        res = self.conn.getresponse()
        return res.status, res.getheader("x-envoy-overloaded"), res.read().decode()

    def close(self):
        self.conn.close()


class WorkersTest(unittest.TestCase):
    def setUp(self):
        self.up = {
            "plain": proxy_test.Upstream("plain"),
            "lone": proxy_test.Upstream("lone", mode="fail", status=503),
            "capped": proxy_test.Upstream("capped"),
            "narrow": proxy_test.Upstream("narrow"),
            "queued": proxy_test.Upstream("queued"),
            "stale": proxy_test.Upstream("stale", close_after=True),
        }
        self.tmp = tempfile.mkdtemp(prefix="meshproof-workers-")
        self.spec_path = os.path.join(self.tmp, "spec.yaml")
        with open(self.spec_path, "w", encoding="utf-8") as f:
            f.write(spec_for(self.up))
        # A drain time far beyond what any test waits for: a drain that does not end by itself (a
        # worker that never reports, a request left waiting) fails the test instead of being cut
        # by the timer.
        self.proc, gateways, self.admin = meshtest.start_proxy(
            BINARY, self.spec_path, "--concurrency", str(WORKERS), "--seed", "3",
            "--drain-timeout", "60s")
        self.port = gateways["ingress"]
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for u in self.up.values():
            u.gate.set()
        # A drain ends every proxy, so a sanitizer build (ctest runs this suite under
        # ThreadSanitizer too) reports what it found at exit: the proxy must exit 0 and say nothing
        # on stderr.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = ("no exit 15 s after SIGTERM", self.proc.wait())
        stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        for u in self.up.values():
            u.close()
        self.assertEqual((code, stderr), (0, ""))

    def metric(self, name, **labels):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        conn.close()
        total = 0.0
        for line in body.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def per_worker(self):
        """Connections each worker has accepted so far."""
        return [self.metric(f"envoy_listener_worker_{k}_downstream_cx_total")
                for k in range(WORKERS)]

    def open_on_distinct_workers(self, k):
        """k new keep-alive connections, each on a different worker (checked by the workers'
        counters; the balancer gives each new connection to the least-loaded worker)."""
        before = self.per_worker()
        clients = []
        for _ in range(k):
            c = Client(self.port)
            clients.append(c)
            self.clients.append(c)
        wait_for(lambda: sum(self.per_worker()) - sum(before) == k, 10, f"{k} connections accepted")
        gained = [a - b for a, b in zip(self.per_worker(), before)]
        self.assertEqual(sorted(gained, reverse=True)[:k], [1] * k, gained)
        return clients

    def test_connections_are_balanced_across_workers(self):
        self.assertEqual(self.metric("envoy_server_concurrency"), WORKERS)
        for c in [Client(self.port) for _ in range(2 * WORKERS)]:
            self.clients.append(c)
            self.assertEqual(c.get("/plain")[0], 200)
        # Every connection is still open: least-loaded with ties in turn gives each worker two.
        self.assertEqual(self.per_worker(), [2.0] * WORKERS)
        self.assertEqual(self.metric("envoy_listener_downstream_cx_active"), 2 * WORKERS)
        for k in range(WORKERS):
            self.assertEqual(self.metric(f"envoy_listener_worker_{k}_downstream_cx_active"), 2)

    def test_each_worker_keeps_its_own_upstream_pool(self):
        clients = self.open_on_distinct_workers(WORKERS)
        for _ in range(3):
            # One at a time: each worker's connection is idle again before the next request.
            for c in clients:
                self.assertEqual(c.get("/plain")[0], 200)
        ports = [r["peer_port"] for r in self.up["plain"].requests]
        self.assertEqual(len(ports), 3 * WORKERS)
        # One pooled connection per worker, reused by every later request of that worker: a pool
        # shared across workers would show one, no keep-alive twelve.
        self.assertEqual(len(set(ports)), WORKERS, ports)
        self.assertEqual(ports[:WORKERS], ports[WORKERS:2 * WORKERS])

    def test_outlier_detection_counts_across_workers(self):  # §2.3: one detector per client proxy
        clients = self.open_on_distinct_workers(WORKERS)
        cluster = "outbound|80||lone"
        for c in clients:  # four consecutive 503s, one on each worker
            self.assertEqual(c.get("/lone")[0], 503)
        self.assertEqual(self.metric(
            "envoy_cluster_outlier_detection_ejections_enforced_consecutive_5xx",
            cluster_name=cluster), 1)
        self.assertEqual(self.metric("envoy_cluster_outlier_detection_ejections_active",
                                     cluster_name=cluster), 1)
        # Ejected for every worker: no upstream attempt, 503 UH.
        for c in clients:
            status, _, body = c.get("/lone")
            self.assertEqual((status, body), (503, "no healthy upstream"))
        self.assertEqual(self.up["lone"].count(), WORKERS)

    def test_max_requests_is_one_limit_for_all_workers(self):  # §2.7: per cluster, shared
        clients = self.open_on_distinct_workers(WORKERS)
        u = self.up["capped"]
        u.gate.clear()
        results = [None] * WORKERS

        def call(i):
            results[i] = clients[i].get("/capped")

        threads = [threading.Thread(target=call, args=(i,)) for i in range(WORKERS)]
        for t in threads:
            t.start()
        cluster = "outbound|80||capped"
        wait_for(lambda: u.count() == 2 and self.metric("envoy_cluster_upstream_rq_pending_overflow",
                                                         cluster_name=cluster) == 2,
                 10, "two requests at the upstream and two overflowed")
        self.assertEqual(self.metric("envoy_cluster_circuit_breakers_default_rq_open",
                                     cluster_name=cluster), 1)
        u.gate.set()
        for t in threads:
            t.join(30)
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes, [200, 200, 503, 503], results)
        self.assertEqual([r[1] for r in results if r[0] == 503], ["true", "true"])
        self.assertEqual(u.count(), 2)
        wait_for(lambda: self.metric("envoy_cluster_circuit_breakers_default_rq_open",
                                     cluster_name=cluster) == 0, 10, "the breaker closed again")
        self.assertEqual(self.metric("envoy_cluster_circuit_breakers_default_remaining_rq",
                                     cluster_name=cluster), 2)

    def test_max_connections_leaves_no_worker_without_a_connection(self):  # §2.7, hosts x pools
        clients = self.open_on_distinct_workers(3)
        u = self.up["narrow"]
        u.gate.clear()
        results = [None] * 3

        def call(i):
            results[i] = clients[i].get("/narrow")

        threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        # maxConnections 1, yet each worker's pool opens its one connection (counted as
        # overflows) rather than queue its request behind a connection of another worker.
        cluster = "outbound|80||narrow"
        wait_for(lambda: u.count() == 3, 10, "three requests at the upstream at once")
        self.assertEqual(self.metric("envoy_cluster_upstream_cx_overflow", cluster_name=cluster), 2)
        u.gate.set()
        for t in threads:
            t.join(30)
        self.assertEqual([r[0] for r in results], [200, 200, 200], results)
        self.assertEqual(len({r["peer_port"] for r in u.requests}), 3)
        self.assertEqual(self.metric("envoy_cluster_upstream_rq_pending_overflow",
                                     cluster_name=cluster), 0)

    def test_the_pending_queue_is_per_worker_and_its_limit_per_cluster(self):  # §2.7
        # Six connections: the balancer puts the fifth on the first one's worker and the sixth on
        # the second one's.
        clients = self.open_on_distinct_workers(WORKERS) + [Client(self.port), Client(self.port)]
        self.clients += clients[WORKERS:]
        wait_for(lambda: self.per_worker() == [2.0, 2.0, 1.0, 1.0], 10,
                 "connections 5 and 6 on workers 0 and 1")
        u = self.up["queued"]
        u.gate.clear()
        cluster = "outbound|80||queued"
        results = {}

        def call(i):
            results[i] = clients[i].get("/queued")

        threads = {}

        def send(i):
            threads[i] = threading.Thread(target=call, args=(i,))
            threads[i].start()

        send(0)  # worker 0 opens the cluster's one connection
        wait_for(lambda: u.count() == 1, 10, "the first request at the upstream")
        send(1)  # worker 1 has no connection to the host: it opens one past the limit
        wait_for(lambda: u.count() == 2, 10, "worker 1's request at the upstream")
        send(4)  # worker 0 again: its connection is busy, so this one queues (the one pending slot)
        wait_for(lambda: self.metric("envoy_cluster_circuit_breakers_default_rq_pending_open",
                                     cluster_name=cluster) == 1, 10, "the pending queue full")
        send(5)  # worker 1: its connection is busy too, and the cluster's one pending slot is taken
        threads[5].join(10)
        self.assertEqual(results[5][:2], (503, "true"), results)
        self.assertEqual(self.metric("envoy_cluster_upstream_rq_pending_overflow",
                                     cluster_name=cluster), 1)
        u.gate.set()
        for i in (0, 1, 4):
            threads[i].join(30)
            self.assertEqual(results[i][0], 200, results)
        # The queued request went out on worker 0's connection once it was free.
        self.assertEqual(u.count(), 3)
        self.assertEqual(len({r["peer_port"] for r in u.requests}), 2)

    def test_a_stale_pooled_connection_hands_its_slot_to_the_new_one(self):
        # maxConnections 2, and an upstream that closes every connection after answering it as
        # keep-alive: each pooled connection is dead when it is reused.
        clients = self.open_on_distinct_workers(WORKERS) + [Client(self.port)]
        self.clients.append(clients[-1])
        wait_for(lambda: self.per_worker() == [2.0, 1.0, 1.0, 1.0], 10,
                 "the fifth connection on worker 0")
        u = self.up["stale"]
        u.gate.clear()
        results = {}
        threads = [threading.Thread(target=lambda i=i: results.update({i: clients[i].get("/stale")}))
                   for i in (0, 4)]
        for t in threads:
            t.start()
        wait_for(lambda: u.count() == 2, 10, "worker 0's two requests at the upstream")
        u.gate.set()
        for t in threads:
            t.join(30)
        self.assertEqual([results[i][0] for i in (0, 4)], [200, 200])  # the cluster's 2 slots
        self.assertEqual(clients[1].get("/stale")[0], 200)  # worker 1's one connection, past them
        # Worker 0 again: the connection it reuses is dead, so the request goes out on a new one,
        # which takes the dead one's slot. Given back, the slot would leave the count at the
        # limit (worker 0's other pooled connection and worker 1's), and the request would wait
        # beside that idle connection with nothing to wake it.
        clients[0].conn.sock.settimeout(10)
        self.assertEqual(clients[0].get("/stale")[0], 200)
        self.assertEqual(u.count(), 4)

    def test_a_runtime_fault_reaches_every_worker_at_once(self):
        clients = self.open_on_distinct_workers(WORKERS)
        for c in clients:
            self.assertEqual(c.get("/plain")[0], 200)
        conn = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        conn.request("POST", "/faults",
                     body='{"host": "front", "abort": {"httpStatus": 418, "percentage": 100}}')
        res = conn.getresponse()
        fault = res.read().decode()
        self.assertEqual(res.status, 201, fault)
        fault_id = json.loads(fault)["id"]
        # Every request that starts after the 201 sees the fault, on every worker.
        for c in clients:
            self.assertEqual(c.get("/plain")[:3:2], (418, "fault filter abort"))
        conn.request("DELETE", f"/faults/{fault_id}")
        res = conn.getresponse()
        res.read()
        self.assertEqual(res.status, 200)
        conn.close()
        for c in clients:
            self.assertEqual(c.get("/plain")[0], 200)

    def test_sigterm_drains_every_worker(self):
        clients = self.open_on_distinct_workers(2)
        idle = Client(self.port)  # a third, idle connection
        self.clients.append(idle)
        u = self.up["plain"]
        u.gate.clear()
        results = [None] * 2

        def call(i):
            clients[i].conn.request("GET", "/plain")
            res = clients[i].conn.getresponse()
            results[i] = (res.status, res.getheader("connection"), res.read().decode())

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        wait_for(lambda: u.count() == 2, 10, "two requests in flight")
        self.proc.send_signal(signal.SIGTERM)

        def refused():
            try:
                probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                probe.connect()
                probe.close()
                return False
            except ConnectionRefusedError:
                return True

        wait_for(refused, 10, "new connections refused")
        # The idle connection is closed at once; the two in flight finish, then close.
        idle.conn.sock.settimeout(5)
        self.assertEqual(idle.conn.sock.recv(1), b"")
        self.assertIsNone(self.proc.poll())
        u.gate.set()
        for t in threads:
            t.join(30)
        self.assertEqual([r[:2] for r in results], [(200, "close"), (200, "close")], results)
        # Ended by the drain itself: every worker reported its last connection done (the drain
        # timer is 60 s).
        self.assertEqual(self.proc.wait(10), 0)


class ConcurrencyFlagTest(unittest.TestCase):
    def test_bad_concurrency_is_a_usage_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            up = {"plain": proxy_test.Upstream("plain")}
            path = os.path.join(tmp, "spec.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(spec_for(up))
            for value in ("0", "129", "two", "-1"):
                p = subprocess.run([BINARY, "proxy", "-f", path, "--concurrency", value],
                                                 capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, (value, p.stdout, p.stderr))
                self.assertIn("--concurrency", p.stderr, value)
            up["plain"].close()


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
