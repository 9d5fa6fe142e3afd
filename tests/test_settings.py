"""Schema, defaults and the errors a user sees for bad values."""

import os

import pytest

from vpn_passthrough import plan, ruleset, settings, zones, uci
from vpn_passthrough.settings import SettingsError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "files", "etc", "config", "vpn-passthrough")


def test_default_file_gives_the_defaults():
    with open(DEFAULT) as f:
        s = settings.parse(f.read())
    assert s.enabled and not s.log and s.ipv6
    assert s.lan_zones == ["lan"] and s.wan_zones == ["wan"]
    assert s.protocols == {"pptp": True, "l2tp": True, "ipsec": True}
    assert s.client_list() == []


def test_missing_sections_and_options_mean_defaults():
    s = settings.parse("config protocol 'l2tp'\n option enabled 'off'\n")
    assert s.protocols == {"pptp": True, "l2tp": False, "ipsec": True}
    assert s.enabled and s.lan_zones == ["lan"]


def test_client_normalization():
    s = settings.parse("config client\n option name 'Tab'\n list mac 'AA-BB-CC-DD-EE-FF'\n"
                       " list ip '10.0.0.77/24'\n list ip 'FD00:0:0::1'\n option action allow\n"
                       " list protocol ipsec\n list protocol pptp\n")
    c = s.client_list()[0]
    assert c.macs == ["aa:bb:cc:dd:ee:ff"]
    assert [str(p) for p in c.prefixes] == ["10.0.0.0/24", "fd00::1"]
    assert c.action == "allow" and c.protocols == ["pptp", "ipsec"]
    assert c.label == "@client[0]"


@pytest.mark.parametrize("text, field, words", [
    ("config protocol 'gre'\n", "vpn-passthrough.gre", "unknown protocol"),
    ("config protocol 'pptp'\n option enabled 'maybe'\n", "vpn-passthrough.pptp.enabled",
     "not a boolean"),
    ("config protocol 'pptp'\n option enable '0'\n", "vpn-passthrough.pptp.enable",
     "unknown option"),
    ("config globals 'globals'\n list lan_zone 'lan; flush ruleset'\n",
     "vpn-passthrough.globals.lan_zone", "may hold only"),
    ("config globals 'globals'\n list wan_device 'eth0\"; flush ruleset; \"'\n",
     "vpn-passthrough.globals.wan_device", "may hold only"),
    ("config globals 'globals'\n list lan_device 'a-very-long-device-name'\n",
     "vpn-passthrough.globals.lan_device", "longer than 15"),
    ("config globals 'globals'\n list lan_zone '" + "z" * 40 + "'\n",
     "vpn-passthrough.globals.lan_zone", "longer than 32"),
    ("config client\n list mac 'aa:bb:cc:dd:ee'\n", "vpn-passthrough.@client[0].mac",
     "not a MAC"),
    ("config client\n list ip '10.0.0.256'\n", "vpn-passthrough.@client[0].ip", "above 255"),
    ("config client\n list ip '10.0.0.1/33'\n", "vpn-passthrough.@client[0].ip", "above 32"),
    ("config client\n list ip 'fd00::1::2'\n", "vpn-passthrough.@client[0].ip", "not an IPv6"),
    ("config client\n list ip '0.0.0.0/0'\n", "vpn-passthrough.@client[0].ip", "every client"),
    ("config client\n option name 'x'\n", "vpn-passthrough.@client[0]", "at least one mac or ip"),
    ("config client\n list ip '10.0.0.1'\n option action 'drop'\n",
     "vpn-passthrough.@client[0].action", "not one of"),
    ("config client\n list ip '10.0.0.1'\n list protocol 'openvpn'\n",
     "vpn-passthrough.@client[0].protocol", "unknown protocol"),
    ("config client\n list ip '10.0.0.1'\n option name '" + "n" * 65 + "'\n",
     "vpn-passthrough.@client[0].name", "longer than 64"),
    ("config client\n list ip '10.0.0.1'\n option name 'a\"b'\n",
     "vpn-passthrough.@client[0].name", "quotes"),
    ("config client\n list ip '10.0.0.0/24'\nconfig client\n list ip '10.0.0.9'\n",
     "vpn-passthrough.@client[1].ip", "overlaps"),
    ("config client\n list mac 'aa:bb:cc:dd:ee:ff'\nconfig client\n list mac 'aa:bb:cc:dd:ee:ff'\n",
     "vpn-passthrough.@client[1].mac", "already listed"),
    ("config protocol 'pptp'\nconfig protocol 'pptp'\n", "vpn-passthrough.pptp", "declared twice"),
    ("config globals 'globals'\n list enabled '1'\n", "vpn-passthrough.globals.enabled",
     "not a list"),
    ("config vpn 'x'\n", "vpn-passthrough.x", "unknown section type"),
    ("config globals 'globals'\n option log 'x\n", "vpn-passthrough line 2", "unterminated"),
])
def test_bad_values_name_the_field(text, field, words):
    with pytest.raises(SettingsError) as e:
        settings.parse(text)
    assert e.value.field == field
    assert words in e.value.message


def test_block_and_allow_may_overlap():
    s = settings.parse("config client\n list ip '10.0.0.0/24'\n option action allow\n"
                       "config client\n list ip '10.0.0.9'\n option action block\n")
    assert len(s.client_list()) == 2


def test_disabled_client_is_ignored():
    s = settings.parse("config client\n list ip '10.0.0.1'\n option enabled '0'\n")
    assert s.client_list() == []


FIREWALL = """
config zone
	option name 'lan'
	list network 'lan'
config zone
	option name 'wan'
	list network 'wan'
	list network 'wan6'
	list device 'tun0'
"""
NETWORK = """
config interface 'lan'
	option device 'br-lan'
config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'
config interface 'wan6'
	option device '@wan'
config interface 'ppp'
	option proto 'pppoe'
	option device 'eth2'
"""


def test_zones_resolve_to_devices():
    fw, net = uci.parse(FIREWALL), uci.parse(NETWORK)
    assert zones.zone_devices(["lan"], fw, net, "lan_zone") == ["br-lan"]
    assert zones.zone_devices(["wan"], fw, net, "wan_zone") == ["tun0", "eth1"]
    assert zones.interface_devices(net)["ppp"] == ["pppoe-ppp"]


def test_unknown_zone_and_hostile_device_in_network_config():
    fw, net = uci.parse(FIREWALL), uci.parse(NETWORK)
    with pytest.raises(SettingsError) as e:
        zones.zone_devices(["guest"], fw, net, "lan_zone")
    assert e.value.field == "vpn-passthrough.globals.lan_zone"
    bad = uci.parse("config interface 'lan'\n option device 'br-lan\";drop'\n")
    with pytest.raises(SettingsError) as e:
        zones.zone_devices(["lan"], fw, bad, "lan_zone")
    assert e.value.field == "network.lan.device"


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

CLIENT = st.fixed_dictionaries({
    "ip": st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.0/30", "fd00::1",
                                    "0.0.0.1", "::1"]), max_size=2),
    "mac": st.lists(st.sampled_from(["02:00:00:00:00:01", "02:00:00:00:00:02"]), max_size=2),
    "action": st.sampled_from(["block", "allow"]),
    "protocol": st.lists(st.sampled_from(["pptp", "l2tp", "ipsec"]), min_size=1, max_size=3),
})


def _verdict(check, clients):
    try:
        check(clients)
        return None
    except SettingsError as e:
        return str(e)


@hsettings(max_examples=1500, deadline=None)
@given(st.lists(CLIENT, max_size=4))
def test_overlap_shortcut_agrees_with_the_precise_check(specs):
    text = ""
    for spec in specs:
        text += "config client\n\toption action '%s'\n" % spec["action"]
        for option in ("ip", "mac", "protocol"):
            for value in spec[option] or (["10.9.9.9"] if option == "ip" else []):
                text += "\tlist %s '%s'\n" % (option, value)
    sections = uci.parse(text)
    clients = [settings._client(s) for s in sections]
    verdict = _verdict(settings._check_overlaps, clients)
    assert verdict == _verdict(settings._check_claims, clients)
    # the oracle: some two clients share an action, a protocol and a MAC or address; or
    # one client lists spans that overlap without being equal (nft refuses those in one
    # interval set; an exact repeat it merges)
    clash = False
    for c in clients:
        spans = c.prefixes
        for i, p in enumerate(spans):
            for q in spans[i + 1:]:
                same = (p.family, p.network, p.length) == (q.family, q.network, q.length)
                if p.overlaps(q) and not same:
                    clash = True
    for i, a in enumerate(clients):
        for b in clients[i + 1:]:
            if a.action != b.action or not set(a.protocols) & set(b.protocols):
                continue
            if set(a.macs) & set(b.macs) or [1 for p in a.prefixes for q in b.prefixes
                                             if p.overlaps(q)]:
                clash = True
    assert (verdict is not None) == clash, verdict


PLAIN_VALUES = {
    "name": st.sampled_from(["kid", "", "a\"b", "x\\y", "tab\tname", "é", "n" * 65, "ok name"]),
    "mac": st.sampled_from(["02:00:00:00:00:01", "02:00:00:00:00:0A", "02-00-00-00-00-02",
                            "02:00:00:00:00", "02:00:00:00:00:01:", "2:00:00:00:00:001"]),
    "ip": st.sampled_from(["10.0.0.1", "10.0.0.01", "10.0.0.256", "10.0.0", "1.2.3.4.5",
                           "10.0.0.0/24", "fd00::1", "10.0.0.2"]),
    "action": st.sampled_from(["block", "allow", "deny"]),
    "protocol": st.sampled_from(["pptp", "l2tp"]),
    "enabled": st.sampled_from(["0", "1"]),
}


@hsettings(max_examples=2000, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(sorted(PLAIN_VALUES)),
                                st.tuples(st.booleans(), st.lists(st.integers(0, 7),
                                                                  min_size=1, max_size=2))),
                min_size=1, max_size=4), st.data())
def test_bulk_client_check_agrees_with_the_one_by_one_check(specs, data):
    text = ""
    for spec in specs:
        text += "config client\n"
        for option, (as_list, picks) in sorted(spec.items()):
            values = [data.draw(PLAIN_VALUES[option]) for _ in picks]
            for value in (values if as_list else values[:1]):
                text += "\t%s %s '%s'\n" % ("list" if as_list else "option", option, value)
    sections = uci.parse(text)
    bulk = settings._plain_clients(sections)
    for section, client in zip(sections, bulk):
        if client is None:
            continue
        one = settings._client(section)      # must not raise where the bulk check passed
        assert (client.label, client.name, client.macs, [str(p) for p in client.prefixes],
                [(p.family, p.network, p.length) for p in client.prefixes], client.action,
                client.protocols) == (one.label, one.name, one.macs,
                                      [str(p) for p in one.prefixes],
                                      [(p.family, p.network, p.length) for p in one.prefixes],
                                      one.action, one.protocols)
    # and the bulk check does take the plain ones
    plain = "config client\n\toption name 'a'\n\tlist ip '10.0.0.1'\n\tlist mac '02:00:00:00:00:01'\n"
    assert settings._plain_clients(uci.parse(plain))[0] is not None


def test_bulk_check_gives_each_client_its_own_addresses():
    # as many addresses as clients, but not one each (found by the oracle above)
    sections = uci.parse("config client\n\tlist mac '02:00:00:00:00:01'\n"
                         "config client\n\tlist ip '10.0.0.1'\n\tlist ip '10.0.0.2'\n")
    bulk = settings._plain_clients(sections)
    assert [[str(p) for p in c.prefixes] for c in bulk] == [[], ["10.0.0.1", "10.0.0.2"]]
    assert [[str(p) for p in settings._client(x).prefixes] for x in sections] == [
        [], ["10.0.0.1", "10.0.0.2"]]


@pytest.mark.parametrize("values", [
    ("ip", ["1.2.3.4.5", "10.0.0"]),                       # 8 octets for 2 addresses
    ("mac", ["02:00:00:00:00:01:02", "02:00:00:00:00"]),   # 12 pairs for 2 MACs
    ("mac", ["02:00:00:00:00:01", "02:00:00:00:00:0A"]),   # uppercase: _client lowers it
    ("mac", ["0:200:00:00:00:01"]),                        # hex and 5 colons, misplaced
    ("name", ["ok", "tab\there"]),
])
def test_bulk_check_leaves_doubtful_values_to_the_one_by_one_check(values):
    option, items = values
    text = ""
    for i, item in enumerate(items):
        text += "config client\n"
        if option != "ip":
            text += "\tlist ip '10.0.9.%d'\n" % i
        line = "\toption name '%s'\n" if option == "name" else "\tlist " + option + " '%s'\n"
        text += line % item
    sections = uci.parse(text)
    assert settings._plain_clients(sections) == [None] * len(sections)


def _outcome(parse):
    """(error text) or (clients as tuples, rendered ruleset) of one way of reading."""
    try:
        s = parse()
    except SettingsError as e:
        return ("error", str(e))
    clients = [(c.label, c.name, c.macs, [str(p) for p in c.prefixes],
                [(p.family, p.network, p.length) for p in c.prefixes], c.action, c.protocols)
               for c in s.client_list()]
    p = plan.build(s, ["br-lan"], ["eth1"], {"pptp": True})
    return ("ok", clients, ruleset.render(p))


OTHER_SECTIONS = ["", "config globals 'globals'\n\toption log '1'\n",
                  "config protocol 'l2tp'\n\toption enabled '0'\n",
                  "config client 'named'\n\tlist ip '10.0.9.9'\n",
                  "config globals 'globals'\n\toption log 'maybe'\n"]


# Mostly plain and valid, so that whole files of them take the column path, with
# repeats (overlaps), doubtful spellings and the odd non-plain option mixed in.
COLUMN_CLIENT = st.fixed_dictionaries({
    "name": st.sampled_from([None, None, "kid", "ok name", "a\"b"]),
    "mac": st.lists(st.sampled_from(["02:00:00:00:00:01", "02:00:00:00:00:02",
                                     "02:00:00:00:00:03", "02:00:00:00:00:0A"]), max_size=2),
    "ip": st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.01",
                                    "10.0.0.0/24", "1.2.3.4.5", "10.0.0"]), max_size=2),
    "action": st.sampled_from([None, "block", "block", "allow", "deny"]),
    "extra": st.sampled_from([None] * 6 + ["\toption protocol 'pptp'\n",
                                           "\toption enabled '0'\n", "\toption ip '10.0.0.9'\n"]),
})


@hsettings(max_examples=1500, deadline=None)
@given(st.lists(COLUMN_CLIENT, min_size=1, max_size=5),
       st.lists(st.tuples(st.integers(0, 5), st.sampled_from(OTHER_SECTIONS)), max_size=2))
def test_clients_read_as_columns_agree_with_sections(specs, others):
    # settings.parse reads plain clients as columns (Bulk) where it can; reading the
    # same file section by section must give the same clients, rules or first error
    blocks = []
    for spec in specs:
        block = "config client\n"
        if spec["name"] is not None:
            block += "\toption name '%s'\n" % spec["name"]
        for option in ("ip", "mac"):
            for value in spec[option]:
                block += "\tlist %s '%s'\n" % (option, value)
        if spec["action"] is not None:
            block += "\toption action '%s'\n" % spec["action"]
        blocks.append(block + (spec["extra"] or ""))
    for where, other in others:
        if other:
            blocks.insert(min(where, len(blocks)), other)
    text = "\n".join(blocks)
    columns = _outcome(lambda: settings.parse(text))
    sections = _outcome(lambda: settings.from_sections(uci.parse(text)))
    assert columns == sections


def test_plain_clients_are_read_as_columns():
    text = "".join("config client\n\toption name 'c%d'\n\tlist ip '10.0.%d.1'\n"
                   "\tlist mac '02:00:00:00:00:%02x'\n\toption action 'block'\n\n" % (i, i, i)
                   for i in range(3))
    s = settings.parse("config globals 'globals'\n\toption log '1'\n\n" + text)
    assert s.bulk is not None and s.log
    assert [c.label for c in s.client_list()] == ["@client[0]", "@client[1]", "@client[2]"]
    # a doubt (an uppercase MAC) sends the file to the section-by-section reading
    assert settings.parse(text.replace("00:00:01", "00:00:0A")).bulk is None


@pytest.mark.parametrize("values", [
    ("ip", ["1.2.3.4.5", "10.0.0"]),                       # 8 octets for 2 addresses
    ("mac", ["02:00:00:00:00:01:02", "02:00:00:00:00"]),   # 12 pairs for 2 MACs
    ("mac", ["0:200:00:00:00:01"]),                        # hex and 5 colons, misplaced
    ("ip", ["10.0.0.1", "10.0.0.1"]),                      # one host twice
])
def test_doubtful_columns_go_to_the_section_reading(values):
    option, items = values
    text = "".join("config client\n" + ("" if option == "ip" else "\tlist ip '10.0.9.%d'\n" % i)
                   + "\tlist %s '%s'\n\n" % (option, item) for i, item in enumerate(items))
    assert settings._bulk(*uci.parse_keeping(text, "client")[1:]) is None
    assert _outcome(lambda: settings.parse(text)) == _outcome(
        lambda: settings.from_sections(uci.parse(text)))
