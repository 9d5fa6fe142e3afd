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
    assert s.clients == []


def test_missing_sections_and_options_mean_defaults():
    s = settings.parse("config protocol 'l2tp'\n option enabled 'off'\n")
    assert s.protocols == {"pptp": True, "l2tp": False, "ipsec": True}
    assert s.enabled and s.lan_zones == ["lan"]


def test_client_normalization():
    s = settings.parse("config client\n option name 'Tab'\n list mac 'AA-BB-CC-DD-EE-FF'\n"
                       " list ip '10.0.0.77/24'\n list ip 'FD00:0:0::1'\n option action allow\n"
                       " list protocol ipsec\n list protocol pptp\n")
    c = s.clients[0]
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
    assert len(s.clients) == 2


def test_disabled_client_is_ignored():
    s = settings.parse("config client\n list ip '10.0.0.1'\n option enabled '0'\n")
    assert s.clients == []


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


def zone_devices(names, fw, net, option):
    """The zones' devices from the files alone, as the service resolves them without netifd."""
    return zones.resolve(names, fw, zones.interface_devices(net), option)[0]


def test_zones_resolve_to_devices():
    fw, net = uci.parse(FIREWALL), uci.parse(NETWORK)
    assert zone_devices(["lan"], fw, net, "lan_zone") == ["br-lan"]
    assert zone_devices(["wan"], fw, net, "wan_zone") == ["tun0", "eth1"]
    assert zones.interface_devices(net)["ppp"] == ["pppoe-ppp"]


def test_unknown_zone_and_hostile_device_in_network_config():
    fw, net = uci.parse(FIREWALL), uci.parse(NETWORK)
    with pytest.raises(SettingsError) as e:
        zone_devices(["guest"], fw, net, "lan_zone")
    assert e.value.field == "vpn-passthrough.globals.lan_zone"
    bad = uci.parse("config interface 'lan'\n option device 'br-lan\";drop'\n")
    with pytest.raises(SettingsError) as e:
        zone_devices(["lan"], fw, bad, "lan_zone")
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


# Python heap at its peak while reading, planning and rendering 10,000 clients: a few
# KB per client (the settings text, the clients, the ruleset text), not more.
PEAK_LIMIT = 32 * 1024 * 1024


def test_ten_thousand_clients_are_read_each_with_its_own_addresses():
    # per-client rules are for one home or office, but a big file must still work,
    # in bounded memory
    import tracemalloc
    n = 10000
    text = "".join("config client\n\toption name 'c%d'\n\tlist ip '10.%d.%d.1'\n"
                   "\tlist mac '02:00:00:%02x:%02x:01'\n\toption action '%s'\n\n"
                   % (i, i >> 8, i & 255, i >> 8, i & 255, "allow" if i % 3 == 0 else "block")
                   for i in range(n))
    tracemalloc.start()
    try:
        s = settings.parse(text)
        p = plan.build(s, ["br-lan"], ["eth1"], {"pptp": True})
        rules = ruleset.render(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(s.clients) == n
    last = s.clients[-1]
    assert (last.label, last.name, last.macs, [str(x) for x in last.prefixes]) == (
        "@client[9999]", "c9999", ["02:00:00:27:0f:01"], ["10.39.15.1"])
    # every switch on: only the block entries are rules, a MAC and an address each,
    # for each of the three protocols
    blocking = n - (n + 2) // 3
    assert rules.count('comment "@client[') == blocking * 2 * 3
    assert '10.39.14.1 comment "@client[9998]"' in rules
    assert peak < PEAK_LIMIT, peak


# ---------------------------------------------------------------- one schema: init script, view

INIT = os.path.join(ROOT, "files", "etc", "init.d", "vpn-passthrough")
VIEW = os.path.join(ROOT, "luci-app", "luci-app-vpn-passthrough", "htdocs", "luci-static",
                    "resources", "view", "vpn-passthrough", "overview.js")


def _uci_datatype(kind):
    """A SCHEMA type as procd's validate_data spells it."""
    if kind.startswith("list("):
        return "list(" + _uci_datatype(kind[5:-1]) + ")"
    return {"bool": "bool", "name": "string", "zone": "string", "device": "string",
            "mac": "macaddr", "ip": "or(ipaddr,cidr)",
            "action": "or(" + ",".join('"%s"' % a for a in settings.ACTIONS) + ")",
            "protocol": "or(" + ",".join('"%s"' % p for p in settings.PROTOCOLS) + ")"}[kind]


def _uci_default(default):
    """A SCHEMA default as uci spells it: '1'/'0', words; None where there is none."""
    if default is True or default is False:
        return "1" if default else "0"
    if isinstance(default, list):
        return " ".join(default) or None
    return default


def test_init_script_validates_what_the_schema_declares():
    import re
    with open(INIT) as f:
        script = f.read()
    for stype, table in settings.SCHEMA.items():
        body = re.search(r"validate_%s\(\) \{\n(.*?)\n\}" % stype, script, re.S)
        assert body, "no validate_%s in the init script" % stype
        assert "uci_load_validate \"$NAME\" %s " % stype in body.group(1)
        declared = re.findall(r"'([^']*)'", body.group(1))
        expected = []
        for option, kind, default in table:
            spec = option + ":" + _uci_datatype(kind)
            if _uci_default(default) is not None:
                spec += ":" + _uci_default(default)
            expected.append(spec)
        assert declared == expected, stype


def _view_options():
    """[(section type, option, widget, default or None, placeholder or None)] as the
    LuCI view declares them: form.Map options, read from the source text (literal
    names; a switch of a protocol section names its uci option by ucioption)."""
    import re
    with open(VIEW) as f:
        source = f.read()
    sections = [(m.start(), m.group(1) or m.group(2)) for m in re.finditer(
        r"m\.section\(form\.(?:NamedSection, '\w+', '(\w+)'|(?:Typed|Table|Grid)Section, '(\w+)')",
        source)]
    options = list(re.finditer(r"\.(?:option\(|taboption\('\w+',)\s*form\.(\w+),\s*([^,)]+)", source))
    out = []
    for i, m in enumerate(options):
        block = source[m.end():options[i + 1].start() if i + 1 < len(options) else len(source)]
        block = block.split("\n\n")[0]
        stype = [t for at, t in sections if at < m.start()][-1]
        name = re.search(r"\.ucioption = '(\w+)'", block)
        name = name.group(1) if name else m.group(2).strip().strip("'")
        if re.search(r"\.ucisection = ", block):
            section = re.search(r"\.ucisection = '(\w+)'", block)
            assert section is None or section.group(1) in settings.PROTOCOLS
            stype = "protocol"         # the switches: `config protocol NAME`
        default = re.search(r"\.default = '([^']*)'", block)
        placeholder = re.search(r"\.placeholder = '([^']*)'", block)
        out.append((stype, name, m.group(1), default and default.group(1),
                    placeholder and placeholder.group(1)))
    return out


# Options the view leaves out, and why.
NOT_IN_VIEW = {("client", "enabled"): "the view deletes a client rather than disabling it"}


def test_the_luci_view_edits_what_the_schema_declares():
    seen = set()
    for stype, name, widget, default, placeholder in _view_options():
        rows = [r for r in settings.SCHEMA[stype] if r[0] == name]
        assert rows, "the view edits %s.%s, which the schema does not know" % (stype, name)
        _, kind, table_default = rows[0]
        seen.add((stype, name))
        if widget == "Flag":
            assert kind == "bool", name
            assert default == _uci_default(table_default), name
        elif widget in ("DynamicList", "MultiValue"):
            assert kind.startswith("list("), name
        else:
            assert kind != "bool" and not kind.startswith("list("), (name, widget)
        if default is not None:
            assert default == _uci_default(table_default), name
        if placeholder is not None and kind in ("list(zone)",):
            assert placeholder == _uci_default(table_default), name
    every = set((stype, row[0]) for stype in settings.SCHEMA for row in settings.SCHEMA[stype])
    assert every - seen == set(NOT_IN_VIEW)
