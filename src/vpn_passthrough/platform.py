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
    if not env.get("PATH"):
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    return env


class Lock:
    """An exclusive lock on a file, held for the life of the object (`with Lock(): …`).

    Two applies at the same moment (procd reload + a CLI call) then run one
    after the other, so the flush of one never races the rules of the other.
    """

    def __init__(self, path="/var/run/vpn-passthrough.lock"):
        self.path = path
        self.fd = None

    def __enter__(self):
        try:
            import fcntl
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            self.fd = None      # no lock available: still correct, nft itself is atomic
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)   # closing releases the flock
            self.fd = None
        return False


def which(name):
    for d in _env()["PATH"].split(":"):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None
