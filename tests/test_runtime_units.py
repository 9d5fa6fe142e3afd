"""Zones as fw4 resolves them, counters carried into a new table, and fw4's include of it,
checked against the real kernel in a throwaway namespace where nft is involved."""

import json

import pytest

from conftest import in_ns
from vpn_passthrough import counts, plan, ruleset, settings, uci, zones, tablecomment, fw4include
from vpn_passthrough.settings import SettingsError

FIREWALL = """
config zone
\toption name 'wan'
\tlist network 'wan'
\tlist network 'wwan'
\tlist device 'tun+'
config zone
\toption name 'lan'
\tlist network 'lan'
"""
DUMP = {"interface": [
    {"interface": "lan", "up": True, "l3_device": "br-lan", "device": "br-lan"},
    {"interface": "wan", "up": True, "l3_device": "pppoe-wan", "device": "eth1"},
    {"interface": "wwan", "up": False, "pending": False, "available": False, "data": {}},
]}


def test_netifd_devices_are_l3_device_else_device():
    got = zones.netifd_interfaces(DUMP)
    assert got == {"lan": ["br-lan"], "wan": ["pppoe-wan"], "wwan": []}
    assert zones.netifd_interfaces({"interface": [{"interface": "x", "device": "eth9"}]}) == \
        {"x": ["eth9"]}
    with pytest.raises(SettingsError) as e:
        zones.netifd_interfaces({"interface": [{"interface": "x", "l3_device": 'a";drop'}]})
    assert e.value.field == "network.interface.x.l3_device"


def test_zone_wildcards_become_prefix_matches():
    assert zones.device_match("tun+", "f") == "tun*"
    assert zones.device_match("tun*", "f") == "tun*"
    assert zones.device_match("eth1", "f") == "eth1"
    assert zones.device_match("+", "f") is None          # any device: left out, as fw4 does
    for bad in ("t+un", "tu*n+", 'x"+'):
        with pytest.raises(SettingsError) as e:
            zones.device_match(bad, "firewall.@zone[0].device")
        assert e.value.field == "firewall.@zone[0].device"


def test_down_networks_are_reported_not_silently_empty():
    fw = uci.parse(FIREWALL)
    devices, down = zones.resolve(["wan"], fw, zones.netifd_interfaces(DUMP), "wan_zone")
    assert devices == ["tun*", "pppoe-wan"] and down == ["wwan"]
    # every network down: no device, but not an error (it may come up)
    only = uci.parse("config zone\n\toption name 'wan'\n\tlist network 'wwan'\n")
    assert zones.resolve(["wan"], only, {"wwan": []}, "wan_zone") == ([], ["wwan"])
    with pytest.raises(SettingsError) as e:
        zones.resolve(["guest"], fw, {}, "lan_zone")
    assert e.value.field == "vpn-passthrough.globals.lan_zone"


MIXED = """
config protocol 'l2tp'
\toption enabled '0'
config client
\toption name 'tablet'
\tlist mac 'aa:bb:cc:dd:ee:ff'
\tlist ip '192.168.1.23'
\tlist ip '10.9.0.0/16'
\tlist ip 'fd00:1::23'
\toption action 'block'
"""


def build(wan=("eth1", "tun*")):
    return plan.build(settings.parse(MIXED), ["br-lan"], list(wan), {"pptp": True})


def carried():
    c = counts.Carried()
    c.named = {"l2tp_blocked": (7, 420), "pptp_passed": (2, 100)}
    c.elements = {"l2tp_block_ipv4": {"192.168.1.23": (5, 300), "10.9.0.0/16": (1, 60)},
                  "l2tp_block_mac": {"aa:bb:cc:dd:ee:ff": (3, 180)},
                  "l2tp_block_ipv6": {"fd00:1::23": (4, 240)}}
    return c


def listing(ns):
    r = in_ns(ns, ["nft", "-j", "list", "table", "inet", "vpn_passthrough"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["nftables"]


def test_counts_are_carried_into_the_new_table_and_read_back(netns):
    p = build()
    plain = ruleset.render(p)
    text = ruleset.render(p, carried=carried(), since=1700000000)
    # the counts are not part of the digest: an unchanged apply is still recognised
    assert tablecomment.read_comment(text)[0] == tablecomment.read_comment(plain)[0]
    assert tablecomment.read_since(text) == 1700000000 and tablecomment.read_since(plain) == 0
    r = in_ns(netns, ["nft", "-f", "-"], stdin=text)
    assert r.returncode == 0, r.stderr
    back = counts.read(listing(netns))
    assert back.named["l2tp_blocked"] == (7, 420) and back.named["pptp_passed"] == (2, 100)
    assert back.named["ipsec_blocked"] == (0, 0)
    for name, values in carried().elements.items():
        assert back.elements[name] == values
    assert back.clients["@client[0]"]["l2tp_block_ipv4"] == (6, 360)
    assert "pptp_block_ipv4" not in back.elements          # other sets: from zero
    assert '"tun*"' in in_ns(netns, ["nft", "list", "set", "inet", "vpn_passthrough",
                                     "wan_devices"]).stdout


def test_the_include_never_resets_a_live_table_and_recreates_a_missing_one(netns):
    text = ruleset.render(build(), carried=carried(), since=1700000000)
    include = fw4include.render(text)
    assert "delete table" not in include
    assert in_ns(netns, ["nft", "-f", "-"], stdin=text).returncode == 0
    before = in_ns(netns, ["nft", "-s", "list", "ruleset"]).stdout      # rules, no counts
    # live counts move on (here: set by hand), then fw4 reloads, which loads the include
    in_ns(netns, ["nft", "reset", "counter", "inet", "vpn_passthrough", "l2tp_blocked"])
    fw4 = "table inet fw4 {\n\tchain forward {\n\t\ttype filter hook forward priority 0;\n\t}\n}\n"
    r = in_ns(netns, ["nft", "-f", "-"], stdin=fw4 + include)
    assert r.returncode == 0, r.stderr
    after = counts.read(listing(netns))
    assert after.named["l2tp_blocked"] == (0, 0)              # the live value, not the file's
    assert after.elements["l2tp_block_ipv4"]["192.168.1.23"] == (5, 300)
    in_ns(netns, ["nft", "delete", "table", "inet", "fw4"])
    assert in_ns(netns, ["nft", "-s", "list", "ruleset"]).stdout == before   # rules once
    # after `fw4 flush` the include alone creates the table, with the file's counts
    in_ns(netns, ["nft", "flush", "ruleset"])
    r = in_ns(netns, ["nft", "-f", "-"], stdin=fw4 + include)
    assert r.returncode == 0, r.stderr
    again = counts.read(listing(netns))
    assert again.named["l2tp_blocked"] == (7, 420)
    assert tablecomment.read_comment(in_ns(netns, ["nft", "list", "table", "inet",
                                              "vpn_passthrough"]).stdout)[1]["l2tp"] == "off"


def test_a_page_is_cut_to_the_byte_budget():
    from vpn_passthrough import report
    big = {"total": 100, "flows": [{"x": "y" * 2000} for _ in range(100)]}
    out = report.fit(big, "flows")
    assert 0 < len(out["flows"]) < 100
    assert len(json.dumps(out)) <= report.BUDGET
    small = report.fit({"total": 3, "flows": [1, 2, 3]}, "flows")
    assert small["flows"] == [1, 2, 3]


def test_cli_clients_options(capsys):
    from vpn_passthrough import cli
    assert cli._options(["--offset", "5", "--limit", "10"], ("--offset", "--limit")) == \
        {"--offset": 5, "--limit": 10}
    for bad in (["--offset"], ["--offset", "-1"], ["--limit", "x"], ["--page", "1"]):
        assert cli._options(bad, ("--offset", "--limit")) is None
    assert cli.main(["--config", "/nonexistent", "clients", "--limit", "x"]) == 2
