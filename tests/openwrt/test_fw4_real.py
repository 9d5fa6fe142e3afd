"""The REAL fw4 (firewall4, ucode) beside the service in the router's namespace: fw4 starts
from /etc/config/firewall, then the service starts; whatever the service applies, table
inet fw4 stays exactly as fw4 made it. (fw4's reload/restart/stop/start with the service
running: tests/openwrt/test_fw4_lifecycle*.py.)"""

import pytest

INIT = "/etc/init.d/vpn-passthrough"
OBJ = "vpn-passthrough"


@pytest.fixture(scope="module")
def router(owrt):
    """fw4 started first, then the service (the order a booting router has: 19 before 21)."""
    owrt.exec([INIT, "stop"])
    owrt.exec(["fw4", "start"])
    owrt.exec([INIT, "start"])
    owrt.wait_for("the table", owrt.table)
    owrt.wait_object(OBJ)
    return owrt


def _fw4(router):
    # -s: without counter values, which traffic of the host would not move here anyway
    return router.nft("-s", "list", "table", "inet", "fw4").stdout


def test_fw4_runs_with_the_zones_of_the_config(router):
    fw4 = _fw4(router)
    for chain in ("forward_lan", "forward_wan", "srcnat_wan", "input_wan"):
        assert "chain " + chain + " {" in fw4
    tables = router.nft("list", "tables").stdout.split("\n")
    assert "table inet fw4" in tables and "table inet vpn_passthrough" in tables


def test_the_service_never_touches_inet_fw4(router):
    before = _fw4(router)
    rulesets = set()
    try:
        for values in ({"pptp": False}, {"l2tp": False, "ipsec": False},
                       {"pptp": True, "l2tp": True, "ipsec": True}, {"enabled": False},
                       {"enabled": True}):
            reply = router.call(OBJ, "set", {"values": values})
            assert reply["ok"] is True, (values, reply)
            assert _fw4(router) == before, values
            rulesets.add(router.table())
        assert router.call(OBJ, "reload")["ok"] is True
        router.exec([INIT, "restart"])
        router.wait_for("the table after restart", router.table)
        router.exec([INIT, "stop"])
        router.wait_for("no table after stop", lambda: router.table() is None)
        assert _fw4(router) == before
        router.exec([INIT, "start"])
        router.wait_for("the table after start", router.table)
        assert _fw4(router) == before
    finally:
        router.reset_settings()
    assert len(rulesets) >= 3           # the applies did change the service's own table
