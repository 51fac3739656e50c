#!/usr/bin/python3
"""Positive control for check_layering.py: a tree with an upward include must fail, naming the
file and line; the same tree without it must pass.

Usage: check_layering_test.py CHECK_LAYERING_PY
"""
import os
import subprocess
import sys
import tempfile


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def run(checker, root):
    return subprocess.run([sys.executable, checker, root], capture_output=True, text=True)


def main():
    checker = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "meshproof")
        write(root, "core/clock.h", "#pragma once\n#include <chrono>\n")
        write(root, "spec/spec.h", '#pragma once\n#include "meshproof/core/clock.h"\n')
        write(root, "cli/app.cc", '#include "meshproof/spec/spec.h"\n#include "meshproof/core/clock.h"\n')
        r = run(checker, root)
        if r.returncode != 0:
            failures.append("clean tree rejected:\n" + r.stdout + r.stderr)

        # core (layer 0) including spec (layer 1): upward.
        write(root, "core/bad.cc", '// fine\n#include "meshproof/spec/spec.h"\n')
        r = run(checker, root)
        if r.returncode != 1 or "core/bad.cc:2:" not in r.stdout:
            failures.append("upward include core -> spec not caught:\n" + r.stdout + r.stderr)
        os.remove(os.path.join(root, "core/bad.cc"))

        # spec and metrics share layer 1: sideways is not allowed either.
        write(root, "metrics/registry.h", '#pragma once\n#include <meshproof/spec/spec.h>\n')
        r = run(checker, root)
        if r.returncode != 1 or "metrics/registry.h:2:" not in r.stdout:
            failures.append("same-layer include metrics -> spec not caught:\n" + r.stdout + r.stderr)
        os.remove(os.path.join(root, "metrics/registry.h"))

        # A folder DESIGN.md does not know.
        write(root, "misc/x.h", "#pragma once\n")
        r = run(checker, root)
        if r.returncode != 1 or "no layer" not in r.stdout:
            failures.append("unknown folder not caught:\n" + r.stdout + r.stderr)

    for f in failures:
        print("FAIL:", f)
    total = 4  # clean tree, upward, sideways, unknown folder
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
