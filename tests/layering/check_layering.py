#!/usr/bin/python3
"""Checks DESIGN.md section 3's layering: a folder under src/meshproof/ includes only folders on
lower layers (or its own). Prints each upward or sideways include as FILE:LINE and exits 1 if any.

Usage: check_layering.py SRC_MESHPROOF_DIR
"""
import os
import re
import sys

# DESIGN.md section 3. A folder may include its own headers and those of strictly lower layers.
LAYERS = {
    "core": 0,
    "spec": 1, "metrics": 1, "evidence": 1, "stats": 1,
    "net": 2,
    "proxy": 3, "workload": 3, "platform": 3, "load": 3, "prom": 3,
    "validate": 4, "chaos": 4, "render": 4, "report": 4, "control": 4,
    "cli": 5,
}
# Same-layer or upward edges DESIGN.md names explicitly in its "uses" column.
ALLOWED = {
    ("workload", "proxy"),  # workload uses its in-process sidecar (the proxy library)
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]meshproof/([a-z_]+)/')


def check(root):
    problems = []
    for folder in sorted(os.listdir(root)):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        if folder not in LAYERS:
            problems.append(f"{path}: folder '{folder}' has no layer in DESIGN.md section 3")
            continue
        for dirpath, _, files in os.walk(path):
            for name in sorted(files):
                if not name.endswith((".h", ".cc", ".cpp", ".hpp", ".inc")):
                    continue
                file = os.path.join(dirpath, name)
                with open(file, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = m.group(1)
                        if target == folder or (folder, target) in ALLOWED:
                            continue
                        if target not in LAYERS:
                            problems.append(f"{file}:{lineno}: includes unknown folder '{target}'")
                        elif LAYERS[target] >= LAYERS[folder]:
                            problems.append(
                                f"{file}:{lineno}: {folder}/ (layer {LAYERS[folder]}) must not include "
                                f"{target}/ (layer {LAYERS[target]})")
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f"layering: {len(problems)} violation(s)")
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
