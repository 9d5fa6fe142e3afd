"""The one place a process starts. Everything else asks this module.

CPython uses subprocess; the pure modules never import this file, so they
run unchanged under MicroPython.
"""

import os

try:
    import subprocess
except ImportError:             # MicroPython: no subprocess (and no effects needed)
    subprocess = None

TIMEOUT = 60


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err

    def ok(self):
        return self.rc == 0


def run(argv, stdin=None, timeout=TIMEOUT):
    """Run argv (no shell), feed stdin text, return a Result; never raises for
    a missing program or a timeout (rc 127 / 124, like a shell would report)."""
    try:
        p = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                           timeout=timeout, env=_env())
    except FileNotFoundError:
        return Result(argv, 127, "", argv[0] + ": command not found")
    except subprocess.TimeoutExpired:
        return Result(argv, 124, "", argv[0] + ": timed out after " + str(timeout) + " s")
    return Result(argv, p.returncode, p.stdout, p.stderr)


def _env():
    env = dict(os.environ)
    env["LC_ALL"] = "C"         # stable tool output for the parsers
    path = env.get("PATH", "")
    for d in ("/usr/sbin", "/sbin"):
        if d not in path.split(":"):
            path = path + ":" + d if path else d
    env["PATH"] = path
    return env


def which(name):
    for d in _env()["PATH"].split(":"):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None
