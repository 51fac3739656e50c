#!/usr/bin/python3
"""Ledger verification throughput, side by side in one run: `meshproof evidence verify` over a
sprint of large artifacts (MB/s of artifact bytes hashed and checked) against `openssl speed -evp
sha256` (16 KiB blocks) on this machine. Files are written first, so both read from the page
cache: the comparison is of hashing, not of the disk. Rounds interleaved; medians and the ratio.

Usage: evidence_bench.py MESHPROOF_BINARY [--mb-per-file N] [--files N] [--rounds R]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time


def openssl_sha256_mb_s():
    r = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "3"],
                       capture_output=True, text=True, check=True)
    # "sha256  ...  <n>k" in the table (1000s of bytes per second).
    for line in r.stdout.splitlines():
        m = re.match(r"^sha256\s+([\d.]+)k\s*$", line.strip())
        if m:
            return float(m.group(1)) * 1000 / 1e6
    raise RuntimeError("cannot parse openssl speed output:\n" + r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--mb-per-file", type=int, default=128)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="meshproof-evidence-bench-")
    env = dict(os.environ, MESHPROOF_KEY_DIR=os.path.join(root, "keys"),
               XDG_STATE_HOME=os.path.join(root, "state"))
    try:
        sprint = os.path.join(root, "bench")
        files = []
        for i in range(a.files):
            path = os.path.join(root, f"artifact{i}.bin")
            with open(path, "wb") as f:
                for _ in range(a.mb_per_file):
                    f.write(os.urandom(1 << 20))
            files.append(path)
        subprocess.run([a.binary, "evidence", "add", sprint, *files, "--kind", "bench"],
                       env=env, check=True, capture_output=True)
        total_mb = a.files * a.mb_per_file * (1 << 20) / 1e6
        ours, theirs = [], []
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            subprocess.run([a.binary, "evidence", "verify", sprint, "--no-state"], env=env,
                           check=True, capture_output=True)
            ours.append(total_mb / (time.perf_counter() - t0))
            theirs.append(openssl_sha256_mb_s())
        mo, mt = statistics.median(ours), statistics.median(theirs)
        print(f"\nLedger verify over {a.files} x {a.mb_per_file} MiB artifacts, {a.rounds} rounds")
        print(f"| what | MB/s (median) | vs openssl | rounds |")
        print(f"| --- | --- | --- | --- |")
        print(f"| meshproof evidence verify | {mo:,.0f} | {mo / mt:.2f}x | "
              f"{' '.join(f'{x:,.0f}' for x in ours)} |")
        print(f"| openssl speed -evp sha256 (16 KiB) | {mt:,.0f} | 1.00x | "
              f"{' '.join(f'{x:,.0f}' for x in theirs)} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
