#!/usr/bin/python3
"""`meshproof up --prometheus`: the real Prometheus (Debian's 2.42) scrapes every proxy of the local
mesh through the platform's file_sd file; traffic sent through the ingress is what Prometheus
counts; a restarted pod (new port) is scraped again; Ctrl-C stops Prometheus with the mesh.

Usage: prom_test.py MESHPROOF_BINARY
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from meshtest import wait_for
import urllib.parse
import urllib.request

BINARY = None


def http(url, data=None):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.read()


def query(port, promql):
    body = json.loads(http(f"http://127.0.0.1:{port}/api/v1/query?" +
                           urllib.parse.urlencode({"query": promql})))
    assert body["status"] == "success", body
    return body["data"]["result"]


class UpWithPrometheus(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="meshproof-prom-")
        self.out = open(os.path.join(self.dir, "stdout"), "w")
        self.p = subprocess.Popen([BINARY, "up", "--prometheus", "--run-dir", self.dir],
                                  stdout=self.out, stderr=subprocess.STDOUT)

    def tearDown(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.out.close()

    def printed(self, pattern):
        def find():
            with open(os.path.join(self.dir, "stdout")) as f:
                m = re.search(pattern, f.read())
            return int(m.group(1)) if m else None
        return wait_for(find, 90, pattern)

    def test_prometheus_counts_the_mesh_traffic_and_follows_restarts(self):
        prom = self.printed(r"prometheus: http://127\.0\.0\.1:(\d+)")
        ingress = self.printed(r"ingress: http://127\.0\.0\.1:(\d+)")
        control = self.printed(r"control plane: http://127\.0\.0\.1:(\d+)")
        self.assertEqual(len(query(prom, "up == 1")), 8)
        pods = {r["metric"]["pod"] for r in query(prom, "up")}
        self.assertIn("service-b-v2-0", pods)
        self.assertIn("istio-ingressgateway", pods)
        for _ in range(40):
            http(f"http://127.0.0.1:{ingress}/")
        promql = ('sum(istio_requests_total{reporter="source",'
                  'source_workload="istio-ingressgateway",response_code="200"})')
        wait_for(lambda: query(prom, promql) and float(query(prom, promql)[0]["value"][1]) >= 40,
                 30, "Prometheus to count 40 requests")
        self.assertEqual(float(query(prom, promql)[0]["value"][1]), 40)
        # A pod that restarts listens on new ports; file_sd follows, so does Prometheus.
        before = query(prom, 'up{pod="service-c-0"}')[0]["metric"]["instance"]
        http(f"http://127.0.0.1:{control}/pods/service-c-0/kill", b"{}")
        wait_for(lambda: [r for r in query(prom, 'up{pod="service-c-0"} == 1')
                          if r["metric"]["instance"] != before], 60,
                 "the restarted pod to be scraped")
        # Ctrl-C: the mesh and Prometheus stop.
        self.p.send_signal(signal.SIGINT)
        self.assertEqual(self.p.wait(timeout=60), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", prom), timeout=2).close()


if __name__ == "__main__":
    BINARY = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
