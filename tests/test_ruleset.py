"""Plan and rendering: whole rulesets compared with reviewed files, and checked by the kernel."""

import os

import pytest

from conftest import in_ns
from vpn_passthrough import netaddr, plan, ruleset, settings, tablecomment

HERE = os.path.dirname(os.path.abspath(__file__))

MIXED = """
config globals 'globals'
	option log '1'
config protocol 'pptp'
	option enabled '0'
config protocol 'ipsec'
	option enabled '1'
config client
	option name 'Kids tablet'
	list mac 'aa:bb:cc:dd:ee:ff'
	list ip '192.168.1.23'
	list ip 'fd00:1::23'
	option action 'block'
config client
	option name 'Work laptop'
	list ip '192.168.1.10'
	option action 'allow'
	list protocol 'pptp'
"""


def build(text, helper=True, lan=("br-lan",), wan=("eth1",)):
    return plan.build(settings.parse(text), list(lan), list(wan), {"pptp": helper})


def test_mixed_config_matches_the_reviewed_ruleset():
    text = ruleset.render(build(MIXED))
    with open(os.path.join(HERE, "golden", "mixed.nft")) as f:
        assert text == f.read()


def test_default_ruleset_shape():
    text = ruleset.render(build(""))
    assert "ct helper pptp {" in text
    # assigned where PPTP passes, in forward (after the conntrack lookup, before the entry
    # is confirmed), not in a hook of its own that every packet would pay for
    assert text.split("chain pptp_pass {")[1].split("}")[0].count('ct helper set "pptp"') == 1
    assert text.count("ct helper set") == 1 and text.count(" hook ") == 1
    assert "set pptp_" not in text                # no client sets without clients
    assert "goto pptp_block" not in text
    assert text.count("goto pptp_pass") == 1
    assert "log prefix" not in text
    assert text.startswith("#!/usr/sbin/nft -f")
    assert "table inet vpn_passthrough\ndelete table inet vpn_passthrough\n" in text
    for other in ("fw4", "flush ruleset", "table ip ", "table ip6 "):
        assert other not in text


def test_off_blocks_and_drops_the_helper_unless_a_client_is_allowed():
    p = build("config protocol 'pptp'\n option enabled 0\n")
    text = ruleset.render(p)
    assert "ct helper" not in text
    assert 'goto pptp_block comment "switch off"' in text
    assert p.protocol("pptp").effective() == "off"
    p = build("config protocol 'pptp'\n option enabled 0\nconfig client\n list ip 10.0.0.2\n"
              " option action allow\n")
    assert "ct helper pptp" in ruleset.render(p)


def test_missing_helper_degrades_pptp_only():
    p = build("", helper=False)
    assert [x.effective() for x in p.protocols] == ["degraded", "on", "on"]
    text = ruleset.render(p)
    assert "ct helper" not in text and "pptp=degraded" in text


def test_ipv6_off_limits_the_table_to_ipv4():
    text = ruleset.render(build("config globals 'globals'\n option ipv6 0\n"))
    assert "meta nfproto ipv4 iifname @lan_devices" in text


def test_non_vpn_traffic_pays_the_same_rules_at_any_client_count():
    many = "".join(["config client\n list ip '10.%d.%d.%d'\n" % (i // 65536, (i // 256) % 256, i % 256)
                    for i in range(1, 2001)])
    small, big = ruleset.render(build("")), ruleset.render(build(many))
    chain = lambda t: t.split("chain forward {")[1].split("}")[0]
    assert chain(small) == chain(big)
    assert big.count("\n\t\tip saddr @pptp_block_ipv4") == 1   # one lookup, not one rule each


def test_the_hook_chain_holds_only_cheap_protocol_and_port_tests():
    # every forwarded packet crosses it: no ifname (16-byte) lookups there, and every
    # VPN port and protocol leads on to the exact check
    text = ruleset.render(build(""))
    chain = text.split("chain forward {")[1].split("\n\t}")[0]
    assert "ifname" not in chain and "saddr" not in chain
    assert "th dport { 500, 1701, 1723, 4500 } goto lan_to_wan" in chain
    assert "meta l4proto { gre, esp, ah } goto lan_to_wan" in chain
    assert "iifname @lan_devices oifname @wan_devices" in text.split("chain lan_to_wan {")[1]


def test_digest_follows_content_and_is_read_back():
    a, b = ruleset.render(build("")), ruleset.render(build("config protocol l2tp\n option enabled 0\n"))
    da, states = tablecomment.read_comment(a)
    assert da and da != tablecomment.read_comment(b)[0]
    assert states == {"pptp": "on", "l2tp": "on", "ipsec": "on"}
    assert tablecomment.read_comment(ruleset.render(build("")))[0] == da


def test_policy_digest_ignores_logging_only():
    quiet = ruleset.render(build(MIXED.replace("option log '1'", "option log '0'")))
    loud = ruleset.render(build(MIXED))
    other = ruleset.render(build(MIXED.replace("192.168.1.23", "192.168.1.24")))
    assert tablecomment.read_comment(quiet)[0] != tablecomment.read_comment(loud)[0]
    assert tablecomment.read_policy(quiet) == tablecomment.read_policy(loud)
    assert tablecomment.read_policy(other) not in (None, tablecomment.read_policy(loud))
    assert tablecomment.read_policy("") is None
    assert "policy" not in tablecomment.read_comment(loud)[1]


def test_blocks_mirrors_rule_order():
    p = build(MIXED)
    v4 = lambda s: (4, int.from_bytes(bytes(map(int, s.split("."))), "big"))
    blocks = plan.Blocker(p).blocks
    assert blocks("pptp", *v4("192.168.1.99"), None)            # switch off
    assert not blocks("pptp", *v4("192.168.1.10"), None)        # allowed client
    assert blocks("ipsec", *v4("192.168.1.23"), None)           # blocked client
    assert blocks("l2tp", *v4("192.168.1.99"), "aa:bb:cc:dd:ee:ff")
    assert not blocks("l2tp", *v4("192.168.1.99"), None)


CASES = {
    "default": "",
    "mixed": MIXED,
    "all_off": "config protocol pptp\n option enabled 0\nconfig protocol l2tp\n option enabled 0\n"
               "config protocol ipsec\n option enabled 0\n",
    "ipv6_off_logging": "config globals globals\n option ipv6 0\n option log 1\n",
    "prefixes": "config client\n list ip '10.0.0.0/8'\n list ip 'fd00::/8'\n option action allow\n"
                "config client\n list ip '10.1.2.3'\n list ip 'fd00::1'\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_accepts_the_ruleset(netns, name):
    """nft -c: the kernel validates the whole transaction and commits nothing."""
    text = ruleset.render(build(CASES[name]))
    r = in_ns(netns, ["nft", "-c", "-f", "-"], text)
    assert r.returncode == 0, r.stderr
    assert in_ns(netns, ["nft", "list", "ruleset"]).stdout == ""


def test_kernel_accepts_ten_thousand_clients(netns):
    many = "".join(["config client\n list ip '10.%d.%d.1'\n list mac '02:00:00:00:%02x:%02x'\n"
                    % (i // 256, i % 256, i // 256, i % 256) for i in range(10000)])
    text = ruleset.render(build(many))
    r = in_ns(netns, ["nft", "-f", "-"], text)
    assert r.returncode == 0, r.stderr[:500]
    listing = in_ns(netns, ["nft", "list", "set", "inet", "vpn_passthrough", "l2tp_block_ipv4"])
    assert listing.stdout.count("comment") == 10000


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

HOSTS = ["192.168.1.10", "192.168.1.23", "192.168.1.200", "10.0.0.1", "fd00::1", "fd00::8001"]
PREFIXES = HOSTS + ["192.168.1.0/24", "192.168.1.128/25", "10.0.0.0/8", "fd00::/64",
                    "fd00::8000/113"]
MACS = ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02", "aa:bb:cc:dd:ee:03"]


def _client(i, macs, prefixes, action, protocols):
    return settings.Client("@client[%d]" % i, "c%d" % i, macs,
                           [netaddr.parse_prefix(x) for x in prefixes], action,
                           [p for p in settings.PROTOCOLS if p in protocols])


CLIENTS = st.lists(st.tuples(st.lists(st.sampled_from(MACS), max_size=2, unique=True),
                             st.lists(st.sampled_from(PREFIXES), max_size=3, unique=True),
                             st.sampled_from(["block", "allow"]),
                             st.sets(st.sampled_from(settings.PROTOCOLS), min_size=1)),
                   max_size=6)


def _reference_blocks(p, proto_name, family, address, mac):
    """The rule order, one client after the other: a block entry wins, then an allow
    entry, then the switch (what the flow cut used before it had an index)."""
    if family == 6 and not p.ipv6:
        return False                # the table does not look at IPv6 at all
    allowed = False
    for client in p.clients:
        if proto_name not in client.protocols:
            continue
        if mac in client.macs or [x for x in client.prefixes if x.contains(family, address)]:
            if client.action == "block":
                return True
            allowed = True
    return not allowed and not p.protocol(proto_name).on


@hsettings(max_examples=1500, deadline=None)
@given(CLIENTS, st.dictionaries(st.sampled_from(settings.PROTOCOLS), st.booleans()),
       st.booleans(), st.sampled_from(settings.PROTOCOLS), st.sampled_from(HOSTS),
       st.one_of(st.none(), st.sampled_from(MACS)))
def test_blocker_index_agrees_with_blocks(clients, switches, ipv6, proto, host, mac):
    """plan.Blocker (the index the flow cut uses) answers as the rule-order
    reference, client after client, for any clients, switches and host."""
    s = settings.Settings()
    s.clients = [_client(i, *c) for i, c in enumerate(clients)]
    s.protocols.update(switches)
    s.ipv6 = ipv6
    p = plan.build(s, ["br-lan"], ["wan"], {"pptp": True})
    family, address = netaddr.parse_address(host)
    assert (plan.Blocker(p).blocks(proto, family, address, mac)
            == _reference_blocks(p, proto, family, address, mac))
