"""rpcd's ACLs over uhttpd's /ubus, exactly as LuCI's rpc.js calls: the app's ACL file
(installed by opkg from luci-app-vpn-passthrough) decides who may call what on
`luci.vpn-passthrough`; rpcd adds `ubus_rpc_session` to every call that passes."""

import subprocess

import pytest

from userland import RPC_NO_SESSION

LUCI = "luci.vpn-passthrough"
READ = ("status", "sessions", "check")
WRITE = ("set", "reload")
ACCESS_DENIED = -32002                  # rpcd's JSON-RPC error for a call its ACL refuses
VIEWER, VIEWER_PASSWORD = "viewer", "viewer-pass"


def _args(signature):
    """Harmless arguments for a method from its signature (rpcd adds the session)."""
    example = {"Table": {}, "String": "192.168.1.10", "Integer": 1, "Boolean": False,
               "Array": []}
    return dict((k, example[v]) for k, v in signature.items() if k != "ubus_rpc_session")


@pytest.fixture(scope="module")
def methods(owrt):
    return owrt.signatures(LUCI)


@pytest.fixture(scope="module")
def viewer(owrt):
    """An rpcd login holding only read ACLs: the app's and LuCI's own (luci-base: uci get,
    which any LuCI page needs), nothing to write."""
    crypt = subprocess.run(["openssl", "passwd", "-1", VIEWER_PASSWORD], check=True,
                           capture_output=True, text=True).stdout.strip()
    with open(owrt.config_dir + "/rpcd", "a") as f:
        f.write("\nconfig login\n\toption username '%s'\n\toption password '%s'\n"
                "\tlist read 'luci-base'\n\tlist read 'luci-app-vpn-passthrough'\n"
                % (VIEWER, crypt))
    return owrt.login(VIEWER, VIEWER_PASSWORD)


def test_the_acl_names_every_method_the_service_registers(owrt, methods):
    # a method LuCI may not reach at all would be dead; one the ACL names but the
    # service lacks would fail in the page
    assert set(READ + WRITE) <= set(methods)


def test_root_may_call_every_method(owrt, methods):
    sid = owrt.login()
    try:
        for method, signature in sorted(methods.items()):
            status, data = owrt.http_call(sid, LUCI, method, _args(signature))
            assert status == 0, (method, status, data)
            assert isinstance(data, dict), (method, data)
    finally:
        owrt.reset_settings()


def test_anonymous_may_call_none(owrt, methods):
    for method, signature in sorted(methods.items()):
        status, data = owrt.http_call(RPC_NO_SESSION, LUCI, method, _args(signature))
        assert status == "error" and data["code"] == ACCESS_DENIED, (method, status, data)


def test_a_reader_may_read_and_may_not_change(owrt, methods, viewer):
    path = owrt.settings_path()
    before = open(path).read()
    for method in READ:
        status, data = owrt.http_call(viewer, LUCI, method, _args(methods[method]))
        assert status == 0, (method, status, data)
    assert owrt.http_call(viewer, LUCI, "status")[1]["applied"] is True
    for method in WRITE:
        status, data = owrt.http_call(viewer, LUCI, method,
                                      {"values": {"pptp": False}} if method == "set" else {})
        assert status == "error" and data["code"] == ACCESS_DENIED, (method, status, data)
    # uci through rpcd: the reader sees the settings and may not write them either
    status, data = owrt.http_call(viewer, "uci", "get", {"config": "vpn-passthrough"})
    assert status == 0 and data["values"]["pptp"]["enabled"] == "1"
    status, _ = owrt.http_call(viewer, "uci", "set", {"config": "vpn-passthrough",
                                                     "section": "pptp",
                                                     "values": {"enabled": "0"}})
    assert status != 0
    assert open(path).read() == before
    assert owrt.call("vpn-passthrough", "status")["protocols"]["pptp"]["effective"] == "on"
