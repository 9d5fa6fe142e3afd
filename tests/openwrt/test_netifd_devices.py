"""Devices as netifd has them at run time, as fw4 takes them: a Wi-Fi uplink without a
`device` option, a `tun+` zone device, a zone network that is down.

netifd is not in the kit: NetifdStandin (tests/openwrt/netifd_standin.py) is a python3-ubus
object `network.interface` on the kit's REAL ubusd answering `dump` in netifd's reply shape,
with the state this test sets; fw4 (real) and the service both read it. It stands in for
netifd's run-time state only. The interface event itself (netifd's notify, turned into
procd's `interface.*` trigger) is not imitated: the test runs what that trigger runs,
`/etc/init.d/vpn-passthrough reload`; test_initscript.py checks the triggers cover the
zones' networks (wwan included).

Real packets: a LAN client sends L2TP (off) to servers reached through eth1 (wan), tun7
(matched only by the zone's `tun+`) and wwan0 (wwan's device once netifd has it up).
"""

import pytest

from openwrt import traffic
from openwrt.netifd_standin import NetifdStandin, netifd_interface
from openwrt.router import serving
from openwrt.uci_configs import ZONES_FIREWALL, ZONES_NETWORK

SETTINGS = """config globals 'globals'
\tlist lan_zone 'lan'
\tlist wan_zone 'wan'

config protocol 'l2tp'
\toption enabled '0'
"""
WWAN = "\nconfig interface 'wwan'\n\toption proto 'dhcp'\n"     # no device: netifd knows it


@pytest.fixture(scope="module")
def router(ipks):
    standin = []

    def before(r):
        """netifd's view, as the service must find it when it first starts."""
        r.firewall_init()
        r.uplink("tun7", "198.51.100.1/24", "198.51.100.2/24")
        r.uplink("wwan0", "203.0.113.1/24", "203.0.113.2/24")
        standin.append(NetifdStandin(r).start([
            netifd_interface("lan", "static", "br-lan", "192.168.1.1"),
            netifd_interface("wan", "static", "eth1", "192.0.2.1"),
            netifd_interface("wwan", "dhcp")]))                           # down: no device

    firewall = ZONES_FIREWALL.format(wan_extra="\tlist network 'wwan'\n\tlist device 'tun+'\n")
    try:
        with serving(ipks, SETTINGS, ZONES_NETWORK + WWAN, firewall, before=before) as r:
            try:
                r.firewall("start")
                yield r, standin[0]
            finally:
                r.service("stop")
    finally:
        for s in standin:
            s.stop()


def test_wildcard_device_and_a_down_network_are_matched_and_said(router):
    r, _ = router
    st = r.call("vpn-passthrough", "status")
    assert st["zones"]["source"] == "netifd"
    assert st["zones"]["wan"] == {"zones": ["wan"], "devices": ["eth1", "tun*"],
                                  "down": ["wwan"]}
    assert st["wan_devices"] == ["eth1", "tun*"]
    assert [e for e in st["errors"] if "wwan" in e and "no device" in e]
    findings = r.call("vpn-passthrough", "check")["findings"]
    down = [f for f in findings if f["id"] == "zone_network_down"]
    assert down and "wwan" in down[0]["message"] and "ifup wwan" in down[0]["fix"]
    assert '"tun*"' in r.table()
    # real packets: through eth1 and through tun7 (only `tun+` names it) L2TP is blocked
    assert traffic.udp(r, 1701, server="192.0.2.2") == 0
    assert traffic.udp(r, 1701, server="198.51.100.2") == 0
    assert r.counter("l2tp_blocked") == 6
    assert traffic.udp(r, 4500, server="198.51.100.2") == 3      # ipsec is on: passes
    # wwan is down: its device is unknown to our rules (status says so, above): a
    # datagram leaving through wwan0 is not counted (fw4 rejects it: not in a zone either)
    traffic.udp(r, 1701, server="203.0.113.2")
    assert r.counter("l2tp_blocked") == 6


def test_a_network_coming_up_is_matched_after_the_interface_trigger(router):
    r, standin = router
    standin.set([netifd_interface("lan", "static", "br-lan", "192.168.1.1"),
                 netifd_interface("wan", "static", "eth1", "192.0.2.1"),
                 netifd_interface("wwan", "dhcp", "wwan0", "203.0.113.1")])
    r.service("reload")             # what procd's interface trigger for wwan runs
    st = r.call("vpn-passthrough", "status")
    assert st["zones"]["wan"]["down"] == [] and "wwan0" in st["wan_devices"]
    before = r.counter("l2tp_blocked")
    assert traffic.udp(r, 1701, server="203.0.113.2") == 0
    assert r.counter("l2tp_blocked") == before + 3     # counted, and earlier counts kept
    assert before == 6
    findings = r.call("vpn-passthrough", "check")["findings"]
    assert "zone_network_down" not in [f["id"] for f in findings]
