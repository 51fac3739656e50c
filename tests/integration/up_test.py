#!/usr/bin/python3
"""`meshproof up` end to end: the control plane, the gateway and every Workload's pods as real
child processes on loopback (ports chosen by the OS), checked the way a user would: requests through
the ingress, pods killed with SIGKILL, meshproof itself killed, Ctrl-C, behaviour switches, bad input.

Usage: up_test.py MESHPROOF_BINARY SOURCE_DIR
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BINARY = None
SOURCE = None
READY_TIMEOUT = 60.0


def get(port, path="/", headers=None, method="GET", body=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read().decode()
    finally:
        conn.close()


def alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def counter(metrics_text, name, **labels):
    """Sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in metrics_text.splitlines():
        if not line.startswith(name + "{"):
            continue
        m = re.match(r"^[a-z_]+\{(.*)\} (\S+)$", line)
        got = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(1)))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


class Mesh:
    """One `meshproof up` process; parses its banner."""

    def __init__(self, spec_path=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="meshproof-up-")
        args = [BINARY, "up", "--run-dir", self.dir, *extra]
        if spec_path:
            args += ["-f", spec_path]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.err_lines = []
        self.banner = threading.Event()
        self.readers = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C to stop"):
                self.banner.set()

    def _read_err(self):
        for line in self.proc.stderr:
            self.err_lines.append(line.rstrip("\n"))

    def wait_ready(self):
        started = time.monotonic()
        deadline = started + READY_TIMEOUT
        while not self.banner.is_set():
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise AssertionError("meshproof up exited %d:\n%s\n%s" % (
                    self.proc.returncode, "\n".join(self.lines), "\n".join(self.err_lines)))
            if time.monotonic() > deadline:
                raise AssertionError("meshproof up not ready:\n" + "\n".join(self.lines + self.err_lines))
            self.banner.wait(0.1)
        self.ready_seconds = time.monotonic() - started
        text = "\n".join(self.lines)
        self.ingress = int(re.search(r"^ingress: http://127\.0\.0\.1:(\d+)", text, re.M).group(1))
        self.gateway_admin = int(re.search(r"^gateway admin: http://127\.0\.0\.1:(\d+)", text, re.M).group(1))
        self.control = int(re.search(r"^control plane: http://127\.0\.0\.1:(\d+)", text, re.M).group(1))
        return self

    def pods(self):
        status, _, body = get(self.control, "/pods")
        assert status == 200, body
        return {p["name"]: p for p in json.loads(body)}

    def stop(self, sig=signal.SIGINT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self.readers:
            t.join(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


def write_spec(text):
    fd, path = tempfile.mkstemp(suffix=".yaml", prefix="meshproof-up-spec-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class DefaultMesh(unittest.TestCase):
    """The embedded Sprint 6 mesh, brought up once for these tests."""

    @classmethod
    def setUpClass(cls):
        cls.mesh = Mesh().wait_ready()
        print(f"\n[default mesh ready in {cls.mesh.ready_seconds:.2f} s]", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        pods = cls.mesh.pods() if cls.mesh.proc.poll() is None else {}
        code = cls.mesh.stop()
        assert code == 0, f"Ctrl-C: exit {code}"
        for p in pods.values():
            wait_until(lambda: not alive(p["pid"]), 10, f"{p['name']} to be gone after Ctrl-C")

    def test_1_table_and_service_discovery(self):
        pods = self.mesh.pods()
        self.assertEqual(sorted(pods), ["service-a-0", "service-a-1", "service-b-v1-0", "service-b-v1-1",
                                        "service-b-v2-0", "service-c-0", "service-c-1"])
        text = "\n".join(self.mesh.lines)
        for name, p in pods.items():
            self.assertTrue(p["ready"], p)
            self.assertRegex(text, rf"(?m)^{name}\s+{p['labels']['version']}\s+{p['pid']}\s+{p['port']}\s+"
                                   rf"{p['admin']}\s+yes\s+0$")
        with open(os.path.join(self.mesh.dir, "file_sd.json")) as f:
            groups = json.load(f)
        targets = {g["labels"]["pod"]: g for g in groups}
        self.assertEqual(targets["istio-ingressgateway"]["targets"],
                         [f"127.0.0.1:{self.mesh.gateway_admin}"])
        for name, p in pods.items():
            self.assertEqual(targets[name]["targets"], [f"127.0.0.1:{p['admin']}"])
            self.assertEqual(targets[name]["labels"]["app"], p["labels"]["app"])
            self.assertEqual(targets[name]["labels"]["version"], p["labels"]["version"])

    def test_2_request_through_the_gateway_shows_the_chain(self):
        seen_versions = set()
        pods = self.mesh.pods()
        for _ in range(40):
            status, headers, body = get(self.mesh.ingress, "/")
            self.assertEqual(status, 200, body)
            trace = headers["x-meshproof-trace"]
            m = re.fullmatch(r"(service-a-\d)/v1 -> (service-b-(v[12])-\d)/(v[12]) -> (service-c-\d)/v1", trace)
            self.assertIsNotNone(m, trace)
            self.assertEqual(m.group(3), m.group(4), trace)
            for pod in (m.group(1), m.group(2), m.group(5)):
                self.assertIn(pod, pods)
            self.assertEqual(headers["x-meshproof-pod"], m.group(1))
            seen_versions.add(m.group(3))
            self.assertEqual(len(body), 256)  # service-a's payloadBytes
        self.assertIn("v1", seen_versions)
        # Destination-side metrics on the pods, source-side on the gateway.
        _, _, gw = get(self.mesh.gateway_admin, "/metrics")
        self.assertGreaterEqual(counter(gw, "istio_requests_total", reporter="source",
                                        destination_app="service-a", response_code="200"), 40)
        c_total = 0
        for name in ("service-c-0", "service-c-1"):
            _, _, text = get(pods[name]["admin"], "/metrics")
            c_total += counter(text, "istio_requests_total", reporter="destination",
                               destination_workload="service-c", source_app="service-b",
                               response_code="200")
        self.assertGreaterEqual(c_total, 40)

    def test_3_sigkill_of_a_pod_restarts_it_and_the_gateway_stays_whole(self):
        before = self.mesh.pods()["service-c-0"]
        results = []
        stop = threading.Event()

        def drive():
            while not stop.is_set():
                try:
                    status, _, _ = get(self.mesh.ingress, "/")
                except OSError as e:
                    status = str(e)
                results.append(status)

        t = threading.Thread(target=drive)
        t.start()
        try:
            wait_until(lambda: len(results) >= 20, 30, "traffic before the kill")
            os.kill(before["pid"], signal.SIGKILL)
            after = wait_until(lambda: (lambda p: p if p["ready"] and p["pid"] != before["pid"] else None)(
                self.mesh.pods()["service-c-0"]), 30, "service-c-0 to be restarted and ready")
            n = len(results)
            wait_until(lambda: len(results) >= n + 20, 30, "traffic after the restart")
        finally:
            stop.set()
            t.join()
        self.assertEqual(after["restarts"], before["restarts"] + 1)
        self.assertIn("signal 9", after["lastExit"])
        self.assertNotEqual(after["port"], 0)
        # Every service-b sidecar's endpoint set for service-c now has the new port, not the old one.
        for name, p in self.mesh.pods().items():
            if not name.startswith("service-b"):
                continue
            _, _, clusters = get(p["admin"], "/clusters")
            wait_until(lambda: f"127.0.0.1:{after['port']}" in get(p["admin"], "/clusters")[2], 10,
                       f"{name} to know the new endpoint")
            _, _, clusters = get(p["admin"], "/clusters")
            if after["port"] != before["port"]:
                self.assertNotIn(f"127.0.0.1:{before['port']}::", clusters)
        # Prometheus' file_sd follows the restarted pod to its new admin port.
        def file_sd_target():
            with open(os.path.join(self.mesh.dir, "file_sd.json")) as f:
                groups = {g["labels"]["pod"]: g["targets"] for g in json.load(f)}
            return groups.get("service-c-0") == [f"127.0.0.1:{after['admin']}"]
        wait_until(file_sd_target, 10, "file_sd.json to list service-c-0's new admin port")
        # The policy's prediction: a lost service-c pod is retried by service-b's sidecar (connect
        # failures; Istio's default policy) and a reset that surfaces as 5xx is retried by
        # service-a's sidecar (service-b's route: 3 retries on 5xx), so no request fails.
        failures = [r for r in results if r != 200]
        print(f"\n[pod kill: {len(results)} requests through the gateway, {len(failures)} failed]",
              file=sys.stderr)
        self.assertEqual(failures, [])

    def test_4_control_plane_api(self):
        status, _, body = get(self.mesh.control, "/pods/no-such-pod/kill", method="POST")
        self.assertEqual(status, 404, body)
        self.assertIn("no-such-pod", body)
        status, _, body = get(self.mesh.control, "/faults", method="POST",
                              body=json.dumps({"host": "service-c", "abort": {"httpStatus": 700}}))
        self.assertEqual(status, 400, body)
        self.assertIn("abort.httpStatus", body)
        # A fault posted to the control plane reaches every proxy (a new generation each acks).
        status, _, body = get(self.mesh.control, "/faults", method="POST", body=json.dumps(
            {"host": "service-a", "abort": {"httpStatus": 418, "percentage": 100}}))
        self.assertEqual(status, 201, body)
        fault = json.loads(body)
        wait_until(lambda: get(self.mesh.control, "/ready")[0] == 200, 10, "every proxy to ack")
        status, _, _ = get(self.mesh.ingress, "/")
        self.assertEqual(status, 418)
        status, _, body = get(self.mesh.control, "/faults/" + fault["id"], method="DELETE")
        self.assertEqual(status, 200, body)
        wait_until(lambda: get(self.mesh.control, "/ready")[0] == 200, 10, "every proxy to ack")
        self.assertEqual(get(self.mesh.ingress, "/")[0], 200)
        _, _, dump = get(self.mesh.control, "/config_dump")
        dump = json.loads(dump)
        self.assertEqual(set(dump["proxies"]), set(self.mesh.pods()) | {"istio-ingressgateway"})
        for name, ack in dump["proxies"].items():
            self.assertEqual(ack["generation"], dump["generation"], name)


SMALL_SPEC = """
apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {name: ingress}
spec: {address: 127.0.0.1, port: 0, host: service-a}
---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: service-a}
spec:
  app: service-a
  replicas: 1
  latency: {distribution: fixed, fixed: 1ms}
  calls: [{host: service-b, method: GET, path: /work}]
---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: service-b}
spec:
  app: service-b
  replicas: 1
  latency: {distribution: fixed, fixed: 1ms}
  calls: [{host: service-c, method: GET, path: /data}]
---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata: {name: service-c}
spec:
  app: service-c
  replicas: 1
  latency: {distribution: fixed, fixed: 1ms}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: service-b}
spec:
  hosts: [service-b]
  http:
    - route: [{destination: {host: service-b}}]
      retries: {attempts: 3, perTryTimeout: 2s, retryOn: 5xx}
"""


def predict(requests, c_failures, status):
    """SMALL_SPEC's retry policies applied to `requests` sequential requests at the gateway while
    service-c answers `status` to its next `c_failures` requests. Returns (the gateway's status per
    request, the requests each service answered by status, retries per sidecar cluster)."""
    budget = [c_failures]
    answered = {"service-a": {}, "service-b": {}, "service-c": {}}
    retries = {"service-a->service-b": 0, "service-b->service-c": 0, "gateway->service-a": 0}

    def note(svc, code):
        answered[svc][code] = answered[svc].get(code, 0) + 1
        return code

    def c():
        if budget[0] > 0:
            budget[0] -= 1
            return note("service-c", status)
        return note("service-c", 200)

    def with_retries(call, n, retriable, counter_name):
        code = call()
        for _ in range(n):
            if not retriable(code):
                break
            retries[counter_name] += 1
            code = call()
        return code

    # No VirtualService: Istio's default policy, 2 retries on connect-failure, refused-stream,
    # unavailable, cancelled and retriable-status-codes with no codes (Istio >= 1.24 dropped 503):
    # a response status is never retried.
    istio_default = lambda code: False
    b_route = lambda code: code >= 500  # service-b's route: 3 retries on 5xx

    def b():
        code = with_retries(c, 2, istio_default, "service-b->service-c")
        return note("service-b", code if code >= 500 else 200)

    def a():
        code = with_retries(b, 3, b_route, "service-a->service-b")
        return note("service-a", code if code >= 500 else 200)

    statuses = [with_retries(a, 2, istio_default, "gateway->service-a") for _ in range(requests)]
    return statuses, answered, retries


class SmallMesh(unittest.TestCase):
    """One pod per service, so a behaviour switch maps to exact request counts."""

    def test_fail_next_10_is_seen_as_the_retry_policy_predicts(self):
        spec = write_spec(SMALL_SPEC)
        mesh = Mesh(spec).wait_ready()
        try:
            pods = mesh.pods()
            status, _, body = get(mesh.control, "/pods/service-c-0/behaviour", method="POST",
                                  body=json.dumps({"fail": {"status": 503, "count": 10}}))
            self.assertEqual(status, 200, body)
            expected_statuses, expected, expected_retries = predict(3, 10, 503)
            # The model's own check: 4 attempts per request at service-a's sidecar, 10 failures.
            self.assertEqual(expected_statuses, [503, 503, 200])
            statuses = []
            for _ in expected_statuses:
                status, headers, body = get(mesh.ingress, "/")
                statuses.append(status)
                self.assertIn("x-meshproof-trace", headers, (status, headers, body, mesh.pods()))
                self.assertRegex(headers["x-meshproof-trace"],
                                 r"^service-a-0/v1 -> service-b-0/v1 -> service-c-0/v1")
            self.assertEqual(statuses, expected_statuses)
            for svc, codes in expected.items():
                _, _, text = get(pods[svc + "-0"]["admin"], "/metrics")
                got = {}
                for code in ("200", "503"):
                    n = counter(text, "istio_requests_total", reporter="destination",
                                destination_workload=svc, response_code=code)
                    if n:
                        got[int(code)] = int(n)
                self.assertEqual(got, codes, svc)
            _, _, gw = get(mesh.gateway_admin, "/metrics")
            _, _, a_metrics = get(pods["service-a-0"]["admin"], "/metrics")
            _, _, b_metrics = get(pods["service-b-0"]["admin"], "/metrics")
            for text, cluster, key in [(gw, "outbound|80||service-a", "gateway->service-a"),
                                       (a_metrics, "outbound|80||service-b", "service-a->service-b"),
                                       (b_metrics, "outbound|80||service-c", "service-b->service-c")]:
                self.assertEqual(counter(text, "envoy_cluster_upstream_rq_retry", cluster_name=cluster),
                                 expected_retries[key], key)
            # The budget is spent: the next request is served without a retry.
            self.assertEqual(get(mesh.ingress, "/")[0], 200)
            _, _, state = get(pods["service-c-0"]["port"], "/control/behaviour")
            self.assertEqual(json.loads(state)["failed"], 10)
        finally:
            self.assertEqual(mesh.stop(), 0)

    def test_sigkill_of_meshproof_leaves_no_pod(self):
        mesh = Mesh(write_spec(SMALL_SPEC)).wait_ready()
        pids = [p["pid"] for p in mesh.pods().values()]
        self.assertEqual(len(pids), 3)
        mesh.stop(signal.SIGKILL)
        for pid in pids:
            wait_until(lambda: not alive(pid), 10, f"pod pid {pid} to die with meshproof")

    def test_ctrl_c_stops_every_pod_and_exits_0(self):
        mesh = Mesh(write_spec(SMALL_SPEC)).wait_ready()
        pids = [p["pid"] for p in mesh.pods().values()]
        self.assertEqual(mesh.stop(), 0)
        self.assertIn("meshproof up: stopped", mesh.lines)
        for pid in pids:
            self.assertFalse(alive(pid), pid)


class BadInput(unittest.TestCase):
    def run_up(self, spec_text, timeout=60):
        spec = write_spec(spec_text)
        d = tempfile.mkdtemp(prefix="meshproof-up-")
        return subprocess.run([BINARY, "up", "--run-dir", d, "-f", spec], capture_output=True,
                              text=True, timeout=timeout), spec

    def test_replicas_out_of_range(self):
        for n in ("0", "10000"):
            r, spec = self.run_up(SMALL_SPEC.replace("replicas: 1\n  latency: {distribution: fixed, fixed: 1ms}\n---",
                                                     f"replicas: {n}\n  latency: {{distribution: fixed, fixed: 1ms}}\n---", 1))
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertRegex(r.stderr, re.escape(spec) + r":\d+:\d+: .*replicas must be between 1 and 100")

    def test_a_taken_port_is_a_pod_that_cannot_start(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            text = SMALL_SPEC.replace("app: service-c\n  replicas: 1\n",
                                      f"app: service-c\n  replicas: 1\n  port: {port}\n")
            r, _ = self.run_up(text)
        finally:
            taken.close()
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("pod service-c-0 cannot start", r.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", r.stderr)  # the pod's own stderr
        self.assertIn("Address already in use", r.stderr)
        self.assertRegex(r.stderr, r"exited \d+ times \(last: exit status 2\)")

    def test_stdin_spec_is_refused(self):
        r = subprocess.run([BINARY, "up", "-f", "-"], input="", capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("stdin", r.stderr)


if __name__ == "__main__":
    BINARY, SOURCE = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
