"""The ubus door (ubus_api.py) driven like `ubus call` and like LuCI (through rpcd).

The `ubus` module used here is tests/standins/ubus.py: a STAND-IN for python3-ubus,
not the real binding and without ubusd. It mirrors the binding's module API and its
argument checks (ubus_python.c: test_policies / test_methods_argument), so a call the
real binding would refuse with "Invalid argument" is refused here too.

Methods that touch the kernel run against the real kernel inside a throwaway network
namespace: platform.run (the only place a process starts) is wrapped to prefix
`ip netns exec <ns>`, so nft/conntrack never see the host's tables.
"""

import importlib.util
import json
import os
import signal
import sys

import pytest

from conftest import in_ns
from vpn_passthrough import nfnetlink, platform, ubus_api, uci
from vpn_passthrough.service import Service

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_standin():
    spec = importlib.util.spec_from_file_location("ubus_standin",
                                                  os.path.join(HERE, "standins", "ubus.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bus = _load_standin()          # STAND-IN for python3-ubus (see module docstring)

SESSION = {"ubus_rpc_session": "0123456789abcdef0123456789abcdef"}

CONFIG = """config globals 'globals'
\toption enabled '1'
\toption log '0'
\toption ipv6 '1'
\tlist lan_device 'br-lan'
\tlist wan_device 'wan0'

config protocol 'pptp'
\toption enabled '1'

config protocol 'l2tp'
\toption enabled '1'

config protocol 'ipsec'
\toption enabled '1'
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "vpn-passthrough"
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture
def connected():
    bus.standin_reset()
    bus.connect()
    yield bus
    bus.standin_reset()


@pytest.fixture
def in_netns(netns, monkeypatch):
    """Every process the service starts runs inside the throwaway namespace. Its netlink
    question would reach this process's namespace instead: it is refused here, so the
    service falls back to asking nft (tests/test_nfnetlink.py covers netlink itself)."""
    real_run = platform.run

    def run(argv, stdin=None, timeout=platform.TIMEOUT):
        return real_run(["ip", "netns", "exec", netns] + list(argv), stdin=stdin,
                        timeout=timeout)

    def refused(family, name, timeout=2.0):
        raise OSError(1, "netlink refused: the test's namespace is not the service's")
    monkeypatch.setattr(platform, "run", run)
    monkeypatch.setattr(nfnetlink, "table_comment", refused)
    return netns


def api_for(config_path):
    api = ubus_api.Api(Service(config_path), bus)
    api.register()
    return api


def call(obj, method, args=None, luci=False):
    """One call as `ubus call OBJ METHOD ARGS`, or as LuCI through rpcd (adds the session)."""
    args = dict(args or {})
    if luci:
        args.update(SESSION)
        obj = ubus_api.LUCI_OBJECT
    return bus.standin_invoke(obj, method, args)


def one_reply(status_and_replies):
    status, replies = status_and_replies
    assert status == bus.UBUS_STATUS_OK, bus.STRERROR[status]
    assert len(replies) == 1
    assert_blobmsg_safe(replies[0])
    return replies[0]


def assert_blobmsg_safe(value):
    """No floats: older libubox (blobmsg_add_json_element) has no double and fails the reply."""
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for v in value.values():
            assert_blobmsg_safe(v)
    elif isinstance(value, list):
        for v in value:
            assert_blobmsg_safe(v)


# --- the stand-in refuses what python3-ubus refuses ------------------------------

def test_standin_checks_arguments_like_python3_ubus(connected):
    seen = []
    bus.add("t", {"m": {"method": lambda h, d: (seen.append(d), h.reply({"ok": 1})),
                        "signature": {"a": bus.BLOBMSG_TYPE_STRING}}})
    assert bus.standin_invoke("t", "m", {"a": "x"}) == (0, [{"ok": 1}])
    assert bus.standin_invoke("t", "m", {})[0] == bus.UBUS_STATUS_INVALID_ARGUMENT
    assert bus.standin_invoke("t", "m", {"a": "x", "b": 1})[0] == bus.UBUS_STATUS_INVALID_ARGUMENT
    assert bus.standin_invoke("t", "m", {"a": 1})[0] == bus.UBUS_STATUS_INVALID_ARGUMENT
    assert bus.standin_invoke("t", "nope", {})[0] == bus.UBUS_STATUS_METHOD_NOT_FOUND
    assert seen == [{"a": "x"}]
    with pytest.raises(RuntimeError, match="Invalid argument"):
        bus.call("t", "m", {})
    with pytest.raises(TypeError):
        bus.add("u", {"m": {"method": print, "signature": {}, "extra": 1}})
    with pytest.raises(TypeError):
        bus.add("u", {"m": {"method": print, "signature": {"a": 99}}})
    with pytest.raises(RuntimeError):
        bus.connect()


def test_module_imports_without_python3_ubus():
    # The CLI imports ubus_api only for `serve`; importing it never needs the binding.
    assert not hasattr(ubus_api, "ubus")
    assert "ubus" not in sys.modules


# --- registration: two objects, because of ubus_rpc_session ------------------------

def test_both_objects_registered_with_exact_signatures(connected, config):
    api_for(config)
    objs = bus.objects()
    t, s = bus.BLOBMSG_TYPE_TABLE, bus.BLOBMSG_TYPE_STRING
    assert objs[ubus_api.OBJECT] == {"status": {}, "sessions": {}, "check": {}, "reload": {},
                                     "set": {"values": t}, "diagnose": {"host": s}}
    assert objs[ubus_api.LUCI_OBJECT] == {
        "status": {"ubus_rpc_session": s}, "sessions": {"ubus_rpc_session": s},
        "check": {"ubus_rpc_session": s}, "reload": {"ubus_rpc_session": s},
        "set": {"values": t, "ubus_rpc_session": s},
        "diagnose": {"host": s, "ubus_rpc_session": s}}


def test_each_caller_is_refused_on_the_other_callers_object(connected, config):
    api_for(config)
    # LuCI's call (with the session) on the plain object: what the real binding answers 2 to.
    status, _ = bus.standin_invoke(ubus_api.OBJECT, "status", SESSION)
    assert status == bus.UBUS_STATUS_INVALID_ARGUMENT
    # `ubus call luci.vpn-passthrough status` without a session.
    status, _ = bus.standin_invoke(ubus_api.LUCI_OBJECT, "status", {})
    assert status == bus.UBUS_STATUS_INVALID_ARGUMENT
    # set: values must be a table, and is required.
    assert call(ubus_api.OBJECT, "set", {"values": "pptp=0"})[0] == bus.UBUS_STATUS_INVALID_ARGUMENT
    assert call(ubus_api.OBJECT, "set", {})[0] == bus.UBUS_STATUS_INVALID_ARGUMENT
    assert call(ubus_api.OBJECT, "set", {"values": {}, "pptp": False})[0] == \
        bus.UBUS_STATUS_INVALID_ARGUMENT


# --- the methods, against the real kernel in a namespace ---------------------------

@pytest.mark.parametrize("luci", [False, True], ids=["ubus-call", "luci"])
def test_reload_applies_replies_status_and_sends_event(connected, config, in_netns, luci):
    api_for(config)
    reply = one_reply(call(ubus_api.OBJECT, "reload", luci=luci))
    assert reply["ok"] is True
    st = reply["status"]
    assert st["applied"] is True and st["enabled"] is True
    assert st["lan_devices"] == ["br-lan"] and st["wan_devices"] == ["wan0"]
    assert sorted(st["protocols"]) == ["ipsec", "l2tp", "pptp"]
    for name in ("l2tp", "ipsec"):
        assert st["protocols"][name]["configured"] is True
        assert st["protocols"][name]["effective"] == "on"
    listing = in_ns(in_netns, ["nft", "list", "table", "inet", "vpn_passthrough"])
    assert listing.returncode == 0, listing.stderr
    events = bus.standin_events()
    assert [e for e, _ in events] == [ubus_api.EVENT]
    assert events[0][1] == st

    status = one_reply(call(ubus_api.OBJECT, "status", luci=luci))
    assert status["applied"] is True
    assert status["protocols"]["pptp"]["configured"] is True


@pytest.mark.parametrize("luci", [False, True], ids=["ubus-call", "luci"])
def test_set_writes_uci_and_applies(connected, config, in_netns, luci):
    api_for(config)
    reply = one_reply(call(ubus_api.OBJECT, "set",
                           {"values": {"pptp": False, "log": True}}, luci=luci))
    assert reply["ok"] is True, reply
    assert reply["status"]["protocols"]["pptp"]["configured"] is False
    assert reply["status"]["protocols"]["pptp"]["effective"] == "off"
    assert reply["status"]["log"] is True
    sections = uci.parse(open(config).read(), config)
    values = dict(((s.type, s.name), s) for s in sections)
    assert values[("protocol", "pptp")].get("enabled") == "0"
    assert values[("globals", "globals")].get("log") == "1"
    assert values[("globals", "globals")].get("lan_device") == ["br-lan"]   # kept
    assert [e for e, _ in bus.standin_events()] == [ubus_api.EVENT]


def test_set_refuses_unknown_switch_and_keeps_the_file(connected, config, in_netns):
    api_for(config)
    before = open(config).read()
    reply = one_reply(call(ubus_api.OBJECT, "set", {"values": {"bogus": True}}))
    assert reply["ok"] is False
    assert reply["field"] == "values.bogus"
    assert "unknown switch" in reply["error"]
    assert "status" not in reply
    reply = one_reply(call(ubus_api.OBJECT, "set", {"values": {"pptp": "maybe"}}, luci=True))
    assert reply == {"ok": False, "error": reply["error"], "field": "values.pptp"}
    assert open(config).read() == before


def test_invalid_settings_answer_with_the_field(connected, tmp_path, in_netns):
    path = tmp_path / "vpn-passthrough"
    path.write_text(CONFIG.replace("option log '0'", "option log 'sometimes'"))
    api_for(str(path))
    reply = one_reply(call(ubus_api.OBJECT, "reload"))
    assert reply["ok"] is False
    assert reply["field"] == "vpn-passthrough.globals.log"
    st = one_reply(call(ubus_api.OBJECT, "status", luci=True))
    assert st["applied"] is False and st["errors"]
    sessions = one_reply(call(ubus_api.OBJECT, "sessions"))
    assert sessions["sessions"] == [] and sessions["field"] == "vpn-passthrough.globals.log"
    # the event still goes out, so a LuCI page shows the failure
    assert [e for e, _ in bus.standin_events()] == [ubus_api.EVENT]


@pytest.mark.parametrize("luci", [False, True], ids=["ubus-call", "luci"])
def test_sessions_and_check_shapes(connected, config, in_netns, luci):
    api_for(config)
    one_reply(call(ubus_api.OBJECT, "reload"))
    sessions = one_reply(call(ubus_api.OBJECT, "sessions", luci=luci))
    assert sessions == {"sessions": []}        # empty namespace: no flows
    findings = one_reply(call(ubus_api.OBJECT, "check", luci=luci))["findings"]
    assert isinstance(findings, list)
    for f in findings:
        assert sorted(f) == ["fix", "id", "message", "severity"]
        assert f["severity"] in ("error", "warning", "info")
    # the stand-in is not importable as `ubus`, so check reports the binding missing
    assert "ubus_missing" in [f["id"] for f in findings]
    json.dumps(findings)


def test_internal_error_is_a_reply_not_status_9(connected, config, monkeypatch):
    api = api_for(config)

    def boom():
        raise ValueError("kaput")
    monkeypatch.setattr(api.svc, "check", boom)
    reply = one_reply(call(ubus_api.OBJECT, "check"))
    assert reply["ok"] is False and "kaput" in reply["error"]


# --- serve(): apply, register, loop, leave ------------------------------------------

def test_serve_applies_registers_answers_and_returns_when_loop_ends(config, in_netns,
                                                                   monkeypatch):
    bus.standin_reset()
    real_connect = bus.connect

    def connect_and_queue(*a, **kw):
        real_connect(*a, **kw)
        # calls that arrive while the service sleeps in loop(); then loop() returns (SIGTERM)
        bus.standin_queue(ubus_api.OBJECT, "status", {})
        bus.standin_queue(ubus_api.LUCI_OBJECT, "set", dict(SESSION, values={"l2tp": False}))
        bus.standin_queue(ubus_api.OBJECT, "status", SESSION)       # refused: wrong object
    monkeypatch.setattr(bus, "connect", connect_and_queue)
    sigint = signal.getsignal(signal.SIGINT)
    try:
        assert ubus_api.serve(Service(config), bus=bus) == 0
        assert signal.getsignal(signal.SIGINT) is sigint     # restored after the loop
        assert not bus.get_connected()                   # disconnected on the way out
        replies = bus.standin_loop_replies()
        assert replies[0][2] == 0 and replies[0][3][0]["applied"] is True
        assert replies[1][2] == 0 and replies[1][3][0]["ok"] is True
        assert replies[1][3][0]["status"]["protocols"]["l2tp"]["effective"] == "off"
        assert replies[2][2] == bus.UBUS_STATUS_INVALID_ARGUMENT
        # one event for the apply at start, one for set
        assert [e for e, _ in bus.standin_events()] == [ubus_api.EVENT, ubus_api.EVENT]
    finally:
        bus.standin_reset()


def test_serve_without_python3_ubus_still_applies_once(capsys):
    class Svc:
        applied = 0

        def apply(self):
            self.applied += 1
    svc = Svc()
    assert "ubus" not in sys.modules
    assert ubus_api.serve(svc) == 1          # procd's respawn limit then gives up
    assert svc.applied == 1
    assert "opkg install python3-ubus" in capsys.readouterr().err
