"""The ubus door (ubus_api.py) on the REAL python3-ubus and a REAL ubusd (tests/realubus.py):
this process registers the objects and answers in loop(), another process (the kit's `ubus`
CLI) calls them, so every argument check is the binding's own. Without the kit these tests
skip (VPT_REQUIRE_KIT=1: fail). The installed service under procd: tests/openwrt/.

Methods that touch the kernel run against the real kernel inside a throwaway network
namespace: platform.run (the only place a process starts) is wrapped to prefix
`ip netns exec <ns>`, so nft/conntrack never see the host's tables.
"""

import json
import signal
import subprocess
import sys
import time

import pytest

import realubus
from conftest import all_protocols_on, in_ns
from vpn_passthrough import nfnetlink, platform, ubus_api, uci
from vpn_passthrough.service import Service

SESSION = {"ubus_rpc_session": "0123456789abcdef0123456789abcdef"}

CONFIG = all_protocols_on("br-lan", "wan0")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "vpn-passthrough"
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture
def connected(ubusd):
    """The real python3-ubus connected to the real ubusd; disconnected (objects gone) after."""
    bus = realubus.binding()
    bus.connect(socket_path=ubusd.socket)
    yield bus
    if bus.get_connected():
        bus.disconnect()


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


def api_for(bus, config_path):
    api = ubus_api.Api(Service(config_path), bus)
    api.register()
    return api


def call(ubusd, bus, obj, method, args=None, luci=False):
    """(status, reply) of one call as `ubus call OBJ METHOD ARGS`, or as LuCI through rpcd
    (which adds the session)."""
    args = dict(args or {})
    if luci:
        args.update(SESSION)
        obj = ubus_api.LUCI_OBJECT
    return ubusd.invoke(bus, obj, method, args)


def heard(ubusd, bus, method, luci=False):
    """(reply, events announced meanwhile) of one call of METHOD on the service."""
    listener = ubusd.listen(ubus_api.EVENT)
    try:
        reply = one_reply(call(ubusd, bus, ubus_api.OBJECT, method, luci=luci))
    finally:
        events = listener.events()
    return reply, events


def one_reply(status_and_reply):
    status, reply = status_and_reply
    assert status == 0, status
    assert_blobmsg_safe(reply)
    return reply


def assert_blobmsg_safe(value):
    """No floats: older libubox (blobmsg_add_json_element) has no double and fails the reply."""
    assert not isinstance(value, float), value
    if isinstance(value, dict):
        for v in value.values():
            assert_blobmsg_safe(v)
    elif isinstance(value, list):
        for v in value:
            assert_blobmsg_safe(v)


def test_module_imports_without_python3_ubus():
    # The CLI imports ubus_api only for `serve`; importing it never needs the binding.
    assert not hasattr(ubus_api, "ubus")
    assert "ubus" not in sys.modules


# --- registration: two objects, because of ubus_rpc_session ------------------------

def test_both_objects_registered_with_exact_signatures(connected, config):
    bus = connected
    api_for(bus, config)
    objs = bus.objects()
    t, s = bus.BLOBMSG_TYPE_TABLE, bus.BLOBMSG_TYPE_STRING
    n = bus.BLOBMSG_TYPE_INT32
    assert objs[ubus_api.OBJECT] == {"status": {}, "clients": {"offset": n, "limit": n},
                                     "sessions": {}, "reset_counters": {}, "check": {},
                                     "reload": {}, "set": {"values": t}, "diagnose": {"host": s}}
    assert objs[ubus_api.LUCI_OBJECT] == {
        "status": {"ubus_rpc_session": s},
        "clients": {"offset": n, "limit": n, "ubus_rpc_session": s},
        "sessions": {"ubus_rpc_session": s}, "reset_counters": {"ubus_rpc_session": s},
        "check": {"ubus_rpc_session": s}, "reload": {"ubus_rpc_session": s},
        "set": {"values": t, "ubus_rpc_session": s},
        "diagnose": {"host": s, "ubus_rpc_session": s}}


def test_each_caller_is_refused_on_the_other_callers_object(ubusd, connected, config):
    bus = connected
    api_for(bus, config)
    invalid = 2                                     # UBUS_STATUS_INVALID_ARGUMENT
    # LuCI's call (with the session) on the plain object
    assert ubusd.invoke(bus, ubus_api.OBJECT, "status", SESSION)[0] == invalid
    # `ubus call luci.vpn-passthrough status` without a session
    assert ubusd.invoke(bus, ubus_api.LUCI_OBJECT, "status", {})[0] == invalid
    # set: values must be a table, and is required
    assert call(ubusd, bus, ubus_api.OBJECT, "set", {"values": "pptp=0"})[0] == invalid
    assert call(ubusd, bus, ubus_api.OBJECT, "set", {})[0] == invalid
    assert call(ubusd, bus, ubus_api.OBJECT, "set", {"values": {}, "pptp": False})[0] == invalid
    assert call(ubusd, bus, ubus_api.OBJECT, "nope")[0] == 3      # METHOD_NOT_FOUND


# --- the methods, against the real kernel in a namespace ---------------------------

@pytest.mark.parametrize("luci", [False, True], ids=["ubus-call", "luci"])
def test_reload_applies_replies_status_and_sends_event(ubusd, connected, config, in_netns,
                                                      luci):
    bus = connected
    api_for(bus, config)
    reply, events = heard(ubusd, bus, "reload", luci=luci)
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
    assert events == [st]

    status = one_reply(call(ubusd, bus, ubus_api.OBJECT, "status", luci=luci))
    assert status["applied"] is True
    assert status["protocols"]["pptp"]["configured"] is True


@pytest.mark.parametrize("luci", [False, True], ids=["ubus-call", "luci"])
def test_set_writes_uci_and_applies(ubusd, connected, config, in_netns, luci):
    bus = connected
    api_for(bus, config)
    reply = one_reply(call(ubusd, bus, ubus_api.OBJECT, "set",
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


def test_set_refuses_unknown_switch_and_keeps_the_file(ubusd, connected, config, in_netns):
    bus = connected
    api_for(bus, config)
    before = open(config).read()
    reply = one_reply(call(ubusd, bus, ubus_api.OBJECT, "set", {"values": {"bogus": True}}))
    assert reply["ok"] is False
    assert reply["field"] == "values.bogus"
    assert "unknown switch" in reply["error"]
    assert "status" not in reply
    reply = one_reply(call(ubusd, bus, ubus_api.OBJECT, "set", {"values": {"pptp": "maybe"}},
                           luci=True))
    assert reply == {"ok": False, "error": reply["error"], "field": "values.pptp"}
    assert open(config).read() == before


def test_invalid_settings_answer_with_the_field(ubusd, connected, tmp_path, in_netns):
    bus = connected
    path = tmp_path / "vpn-passthrough"
    path.write_text(CONFIG.replace("option log '0'", "option log 'sometimes'"))
    api_for(bus, str(path))
    reply, events = heard(ubusd, bus, "reload")
    assert reply["ok"] is False
    assert reply["field"] == "vpn-passthrough.globals.log"
    st = one_reply(call(ubusd, bus, ubus_api.OBJECT, "status", luci=True))
    assert st["applied"] is False and st["errors"]
    sessions = one_reply(call(ubusd, bus, ubus_api.OBJECT, "sessions"))
    assert sessions["flows"] == [] and sessions["field"] == "vpn-passthrough.globals.log"
    page = one_reply(call(ubusd, bus, ubus_api.OBJECT, "clients", {"offset": 0, "limit": 10}))
    assert page["clients"] == [] and page["field"] == "vpn-passthrough.globals.log"
    # the event still goes out, so a LuCI page shows the failure
    assert len(events) == 1 and events[0]["applied"] is False


@pytest.mark.parametrize("luci", [False, True], ids=["ubus-call", "luci"])
def test_sessions_and_check_shapes(ubusd, connected, config, in_netns, luci):
    bus = connected
    api_for(bus, config)
    one_reply(call(ubusd, bus, ubus_api.OBJECT, "reload"))
    sessions = one_reply(call(ubusd, bus, ubus_api.OBJECT, "sessions", luci=luci))
    assert sessions == {"total": 0, "truncated": False, "flows": [],     # empty namespace
                        "counts": {"pptp": 0, "l2tp": 0, "ipsec": 0}}
    findings = one_reply(call(ubusd, bus, ubus_api.OBJECT, "check", luci=luci))["findings"]
    assert isinstance(findings, list)
    for f in findings:
        assert sorted(f) == ["fix", "id", "message", "severity"]
        assert f["severity"] in ("error", "warning", "info")
    json.dumps(findings)


CLIENT = "config client\n\toption name 'c%d'\n\tlist ip '10.%d.%d.%d'\n\toption action '%s'\n"


def with_clients(path, n):
    text = open(path).read() + "".join(
        CLIENT % (i, 1 + i // 65536, (i // 256) % 256, i % 256, "block" if i % 3 else "allow")
        for i in range(n))
    open(path, "w").write(text)


@pytest.mark.parametrize("luci", [False, True], ids=["ubus-call", "luci"])
def test_status_is_a_summary_and_clients_come_in_pages(ubusd, connected, config, in_netns,
                                                       luci):
    bus = connected
    with_clients(config, 250)
    api_for(bus, config)
    assert one_reply(call(ubusd, bus, ubus_api.OBJECT, "reload"))["ok"] is True
    st = one_reply(call(ubusd, bus, ubus_api.OBJECT, "status", luci=luci))
    assert st["clients"] == {"total": 250, "blocking": 166, "allowing": 84}
    assert st["counters_since"] > 0
    assert st["zones"]["source"] == "settings"
    assert st["zones"]["wan"] == {"zones": [], "devices": ["wan0"], "down": []}
    page = one_reply(call(ubusd, bus, ubus_api.OBJECT, "clients", {"offset": 240, "limit": 5},
                          luci=luci))
    assert page["total"] == 250 and page["offset"] == 240
    assert [c["name"] for c in page["clients"]] == ["c240", "c241", "c242", "c243", "c244"]
    c = page["clients"][1]
    assert c == {"name": "c241", "label": "@client[241]", "action": "block",
                 "protocols": ["pptp", "l2tp", "ipsec"], "hosts": ["10.1.0.241"],
                 "hosts_total": 1, "blocked": {"packets": 0, "bytes": 0},
                 "passed": {"packets": 0, "bytes": 0}}
    page = one_reply(call(ubusd, bus, ubus_api.OBJECT, "clients",
                          {"offset": 0, "limit": 100000}))
    assert len(page["clients"]) == 100                  # capped
    page = one_reply(call(ubusd, bus, ubus_api.OBJECT, "clients", {"offset": 1000, "limit": 10}))
    assert page["clients"] == [] and page["total"] == 250
    # python3-ubus has no optional arguments: both are required
    assert call(ubusd, bus, ubus_api.OBJECT, "clients", {"offset": 0})[0] == 2


def test_reset_counters_zeroes_and_announces(ubusd, connected, config, in_netns):
    bus = connected
    api_for(bus, config)
    assert one_reply(call(ubusd, bus, ubus_api.OBJECT, "reload"))["ok"] is True
    before = one_reply(call(ubusd, bus, ubus_api.OBJECT, "status"))["counters_since"]
    time.sleep(1.1)
    reply, events = heard(ubusd, bus, "reset_counters", luci=True)
    assert reply["ok"] is True
    assert reply["status"]["counters_since"] > before
    assert [e["counters_since"] for e in events] == [reply["status"]["counters_since"]]


def test_internal_error_is_a_reply_not_status_9(ubusd, connected, config, monkeypatch):
    bus = connected
    api = api_for(bus, config)

    def boom():
        raise ValueError("kaput")
    monkeypatch.setattr(api.svc, "check", boom)
    reply = one_reply(call(ubusd, bus, ubus_api.OBJECT, "check"))
    assert reply["ok"] is False and "kaput" in reply["error"]


# --- serve(): apply, register, loop, leave ------------------------------------------

class _Bus:
    """The real binding, but connect() goes to the test's ubusd and loop() delivers three
    calls from another process, then returns (as uloop does on SIGTERM)."""

    def __init__(self, real, ubusd):
        self.real, self.ubusd, self.replies = real, ubusd, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def connect(self):
        return self.real.connect(socket_path=self.ubusd.socket)

    def loop(self, timeout=-1):
        self.sigint_in_loop = signal.getsignal(signal.SIGINT)
        for obj, method, args in ((ubus_api.OBJECT, "status", {}),
                                  (ubus_api.LUCI_OBJECT, "set",
                                   dict(SESSION, values={"l2tp": False})),
                                  (ubus_api.OBJECT, "status", SESSION)):   # wrong object
            self.replies.append(self.ubusd.invoke(self.real, obj, method, args))


def test_serve_applies_registers_answers_and_returns_when_loop_ends(ubusd, config, in_netns):
    bus = _Bus(realubus.binding(), ubusd)
    sigint = signal.getsignal(signal.SIGINT)
    listener = ubusd.listen(ubus_api.EVENT)
    try:
        assert ubus_api.serve(Service(config), bus=bus) == 0
    finally:
        events = listener.events()
        if bus.real.get_connected():
            bus.real.disconnect()
    assert bus.sigint_in_loop == signal.SIG_DFL     # Ctrl-C ends uloop in a terminal
    assert signal.getsignal(signal.SIGINT) is sigint     # restored after the loop
    assert not bus.real.get_connected()                  # disconnected on the way out
    replies = bus.replies
    assert replies[0][0] == 0 and replies[0][1]["applied"] is True
    assert replies[1][0] == 0 and replies[1][1]["ok"] is True
    assert replies[1][1]["status"]["protocols"]["l2tp"]["effective"] == "off"
    assert replies[2][0] == 2                            # INVALID_ARGUMENT
    # one event for the apply at start, one for set
    assert [e["protocols"]["l2tp"]["effective"] for e in events] == ["on", "off"]
    # the objects went with the connection
    lookup = subprocess.run(ubusd.cli() + ["list", ubus_api.OBJECT], capture_output=True)
    assert lookup.returncode != 0


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
