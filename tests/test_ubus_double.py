"""tests/standins/ubus.py, the python3-ubus DOUBLE, checked against the REAL python3-ubus.

The double remains for one use only: `make bench` measures the resident service's memory
with it where no ubusd runs (tests/benchlib/serve_idle.py); every test of the ubus door uses
the real binding (tests/test_ubus.py, tests/openwrt/). So that the bench runs the code path
the router runs, the double must have the real module's functions and constants and refuse
exactly what the real one refuses: each case below goes to both, the real one through the
kit's ubusd and a call from another process (the `ubus` CLI).
"""

import importlib.util
import os

import pytest

import realubus

HERE = os.path.dirname(os.path.abspath(__file__))


def _double():
    spec = importlib.util.spec_from_file_location("ubus_double",
                                                  os.path.join(HERE, "standins", "ubus.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def both(ubusd):
    real, double = realubus.binding(), _double()
    real.connect(socket_path=ubusd.socket)
    double.connect(socket_path=ubusd.socket)
    yield real, double
    if real.get_connected():
        real.disconnect()


def _public(module):
    return dict((n, getattr(module, n)) for n in dir(module) if not n.startswith("_"))


def test_same_functions_and_constants():
    real, double = _public(realubus.binding()), _public(_double())
    functions = lambda m: sorted(n for n, v in m.items() if callable(v) and  # noqa: E731
                                 not isinstance(v, type) and not n.startswith("standin_"))
    assert functions(double) == functions(real)
    for name, value in real.items():
        if name.startswith("BLOBMSG_TYPE_"):
            assert double[name] == value, name


def _reply(handler, data):
    handler.reply({"got": data})


def _boom(handler, data):
    raise ValueError("the callback failed")


# signature -> the arguments of calls, each answered the same by both
SIGNATURES = {
    "str": {"a": 3},            # BLOBMSG_TYPE_STRING
    "table": {"values": 2},
    "int32": {"n": 5},
    "int64": {"n": 4},
    "bool": {"b": 7},
    "unspec": {"x": 0},
    "none": {},
    "two": {"values": 2, "ubus_rpc_session": 3},
}
CALLS = [
    ("str", {"a": "x"}), ("str", {}), ("str", {"a": 1}), ("str", {"a": "x", "b": 1}),
    ("table", {"values": {"pptp": False}}), ("table", {"values": "pptp=0"}), ("table", {}),
    ("int32", {"n": 5}), ("int32", {"n": 2 ** 40}), ("int64", {"n": 5}),
    ("int64", {"n": 2 ** 40}), ("bool", {"b": True}), ("bool", {"b": 1}),
    ("unspec", {"x": [1, 2]}), ("unspec", {"x": "s"}), ("unspec", {}),
    ("none", {}), ("none", {"ubus_rpc_session": "0" * 32}),
    ("two", {"values": {}, "ubus_rpc_session": "0" * 32}), ("two", {"values": {}}),
    ("nope", {}), ("boom", {}),
]


def test_calls_answered_alike(ubusd, both):
    real, double = both
    methods = dict((name, {"method": _reply, "signature": sig})
                   for name, sig in SIGNATURES.items())
    methods["boom"] = {"method": _boom, "signature": {}}
    real.add("conformance", methods)
    double.add("conformance", methods)
    assert real.objects() == double.objects()
    for method, args in CALLS:
        status, reply = ubusd.invoke(real, "conformance", method, args)
        d_status, d_replies = double.standin_invoke("conformance", method, args)
        assert d_status == status, (method, args)
        if status == 0:
            assert d_replies == [reply], (method, args)


BAD_ADDS = [
    ("m", {"m": {"method": _reply, "signature": {}, "extra": 1}}),
    ("m", {"m": {"method": _reply}}),
    ("m", {"m": {"signature": {}}}),
    ("m", {"m": {"method": "not callable", "signature": {}}}),
    ("m", {"m": {"method": _reply, "signature": {"a": 99}}}),
    ("m", {"m": {"method": _reply, "signature": {"a": -1}}}),
    ("m", {"m": {"method": _reply, "signature": {"a": "3"}}}),
    ("m", {"m": {"method": _reply, "signature": {1: 3}}}),
    ("m", {1: {"method": _reply, "signature": {}}}),
    (1, {"m": {"method": _reply, "signature": {}}}),
]


def _outcome(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
        return "ok"
    except Exception as e:
        return type(e).__name__


def test_misuse_refused_alike(ubusd, both):
    real, double = both
    for name, methods in BAD_ADDS:
        assert _outcome(double.add, name, methods) == _outcome(real.add, name, methods), \
            (name, methods)
    # methods not a dict: the real binding fails inside C (SystemError), the double says
    # TypeError; both refuse
    assert _outcome(real.add, "m", []) != "ok" and _outcome(double.add, "m", []) != "ok"
    good = {"m": {"method": _reply, "signature": {}}}
    for module in (real, double):
        module.add("dup", good)
    assert _outcome(double.add, "dup", good) == _outcome(real.add, "dup", good) \
        == "RuntimeError"
    assert _outcome(double.connect, socket_path=ubusd.socket) == \
        _outcome(real.connect, socket_path=ubusd.socket) == "RuntimeError"
    assert _outcome(double.listen) == _outcome(real.listen) == "TypeError"
    assert _outcome(double.send, "ev", "not a table") == _outcome(real.send, "ev",
                                                                  "not a table")
    assert double.get_socket_path() == real.get_socket_path() == ubusd.socket
    real.disconnect()
    double.disconnect()
    assert double.get_connected() is real.get_connected() is False
    for fn in ("add", "send", "loop", "objects"):
        args = {"add": ("x", good), "send": ("ev", {}), "loop": (10,), "objects": ()}[fn]
        assert _outcome(getattr(double, fn), *args) == _outcome(getattr(real, fn), *args), fn
