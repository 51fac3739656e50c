#!/usr/bin/python3
"""`meshproof proxy` against hostile and malformed input, over raw sockets: every bad request gets
its documented status (400/408/413/431/501/505) with `Connection: close` and a clean close, never a
crash or a hang; misbehaving upstreams (closing mid-body, garbage status, bytes past their
Content-Length, an interim 100, silence) are handled; SIGTERM drains (the request in flight
finishes, new connections are refused, exit 0). Limits: src/meshproof/net/http1_parser.h.

Usage: hostile_test.py MESHPROOF_BINARY
"""
import json
import os
import queue
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import meshtest  # noqa: E402

BINARY = None
H = b"Host: edge\r\n"


class RawUpstream:
    """A scripted HTTP/1.1 upstream over plain sockets: what it answers depends on the path."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.seen = []  # (method, path, headers dict lower-case, body)
        self.release = threading.Event()
        self.held = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def count(self, path):
        with self.lock:
            return sum(1 for _, p, _, _ in self.seen if p == path)

    def last(self, path):
        with self.lock:
            return [s for s in self.seen if s[1] == path][-1]

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        conn.settimeout(30)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                with self.lock:
                    self.seen.append((method, path, headers, body))
                if not self._answer(conn, method, path, headers, body):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _answer(self, conn, method, path, headers, body):
        if path == "/midbody":  # the head, 3 of 100 body bytes, then the connection goes
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            return False
        if path == "/garbage":
            conn.sendall(b"HTTP/1.1 2x0 OK\r\n\r\n")
            return False
        if path == "/extra":  # two bytes more than the Content-Length says
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"
                         b"Content-Length: 8\r\n\r\nsmuggled")
            return True
        if path == "/continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
            return True
        if path == "/head":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")  # HEAD: no body
            return True
        if path == "/silent":
            time.sleep(5)
            return False
        if path == "/reason":  # a code without a standard phrase, and a phrase of its own
            conn.sendall(b"HTTP/1.1 599 Custom Thing\r\nContent-Length: 2\r\n\r\nok")
            return True
        if path == "/reason-ok":
            conn.sendall(b"HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\n\r\nok")
            return True
        if path == "/chunked":  # chunked, with hop-by-hop fields that must not go downstream
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\n"
                         b"Keep-Alive: timeout=5\r\nX-Kept: yes\r\nServer: raw\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n")
            return True
        if path == "/to-close":  # HTTP/1.0, no Content-Length: the body ends at the close
            conn.sendall(b"HTTP/1.0 200 OK\r\nX-Kept: yes\r\n\r\nuntil the close")
            return False
        if path == "/many-fields":  # 101 fields: over Envoy's max_headers_count
            conn.sendall(b"HTTP/1.1 200 OK\r\n" +
                         b"".join(b"X-F%d: v\r\n" % i for i in range(101)) +
                         b"Content-Length: 2\r\n\r\nok")
            return True
        if path == "/obs-fold":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\nContent-Length: 2\r\n\r\nok")
            return True
        if path == "/hold":
            self.held.set()
            self.release.wait(20)
        echo = json.dumps({"method": method, "headers": headers, "body": body.decode("latin-1")})
        data = echo.encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                     % len(data) + data)
        return True

    def close(self):
        self.sock.close()


def spec_for(upstream_port):
    return f"""apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec: {{address: 127.0.0.1, port: 0, host: edge}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: edge}}
spec:
  hosts: [edge]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {upstream_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge}}
spec:
  hosts: [edge]
  http:
    - match: [{{uri: {{prefix: /redirect}}}}]
      redirect: {{uri: /elsewhere}}
    - route: [{{destination: {{host: edge}}}}]
      retries: {{attempts: 2, retryOn: "5xx,reset"}}
"""


def start_proxy(spec_path, *flags):
    proc, gateways, admin = meshtest.start_proxy(BINARY, spec_path, *flags)
    return proc, gateways["edge"], admin


def exchange(port, data, timeout=5.0, pause_after=None):
    """Sends `data` (bytes, or a list of byte strings sent apart), reads until the proxy closes.
    Returns (bytes received, whether the proxy closed within `timeout`)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        for part in data if isinstance(data, list) else [data]:
            try:
                s.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the proxy already refused and closed: what it sent is still read below
            if pause_after:
                time.sleep(pause_after)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return got, False
            except ConnectionResetError:
                return got, True
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        s.close()


def responses(data):
    """Splits a byte stream of HTTP/1.1 responses with Content-Length bodies (no HEAD)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


BIG = 70 * 1024
HOSTILE = [
    # (name, bytes, expected status)
    ("garbage request line", b"GARBAGE\r\n\r\n", 400),
    ("HTTP/0.9 request", b"GET /\r\n\r\n", 400),
    ("bare LF line ends", b"GET / HTTP/1.1\nHost: edge\n\n", 400),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("unknown method", b"BREW / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lower-case method", b"get / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("method not a token", b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("two spaces in the request line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("NUL in the target", b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("DEL in the target", b"GET /a\x7fb HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("CONNECT authority-form", b"CONNECT edge:443 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("URI of 70 KiB", b"GET /" + b"a" * BIG + b" HTTP/1.1\r\n" + H + b"\r\n", 431),
    ("one header of 70 KiB", b"GET / HTTP/1.1\r\n" + H + b"X-A: " + b"a" * BIG + b"\r\n\r\n", 431),
    ("101 headers", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: a\r\n" % i for i in range(100))
     + b"\r\n", 431),
    ("space before the colon", b"GET / HTTP/1.1\r\nHost : edge\r\n\r\n", 400),
    ("bare CR in a value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\rX-B: b\r\n\r\n", 400),
    ("header injection by LF", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\nX-Injected: 1\r\n\r\n", 400),
    ("NUL in a value", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n", 400),
    ("empty header name", b"GET / HTTP/1.1\r\n" + H + b": a\r\n\r\n", 400),
    ("no Host in HTTP/1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", b"GET / HTTP/1.1\r\nHost: edge\r\nHost: evil\r\n\r\n", 400),
    ("two Content-Lengths", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6"
     b"\r\n\r\nhello", 400),
    ("Content-Length list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello", 400),
    ("negative Content-Length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("hex Content-Length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x10\r\n\r\n", 400),
    ("Content-Length overflow", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999"
     b"\r\n\r\n", 400),
    ("Content-Length with chunked", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunked, identity (smuggling)", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, "
     b"identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("xchunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n", 501),
    ("gzip coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("chunked twice", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("Transfer-Encoding in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", 400),
    ("chunk size not hex", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk longer than its size", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"\r\n5\r\nhelloXX\r\n0\r\n\r\n", 400),
    ("chunk size overflow", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"10000000000000000\r\n", 400),
    ("chunk extension of 70 KiB", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
     b"\r\n1;" + b"e" * BIG + b"\r\na\r\n0\r\n\r\n", 400),
    ("trailers of 70 KiB", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"0\r\nX-T: " + b"t" * BIG + b"\r\n\r\n", 431),
    ("Content-Length over 16 MiB", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 16777217\r\n\r\n",
     413),
    ("chunked body over 16 MiB", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     + (b"100000\r\n" + b"x" * 0x100000 + b"\r\n") * 17 + b"0\r\n\r\n", 413),
    ("TRACE with a body", b"TRACE / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc", 400),
]


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = RawUpstream()
        cls.tmp = tempfile.mkdtemp(prefix="meshproof-hostile-")
        cls.spec_path = os.path.join(cls.tmp, "spec.yaml")
        with open(cls.spec_path, "w", encoding="utf-8") as f:
            f.write(spec_for(cls.up.port))
        cls.proc, cls.port, cls.admin = start_proxy(
            cls.spec_path, "--request-headers-timeout", "1s", "--stream-idle-timeout", "1500ms")

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()
        cls.up.close()

    def assert_alive(self):
        if self.proc.poll() is not None:
            self.fail("the proxy died: " + self.proc.stderr.read())
        got, _ = exchange(self.port, b"GET /alive HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:200])

    def test_hostile_requests_get_their_status_and_a_clean_close(self):
        self.assertGreaterEqual(len(HOSTILE), 30)
        with self.up.lock:
            before = len(self.up.seen)
        for name, data, status in HOSTILE:
            with self.subTest(name):
                start = time.monotonic()
                got, closed = exchange(self.port, data)
                self.assertTrue(got.startswith(b"HTTP/1.1 %d " % status), (name, got[:300]))
                head = got.split(b"\r\n\r\n", 1)[0].lower()
                self.assertIn(b"connection: close", head, name)
                self.assertTrue(closed, f"{name}: the proxy did not close the connection")
                self.assertLess(time.monotonic() - start, 4, name)
        # None of them reached the upstream, and the proxy still serves.
        with self.up.lock:
            self.assertEqual([s[1] for s in self.up.seen[before:]], [])
        self.assert_alive()

    def test_positive_controls_well_formed_requests_pass(self):
        # The same shapes, well formed, are served: the statuses above are not a proxy that refuses
        # everything.
        for name, data in [
                ("leading empty line", b"\r\nGET /ok1 HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"),
                ("100 headers", b"GET /ok2 HTTP/1.1\r\n" + H + b"".join(
                    b"X-%d: a\r\n" % i for i in range(98)) + b"Connection: close\r\n\r\n"),
                ("HTTP/1.0", b"GET /ok3 HTTP/1.0\r\n" + H + b"\r\n"),
                ("equal Content-Lengths", b"POST /ok4 HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n"
                 b"Connection: close\r\n\r\nhello"),
                ("absolute-form", b"GET http://edge/ok5 HTTP/1.1\r\nHost: ignored\r\n"
                 b"Connection: close\r\n\r\n")]:
            with self.subTest(name):
                got, closed = exchange(self.port, data)
                self.assertTrue(got.startswith(b"HTTP/1.1 200 "), (name, got[:300]))
                self.assertTrue(closed)
        self.assertEqual(self.up.last("/ok5")[2]["host"], "edge")  # the URI's authority wins

    def test_chunked_body_is_reframed_and_hop_by_hop_fields_stay(self):
        data = (b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
                b"Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nUpgrade: websocket\r\n"
                b"TE: trailers\r\nKeep-Alive: timeout=5\r\n\r\n"
                b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: dropped\r\n\r\n")
        got, _ = exchange(self.port, [data, b"GET /echo2 HTTP/1.1\r\n" + H +
                                      b"Connection: close\r\n\r\n"])
        (status, _, body), (status2, _, _) = responses(got)
        self.assertEqual((status, status2), (200, 200))
        echo = json.loads(body)
        self.assertEqual(echo["body"], "hello world")
        self.assertEqual(echo["headers"].get("content-length"), "11")
        for gone in ["transfer-encoding", "connection", "x-secret", "upgrade", "te", "keep-alive",
                     "x-trailer"]:
            self.assertNotIn(gone, echo["headers"])

    def test_a_rule_without_destinations_is_501_not_a_crash(self):
        # redirect/directResponse/delegate are accepted by the loader with a warning; the proxy
        # once indexed the rule's empty destination list.
        got = self.request(b"GET", b"/redirect/x")
        self.assertTrue(got.startswith(b"HTTP/1.1 501 "), got[:300])
        self.assertIn(b"does not simulate", got)
        self.assert_alive()

    def test_empty_lines_before_a_request_are_dropped_as_they_come(self):
        start = time.monotonic()
        parts = [b"\r\n" * 50] * 40 + [b"GET /after-blanks HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"]
        got, closed = exchange(self.port, parts)
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:300])
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - start, 4)

    def test_http10_without_host_goes_upstream_with_one(self):
        got, _ = exchange(self.port, b"GET /ten HTTP/1.0\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:300])
        self.assertEqual(self.up.last("/ten")[2].get("host"), "edge")
        # Options of every Connection field stay on this hop.
        exchange(self.port, b"GET /conn HTTP/1.1\r\n" + H + b"Connection: X-A\r\nConnection: close, X-B"
                 b"\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n")
        headers = self.up.last("/conn")[2]
        self.assertNotIn("x-a", headers)
        self.assertNotIn("x-b", headers)
        self.assertEqual(headers.get("x-c"), "3")

    def test_pipelined_requests_are_answered_in_order(self):
        data = b"".join(b"GET /p%d HTTP/1.1\r\n" % i + H + b"\r\n" for i in range(3))
        got, _ = exchange(self.port, [data + b"GET /p3 HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"])
        rs = responses(got)
        self.assertEqual([r[0] for r in rs], [200] * 4)
        self.assertEqual([json.loads(r[2])["method"] for r in rs], ["GET"] * 4)
        self.assertEqual(self.up.count("/p0") + self.up.count("/p3"), 2)

    def test_expect_continue_is_answered_by_the_proxy(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            s.sendall(b"POST /expect HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 5"
                      b"\r\nConnection: close\r\n\r\n")
            interim = s.recv(4096)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim)
            s.sendall(b"hello")
            got = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        finally:
            s.close()
        (status, _, body), = responses(got)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["body"], "hello")
        self.assertNotIn("expect", self.up.last("/expect")[2])

    def test_slow_loris_head_is_cut_with_408(self):
        start = time.monotonic()
        parts = [b"GET /loris HTTP/1.1\r\n"] + [b"X-%d: a\r\n" % i for i in range(20)]
        got, closed = exchange(self.port, parts, timeout=6, pause_after=0.2)
        self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got[:200])
        self.assertIn(b"request header timeout", got)
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - start, 5)  # 1 s header timeout, not the 20 x 0.2 s
        self.assertEqual(self.up.count("/loris"), 0)

    def test_stalled_body_is_cut_with_408(self):
        got, closed = exchange(self.port, b"POST /stall HTTP/1.1\r\n" + H +
                               b"Content-Length: 100\r\n\r\n0123456789", timeout=6)
        self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got[:200])
        self.assertIn(b"stream timeout", got)
        self.assertTrue(closed)
        self.assertEqual(self.up.count("/stall"), 0)

    def request(self, method, path, extra=b""):
        got, _ = exchange(self.port, method + b" " + path + b" HTTP/1.1\r\n" + H + extra +
                          b"Connection: close\r\n\r\n", timeout=8)
        return got

    def test_upstream_closing_mid_body_is_503_uc_and_not_retried(self):
        got = self.request(b"GET", b"/midbody")
        self.assertTrue(got.startswith(b"HTTP/1.1 503 "), got[:300])
        self.assertIn(b"reset reason: connection termination", got)
        # retryOn has reset and 5xx, but the response head had arrived: Envoy would have sent it
        # downstream already, so it never retries.
        self.assertEqual(self.up.count("/midbody"), 1)

    def test_upstream_garbage_status_is_502_protocol_error(self):
        got = self.request(b"GET", b"/garbage")
        self.assertTrue(got.startswith(b"HTTP/1.1 502 "), got[:300])
        self.assertIn(b"reset reason: protocol error", got)
        self.assertEqual(self.up.count("/garbage"), 1)

    def test_reason_phrases_are_envoys(self):
        # Envoy writes the standard phrase for the code, "Unknown" without one (CodeUtility::
        # toString), whatever the upstream wrote.
        got = self.request(b"GET", b"/reason")
        self.assertTrue(got.startswith(b"HTTP/1.1 599 Unknown\r\n"), got[:200])
        self.assertEqual(responses(got)[0][2], b"ok")
        got = self.request(b"GET", b"/reason-ok")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:200])

    def test_upstream_chunked_response_is_reframed_without_hop_by_hop_fields(self):
        (status, headers, body), = responses(self.request(b"GET", b"/chunked"))
        self.assertEqual((status, body), (200, b"hello world"))
        self.assertEqual(headers.get("content-length"), "11")
        self.assertEqual(headers.get("x-kept"), "yes")
        self.assertEqual(headers.get("server"), "istio-envoy")  # Envoy overwrites Server
        for hop in ("transfer-encoding", "x-hop", "keep-alive", "trailer"):
            self.assertNotIn(hop, headers)
        self.assertNotIn("x-hop", headers.get("connection", ""))
        # The connection it came on is pooled and in sync.
        (status, _, body), = responses(self.request(b"GET", b"/after-chunked"))
        self.assertEqual(json.loads(body)["method"], "GET")

    def test_upstream_body_to_the_close_is_reframed(self):
        (status, headers, body), = responses(self.request(b"GET", b"/to-close"))
        self.assertEqual((status, body), (200, b"until the close"))
        self.assertEqual(headers.get("content-length"), "15")
        self.assertEqual(headers.get("x-kept"), "yes")

    def test_upstream_heads_breaking_the_limits_are_502(self):
        for path in (b"/many-fields", b"/obs-fold"):
            got = self.request(b"GET", path)
            self.assertTrue(got.startswith(b"HTTP/1.1 502 "), (path, got[:300]))
            self.assertIn(b"reset reason: protocol error", got)
            self.assertEqual(self.up.count(path.decode()), 1)

    def test_bytes_past_content_length_never_reach_the_next_request(self):
        got = self.request(b"GET", b"/extra")
        (status, _, body), = responses(got)
        self.assertEqual((status, body), (200, b"ok"))
        for i in range(4):  # later requests on any pooled connection get their own answer
            (status, _, body), = responses(self.request(b"GET", b"/after-extra"))
            self.assertEqual(status, 200)
            self.assertNotIn(b"smuggled", body)
            self.assertEqual(json.loads(body)["method"], "GET")

    def test_interim_100_from_upstream_is_skipped(self):
        (status, _, body), = responses(self.request(b"GET", b"/continue"))
        self.assertEqual((status, body), (200, b"done"))
        (status, _, body), = responses(self.request(b"GET", b"/after-continue"))
        self.assertEqual(json.loads(body)["method"], "GET")

    def test_head_response_keeps_its_length_and_has_no_body(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            s.sendall(b"HEAD /head HTTP/1.1\r\n" + H + b"\r\n")
            got = b""
            while b"\r\n\r\n" not in got:
                got += s.recv(4096)
            self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got)
            self.assertIn(b"content-length: 50", got.lower())
            self.assertTrue(got.endswith(b"\r\n\r\n"), got)  # no body after the head
            # The same connection goes on in sync.
            s.sendall(b"GET /after-head HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
            rest = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
        finally:
            s.close()
        (status, _, body), = responses(rest)
        self.assertEqual(json.loads(body)["method"], "GET")

    def test_silent_upstream_without_timeout_is_504_stream_timeout(self):
        start = time.monotonic()
        got = self.request(b"GET", b"/silent")
        self.assertTrue(got.startswith(b"HTTP/1.1 504 "), got[:300])
        self.assertIn(b"stream timeout", got)
        self.assertLess(time.monotonic() - start, 4.5)  # the 1.5 s idle timeout, not the 5 s sleep

    def test_fault_abort_with_a_204_has_no_body(self):
        req = (b'{"host": "edge", "abort": {"httpStatus": 204, "percentage": 100}}')
        got, _ = exchange(self.admin, b"POST /faults HTTP/1.1\r\nHost: admin\r\nContent-Length: %d\r\n"
                          b"Connection: close\r\n\r\n" % len(req) + req)
        self.assertTrue(got.startswith(b"HTTP/1.1 201 "), got)
        fault_id = json.loads(got.split(b"\r\n\r\n", 1)[1])["id"]
        try:
            got = self.request(b"GET", b"/aborted")
            self.assertTrue(got.startswith(b"HTTP/1.1 204 "), got)
            self.assertTrue(got.endswith(b"\r\n\r\n"), got)
        finally:
            exchange(self.admin, b"DELETE /faults/" + fault_id.encode() +
                     b" HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        self.assert_alive()


class DrainTest(unittest.TestCase):
    def test_sigterm_drains(self):
        up = RawUpstream()
        tmp = tempfile.mkdtemp(prefix="meshproof-drain-")
        spec_path = os.path.join(tmp, "spec.yaml")
        with open(spec_path, "w", encoding="utf-8") as f:
            f.write(spec_for(up.port))
        proc, port, _ = start_proxy(spec_path, "--drain-timeout", "10s")
        try:
            idle = socket.create_connection(("127.0.0.1", port), timeout=5)  # no request on it
            result = queue.Queue()
            threading.Thread(target=lambda: result.put(exchange(
                port, b"GET /hold HTTP/1.1\r\n" + H + b"\r\n", timeout=15)), daemon=True).start()
            self.assertTrue(up.held.wait(10), "the held request never reached the upstream")
            proc.send_signal(signal.SIGTERM)
            # The idle keep-alive connection is closed at once.
            idle.settimeout(5)
            self.assertEqual(idle.recv(1), b"")
            idle.close()
            # New connections are refused while the held request is still in flight.
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            self.assertIsNone(proc.poll())
            up.release.set()
            got, closed = result.get(timeout=15)
            self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:300])
            self.assertIn(b"connection: close", got.lower())
            self.assertTrue(closed)
            self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            up.close()


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
