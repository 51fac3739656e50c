"""What the Python integration tests share: awaiting a condition instead of sleeping, starting a
`meshproof proxy` and reading where it listens."""
import os
import queue
import re
import subprocess
import threading
import time
import unittest


def wait_for(condition, timeout, what, interval=0.2):
    """Polls `condition` until it returns something truthy (returned) or `timeout` seconds pass
    (AssertionError naming `what` and the last value seen)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last})")


def proxy_flags():
    """Flags every proxy a suite starts gets: MESHPROOF_TEST_CONCURRENCY=N runs the suite against
    proxies with N workers (ctest runs the proxy suites once that way too)."""
    n = os.environ.get("MESHPROOF_TEST_CONCURRENCY")
    return ["--concurrency", n] if n else []


def one_worker_only(test):
    """Skips `test` when the suite runs against proxies with several workers: what it checks is
    defined for one worker (§6 case 34: "one host, one worker"). With several, each worker's pool
    opens its own connection to a host (§2.7), and integration.workers checks how the limits are
    shared then."""
    n = os.environ.get("MESHPROOF_TEST_CONCURRENCY", "1")
    return unittest.skipIf(n != "1", f"defined for one worker (this run: {n})")(test)


def start_proxy(binary, spec_path, *flags):
    """Starts `meshproof proxy -f spec_path *flags`; returns (process, {gateway: port}, admin port)
    once it has said where it listens (the admin line comes last), or raises with what it said."""
    proc = subprocess.Popen([binary, "proxy", "-f", spec_path, *flags, *proxy_flags()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines_q = queue.Queue()
    threading.Thread(target=lambda: [lines_q.put(l) for l in proc.stdout], daemon=True).start()
    gateways, admin, seen = {}, None, []
    deadline = time.monotonic() + 30
    while admin is None and time.monotonic() < deadline:
        try:
            line = lines_q.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        m = re.search(r"Gateway/(\w+) listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            gateways[m.group(1)] = int(m.group(2))
        m = re.search(r"admin on http://127\.0\.0\.1:(\d+)", line)
        if m:
            admin = int(m.group(1))
    if admin is None:
        proc.kill()
        raise RuntimeError("proxy did not start: " + "".join(seen) + proc.stderr.read())
    return proc, gateways, admin
