"""The package's own /etc/init.d/vpn-passthrough run through the REAL /etc/rc.common and
/lib/functions/procd.sh against the REAL procd (and rpcd, uci, validate_data) of the kit.

Order matters within this module (one userland): the service is running when each test
starts and is left running when it ends."""

import os
import signal
import time

import pytest

INIT = "/etc/init.d/vpn-passthrough"
OBJ = "vpn-passthrough"


def _pptp(owrt):
    return owrt.call(OBJ, "status")["protocols"]["pptp"]["effective"]


def _service(owrt):
    return owrt.call("service", "list", {"name": OBJ, "verbose": True}).get(OBJ, {})


def _gone(owrt):
    """procd lists a stopped instance until its process has exited (SIGTERM, then SIGKILL
    after term_timeout: 5 s)."""
    owrt.wait_for("procd to drop the instance", lambda: owrt.instance() == {}, timeout=6)


def test_start_registers_the_instance_and_loads_the_table(owrt):
    owrt.exec([INIT, "stop"])
    assert owrt.table() is None
    _gone(owrt)
    owrt.exec([INIT, "start"])
    inst = owrt.instance()
    assert inst["running"] is True
    assert inst["command"] == ["/usr/sbin/vpn-passthrough", "serve"]
    assert "respawn" in inst
    owrt.wait_for("the table after start", owrt.table)
    owrt.wait_object(OBJ)
    assert owrt.exec([INIT, "running"], check=False).returncode == 0
    assert owrt.exec([INIT, "enabled"], check=False).returncode == 0   # by opkg's postinst
    assert owrt.exec(["test", "-L", "/etc/rc.d/S21vpn-passthrough"], check=False).returncode == 0


def test_triggers_follow_the_settings_and_the_firewall_zones(owrt):
    triggers = _service(owrt)["triggers"]
    packages = [t[1][1][2] for t in triggers if t[0] == "config.change"]
    assert sorted(packages) == ["firewall", "network", OBJ]
    # the zones lan and wan of the real /etc/config/firewall, read by the real config_load
    interfaces = [t[1][1][2] for t in triggers if t[0] == "interface.*"]
    assert interfaces == ["lan", "wan", "wan6"]
    for t in triggers:
        assert t[1][2] == ["run_script", INIT, "reload"]


def test_reload_renews_the_triggers_and_keeps_the_instance(owrt):
    """A zone that gains a network (e.g. wwan) re-applies on that network's events after a
    reload, without a restart."""
    pid = owrt.instance()["pid"]
    owrt.exec(["uci", "add_list", "firewall.@zone[0].network=wwan"])
    owrt.exec(["uci", "commit", "firewall"])     # the CLI: no config.change event
    try:
        owrt.exec([INIT, "reload"])
        interfaces = [t[1][1][2] for t in _service(owrt)["triggers"] if t[0] == "interface.*"]
        assert interfaces == ["lan", "wwan", "wan", "wan6"]
        assert owrt.instance()["pid"] == pid
    finally:
        owrt.exec(["uci", "del_list", "firewall.@zone[0].network=wwan"])
        owrt.exec(["uci", "commit", "firewall"])
        owrt.exec([INIT, "reload"])


def test_uci_commit_through_rpcd_fires_the_reload_and_the_rules_follow(owrt):
    before = owrt.table()
    try:
        owrt.call("uci", "set", {"config": OBJ, "section": "pptp", "values": {"enabled": "0"}})
        owrt.call("uci", "commit", {"config": OBJ})      # rpcd emits config.change
        owrt.wait_for("pptp off after uci commit", lambda: _pptp(owrt) == "off")
        assert owrt.table() != before
    finally:
        owrt.reset_settings()
    assert owrt.table() == before


def test_luci_save_and_apply_fires_the_reload(owrt):
    """LuCI's path: uci set + uci apply with a session, over HTTP (rollback off, as the
    page's Save & Apply does once confirmed)."""
    before = owrt.table()
    sid = owrt.login()
    try:
        status, _ = owrt.http_call(sid, "uci", "set", {"config": OBJ, "section": "l2tp",
                                                       "values": {"enabled": "0"}})
        assert status == 0
        status, _ = owrt.http_call(sid, "uci", "apply", {"rollback": False})
        assert status == 0
        owrt.wait_for("l2tp off after uci apply", lambda: owrt.call(
            OBJ, "status")["protocols"]["l2tp"]["effective"] == "off")
        assert owrt.table() != before
        assert owrt.exec(["uci", "get", OBJ + ".l2tp.enabled"]).stdout.strip() == "0"
    finally:
        owrt.reset_settings()


def test_service_validate_reports_the_packages_validation(owrt):
    reply = owrt.call("service", "validate", {"package": OBJ})
    rules = reply[OBJ]
    assert sorted(rules) == ["client", "globals", "protocol"]
    assert rules["client"]["mac"] == "list(macaddr)"
    assert rules["protocol"]["enabled"] == "bool"
    assert rules["globals"]["lan_zone"] == "list(string)"


def test_invalid_client_still_starts_the_service_which_names_it(owrt):
    """The init script's validation (the real validate_data) only logs: procd still starts
    the service, whose status names the option, so LuCI can show it."""
    bad = open(owrt.settings_path()).read() + \
        "\nconfig client\n\toption name 'pc'\n\toption mac 'not-a-mac'\n"
    try:
        with open(owrt.settings_path(), "w") as f:
            f.write(bad)
        owrt.exec([INIT, "restart"])
        assert owrt.instance()["running"] is True
        owrt.wait_object(OBJ)
        status = owrt.wait_for("the service answering", lambda: owrt.call_status(
            OBJ, "status")[1])
        assert "mac" in " ".join(status["errors"]), status
    finally:
        owrt.reset_settings()


def test_killed_service_is_respawned_by_procd(owrt):
    pid = owrt.instance()["pid"]
    os.kill(pid, signal.SIGKILL)
    # procd's respawn waits `timeout` (5 s by default) before starting it again
    owrt.wait_for("a new instance", lambda: owrt.instance().get("pid") not in (None, pid),
                  timeout=20, step=0.2)
    owrt.wait_object(OBJ)
    assert owrt.wait_for("the service answering", lambda: owrt.call_status(
        OBJ, "status")[0] == 0)
    assert owrt.table() is not None


def test_stop_removes_the_table_within_a_second_and_reload_starts_it(owrt):
    assert owrt.table() is not None
    t0 = time.time()
    owrt.exec([INIT, "stop"])
    owrt.wait_for("no table", lambda: owrt.table() is None, timeout=1.0, step=0.02)
    assert time.time() - t0 < 1.0
    _gone(owrt)
    # reload while stopped (a trigger, or `reload` by hand) starts it
    owrt.exec([INIT, "reload"])
    owrt.wait_for("the table after reload", owrt.table)
    assert owrt.instance()["running"] is True


@pytest.fixture(autouse=True)
def _running(owrt):
    """Each test starts with the service running and answering."""
    if owrt.instance().get("running") is not True:
        owrt.exec([INIT, "start"])
    owrt.wait_object(OBJ)
