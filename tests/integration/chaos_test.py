#!/usr/bin/python3
"""`meshproof chaos` on a real local mesh:
- latency fidelity at the ingress: 200 ms at 100 % adds a median within +-5 % of 200 ms; at 50 %
  the delayed share lies in the 99 % binomial interval around 0.5;
- SIGINT mid-fault: the fault is gone from every proxy's /config_dump (checked here while the mesh
  lingers), the journal says interrupted, exit 130; SIGINT mid-kill: the killed pod is back;
- the same seed kills the same pods in the same order;
- journals recorded with --evidence verify in the ledger; bad input exits 2.

Usage: chaos_test.py MESHPROOF_BINARY SOURCE_DIR
"""
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BINARY = None
SOURCE = None


def chaos(*args, env=None, timeout=240):
    run_dir = tempfile.mkdtemp(prefix="meshproof-chaos-")
    r = subprocess.run([BINARY, "chaos", *args, "--json", "--run-dir", run_dir],
                       capture_output=True, text=True, timeout=timeout, env=env)
    return r, (json.loads(r.stdout) if r.stdout.strip().startswith(("{", "[")) else None)


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return json.loads(resp.read())


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Started:
    """A chaos run in the background, with its stderr readable as it goes."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="meshproof-chaos-")
        self.journal = os.path.join(self.dir, "journal.json")
        self.err_path = os.path.join(self.dir, "stderr")
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen([BINARY, "chaos", *args, "--journal", self.journal,
                                   "--run-dir", self.dir, "--linger", "60s"],
                                  stdout=subprocess.DEVNULL, stderr=self.err)

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def control_port(self):
        def port():
            text = self.stderr()
            marker = "control plane http://127.0.0.1:"
            if marker in text:
                return int(text.split(marker, 1)[1].split(",", 1)[0])
            return None
        return wait_for(port, 60, "the control plane's port")

    def finish(self):
        try:
            self.p.wait(timeout=60)
        finally:
            self.err.close()
        with open(self.journal) as f:
            return json.load(f)


class Latency(unittest.TestCase):
    def test_200ms_at_100_percent_adds_200ms(self):
        r, j = chaos("latency", "--target", "service-c", "--delay", "200ms", "--percentage",
                     "100", "--duration", "5s", "--seed", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(j["status"], "completed", j.get("reason"))
        f = j["fidelity"]
        self.assertGreater(f["requestsWithFault"], 100)
        self.assertLess(abs(f["addedMedianMs"] - 200), 10, f)  # within +-5 %
        self.assertEqual(f["delayedShare"], 1.0)
        self.assertEqual(j["afterRollback"], {"proxiesChecked": 8, "faultsLeft": 0})
        self.assertTrue(all(p["met"] for p in j["steadyStates"]["during"]))
        self.assertTrue(j["steadyStates"]["after"]["met"])

    def test_50_percent_delays_half_within_the_binomial_interval(self):
        r, j = chaos("latency", "--target", "service-b", "--delay", "200ms", "--percentage", "50",
                     "--duration", "5s", "--seed", "4")
        self.assertEqual(r.returncode, 0, r.stderr)
        f = j["fidelity"]
        n = f["requestsWithFault"]
        self.assertGreater(n, 100)
        half_width = 2.5758 * math.sqrt(0.25 / n)  # 99 %, normal approximation of the binomial
        self.assertLess(abs(f["delayedShare"] - 0.5), half_width, f)

    def test_jitter_spreads_the_delay_uniformly_around_it(self):
        r, j = chaos("latency", "--target", "service-c", "--delay", "100ms", "--jitter", "20ms",
                     "--duration", "5s", "--seed", "8")
        self.assertEqual(r.returncode, 0, r.stderr)
        f = j["fidelity"]
        self.assertIn("uniform", j["experiment"]["delayModel"])
        n = f["requestsWithFault"]
        self.assertGreater(n, 100)
        # Centred on 100 ms, by the median: one request slowed by a busy machine moves the mean of
        # a few hundred by milliseconds (it failed a +-5 ms mean check in CI once), not the median.
        # The median's standard error for a uniform 40 ms wide is 20 / sqrt(n) ms (1 / (2 f
        # sqrt(n)), density f = 1/40 per ms): 4.5 of them, plus 1 ms for the histogram's buckets
        # (1/128 of the value) and the baseline's median.
        self.assertLess(abs(f["addedMedianMs"] - 100), 4.5 * 20 / math.sqrt(n) + 1, f)
        # Every delayed request took at least 80 ms more than the fastest baseline one, and the
        # spread is visible: some near 80, some near 120.
        self.assertGreaterEqual(f["faultMinMs"], 80, f)
        self.assertGreater(f["faultMaxMs"] - f["faultMinMs"], 25, f)

    def test_positive_control_zero_percent_delays_nothing(self):
        r, j = chaos("latency", "--target", "service-c", "--delay", "200ms", "--percentage", "0",
                     "--duration", "3s", "--seed", "5")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(j["fidelity"]["delayedShare"], 0.0)
        self.assertLess(abs(j["fidelity"]["addedMedianMs"]), 20)


class Interrupt(unittest.TestCase):
    def test_sigint_mid_fault_removes_it_from_every_proxy(self):
        run = Started("latency", "--target", "service-b", "--duration", "60s", "--seed", "6")
        cp = run.control_port()
        wait_for(lambda: get(cp, "/faults"), 60, "the fault to be applied")
        run.p.send_signal(signal.SIGINT)
        wait_for(lambda: "lingering" in run.stderr(), 60, "the rollback")
        proxies = get(cp, "/config_dump")["proxies"]
        self.assertEqual(len(proxies), 8)
        for name, p in proxies.items():
            self.assertEqual(get(p["adminPort"], "/config_dump")["faults"], [], name)
        self.assertEqual(get(cp, "/faults"), [])
        run.p.send_signal(signal.SIGINT)  # ends the linger
        j = run.finish()
        self.assertEqual(run.p.returncode, 130)
        self.assertEqual(j["status"], "interrupted")
        self.assertEqual(j["rollbacks"][0]["action"], "remove-fault")
        self.assertEqual(j["rollbacks"][0]["status"], "succeeded")

    def test_sigint_mid_kill_brings_the_pod_back(self):
        run = Started("kill", "--target", "service-c", "--duration", "60s", "--seed", "6")
        cp = run.control_port()
        victim = wait_for(lambda: [p for p in get(cp, "/pods") if p["restarts"] > 0], 60,
                          "the kill")[0]["name"]
        run.p.send_signal(signal.SIGINT)
        wait_for(lambda: "lingering" in run.stderr(), 60, "the rollback")
        pods = {p["name"]: p for p in get(cp, "/pods")}
        self.assertTrue(all(p["ready"] for p in pods.values()), pods)
        self.assertGreaterEqual(pods[victim]["restarts"], 1)
        run.p.send_signal(signal.SIGINT)
        j = run.finish()
        self.assertEqual(j["status"], "interrupted")
        self.assertEqual(j["selectedPods"], [victim])
        self.assertEqual(j["rollbacks"][0], {**j["rollbacks"][0], "action": "await-pod-ready",
                                             "pod": victim, "status": "succeeded"})


class Seeds(unittest.TestCase):
    def test_the_same_seed_kills_the_same_pods_in_the_same_order(self):
        args = ["kill", "--target", "service-b", "--mode", "fixed", "--value", "2", "--duration",
                "1s", "--seed", "11"]
        _, a = chaos(*args)
        _, b = chaos(*args)
        self.assertEqual(len(a["selectedPods"]), 2)
        self.assertEqual(a["selectedPods"], b["selectedPods"])
        self.assertEqual([x["pod"] for x in a["run"]], a["selectedPods"])


class KillRecovery(unittest.TestCase):
    def test_a_kill_is_followed_by_the_recovery_validation(self):
        r, j = chaos("kill", "--target", "service-b", "--version", "v2", "--duration", "13s",
                     "--rate", "100", "--seed", "9")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(j["selectedPods"], ["service-b-v2-0"])
        rec = j["recovery"]
        self.assertEqual(rec["verdict"], "PASS", rec["reason"])
        self.assertEqual(rec["successRatePercent"], 99.9)
        self.assertEqual(rec["windowMs"], 10000)
        self.assertIsNotNone(rec["recoveredAfterMs"])
        self.assertLess(rec["recoveredAfterMs"], 60000)
        self.assertGreater(rec["requestsAfterKill"], 1000)


class Evidence(unittest.TestCase):
    def test_journals_are_recorded_and_verify(self):
        root = tempfile.mkdtemp(prefix="meshproof-chaos-evidence-")
        env = dict(os.environ, MESHPROOF_KEY_DIR=os.path.join(root, "keys"),
                   XDG_STATE_HOME=os.path.join(root, "state"))
        ev = os.path.join(root, "sprint6")
        seed_file = os.path.join(root, "start.txt")
        with open(seed_file, "w") as f:
            f.write("sprint start\n")
        subprocess.run([BINARY, "evidence", "add", ev, seed_file, "--kind", "note"], env=env,
                       check=True, capture_output=True)
        r, j = chaos("latency", "--target", "service-a", "--duration", "2s", "--evidence", ev,
                     env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("journals recorded", r.stderr)
        v = subprocess.run([BINARY, "evidence", "verify", ev, "--json", "--no-state"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout)
        self.assertEqual(json.loads(v.stdout)["size"], 2)
        log = subprocess.run([BINARY, "evidence", "log", ev, "--json"], env=env,
                             capture_output=True, text=True).stdout.splitlines()
        self.assertEqual(json.loads(log[1])["kind"], "chaos-log")


class Schedule(unittest.TestCase):
    def test_once_runs_the_plan_and_records_verified_evidence(self):
        root = tempfile.mkdtemp(prefix="meshproof-schedule-")
        with open(os.path.join(SOURCE, "examples", "sprint6", "mesh.yaml")) as f:
            text = f.read()
        short = text.replace("duration: 20s}", "duration: 2s}").replace("duration: 30s}",
                                                                          "duration: 2s}")
        self.assertEqual(short.count("duration: 2s}"), 4)
        # This test is about the schedule and its evidence, not the SLO: a loose hypothesis, so a
        # machine loaded by the other tests (asan, in parallel) does not fail the steady state.
        short = short.replace("latencyP95: 500ms", "latencyP95: 10s").replace(
            "errorRatePercent: 5", "errorRatePercent: 50")
        self.assertIn("latencyP95: 10s", short)
        spec = os.path.join(root, "mesh.yaml")
        with open(spec, "w") as f:
            f.write(short)
        env = dict(os.environ, MESHPROOF_KEY_DIR=os.path.join(root, "keys"),
                   XDG_STATE_HOME=os.path.join(root, "state"))
        ev = os.path.join(root, "evidence", "sprint6")
        r = subprocess.run([BINARY, "schedule", "-f", spec, "--once", "--evidence", ev,
                            "--run-dir", os.path.join(root, "run")], capture_output=True,
                           text=True, env=env, timeout=300)
        journal_dir = os.path.join(root, "run", "chaos")
        for name in sorted(os.listdir(journal_dir)) if os.path.isdir(journal_dir) else []:
            with open(os.path.join(journal_dir, name)) as f:
                j = json.load(f)
            self.assertEqual(j["status"], "completed", json.dumps(j, indent=1))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("verified, 7 records", r.stdout)
        log = [json.loads(x) for x in subprocess.run(
            [BINARY, "evidence", "log", ev, "--json"], env=env, capture_output=True,
            text=True).stdout.splitlines()]
        self.assertEqual([x["kind"] for x in log],
                         ["chaos-log"] * 4 + ["report", "report", "schedule"])
        self.assertEqual([x["path"].rsplit(".", 1)[1] for x in log if x["kind"] == "report"],
                         ["md", "html"])
        journals = sorted(os.listdir(os.path.join(ev, "artifacts", "chaos")))
        names = []
        for name in journals:
            with open(os.path.join(ev, "artifacts", "chaos", name)) as f:
                j = json.load(f)
            self.assertEqual(j["status"], "completed", name)
            self.assertEqual(j["seed"], 6)
            names.append(j["experiment"]["name"])
        self.assertEqual(sorted(names), ["kill-random-pod", "latency-service-a",
                                         "latency-service-b", "latency-service-c"])
        v = subprocess.run([BINARY, "evidence", "verify", ev, "--strict", "--no-state"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout)


class BadInput(unittest.TestCase):
    def test_bad_input_exits_2(self):
        for args, needle in [(["latency"], "--target"),
                             (["latency", "--target", "service-c", "--duration", "0s"],
                              "--duration"),
                             (["kill", "--target", "service-c", "--mode", "half"], "--mode"),
                             (["run", "no-such-experiment"], "no experiment named"),
                             (["latency", "--target", "service-z"], "unknown service"),
                             (["latency", "--target", "service-c", "--percentage", "150"],
                              "--percentage"),
                             (["latency", "--target", "service-c", "--duration", "-5s"],
                              "--duration"),
                             (["kill", "--target", "service-b", "--version", "v9"],
                              "no pod of service-b version v9 to kill"),
                             (["explode"], "latency, kill, run NAME or plan")]:
            r, _ = chaos(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(needle, r.stderr, args)


if __name__ == "__main__":
    BINARY, SOURCE = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
