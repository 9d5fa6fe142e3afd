"""The service on the REAL ubus: installed by opkg, started by procd, registered on the kit's
ubusd through the real python3-ubus (PyPI `ubus` 0.1.3 built against the kit's libubus),
called with the real `ubus` CLI, its event seen by `ubus listen`."""

import json
import os

from realubus import Listener

OBJ, LUCI = "vpn-passthrough", "luci.vpn-passthrough"
SESSION = "0123456789abcdef0123456789abcdef"
INVALID_ARGUMENT = 2                    # UBUS_STATUS_INVALID_ARGUMENT, the CLI's exit status


def test_both_objects_on_ubusd_with_the_session_only_on_luci(owrt):
    plain, luci = owrt.signatures(OBJ), owrt.signatures(LUCI)
    for method in ("status", "sessions", "check", "reload", "set"):
        assert method in plain and method in luci
    assert plain["set"] == {"values": "Table"} and plain["status"] == {}
    assert sorted(plain) == sorted(luci)
    for method, sig in plain.items():
        # every LuCI method declares the session rpcd adds, and nothing else differs
        assert luci[method] == dict(sig, ubus_rpc_session="String"), method


def test_status_sessions_check_answer(owrt):
    st = owrt.call(OBJ, "status")
    assert st["enabled"] is True and st["applied"] is True
    assert sorted(st["protocols"]) == ["ipsec", "l2tp", "pptp"]
    for p in st["protocols"].values():
        assert p["effective"] == "on" and p["configured"] is True
    sessions = owrt.call(OBJ, "sessions")
    flows = sessions.get("flows", sessions.get("sessions"))
    assert flows == []                  # nothing runs through the router's namespace
    findings = owrt.call(OBJ, "check")["findings"]
    for f in findings:
        assert sorted(f) == ["fix", "id", "message", "severity"]
    # python3-ubus is there: the root's python3 imports the real binding
    assert "ubus_missing" not in [f["id"] for f in findings]


def test_each_caller_is_refused_on_the_other_callers_object(owrt):
    # the real python3-ubus rejects an argument its signature lacks, and a missing one
    assert owrt.call_status(OBJ, "status", {"ubus_rpc_session": SESSION})[0] == INVALID_ARGUMENT
    assert owrt.call_status(LUCI, "status")[0] == INVALID_ARGUMENT
    assert owrt.call_status(LUCI, "status", {"ubus_rpc_session": SESSION})[0] == 0
    assert owrt.call_status(OBJ, "set", {"values": "pptp=0"})[0] == INVALID_ARGUMENT
    assert owrt.call_status(OBJ, "set")[0] == INVALID_ARGUMENT


def _listen(owrt, event):
    """`ubus listen EVENT` on the userland's bus, registered when this returns."""
    return Listener([os.path.join(owrt.prefix, "bin", "ubus"), "-s",
                     os.path.join(owrt.run_dir, "ubus", "ubus.sock")], event)


def test_reload_is_announced_to_ubus_listen(owrt):
    proc = _listen(owrt, "vpn-passthrough.changed")
    try:
        reply = owrt.call(OBJ, "reload")
        assert reply["ok"] is True
    finally:
        seen = proc.events()
    assert len(seen) == 1, seen
    assert seen[0]["applied"] is True
    assert sorted(seen[0]["protocols"]) == ["ipsec", "l2tp", "pptp"]


def test_set_changes_the_file_and_the_kernel_and_is_announced(owrt):
    before = owrt.table()
    proc = _listen(owrt, "vpn-passthrough.changed")
    try:
        reply = owrt.call(LUCI, "set", {"values": {"pptp": False},
                                        "ubus_rpc_session": SESSION})
    finally:
        seen = proc.events()
    try:
        assert reply["ok"] is True, reply
        assert reply["status"]["protocols"]["pptp"]["effective"] == "off"
        assert owrt.exec(["uci", "get", "vpn-passthrough.pptp.enabled"]).stdout.strip() == "0"
        assert owrt.table() != before
        assert [e["protocols"]["pptp"]["effective"] for e in seen] == ["off"]
    finally:
        owrt.reset_settings()


def test_bad_set_is_refused_with_the_field_and_the_file_unchanged(owrt):
    path = owrt.settings_path()
    before, table = open(path, "rb").read(), owrt.table()
    reply = owrt.call(OBJ, "set", {"values": {"bogus": True}})
    assert reply["ok"] is False and reply["field"] == "values.bogus", reply
    assert "unknown switch" in reply["error"]
    reply = owrt.call(LUCI, "set", {"values": {"pptp": "maybe"}, "ubus_rpc_session": SESSION})
    assert reply["ok"] is False and reply["field"] == "values.pptp", reply
    assert open(path, "rb").read() == before
    assert owrt.table() == table


def test_invalid_settings_are_named_and_the_rules_stay(owrt):
    table = owrt.table()
    text = open(owrt.settings_path()).read().replace("option log '0'", "option log 'sometimes'")
    try:
        reply = owrt.reset_settings(text)
        assert reply["ok"] is False
        assert reply["field"] == "vpn-passthrough.globals.log", reply
        # the previous ruleset stays loaded, and status says why the settings are not
        assert owrt.table() == table
        assert "vpn-passthrough.globals.log" in json.dumps(owrt.call(OBJ, "status"))
    finally:
        assert owrt.reset_settings()["ok"] is True
