"""What every peer script shares: one JSON result line, a ready file, and ending on a signal."""

import json
import os
import signal
import sys


class Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGINT, so a peer still prints its result."""


def _on_signal(signum, frame):
    raise Stop()


def stop_on_signals():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def touch(path):
    """Create the --ready-file atomically: the lab waits for it before sending."""
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(path + ".tmp", path)
