"""The one place a process starts. Everything else asks this module.

Processes start with os.posix_spawnp and talk through pipes multiplexed
with poll: the same contract as subprocess.run(capture_output=True), without
subprocess's import cost (see BENCHMARKS.md).
The pure modules never import this file, so they run unchanged under
MicroPython.
"""

import os
import select
import time

TIMEOUT = 60
CHUNK = 65536


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
    _std_fds()
    data = stdin or ""
    fds = []
    try:
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
        fds = [r_in, w_in, r_out, w_out, r_err, w_err]
        # dup2 onto 0-2 clears close-on-exec there; every pipe end is O_CLOEXEC
        actions = [(os.POSIX_SPAWN_DUP2, r_in, 0), (os.POSIX_SPAWN_DUP2, w_out, 1),
                   (os.POSIX_SPAWN_DUP2, w_err, 2)]
        try:
            pid = os.posix_spawnp(argv[0], argv, _env(), file_actions=actions)
        except OSError:
            return Result(argv, 127, "", argv[0] + ": command not found")
        for fd in (r_in, w_out, w_err):
            os.close(fd)
            fds.remove(fd)
        if not data:
            os.close(w_in)
            fds.remove(w_in)
            w_in = None
        out, err, finished = _exchange(w_in, r_out, r_err, data, timeout, fds)
        if not finished:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return Result(argv, 124, "", argv[0] + ": timed out after " + str(timeout) + " s")
        rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return Result(argv, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    finally:
        for fd in fds:
            os.close(fd)


def _exchange(w_in, r_out, r_err, data, timeout, fds):
    """Write the text `data` to w_in while reading r_out and r_err to their ends (no
    deadlock on big input or output). Text is encoded a chunk at a time: a ruleset of
    megabytes is not copied whole once more. Returns (out, err, finished in time)."""
    poller = select.poll()
    chunks = {r_out: [], r_err: []}
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    if w_in is not None:
        os.set_blocking(w_in, False)
        poller.register(w_in, select.POLLOUT)
    deadline = time.monotonic() + timeout
    taken = 0                               # characters of data encoded so far
    pending = b""                           # encoded, not yet written
    open_fds = len(chunks) + (w_in is not None)
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", b"", False
        for fd, event in poller.poll(int(left * 1000) + 1):
            if fd == w_in:
                if not pending:
                    pending = data[taken:taken + CHUNK].encode()
                    taken += CHUNK
                try:
                    pending = pending[os.write(w_in, pending):]
                except BlockingIOError:
                    continue
                except OSError:             # the program quit without reading it all
                    pending, taken = b"", len(data)
                if not pending and taken >= len(data):
                    poller.unregister(w_in)
                    os.close(w_in)
                    fds.remove(w_in)
                    w_in = None
                    open_fds -= 1
                continue
            block = os.read(fd, CHUNK)
            if block:
                chunks[fd].append(block)
            else:
                poller.unregister(fd)
                open_fds -= 1
    return b"".join(chunks[r_out]), b"".join(chunks[r_err]), True


def _std_fds():
    """Keep 0-2 taken (a daemon may start with them closed), so that no pipe end
    lands there and dup2 onto itself would leave it close-on-exec."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open("/dev/null", os.O_RDWR)


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
