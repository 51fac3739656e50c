#!/usr/bin/env bash
# Installs the Debian 12 packages that meshproof's build, tests and benchmarks need.
# Idempotent: checks each package with dpkg-query and calls apt-get (and `apt-get update`) only when
# something is missing. Run as root (the README's set-up is "as root on a fresh Debian 12").
#
#   scripts/install-deps.sh           install what is missing
#   scripts/install-deps.sh --check   only list what is missing; exit 1 if anything is
set -euo pipefail

# One list, grouped by who needs it. Later issues append to the groups that their tests use.
BUILD=(g++ cmake ninja-build ccache make pkg-config util-linux)
LIBS=(libboost-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libssl-dev
      libre2-dev libyaml-dev)
TEST=(libgtest-dev libgmock-dev libbenchmark-dev python3 clang-format clang-tidy
      prometheus python3-yaml python3-jsonschema  # promtool; monitoring tests (schemas)
      chromium fonts-dejavu-core  # the HTML report, opened headless
      clang-14 libclang-rt-14-dev)  # the libFuzzer target (fuzz/), in the asan preset
BENCH=(haproxy nginx-light wrk valgrind linux-perf)  # make bench: the proxy side by side with HAProxy and nginx (valgrind: instructions per request; perf: system calls per request)
PACKAGES=("${BUILD[@]}" "${LIBS[@]}" "${TEST[@]}" "${BENCH[@]}")

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ "${1:-}" == "--check" ]]; then
  printf 'missing: %s\n' "${missing[*]}"
  exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: these Debian packages are missing: ${missing[*]}" >&2
  echo "install-deps: run this script as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
