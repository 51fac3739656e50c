#!/usr/bin/python3
"""`meshproof render`: the committed monitoring/ is exactly what the default spec renders; promtool
accepts the config and rules and passes every rule test; the dashboards validate against Grafana's
JSON Schema and their queries parse; the Istio resources validate against Istio's CRD schemas and
the Kubernetes objects are well formed; bad input is refused without writing anything. Each check
is also run on a broken copy to show it fails (positive controls).

Usage: monitoring_test.py MESHPROOF_BINARY SOURCE_DIR
"""
import copy
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import jsonschema
import yaml

BINARY = None
SOURCE = None


def shared_dir():
    d = os.environ.get("MESHPROOF_SHARED_DIR") or os.path.join(SOURCE, "..", "shared")
    if not os.path.isdir(os.path.join(d, "schemas")):
        raise AssertionError(f"no schemas under {d} (set MESHPROOF_SHARED_DIR)")
    return d


def render(*args):
    return subprocess.run([BINARY, "render", *args], capture_output=True, text=True, timeout=60)


def tree(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = path
    return out


def drift(committed, fresh):
    """Differences between two monitoring trees, as readable lines (empty: identical)."""
    a, b = tree(committed), tree(fresh)
    problems = [f"only in {committed}: {p}" for p in sorted(set(a) - set(b))]
    problems += [f"missing from {committed}: {p}" for p in sorted(set(b) - set(a))]
    problems += [f"differs: {p}" for p in sorted(set(a) & set(b))
                 if not filecmp.cmp(a[p], b[p], shallow=False)]
    return problems


def promtool(*args, cwd=None):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def dashboard_exprs(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def check_dashboard_queries(dashboard, workdir):
    """promtool parses every panel query (as recording rules, $__rate_interval -> 1m)."""
    rules = [{"record": f"dashboard:panel{i}", "expr": expr.replace("$__rate_interval", "1m")}
             for i, (_, expr) in enumerate(dashboard_exprs(dashboard))]
    path = os.path.join(workdir, "dashboard-queries.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    return promtool("check", "rules", path)


class Monitoring(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="meshproof-render-")
        self.committed = os.path.join(SOURCE, "monitoring")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def fresh(self, *args):
        out = os.path.join(self.dir, "fresh")
        r = render("--out", out, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    # --- the committed files are the render of the default spec
    def test_committed_monitoring_is_the_render_of_the_default_spec(self):
        fresh = self.fresh()
        problems = drift(self.committed, fresh)
        self.assertEqual(problems, [], "monitoring/ drifted from `meshproof render`; run "
                         "`build/release/meshproof render` and commit:\n" + "\n".join(problems))
        # Positive control: an edited, an extra and a removed file are all seen.
        edited = os.path.join(self.dir, "edited")
        shutil.copytree(self.committed, edited)
        with open(os.path.join(edited, "prometheus/rules/sprint6-lab.yaml"), "a") as f:
            f.write("# hand edit\n")
        open(os.path.join(edited, "istio/extra.yaml"), "w").close()
        os.remove(os.path.join(edited, "runbooks.md"))
        found = drift(edited, fresh)
        self.assertIn("differs: prometheus/rules/sprint6-lab.yaml", found)
        self.assertIn(f"only in {edited}: istio/extra.yaml", found)
        self.assertIn(f"missing from {edited}: runbooks.md", found)

    def test_render_is_deterministic(self):
        a = self.fresh()
        b = os.path.join(self.dir, "again")
        self.assertEqual(render("--out", b).returncode, 0)
        self.assertEqual(drift(a, b), [])

    # --- promtool
    def test_promtool_checks_config_and_rules_and_passes_every_rule_test(self):
        prom = os.path.join(self.committed, "prometheus")
        r = promtool("check", "config", "prometheus.yml", cwd=prom)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 1 rule files found", r.stdout)
        rule_files = sorted(os.path.join(prom, "rules", f) for f in os.listdir(os.path.join(prom, "rules")))
        self.assertEqual([os.path.basename(f) for f in rule_files],
                         ["sprint6-cluster.yaml", "sprint6-lab.yaml"])
        r = promtool("check", "rules", "--lint=all", "--lint-fatal", *rule_files)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        tests = sorted(os.path.join(prom, "tests", f) for f in os.listdir(os.path.join(prom, "tests")))
        r = promtool("test", "rules", *tests)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("SUCCESS"), 2, r.stdout)

    def test_every_alert_has_conventions_and_firing_and_silent_tests(self):
        expected = ["MeshHighLatencyP95", "MeshHighErrorRate", "MeshLowThroughput",
                    "MeshOutlierEjection", "MeshCircuitBreakerOverflow", "MeshNoHealthyUpstream"]
        for profile in ("cluster", "lab"):
            with open(os.path.join(self.committed, f"prometheus/rules/sprint6-{profile}.yaml")) as f:
                rules = yaml.safe_load(f)["groups"][0]["rules"]
            self.assertEqual([r["alert"] for r in rules], expected)
            for r in rules:
                self.assertIn(r["labels"]["severity"], ("warning", "critical"), r["alert"])
                for key in ("summary", "description", "runbook_url"):
                    self.assertTrue(r["annotations"].get(key), f"{r['alert']}: {key}")
                anchor = r["annotations"]["runbook_url"].split("#")[1]
                with open(os.path.join(self.committed, "runbooks.md")) as f:
                    self.assertIn(f"## {r['alert']}", f.read())
                self.assertEqual(anchor, r["alert"].lower())
            with open(os.path.join(self.committed, f"prometheus/tests/sprint6-{profile}-test.yaml")) as f:
                tests = yaml.safe_load(f)["tests"]
            for alert in expected:
                checks = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == alert]
                self.assertTrue(any(c["exp_alerts"] for c in checks), f"{profile}: {alert} never fires")
                self.assertTrue(any(not c["exp_alerts"] for c in checks),
                                f"{profile}: {alert} has no silent case")
        # Lab alerts fire within a minute: window + for stays under 60 s.
        with open(os.path.join(self.committed, "prometheus/rules/sprint6-lab.yaml")) as f:
            for r in yaml.safe_load(f)["groups"][0]["rules"]:
                window = max([int(w) for w in re.findall(r"\[(\d+)s\]", r["expr"])] or [0])
                self.assertLess(window + int(r["for"].rstrip("s")), 60, r["alert"])

    def test_rule_tests_fail_when_the_rules_are_broken(self):
        """Positive control: the generated promtool tests catch a wrong threshold, a dropped
        `for:`, a wrong label and a missing absent() guard."""
        base = os.path.join(self.dir, "broken")
        shutil.copytree(os.path.join(self.committed, "prometheus"), base)
        lab = os.path.join(base, "rules/sprint6-lab.yaml")
        with open(lab) as f:
            original = f.read()
        mutations = {
            "latency threshold 500 -> 5000": (") > 500\n", ") > 5000\n"),
            "error ratio 0.05 -> 0.9": ("> 0.05", "> 0.9"),
            "latency for 10s -> 0s": ("for: 10s", "for: 0s"),
            "severity critical -> warning": ("severity: critical", "severity: warning"),
            "absent() of service-a made vacuous": (
                'absent(istio_requests_total{reporter="destination",destination_service_namespace='
                '"default",destination_service_name="service-a"})', "absent(vector(1))"),
            "ejection gauge > 0 -> > 1": ("ejections_active) > 0", "ejections_active) > 1"),
            "UO flag -> UX": ("UO(,.*)?", "UX(,.*)?"),
        }
        test = os.path.join(base, "tests/sprint6-lab-test.yaml")
        for what, (old, new) in mutations.items():
            self.assertIn(old, original, what)
            with open(lab, "w") as f:
                f.write(original.replace(old, new))
            r = promtool("test", "rules", test)
            self.assertNotEqual(r.returncode, 0, f"promtool test passed with {what}")
        with open(lab, "w") as f:
            f.write(original)
        self.assertEqual(promtool("test", "rules", test).returncode, 0)

    # --- Grafana
    def test_dashboard_validates_against_grafana_schema_and_its_queries_parse(self):
        schemas = os.path.join(shared_dir(), "schemas")
        with open(os.path.join(schemas, "grafana-dashboard.jsonschema.json")) as f:
            schema = json.load(f)
        panel_schemas = {}
        for kind in ("timeseries", "stat"):
            with open(os.path.join(schemas, f"grafana-{kind}.jsonschema.json")) as f:
                s = json.load(f)
            panel_schemas[kind] = dict(s, **{"$ref": "#/definitions/Options"})
        path = os.path.join(self.committed, "grafana/dashboards/service-c.json")
        with open(path) as f:
            dashboard = json.load(f)
        jsonschema.validate(dashboard, schema)
        for panel in dashboard["panels"]:
            if panel["type"] in panel_schemas:
                jsonschema.validate(panel["options"], panel_schemas[panel["type"]])
        titles = [p["title"] for p in dashboard["panels"]]
        for want in ("P95 latency", "Throughput", "Success rate", "P50 latency", "P99 latency",
                     "Requests per version", "Response codes", "Ejected hosts"):
            self.assertIn(want, titles)
        self.assertEqual(titles[:3], ["P95 latency", "Throughput", "Success rate"])
        ids = [p["id"] for p in dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)))
        for p in dashboard["panels"]:
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
        for title, expr in dashboard_exprs(dashboard):
            want = "service-c" if "cluster_name" in expr else 'destination_service_name="service-c"'
            self.assertIn(want, expr, title)
        r = check_dashboard_queries(dashboard, self.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Positive controls: an unknown key and a broken query are caught.
        bad = copy.deepcopy(dashboard)
        bad["style"] = "dark"
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        bad = copy.deepcopy(dashboard)
        bad["panels"][0]["targets"][0]["expr"] = "sum by (le (rate(x[1m]))"
        self.assertNotEqual(check_dashboard_queries(bad, self.dir).returncode, 0)
        for kind in ("datasources", "dashboards"):
            d = os.path.join(self.committed, "grafana/provisioning", kind)
            for name in os.listdir(d):
                with open(os.path.join(d, name)) as f:
                    doc = yaml.safe_load(f)
                self.assertEqual(doc["apiVersion"], 1)
        with open(os.path.join(self.committed, "grafana/provisioning/datasources/prometheus.yaml")) as f:
            ds = yaml.safe_load(f)["datasources"][0]
        self.assertEqual(ds["uid"], "prometheus")

    # --- Istio and Kubernetes
    def test_istio_resources_validate_against_the_crd_schemas(self):
        with open(os.path.join(shared_dir(), "schemas/istio-networking-crd-schemas.json")) as f:
            crds = json.load(f)
        kinds = {}
        for name in sorted(os.listdir(os.path.join(self.committed, "istio"))):
            with open(os.path.join(self.committed, "istio", name)) as f:
                for doc in yaml.safe_load_all(f):
                    kinds.setdefault(doc["kind"], []).append(doc)
                    if doc["apiVersion"].startswith("networking.istio.io/"):
                        version = doc["apiVersion"].split("/")[1]
                        jsonschema.validate({"spec": doc["spec"]}, crds[doc["kind"]][version])
        self.assertEqual(sorted(kinds), ["Deployment", "DestinationRule", "Service", "VirtualService"])
        vs = kinds["VirtualService"][0]
        weights = [d["weight"] for d in vs["spec"]["http"][0]["route"]]
        self.assertEqual(weights, [90, 10])
        self.assertEqual(vs["spec"]["http"][0]["retries"],
                         {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset,connect-failure"})
        dr = kinds["DestinationRule"][0]
        self.assertEqual(dr["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"], 5)
        # Positive control: a negative weight and a string where a number belongs are refused.
        bad = copy.deepcopy(vs)
        bad["spec"]["http"][0]["route"][0]["weight"] = "ninety"
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate({"spec": bad["spec"]}, crds["VirtualService"]["v1"])
        # Deployments select the labels the DestinationRule subsets use; Services cover each app.
        subsets = {s["name"]: s["labels"] for s in dr["spec"]["subsets"]}
        deployments = {d["metadata"]["name"]: d for d in kinds["Deployment"]}
        self.assertEqual(sorted(deployments), ["service-a", "service-b-v1", "service-b-v2", "service-c"])
        for d in deployments.values():
            self.assertEqual(d["apiVersion"], "apps/v1")
            sel = d["spec"]["selector"]["matchLabels"]
            pod = d["spec"]["template"]["metadata"]["labels"]
            self.assertTrue(all(pod[k] == v for k, v in sel.items()), d["metadata"]["name"])
            self.assertIn("outlier_detection",
                          d["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"])
            self.assertIsInstance(pod["sidecar.istio.io/inject"], str)
        self.assertEqual(deployments["service-b-v1"]["spec"]["replicas"], 2)
        for name, labels in subsets.items():
            matching = [d for d in deployments.values() if d["metadata"]["labels"]["app"] == "service-b"
                        and all(d["spec"]["template"]["metadata"]["labels"].get(k) == v
                                for k, v in labels.items())]
            self.assertEqual(len(matching), 1, name)
        services = {s["metadata"]["name"]: s for s in kinds["Service"]}
        self.assertEqual(sorted(services), ["service-a", "service-b", "service-c"])
        for s in services.values():
            self.assertEqual(s["spec"]["ports"][0]["name"], "http")
            self.assertEqual(s["spec"]["selector"], {"app": s["metadata"]["name"]})

    def test_a_users_quoted_strings_and_unsimulated_fields_survive(self):
        spec = os.path.join(self.dir, "mine.yaml")
        with open(spec, "w") as f:
            f.write("""apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: my-api}
spec:
  hosts: [my-api.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints:
    - {address: 127.0.0.1, ports: {http: 9000}, labels: {version: v1, canary: "true"}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: my-api}
spec:
  host: my-api.local
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
""")
        out = self.fresh("-f", spec)
        with open(os.path.join(out, "istio/serviceentry-my-api.yaml")) as f:
            se = yaml.safe_load(f)
        self.assertEqual(se["spec"]["endpoints"][0]["labels"]["canary"], "true")
        with open(os.path.join(out, "istio/destinationrule-my-api.yaml")) as f:
            dr = yaml.safe_load(f)
        self.assertEqual(dr["spec"]["trafficPolicy"]["tls"], {"mode": "ISTIO_MUTUAL"})
        self.assertFalse(os.path.exists(os.path.join(out, "prometheus")))

    def test_rendered_thresholds_follow_the_spec(self):
        with open(os.path.join(SOURCE, "examples/sprint6/mesh.yaml")) as f:
            text = f.read()
        spec = os.path.join(self.dir, "tight.yaml")
        with open(spec, "w") as f:
            f.write(text.replace("latencyP95: 500ms", "latencyP95: 250ms")
                        .replace("errorRatePercent: 5", "errorRatePercent: 1"))
        out = self.fresh("-f", spec)
        with open(os.path.join(out, "prometheus/rules/sprint6-lab.yaml")) as f:
            rules = {r["alert"]: r for r in yaml.safe_load(f)["groups"][0]["rules"]}
        self.assertTrue(rules["MeshHighLatencyP95"]["expr"].endswith("> 250"))
        self.assertIn(") > 0.01\n", rules["MeshHighErrorRate"]["expr"])
        r = promtool("test", "rules", os.path.join(out, "prometheus/tests/sprint6-lab-test.yaml"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # --- bad input
    def test_unwritable_out_is_exit_2_and_writes_nothing(self):
        blocker = os.path.join(self.dir, "a-file")
        open(blocker, "w").close()
        r = render("--out", os.path.join(blocker, "monitoring"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot create the output directory", r.stderr)
        self.assertIn("nothing written", r.stderr)
        # A directory in the way of one file: every other file keeps its old content.
        out = os.path.join(self.dir, "existing")
        os.makedirs(os.path.join(out, "runbooks.md"))
        os.makedirs(os.path.join(out, "prometheus"))
        with open(os.path.join(out, "prometheus/prometheus.yml"), "w") as f:
            f.write("old\n")
        r = render("--out", out)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("runbooks.md", r.stderr)
        with open(os.path.join(out, "prometheus/prometheus.yml")) as f:
            self.assertEqual(f.read(), "old\n")
        self.assertEqual(sorted(tree(out)), ["prometheus/prometheus.yml"])

    def test_invalid_spec_is_exit_2_with_its_location_and_writes_nothing(self):
        spec = os.path.join(self.dir, "bad.yaml")
        with open(os.path.join(SOURCE, "examples/sprint6/mesh.yaml")) as f:
            text = f.read()
        with open(spec, "w") as f:
            f.write(text.replace("weight: 10\n", "weight: -10\n", 1))
        out = os.path.join(self.dir, "out")
        r = render("-f", spec, "--out", out)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"bad\.yaml:\d+:\d+: error: VirtualService/service-b "
                                   r"spec\.http\[0\]\.route\[1\]\.weight")
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    SOURCE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
