"""What the Python integration tests share: awaiting a condition instead of sleeping."""
import time


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
