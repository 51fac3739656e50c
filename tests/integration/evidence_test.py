#!/usr/bin/python3
"""`meshproof evidence` as a user and an auditor run it:
- add / verify / log / prove on a fresh sprint directory, the signing key created 0600 outside it;
- the proof checked by meshproof's standalone check and, independently, here: the leaf hash and
  audit path in Python (RFC 9162 §2.1.3.2) and the checkpoint's Ed25519 signature by `openssl
  pkeyutl -verify -rawin`;
- crash injection: `evidence add` SIGKILLed at random moments 200 times; verify never reports an
  error, only crash warnings, and the next append repairs them (verify --strict then exits 0);
- bad input: a missing or unreadable key, a missing file -> exit 2 with the reason.

Usage: evidence_test.py MESHPROOF_BINARY
"""
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BINARY = None


class Env:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="meshproof-evidence-")
        self.env = dict(os.environ, MESHPROOF_KEY_DIR=os.path.join(self.root, "keys"),
                        XDG_STATE_HOME=os.path.join(self.root, "state"))
        self.dir = os.path.join(self.root, "evidence", "sprint6")

    def run(self, *args, timeout=60):
        return subprocess.run([BINARY, "evidence", *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def file(self, name, content):
        path = os.path.join(self.root, name)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
        return path


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 §2.1.3.2, written here independently of meshproof."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


class Evidence(unittest.TestCase):
    def setUp(self):
        self.e = Env()

    def tearDown(self):
        shutil.rmtree(self.e.root, ignore_errors=True)

    def test_add_verify_log_prove_and_an_independent_check(self):
        e = self.e
        junit = e.file("unit.junit.xml", "<testsuite tests='3'/>\n")
        metrics = e.file("snapshot.json", json.dumps({"rps": 100}))
        r = e.run("add", e.dir, junit, "--kind", "test-result")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("created the signing key", r.stderr)
        key = os.path.join(e.root, "keys", "sprint6.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertFalse(key.startswith(e.dir))
        r = e.run("add", e.dir, metrics, "--kind", "metrics", "--path", "metrics/s1.json")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = e.run("verify", e.dir, "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        v = json.loads(r.stdout)
        self.assertTrue(v["ok"])
        self.assertEqual(v["size"], 2)
        self.assertEqual([f["code"] for f in v["findings"]], ["W_NO_TRUSTED_STATE"])
        # The second run trusts what the first accepted: no warning left.
        self.assertEqual(e.run("verify", e.dir, "--strict").returncode, 0)
        log = e.run("log", e.dir, "--json").stdout.splitlines()
        self.assertEqual([json.loads(x)["path"] for x in log],
                         ["test-result/unit.junit.xml", "metrics/s1.json"])
        self.assertRegex(json.loads(log[0])["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

        proof_path = os.path.join(e.root, "s1.tlog-proof")
        r = e.run("prove", e.dir, "metrics/s1.json", "--out", proof_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        pub = os.path.join(e.root, "keys", "sprint6.pub")
        r = e.run("check-proof", proof_path, metrics, "--vkey", pub)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("is record 1 of meshproof/evidence/sprint6", r.stdout)
        # A changed artifact fails the standalone check.
        other = e.file("other.json", json.dumps({"rps": 101}))
        r = e.run("check-proof", proof_path, other, "--vkey", pub)
        self.assertEqual(r.returncode, 1)
        self.assertIn("E_PROOF_INVALID", r.stdout)

        # Independently: parse the proof, recompute the leaf, walk the path, check the signature.
        text = read(proof_path)
        head, note = text.split("\n\n", 1)
        lines = head.split("\n")
        self.assertEqual(lines[0], "c2sp.org/tlog-proof@v1")
        record_line = base64.b64decode(lines[1].split(" ", 1)[1])
        record = json.loads(record_line)
        self.assertEqual(record["sha256"], hashlib.sha256(read(metrics, "rb")).hexdigest())
        index = int(lines[2].split(" ")[1])
        path = [base64.b64decode(x) for x in lines[3:]]
        body, sigs = note.rsplit("\n\n", 1)
        origin, size, root_b64 = body.split("\n")
        self.assertTrue(verify_inclusion(index, int(size),
                                         hashlib.sha256(b"\x00" + record_line).digest(), path,
                                         base64.b64decode(root_b64)))
        self.assertFalse(verify_inclusion(index, int(size),
                                          hashlib.sha256(b"\x00" + record_line + b" ").digest(),
                                          path, base64.b64decode(root_b64)))
        name, _, key_b64 = read(pub).strip().split("+", 2)
        self.assertEqual(name, origin)
        raw_key = base64.b64decode(key_b64)[1:]
        sig = base64.b64decode(sigs.strip().split(" ")[-1])[4:]
        der = bytes.fromhex("302a300506032b6570032100") + raw_key
        pem = os.path.join(e.root, "pub.pem")
        with open(pem, "w") as f:
            f.write("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() +
                    "\n-----END PUBLIC KEY-----\n")
        signed = e.file("signed.txt", body + "\n")
        sigfile = e.file("sig.bin", sig)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
                            "-in", signed, "-sigfile", sigfile], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        tampered = e.file("tampered.txt", body.replace("\n2\n", "\n3\n") + "\n")
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
                            "-in", tampered, "-sigfile", sigfile], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)

    def test_two_hundred_sigkills_never_break_the_ledger(self):
        e = self.e
        rng = random.Random(7)
        files = [e.file(f"f{i}.bin", os.urandom(rng.randrange(1, 256 * 1024))) for i in range(12)]
        self.assertEqual(e.run("add", e.dir, files[0], "--kind", "seed").returncode, 0)
        kills = 0
        batch = 0
        warnings = set()
        while kills < 200:
            batch += 1
            # Each attempt records a fresh copy of some files (paths must be new).
            sub = os.path.join(e.root, f"batch{batch}")
            os.mkdir(sub)
            chosen = []
            for f in rng.sample(files, rng.randrange(1, 6)):
                dst = os.path.join(sub, os.path.basename(f))
                shutil.copyfile(f, dst)
                chosen.append(dst)
            p = subprocess.Popen([BINARY, "evidence", "add", e.dir, *chosen, "--kind",
                                  f"b{batch}"], env=e.env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, 0.025))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
            r = e.run("verify", e.dir, "--json", "--no-state")
            v = json.loads(r.stdout)
            errors = [f for f in v["findings"] if f["code"].startswith("E_")]
            self.assertEqual(errors, [], f"after kill {kills} (batch {batch})")
            self.assertEqual(r.returncode, 0)
            warnings.update(f["code"] for f in v["findings"])
        # The next append finishes whatever was left; then not even a warning remains.
        last = e.file("last.txt", "done\n")
        r = e.run("add", e.dir, last, "--kind", "final")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = e.run("verify", e.dir, "--strict", "--no-state")
        self.assertEqual(r.returncode, 0, r.stdout)
        print(f"\n{kills} SIGKILLs over {batch} appends; warnings seen: {sorted(warnings)}",
              file=sys.stderr)

    def test_bad_input_exits_2_with_the_reason(self):
        e = self.e
        f = e.file("a.txt", "a\n")
        r = e.run("add", e.dir, f)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--kind", r.stderr)
        r = e.run("add", e.dir, os.path.join(e.root, "missing.txt"), "--kind", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.txt: not a readable file", r.stderr)
        bad_key = e.file("bad.key", "PRIVATE+KEY+nonsense\n")
        r = e.run("add", e.dir, f, "--kind", "x", "--key", bad_key)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.key: malformed signer key", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(e.dir, "ledger.jsonl")))
        r = e.run("verify", e.dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such evidence directory", r.stderr)
        self.assertEqual(e.run("add", e.dir, f, "--kind", "x").returncode, 0)
        r = e.run("verify", e.dir, "--vkey", os.path.join(e.root, "nokey.pub"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such file", r.stderr)
        r = e.run("frobnicate")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    BINARY = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
