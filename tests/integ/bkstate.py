"""The counters tests/backend/echo-backend.py writes with --state FILE
(a JSON object, rewritten as requests arrive), for the backend tests."""
import json
import time


def read(path):
    """The counters now; {} while the file is missing or half written."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def wait(path, key, want, secs):
    """Whether counter key reaches the value want within secs seconds."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if read(path).get(key) == want:
            return True
        time.sleep(0.1)
    return False
