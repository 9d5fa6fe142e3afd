"""The table through fw4's whole lifecycle, with the kit's REAL fw4, its init script and procd.

`/etc/init.d/firewall stop` runs `fw4 flush`, which deletes every table of the namespace,
ours too; start, restart and reload load fw4's ruleset with its includes. The service's
include (/usr/share/nftables.d/ruleset-post/vpn-passthrough.nft, a symlink to a file under
/var/run written at each apply) must bring the table back each time: the switch that is off
blocks again (a real datagram does not arrive, the counter rises), the PPTP helper is assigned
again (a real TCP connection to port 1723 shows helper=pptp in conntrack). fw4's own table is
never touched by the package. Counters: kept across fw4 reload and restart (the include never
replaces a live table); after stop + start they are those of the last apply.

netifd is not in the kit and not needed here: the zones' devices come from
/etc/config/network (the service's fallback where netifd is not running).
"""

import pytest

from openwrt import traffic
from openwrt.router import serving
from openwrt.uci_configs import ZONES_FIREWALL, ZONES_NETWORK

SETTINGS = """config globals 'globals'
\toption enabled '1'
\tlist lan_zone 'lan'
\tlist wan_zone 'wan'

config protocol 'pptp'
\toption enabled '1'

config protocol 'l2tp'
\toption enabled '0'

config protocol 'ipsec'
\toption enabled '1'
"""


@pytest.fixture(scope="module")
def router(ipks):
    with serving(ipks, SETTINGS, ZONES_NETWORK, ZONES_FIREWALL.format(wan_extra=""),
                 before=lambda r: r.firewall_init()) as r:
        try:
            yield r
        finally:
            r.service("stop")


def blocks_and_assigns(router):
    """The l2tp switch (off) drops a real datagram and counts it; ipsec (on) passes;
    the pptp helper is assigned to a real connection."""
    before = router.counter("l2tp_blocked")
    assert traffic.udp(router, 1701) == 0
    assert router.counter("l2tp_blocked") == before + 3
    assert traffic.udp(router, 4500) == 3
    assert traffic.pptp_helper_assigned(router)


def test_table_comes_back_with_every_fw4_start_restart_and_reload(router):
    router.firewall("start")
    fw4 = router.nft("-s", "list", "table", "inet", "fw4").stdout     # rules, not counts
    router.service("start")
    router.wait_object("vpn-passthrough")
    router.wait_for("the table", router.table, timeout=30)
    link = router.exec(["readlink", "/usr/share/nftables.d/ruleset-post/vpn-passthrough.nft"])
    assert link.stdout.strip() == "/var/run/vpn-passthrough/fw4.nft"
    assert "l2tp=off" in router.table()
    blocks_and_assigns(router)
    counted = router.counter("l2tp_blocked")
    assert counted == 3

    for action in ("reload", "restart"):
        router.firewall(action)
        assert router.table() is not None, action
        assert router.counter("l2tp_blocked") == counted, action    # not replaced
        blocks_and_assigns(router)
        counted += 3

    router.firewall("stop")                         # fw4 flush: every table goes
    assert router.table() is None
    assert router.nft("list", "tables").stdout.strip() == ""
    router.firewall("start")
    assert router.table() is not None
    # restored from the include: the counts of the last apply (the first, at 0)
    assert router.counter("l2tp_blocked") == 0
    blocks_and_assigns(router)
    # fw4's table is fw4's: the same rules it loads without us
    assert router.nft("-s", "list", "table", "inet", "fw4").stdout == fw4
    # the resident service is still there and reports what the kernel has
    st = router.call("vpn-passthrough", "status")
    assert st["applied"] is True and st["protocols"]["l2tp"]["effective"] == "off"
    assert st["protocols"]["l2tp"]["blocked"]["packets"] == 3
    assert st["protocols"]["pptp"]["helper"] == "assigned"


def test_a_missing_include_is_a_finding_and_the_next_apply_restores_it(router):
    ids = [f["id"] for f in router.call("vpn-passthrough", "check")["findings"]]
    assert "fw4_include_missing" not in ids
    router.exec(["rm", "/usr/share/nftables.d/ruleset-post/vpn-passthrough.nft"])
    ids = [f["id"] for f in router.call("vpn-passthrough", "check")["findings"]]
    assert "fw4_include_missing" in ids
    assert router.vpn("apply").stdout.startswith("unchanged")
    ids = [f["id"] for f in router.call("vpn-passthrough", "check")["findings"]]
    assert "fw4_include_missing" not in ids
    router.firewall("restart")
    assert router.table() is not None


def test_a_stopped_service_is_not_brought_back_by_fw4(router):
    router.service("stop")
    assert router.table() is None
    router.firewall("reload")
    assert router.table() is None
    router.firewall("restart")
    assert router.table() is None
    router.service("start")
    router.wait_for("the table", router.table, timeout=30)
    router.firewall("reload")
    assert router.table() is not None
