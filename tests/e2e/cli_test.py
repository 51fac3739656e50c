#!/usr/bin/python3
"""The meshproof CLI as a user runs it: exit codes, what is printed, and where.

Usage: cli_test.py MESHPROOF_BINARY SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BINARY = None
SOURCE = None


def run(*args, cwd=None):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def default_text():
    with open(os.path.join(SOURCE, "examples", "sprint6", "mesh.yaml"), encoding="utf-8") as f:
        return f.read()


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="meshproof-e2e-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_lint_default_prints_nothing_and_exits_0(self):
        r = run("lint")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "")

    def test_lint_the_example_file_equals_the_embedded_default(self):
        r = run("lint", "-f", os.path.join(SOURCE, "examples", "sprint6", "mesh.yaml"))
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

    def test_lint_warns_on_ejection_cap_with_its_line(self):
        text = default_text().replace("maxEjectionPercent: 100", "maxEjectionPercent: 10", 1)
        path = self.write("mesh.yaml", text)
        line = text[: text.index("maxEjectionPercent: 10")].count("\n") + 1
        r = run("lint", "-f", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"{path}:{line}:", r.stdout)
        self.assertIn("warning[ejection-cap]", r.stdout)
        self.assertIn("DestinationRule/service-b", r.stdout)
        self.assertIn("0 errors, 1 warning", r.stdout)

    def test_lint_error_exits_2_with_file_line_and_path(self):
        text = default_text().replace("weight: 10\n", "weight: -10\n", 1)
        path = self.write("mesh.yaml", text)
        line = text[: text.index("weight: -10")].count("\n") + 1
        r = run("lint", "-f", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{path}:{line}:", r.stdout)
        self.assertIn("error: VirtualService/service-b spec.http[0].route[1].weight", r.stdout)

    def test_lint_json(self):
        text = default_text().replace("maxEjectionPercent: 100", "maxEjectionPercent: 10", 1)
        r = run("lint", "--json", "-f", self.write("mesh.yaml", text))
        self.assertEqual(r.returncode, 0)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["errors"], 0)
        self.assertEqual(doc["warnings"], 1)
        self.assertEqual(doc["diagnostics"][0]["rule"], "ejection-cap")
        self.assertGreater(doc["diagnostics"][0]["line"], 0)

    def test_lint_directory_and_repeated_f(self):
        text = default_text()
        split = text.index("# The canary")
        sprint = text.index("apiVersion: meshproof.dev/v1alpha1\nkind: Sprint")
        d = os.path.join(self.tmp, "istio")
        os.mkdir(d)
        with open(os.path.join(d, "routes.yaml"), "w", encoding="utf-8") as f:
            f.write(text[split:sprint])
        local = self.write("local.yaml", text[:split] + text[sprint:])
        r = run("lint", "-f", d, "-f", local)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        # Either part alone is incomplete: the routes name workloads and subsets of the other part.
        r = run("lint", "-f", d)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("has no Workload", r.stdout)

    def test_lint_reads_standard_input(self):
        text = default_text().replace("weight: 10\n", "weight: -10\n", 1)
        r = subprocess.run([BINARY, "lint", "-f", "-"], input=text, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("<stdin>:", r.stdout)
        self.assertIn("spec.http[0].route[1].weight", r.stdout)

    def test_lint_missing_file_exits_2(self):
        r = run("lint", "-f", os.path.join(self.tmp, "nope.yaml"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.yaml: no such file or directory", r.stdout)

    def test_help_lists_every_subcommand(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in ["run", "up", "proxy", "lint", "load", "validate", "chaos", "schedule",
                    "evidence", "report", "render"]:
            self.assertIn(cmd, r.stdout)
            sub = run(cmd, "--help")
            self.assertEqual(sub.returncode, 0, cmd)
            self.assertIn("Usage", sub.stdout, cmd)

    def test_proxy_on_the_default_spec_explains_what_it_needs(self):
        # The default spec's hosts are Workload pods, which `meshproof up` runs; the proxy alone
        # forwards to ServiceEntry endpoints.
        path = os.path.join(SOURCE, "examples", "sprint6", "mesh.yaml")
        r = run("proxy", "-f", path)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("has no ServiceEntry endpoints", r.stderr)

    def test_proxy_with_a_bad_spec_exits_2(self):
        text = default_text().replace("weight: 10\n", "weight: -10\n", 1)
        r = run("proxy", "-f", self.write("mesh.yaml", text))
        self.assertEqual(r.returncode, 2)
        self.assertIn("spec.http[0].route[1].weight", r.stderr)

    def test_proxy_admin_off_loopback_needs_a_token(self):
        spec = self.write("se.yaml", """apiVersion: meshproof.dev/v1alpha1
kind: Gateway
metadata: {name: ingress}
spec: {address: 127.0.0.1, port: 0, host: api.local}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.local]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: 9}}]
""")
        r = run("proxy", "-f", spec, "--admin-address", "0.0.0.0")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("requires a bearer token", r.stderr)

    def test_usage_errors_exit_2(self):
        for args in [[], ["bogus"], ["validate", "nonsense"], ["lint", "--no-such-flag"], ["proxy"]]:
            r = run(*args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))

    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertIn("meshproof", r.stdout)


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv[1])
    SOURCE = os.path.abspath(sys.argv[2])
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
