#!/usr/bin/python3
"""`meshproof validate split` on a real local mesh: it passes on the Sprint 6 canary, fails when the
pods' real split is 85/15 while 90/10 is expected (the positive control), and refuses to pass when
underpowered. Seeded, so every run makes the same routing decisions.

Usage: validate_test.py MESHPROOF_BINARY SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BINARY = None
SOURCE = None


def validate(*args, spec=None, check="split"):
    run_dir = tempfile.mkdtemp(prefix="meshproof-validate-")
    cmd = [BINARY, "validate", check, "--json", "--seed", "7", "--run-dir", run_dir, *args]
    if spec:
        cmd += ["-f", spec]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return r, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else None)


class Split(unittest.TestCase):
    def test_the_sprint6_canary_passes(self):
        r, v = validate()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(v["verdict"], "PASS", v["reason"])
        self.assertEqual(v["unit"], "request")
        self.assertEqual(v["measured"]["plannedSampleSize"], 1068)
        # Every request sent was one first attempt at service-b.
        self.assertEqual(v["measured"]["firstAttempts"], v["inputs"]["requestsSent"])
        self.assertEqual(sum(x["observed"] for x in v["measured"]["versions"].values()),
                         v["measured"]["firstAttempts"])
        self.assertEqual(v["inputs"]["expectedWeights"], {"v1": 90, "v2": 10})
        self.assertGreaterEqual(v["statistics"]["pValue"], 0.01)
        self.assertRegex(v["startTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

    def test_positive_control_85_15_against_90_10_fails(self):
        with open(os.path.join(SOURCE, "examples", "sprint6", "mesh.yaml")) as f:
            text = f.read()
        # The pods really split 85/15 (both routes of service-b).
        text = text.replace("weight: 90\n", "weight: 85\n").replace("weight: 10\n", "weight: 15\n")
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        r, v = validate("--expect", "v1=90,v2=10", spec=path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(v["verdict"], "FAIL", v["reason"])
        self.assertLess(v["statistics"]["pValue"], 0.01)
        share = v["measured"]["versions"]["v2"]["share"]
        self.assertGreater(share, 0.12)

    def test_underpowered_is_inconclusive(self):  # reference anchor 3
        r, v = validate("--requests", "200")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(v["verdict"], "INCONCLUSIVE")
        self.assertIn("at least 1068", v["reason"])

    def test_bad_expectations_exit_2(self):
        r, _ = validate("--expect", "v1=90,v2=zero")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--expect", r.stderr)


def default_text():
    with open(os.path.join(SOURCE, "examples", "sprint6", "mesh.yaml")) as f:
        return f.read()


def write(text):
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class Retries(unittest.TestCase):
    def test_fail_first_2_succeeds_after_exactly_3_attempts(self):
        r, v = validate(check="retries")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(v["verdict"], "PASS", v["reason"])
        self.assertEqual(v["inputs"]["failFirst"], 2)
        self.assertEqual(v["inputs"]["retries"], 3)
        self.assertEqual(v["measured"]["clientStatuses"], {"200": 100})
        self.assertEqual(v["measured"]["firstAttempts"], 100)
        self.assertEqual(v["measured"]["retryAttempts"], 200)
        self.assertEqual(v["measured"]["attemptsPerRequest"], 3.0)
        # The hanging half: 4 tries cut at 2 s each, then 504 UT, within the 10 s route timeout.
        hang = v["hanging"]
        self.assertEqual(hang["verdict"], "PASS", v["reason"])
        self.assertEqual(hang["status"], 504)
        self.assertEqual(hang["perTryTimeouts"], 4)
        self.assertEqual(hang["utResponses"], 1)
        self.assertGreaterEqual(hang["elapsedMs"], 8000)
        self.assertLess(hang["elapsedMs"], 10000)

    def test_positive_control_retries_disabled_fails(self):
        text = default_text()
        block = "      retries:\n        attempts: 3\n        perTryTimeout: 2s\n        retryOn: 5xx,reset,connect-failure\n"
        self.assertIn(block, text)
        path = write(text.replace(block, "      retries:\n        attempts: 0\n"))
        r, v = validate("--expect-retries", "3", spec=path, check="retries")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(v["verdict"], "FAIL")
        self.assertEqual(v["measured"]["retryAttempts"], 0)
        self.assertIn("0 of 100 requests ended with 200", v["reason"])


if __name__ == "__main__":
    BINARY, SOURCE = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
