"""The REAL python3-ubus in this process, against a REAL ubusd of the kit (tests/kit.py).

python3-ubus is the PyPI sdist `ubus` 0.1.3 (what OpenWrt packages as python3-ubus); the kit's
build compiles it against the kit's libubus. `binding()` loads it without leaving `ubus` in
sys.modules (the product must not find it by accident). `Ubusd` runs the kit's ubusd on a
socket of its own (no chroot, no other daemon); `invoke` is a call from another process,
the kit's `ubus` CLI, while this process answers in `loop()`.
"""

import importlib.machinery
import importlib.util
import json
import os
import select
import subprocess
import sys
import tempfile
import time

import kit

SO = "venv/lib/python3.11/site-packages/ubus.cpython-311-x86_64-linux-gnu.so"
# libubus's ubus_strerror(), as the CLI prints it -> status
STATUS = {"Invalid command": 1, "Invalid argument": 2, "Method not found": 3, "Not found": 4,
          "No response": 5, "Permission denied": 6, "Request timed out": 7,
          "Operation not supported": 8, "Unknown error": 9}


def binding():
    """A fresh handle on the real module (one C module: its connection state is global)."""
    path = os.path.join(kit.prefix(), SO)
    if not os.path.exists(path):
        kit.unavailable("the kit's python3-ubus is missing (%s): its build needs PyPI" % path)
    had = sys.modules.get("ubus")
    loader = importlib.machinery.ExtensionFileLoader("ubus", path)
    spec = importlib.util.spec_from_file_location("ubus", path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if had is None:
        sys.modules.pop("ubus", None)
    return module


def chunk_done(data):
    """sh printed the exit status line: the call is over."""
    return data.endswith(b"\n") and b"rc=" in data.rsplit(b"\n", 2)[-2]


class Ubusd:
    def __init__(self):
        self.prefix = kit.prefix()
        self.dir = tempfile.mkdtemp(prefix="vpt-ubusd-")
        self.socket = os.path.join(self.dir, "ubus.sock")
        self.proc = subprocess.Popen([os.path.join(self.prefix, "sbin", "ubusd"), "-s",
                                      self.socket], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(self.socket):
                break
            time.sleep(0.02)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass
        subprocess.run(["rm", "-rf", self.dir])

    def cli(self):
        return [os.path.join(self.prefix, "bin", "ubus"), "-s", self.socket]

    def start_call(self, obj, method, args=None):
        """`ubus call` started in the background. Wrapped in sh, which reaps it and prints
        its exit status: uloop's SIGCHLD handling in loop() reaps our own children."""
        script = '"$@" 2>&1; echo "rc=$?"'
        argv = ["sh", "-c", script, "sh"] + self.cli() + ["call", obj, method,
                                                          json.dumps(args or {})]
        return subprocess.Popen(argv, stdout=subprocess.PIPE)

    def invoke(self, bus, obj, method, args=None, timeout=30.0):
        """(status, reply) of one call from another process while BUS answers in loop()."""
        proc = self.start_call(obj, method, args)
        return self.finish(bus, proc, timeout)

    def finish(self, bus, proc, timeout=30.0):
        deadline = time.time() + timeout
        fd, data = proc.stdout.fileno(), b""
        while True:
            bus.loop(20)
            while select.select([fd], [], [], 0)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                data += chunk
            if chunk_done(data):
                break
            if time.time() > deadline:
                proc.kill()
                raise AssertionError("ubus call did not return: %r" % data)
        proc.stdout.close()
        out = data.decode()
        try:
            proc.wait(timeout=5)
        except ChildProcessError:
            pass
        text, _, _ = out.rpartition("rc=")
        for message, status in STATUS.items():
            if "Command failed:" in text and "(" + message + ")" in text:
                return status, None
        return 0, (json.loads(text) if text.strip() else None)

    def listen(self, event):
        """`ubus listen EVENT` running, known to be registered (see Listener)."""
        return Listener(self.cli(), event)


PROBE = "vpt_listener_probe"


class Listener:
    """`ubus listen EVENT` in the background. It is ready once it has printed a probe event
    sent after it started (ubusd registers a listener asynchronously); probes are left out
    of events()."""

    def __init__(self, cli, event, timeout=15.0):
        self.event = event
        self.proc = subprocess.Popen(list(cli) + ["listen", event], stdout=subprocess.PIPE)
        self.data = b""
        deadline = time.time() + timeout
        while PROBE.encode() not in self.data:
            if time.time() > deadline:
                self.proc.kill()
                raise AssertionError("ubus listen %s never saw a probe event" % event)
            subprocess.run(list(cli) + ["send", event, json.dumps({PROBE: 1})],
                           capture_output=True, timeout=10)
            self._read(0.2)

    def _read(self, wait):
        fd = self.proc.stdout.fileno()
        while select.select([fd], [], [], wait)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.data += chunk
            wait = 0.05

    def events(self, settle=0.3):
        """The events seen so far (after SETTLE seconds for the last to arrive); stops it."""
        self._read(settle)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except ChildProcessError:
            pass
        self.proc.stdout.close()
        decoder, seen, text = json.JSONDecoder(), [], self.data.decode().strip()
        while text:
            obj, end = decoder.raw_decode(text)
            data = obj[self.event]
            if PROBE not in data:
                seen.append(data)
            text = text[end:].strip()
        return seen
