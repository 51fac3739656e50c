#!/usr/bin/python3
"""`meshproof run` as a user runs it: the quick plan on the default spec passes, its evidence
verifies, the report is recorded and opens in headless Chromium with its charts and no console
error; a second run appends to the same ledger consistently; a canary that really splits about
70/30 while the VirtualService says 90/10 fails and says why; bad input is exit 2 with nothing
recorded that would fail verification.

Usage: run_test.py MESHPROOF_BINARY SOURCE_DIR
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

BINARY = None
SOURCE = None
SEED = "7"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking"]


def default_text():
    with open(os.path.join(SOURCE, "examples/sprint6/mesh.yaml")) as f:
        return f.read()


def only_split(text):
    """The default mesh with a Sprint that only validates the split (a short run)."""
    head, sprint = text.split("kind: Sprint", 1)
    return head + """kind: Sprint
metadata:
  name: sprint6
spec:
  validations:
    split: {host: service-b, alpha: 0.01, power: 0.99, minDeviationPercent: 5}
  alerts: {latencyP95: 500ms, errorRatePercent: 5, minThroughputRps: 1}
"""


def mislabelled(text):
    """Three v1 pods, plus a v2 build deployed with v1's pod labels: subset v1's 90 % is shared by
    four pods, one of them running v2, so about 10 + 90/4 = 32.5 % of service-b's requests are
    served by v2 while the VirtualService still says 90/10."""
    text = text.replace("  version: v1\n  replicas: 2\n  latency: {distribution: lognormal, median: 3ms",
                        "  version: v1\n  replicas: 3\n  latency: {distribution: lognormal, median: 3ms", 1)
    extra = """---
apiVersion: meshproof.dev/v1alpha1
kind: Workload
metadata:
  name: service-b-v2-hotfix
spec:
  app: service-b
  version: v2
  replicas: 1
  labels: {version: v1}
  latency: {distribution: lognormal, median: 3ms, sigma: 0.3}
  payloadBytes: 512
  calls:
    - {host: service-c, method: GET, path: /data}
"""
    return text + extra


class Run(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="meshproof-run-")
        cls.env = dict(os.environ, MESHPROOF_KEY_DIR=os.path.join(cls.dir, "keys"),
                       XDG_STATE_HOME=os.path.join(cls.dir, "state"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_meshproof(self, *args, timeout=600):
        return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, cwd=self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def ledger(self, evidence):
        with open(os.path.join(evidence, "ledger.jsonl")) as f:
            return [json.loads(line) for line in f]

    def verify(self, evidence, *extra):
        return self.run_meshproof("evidence", "verify", evidence, "--no-state", *extra)

    def chromium(self, html, out_dir):
        """Opens the page; returns (DOM, console lines, screenshot path)."""
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.dir)
        shot = os.path.join(out_dir, "report.png")
        common = ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                  "--enable-logging=stderr", "--v=0", "--window-size=1000,4000"]
        r = subprocess.run(common + [f"--screenshot={shot}", "file://" + html],
                           capture_output=True, text=True, timeout=120)
        dom = subprocess.run(common + ["--dump-dom", "file://" + html], capture_output=True,
                             text=True, timeout=120)
        console = [l for l in (r.stderr + dom.stderr).splitlines() if "CONSOLE" in l]
        return dom.stdout, console, shot

    def test_1_quick_run_passes_records_a_verified_report_and_a_second_run_extends_it(self):
        evidence = os.path.join(self.dir, "evidence", "sprint6")
        # Seeded: the split check rejects a correct 90/10 mesh at its alpha (1 % of unseeded runs;
        # 1 of 183 in a trial). A seed replays the same routing decisions, so the test's verdicts
        # are reproducible; test_2 shows the check still fails a mesh that really splits 70/30.
        r = self.run_meshproof("run", "--quick", "--seed", SEED, "--out", evidence, "--run-dir",
                               os.path.join(self.dir, "rd"))
        print(r.stderr[-3000:], file=sys.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for check in ("baseline", "split", "retries", "breaker", "chaos latency-service-a",
                      "chaos latency-service-b", "chaos latency-service-c", "chaos kill-random-pod"):
            self.assertRegex(r.stdout, rf"(?m)^{re.escape(check)}\s+PASS\s+\S", check)
        self.assertRegex(r.stdout, r"(?m)^recovery\s+SKIPPED\s+quick plan")
        self.assertRegex(r.stdout, r"(?m)^evidence\s+VERIFIED\s+\d+ records, root [0-9a-f]{16}")
        self.assertRegex(r.stdout, r"meshproof run: PASS in \d+ s")
        # The evidence verifies on its own, with the report and every stage recorded.
        v = self.verify(evidence)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        records = self.ledger(evidence)
        kinds = [x["kind"] for x in records]
        for kind in ("spec", "validation", "chaos-log", "run", "log", "report"):
            self.assertIn(kind, kinds)
        reports = [x["path"] for x in records if x["kind"] == "report"]
        self.assertEqual(len(reports), 2)
        self.assertTrue(reports[0].startswith("reports/") and reports[0].endswith(".md"))
        html = os.path.join(evidence, "artifacts", reports[1])
        self.assertTrue(html.endswith(".html") and os.path.isfile(html))
        with open(os.path.join(evidence, "artifacts", reports[0])) as f:
            md = f.read()
        self.assertIn("# Sprint sprint6", md)
        self.assertIn("| split | PASS |", md)
        # Prometheus ran: every chaos probe records what it saw beside the proxies' numbers.
        seen = []
        for path in [x["path"] for x in records if x["kind"] == "chaos-log"]:
            with open(os.path.join(evidence, "artifacts", path)) as f:
                j = json.load(f)
            probes = [j["steadyStates"]["before"], *j["steadyStates"]["during"]]
            self.assertTrue(all("prometheus" in p for p in probes), path)
            seen += [p["prometheus"] for p in probes if "successPercent" in p["prometheus"]]
        self.assertTrue(seen, "no probe got data from Prometheus")
        self.assertTrue(all(p["successPercent"] >= 95 for p in seen), seen)
        run_json = [x["path"] for x in records if x["kind"] == "run"][0]
        with open(os.path.join(evidence, "artifacts", run_json)) as f:
            summary = json.load(f)
        self.assertEqual(summary["verdict"], "PASS")
        self.assertTrue(summary["quick"])
        # The page in Chromium: charts, no console error, a screenshot kept with the test output.
        out_dir = os.environ.get("MESHPROOF_TEST_OUTPUT", os.path.join(self.dir, "out"))
        os.makedirs(out_dir, exist_ok=True)
        dom, console, shot = self.chromium(html, out_dir)
        self.assertEqual(console, [], "console messages")
        self.assertGreaterEqual(dom.count("<svg"), 8, "charts in the page")
        self.assertIn("Canary split of service-b", dom)
        self.assertIn("Chaos plan: P95 at the ingress", dom)
        self.assertGreater(os.path.getsize(shot), 20000)
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print(f"report screenshot: {shot}", file=sys.stderr)

        # A second run (a short plan) appends to the same ledger; its checkpoint extends the first.
        first_checkpoint = os.path.join(self.dir, "first.ckpt")
        shutil.copy(os.path.join(evidence, "checkpoint"), first_checkpoint)
        r2 = self.run_meshproof("run", "-f", self.write("short.yaml", only_split(default_text())),
                                "--seed", SEED, "--out", evidence, "--run-dir",
                                os.path.join(self.dir, "rd"))
        self.assertEqual(r2.returncode, 0, r2.stdout + r2.stderr)
        after = self.ledger(evidence)
        self.assertEqual(after[:len(records)], records)
        self.assertGreater(len(after), len(records))
        v = self.verify(evidence, "--trusted-checkpoint", first_checkpoint)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        # `meshproof report` rebuilds a run's report from the evidence alone, and records it.
        out = os.path.join(self.dir, "again")
        rep = self.run_meshproof("report", "--evidence", evidence, "--run", summary["runId"],
                                 "--out", out)
        self.assertEqual(rep.returncode, 0, rep.stdout + rep.stderr)
        with open(out + ".md") as f:
            self.assertIn("| retries | PASS |", f.read())
        self.assertEqual(self.verify(evidence).returncode, 0)

    def test_2_a_canary_that_really_splits_70_30_fails_and_says_why(self):
        spec = self.write("mislabelled.yaml", mislabelled(only_split(default_text())))
        lint = self.run_meshproof("lint", "-f", spec)
        self.assertIn("version-label-mismatch", lint.stdout)
        evidence = os.path.join(self.dir, "evidence-bad", "sprint6")
        r = self.run_meshproof("run", "--quick", "-f", spec, "--out", evidence, "--run-dir",
                               os.path.join(self.dir, "rd-bad"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        m = re.search(r"(?m)^split\s+FAIL\s+v1 ([\d.]+) % / v2 ([\d.]+) %", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertGreater(float(m.group(2)), 22)
        self.assertRegex(r.stdout, r"meshproof run: FAIL in \d+ s — split FAIL: .*chi-square")
        records = self.ledger(evidence)
        md = [x["path"] for x in records if x["kind"] == "report" and x["path"].endswith(".md")][0]
        with open(os.path.join(evidence, "artifacts", md)) as f:
            report = f.read()
        self.assertIn("# Sprint sprint6 — run", report)
        self.assertIn(": FAIL", report.splitlines()[0])
        self.assertRegex(report, r"\| split \| FAIL \| v1 .* \| .*chi-square")
        self.assertEqual(self.verify(evidence).returncode, 0)

    def test_3_bad_input_is_exit_2_and_records_nothing_unverifiable(self):
        # An unwritable --out (a file where a directory must go).
        blocker = self.write("a-file", "")
        r = self.run_meshproof("run", "--quick", "--out", os.path.join(blocker, "sprint6"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--out: cannot create", r.stderr)
        self.assertIn("nothing recorded", r.stderr)
        # An invalid spec: named with its line, nothing created.
        bad = self.write("bad.yaml", default_text().replace("weight: 10\n", "weight: -10\n", 1))
        evidence = os.path.join(self.dir, "evidence-invalid", "sprint6")
        r = self.run_meshproof("run", "-f", bad, "--out", evidence)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"bad\.yaml:\d+:\d+: error: VirtualService/service-b")
        self.assertFalse(os.path.exists(evidence))
        # The port it needs is taken: the mesh cannot start; nothing is recorded.
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        taken = self.write("taken.yaml", default_text().replace(
            "  port: 0                      # a free port, printed at start",
            f"  port: {port}", 1))
        evidence = os.path.join(self.dir, "evidence-taken", "sprint6")
        try:
            r = self.run_meshproof("run", "--quick", "-f", taken, "--out", evidence, "--run-dir",
                                   os.path.join(self.dir, "rd-taken"))
        finally:
            held.close()
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(str(port), r.stderr)
        self.assertIn("nothing recorded", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(evidence, "ledger.jsonl")))

    def test_4_console_errors_are_seen(self):
        """Positive control for the Chromium check: a page that throws is caught."""
        page = self.write("throws.html", "<html><body><svg></svg><script>throw new Error("
                                         "'boom')</script></body></html>")
        _, console, _ = self.chromium(page, self.dir)
        self.assertTrue(any("boom" in l for l in console), console)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    SOURCE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
