"""Exercise the pure core (uci, netaddr, settings, zones, plan, ruleset, flows) and
print a canonical transcript.

Runs unchanged under CPython and under MicroPython (the unix port and the
WebAssembly port); tests/test_micropython.py runs it under each and requires
byte-identical output. So this file itself keeps to the MicroPython subset:
no f-strings, no os.path, no dict printed as such (MicroPython dicts do not keep
insertion order), no keyword maxsplit, nothing from typing/dataclasses/enum.

Run from the repository root:
    python3 tests/micropython/core_check.py
    node tests/micropython/run_wasm.mjs --data files/etc/config/vpn-passthrough \
        tests/micropython/core_check.py

A case whose result differs from what the table below expects prints a line
starting with MISMATCH; the transcript ends with `core_check: N cases, M mismatches`.
"""

import sys

try:
    import vpn_passthrough  # noqa: F401  (put there by the runner, or PYTHONPATH)
except ImportError:
    sys.path.insert(0, "src")   # run from the repository root

from vpn_passthrough import uci, netaddr, settings, zones, plan, ruleset, flows
from vpn_passthrough import tablecomment

DEFAULT_CONFIG = "files/etc/config/vpn-passthrough"

counts = {"cases": 0, "mismatches": 0}


def out(text):
    print(text)


def show(value):
    """A stable, printable rendering of str/int/bool/None/list/tuple/dict values."""
    if value is None:
        return "None"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        chars = []
        for c in value:
            o = ord(c)
            if c == "\\" or c == '"':
                chars.append("\\" + c)
            elif 32 <= o < 127:
                chars.append(c)
            else:
                chars.append("\\x%02x" % o if o < 256 else "\\u%04x" % o)
        return '"' + "".join(chars) + '"'
    if isinstance(value, (list, tuple)):
        inner = ", ".join([show(v) for v in value])
        return ("[" + inner + "]") if isinstance(value, list) else ("(" + inner + ")")
    if isinstance(value, dict):
        keys = sorted(value.keys())
        return "{" + ", ".join([show(k) + ": " + show(value[k]) for k in keys]) + "}"
    if isinstance(value, netaddr.Prefix):
        return "Prefix(" + str(value) + ")"
    return "<" + type(value).__name__ + ">"


def ascii_only(text):
    """Non-ASCII characters as \\uXXXX, so the transcript is ASCII whatever the locale."""
    chars = []
    for c in text:
        chars.append(c if ord(c) < 128 else "\\u%04x" % ord(c))
    return "".join(chars)


def mismatch(what, expected, got):
    counts["mismatches"] += 1
    out("MISMATCH " + what + ": expected " + expected + ", got " + got)


# ---------------------------------------------------------------- configs

# (name, uci text or None for the shipped default, expected error field or None)
VALID = [
    ("default config (files/etc/config/vpn-passthrough)", None),
    ("empty file: every default", ""),
    ("clients: MAC, IPv4, IPv6, block and allow", """
config globals 'globals'
	option enabled '1'
	option log '1'
	list lan_zone 'lan'
	list wan_zone 'wan'

config protocol 'pptp'
	option enabled '0'

config protocol 'l2tp'
	option enabled 'off'

config protocol 'ipsec'
	option enabled 'yes'

config client 'laptop'
	option name 'Work laptop'
	list mac 'AA-BB-CC-DD-EE-01'
	list ip '192.168.1.23'
	list ip 'fd00:1::23'
	option action 'allow'
	list protocol 'pptp'
	list protocol 'ipsec'

config client
	option name 'kids'
	list ip '192.168.1.130/25'
	list ip 'fd00:1:0:0:8000::/65'
	option action 'block'

config client
	option mac 'aa:bb:cc:dd:ee:02 02:00:00:00:00:03'
	option action 'allow'
	option protocol 'l2tp'

config client
	option enabled '0'
	option ip 'not an address, but the client is disabled'
"""),
    ("quoting, escapes, comments, ';', abbreviations, continuation, CRLF", (
        "package 'vpn-passthrough'\r\n"
        "# a comment line\r\n"
        "config globals globals # trailing comment\r\n"
        "\toption \"enabled\" \"1\"; option log 0 ; o ipv6 '0'\r\n"
        "\tlist lan_device 'br-lan'\r\n"
        "\tl lan_device \"eth0\\.1\"\r\n"
        "\tlist wan_device wan\\\r\n"
        "0\r\n"
        "c protocol l2tp\r\n"
        "\to enabled 0\r\n"
        "config client 'o''k'\r\n"
        "\toption name 'It'\\''s mine #1'\r\n"
        "\toption ip \"10.0.0.1 \\\r\n"
        "10.0.2.0/23\"\r\n"
        "\toption ip '10.0.0.7'\r\n"
        "\tlist ip '2001:db8::ffff:10.0.0.1'\r\n"
        "\toption action block\r\n"
        "config client\r\n"
        "\tlist ip '::ffff:192.0.2.128/121'\r\n"
        "\toption mac 'aa:bb:cc:00:00:ff'\r\n"
        "\toption protocol 'ipsec pptp'\r\n"
        "\toption action 'allow'\r\n")),
    ("multi-line single-quoted value: list words split on newlines", """
config client 'multi'
	option ip '192.168.7.1
192.168.7.2
	192.168.8.0/24'
	option action 'block'
"""),
    ("block and allow may overlap (block wins); ipv6 off", """
config globals
	option ipv6 '0'
config protocol 'ipsec'
	option enabled '0'
config client 'a'
	option ip '192.168.1.0/24'
	option action 'block'
	option protocol 'ipsec'
config client 'b'
	option ip '192.168.1.5'
	option action 'allow'
	option protocol 'ipsec'
config client 'c'
	option ip '192.168.2.0/24'
	option action 'allow'
	option protocol 'ipsec'
config client 'd'
	option ip '192.168.3.0/24 192.168.2.0/25'
	option action 'allow'
	option protocol 'l2tp'
"""),
    ("non-ASCII client name (UTF-8, counted in characters)",
     "config client 'cafe'\n\toption name 'Caf\u00e9 \u2713 \U0001f600'\n\tlist ip '10.7.0.1'\n"),
    ("many clients in one set (order of elements is file order)", "".join([
        "config client\n\tlist ip '10.9.%d.%d'\n\tlist mac '02:00:00:00:%02x:%02x'\n"
        "\toption action '%s'\n" % (i % 3, i, i % 3, i, "block" if i % 2 else "allow")
        for i in range(1, 21)]) + "config protocol 'pptp'\n\toption enabled '0'\n"),
]

INVALID = [
    ("boolean", "config globals\n\toption enabled 'maybe'\n",
     "vpn-passthrough.@globals[0].enabled"),
    ("unknown global option", "config globals 'globals'\n\toption colour 'red'\n",
     "vpn-passthrough.globals.colour"),
    ("option given as a list", "config globals 'globals'\n\tlist log '1'\n",
     "vpn-passthrough.globals.log"),
    ("bad zone name", "config globals 'globals'\n\tlist lan_zone 'lan zone!'\n",
     "vpn-passthrough.globals.lan_zone"),
    ("device name too long", "config globals 'globals'\n\tlist wan_device 'abcdefghijklmnop'\n",
     "vpn-passthrough.globals.wan_device"),
    ("two globals sections", "config globals 'globals'\nconfig globals\n",
     "vpn-passthrough.@globals[1]"),
    ("unknown section type", "config globals\nconfig bogus\n", "vpn-passthrough.@bogus[0]"),
    ("unknown protocol section", "config protocol 'pptpx'\n", "vpn-passthrough.pptpx"),
    ("anonymous protocol section", "config protocol\n\toption enabled 1\n",
     "vpn-passthrough.@protocol[0]"),
    ("unknown protocol option", "config protocol 'ipsec'\n\toption helper '1'\n",
     "vpn-passthrough.ipsec.helper"),
    ("client without mac or ip", "config client\n\toption name 'nobody'\n",
     "vpn-passthrough.@client[0]"),
    ("bad MAC", "config client\n\tlist mac 'aa:bb:cc:dd:ee'\n", "vpn-passthrough.@client[0].mac"),
    ("MAC with a bad digit", "config client 'x'\n\tlist mac 'aa:bb:cc:dd:ee:gg'\n",
     "vpn-passthrough.x.mac"),
    ("IPv4 octet above 255", "config client\n\tlist ip '192.168.1.256'\n",
     "vpn-passthrough.@client[0].ip"),
    ("IPv4 leading zero", "config client\n\tlist ip '192.168.01.1'\n",
     "vpn-passthrough.@client[0].ip"),
    ("IPv4 prefix too long", "config client\n\tlist ip '10.0.0.0/33'\n",
     "vpn-passthrough.@client[0].ip"),
    ("/0 prefix", "config client\n\tlist ip '::/0'\n", "vpn-passthrough.@client[0].ip"),
    ("IPv6 with two ::", "config client\n\tlist ip 'fd00::1::2'\n",
     "vpn-passthrough.@client[0].ip"),
    ("IPv6 group too long", "config client\n\tlist ip 'fd00:12345::1'\n",
     "vpn-passthrough.@client[0].ip"),
    ("bad action", "config client\n\tlist ip '10.0.0.1'\n\toption action 'reject'\n",
     "vpn-passthrough.@client[0].action"),
    ("unknown protocol in client", "config client\n\tlist ip '10.0.0.1'\n\tlist protocol 'gre'\n",
     "vpn-passthrough.@client[0].protocol"),
    ("empty protocol list", "config client\n\tlist ip '10.0.0.1'\n\toption protocol ''\n",
     "vpn-passthrough.@client[0].protocol"),
    ("unknown client option", "config client 'c'\n\tlist ip '10.0.0.1'\n\toption port '1723'\n",
     "vpn-passthrough.c.port"),
    ("name with a quote", "config client\n\tlist ip '10.0.0.1'\n\toption name 'a\"b'\n",
     "vpn-passthrough.@client[0].name"),
    ("name spanning two lines", "config client\n\tlist ip '10.0.0.1'\n\toption name 'two\nlines'\n",
     "vpn-passthrough.@client[0].name"),
    ("name too long", "config client\n\tlist ip '10.0.0.1'\n\toption name '" + "n" * 65 + "'\n",
     "vpn-passthrough.@client[0].name"),
    ("same MAC twice for one action", "config client\n\tlist mac '02:00:00:00:00:01'\n"
     "config client\n\tlist mac '02-00-00-00-00-01'\n\toption protocol 'l2tp'\n",
     "vpn-passthrough.@client[1].mac"),
    ("overlapping prefixes", "config client 'a'\n\tlist ip '10.0.0.0/8'\n"
     "config client 'b'\n\tlist ip '10.1.2.3'\n", "vpn-passthrough.b.ip"),
    ("the same prefix in two clients", "config client 'first'\n\tlist ip '10.0.0.0/24'\n"
     "config client 'second'\n\tlist ip '10.0.0.7/24'\n\toption protocol 'ipsec'\n",
     "vpn-passthrough.second.ip"),
    ("several overlaps: the one met first in file order is reported",
     "config client 'a'\n\tlist ip '10.0.0.1'\n\toption protocol 'ipsec'\n"
     "config client 'b'\n\tlist ip 'fd00::1'\n\toption protocol 'l2tp'\n"
     "config client 'c'\n\tlist ip 'fd00::/64'\n\tlist ip '10.0.0.0/24'\n",
     "vpn-passthrough.a.ip"),
    ("section declared twice", "config client 'x'\n\tlist ip '10.0.0.1'\n"
     "config client 'x'\n\tlist ip '10.0.0.2'\n", "vpn-passthrough.x"),
    ("uci: unterminated quote", "config globals\n\toption log '1\n", "vpn-passthrough line 2"),
    ("uci: invalid command", "config globals\n\tset log 1\n", "vpn-passthrough line 2"),
    ("uci: option before any section", "option log 1\n", "vpn-passthrough line 1"),
    ("uci: bad section name", "config client 'my-laptop'\n", "vpn-passthrough line 1"),
    ("uci: section of another type, same name", "config client 'x'\n\tlist ip '10.0.0.1'\n"
     "config protocol 'x'\n", "vpn-passthrough line 3"),
    ("uci: line too long", "config client\n\toption name '" + "x" * 5000 + "'\n",
     "vpn-passthrough line 2"),
]


def render(settings_value, helper=True):
    p = plan.build(settings_value, ["br-lan"], ["wan0"], {"pptp": helper})
    return p, ruleset.render(p)


def check_configs():
    for name, text in VALID:
        counts["cases"] += 1
        out("== config: " + name)
        if text is None:
            f = open(DEFAULT_CONFIG)
            text = f.read()
            f.close()
        try:
            s = settings.parse(text)
        except settings.SettingsError as e:
            out("ERROR " + e.field + ": " + e.message)
            mismatch("valid config", "a ruleset", "an error")
            continue
        for c in s.clients:
            out("client " + show([c.label, c.name, c.macs, [str(x) for x in c.prefixes],
                                  c.action, c.protocols]))
        p, text_out = render(s)
        out(ascii_only(text_out.rstrip("\n")))
        # the same settings without a usable pptp helper
        p2 = plan.build(s, ["br-lan"], ["wan0"], {})
        out("without helper: " + ruleset.summary(p2) + " helpers=" + show(
            [x.name for x in p2.helpers()]))
        digest, states = tablecomment.read_comment(text_out)
        out("read_comment: " + show(digest) + " " + show(states))
        if digest != ruleset.digests(p, ruleset._body(p))[0]:
            mismatch("digest", "the digest of the body", show(digest))

    for name, text, field in INVALID:
        counts["cases"] += 1
        out("== invalid: " + name)
        try:
            settings.parse(text)
        except settings.SettingsError as e:
            out("ERROR " + e.field + ": " + e.message)
            if str(e) != e.field + ": " + e.message:
                mismatch("str(SettingsError)", show(e.field + ": " + e.message), show(str(e)))
            if e.field != field:
                mismatch("field", field, e.field)
            continue
        mismatch("invalid config", "ERROR " + field, "no error")


# ---------------------------------------------------------------- uci round trip

UCI_TEXT = """
package test
config a_type 'one'
	option plain value
	option "quoted" "say \\"hi\\" \\\\ there"
	list l 'x'
	list l "y z"
	list l 'it'\\''s'
	option empty ''
config b-type
	option o1 'first'
	list o1 'second'
config a_type
	option multi 'line one
line two'
"""


def check_uci():
    counts["cases"] += 1
    out("== uci: parse and dump")
    secs = uci.parse(UCI_TEXT)
    for s in secs:
        out("section " + show([s.type, s.name, s.index, s.line, s.label()]))
        for o in s.order:
            out("  " + o + " = " + show(s.values[o]))
    dumped = uci.dump(secs)
    out(dumped.rstrip("\n"))
    again = uci.dump(uci.parse(dumped))
    if again != dumped:
        mismatch("uci round trip", "identical dump", show(again))
    out("quote " + uci.quote("it's"))
    out("valid_name " + show([uci.valid_name(x) for x in ("a_b9", "a-b", "", "é")]))
    out("valid_type " + show([uci.valid_type(x) for x in ("a-b", "a b", "")]))
    out("duplicates " + show(uci.duplicates(uci.parse("config t 'n'\nconfig t 'n'\n"))))
    for bad in ("config\n", "package a b\n", "list x\n", "config t\n\toption 'a b' 1\n",
                "config t \"x\n", "config t\n\toption x 1 2\n", "bogus\n"):
        counts["cases"] += 1
        try:
            uci.parse(bad, "/etc/config/test")
            out("uci " + show(bad) + " -> parsed")
        except uci.UciError as e:
            out("uci " + show(bad) + " -> " + str(e) + " (line " + str(e.line) + ")")


# ---------------------------------------------------------------- netaddr

ADDRESSES = [
    "192.168.1.1", "0.0.0.0", "255.255.255.255", "10.0.0.0/8", "10.1.2.3/8", "172.16.5.4/12",
    "192.168.1.130/25", "1.2.3.4/32", "::", "::1", "1::", "fd00::", "fd00::/8", "FD00:0:0:0:0:0:0:1",
    "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "2001:0db8:0000:0000:0000:ff00:0042:8329",
    "0:0:1:0:0:1:0:0", "1:0:0:2:0:0:0:3", "::ffff:192.0.2.1", "64:ff9b::198.51.100.7/96",
    "fe80::1:2:3:4/10", "1:2:3:4:5:6:7:8", "2001:db8::/129", "192.168.1.1/", "1.2.3", "1.2.3.4.5",
    "01.2.3.4", "a.b.c.d", "1.2.3.4/0", "", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", ":::",
    "12345::", "g::", "1.2.3.4/08", "::ffff:1.2.3.256", "1" * 70,
]

MACS = ["AA:BB:CC:DD:EE:FF", "aa-bb-cc-dd-ee-ff", "0:1:2:3:4:5", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg",
        "aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff:00"]
IFNAMES = ["br-lan", "eth0.1", "wlan0-1", "pppoe-wan", "wg@x+y", "", ".", "..", "a" * 15, "a" * 16,
           "eth 0", "eth0\"", "tab\tx"]
ZONES = ["lan", "wan_6", "guest-net", "", "a b", "z" * 32, "z" * 33]


def attempt(fn, arg):
    try:
        return show(fn(arg))
    except ValueError as e:
        return "ValueError: " + str(e)


def check_netaddr():
    out("== netaddr")
    for a in ADDRESSES:
        counts["cases"] += 1
        try:
            p = netaddr.parse_prefix(a)
        except ValueError as e:
            out("prefix " + show(a) + " -> ValueError: " + str(e))
            continue
        text = str(p)
        back = netaddr.parse_prefix(text)
        line = ("prefix " + show(a) + " -> " + text + " family=" + str(p.family)
                + " len=" + str(p.length) + " first=" + str(p.first()) + " last=" + str(p.last()))
        out(line)
        if (back.family, back.network, back.length) != (p.family, p.network, p.length):
            mismatch("round trip of " + a, text, str(back))
        if p.family == 6:
            n = netaddr.parse_ipv6(netaddr.format_ipv6(p.network))
            if n != p.network:
                mismatch("ipv6 round trip", str(p.network), str(n))
    for n in (0, 1, 0xffffffff, 0x0a000001, 0xc0a80101):
        counts["cases"] += 1
        out("ipv4 %d -> %s" % (n, netaddr.format_ipv4(n)))
        if netaddr.parse_ipv4(netaddr.format_ipv4(n)) != n:
            mismatch("ipv4 round trip", str(n), netaddr.format_ipv4(n))
    for n in (0, 1, (1 << 128) - 1, 0x20010db8 << 96, (0xfe80 << 112) | 1, 0xffff << 32 | 0x01020304):
        counts["cases"] += 1
        out("ipv6 %x -> %s" % (n, netaddr.format_ipv6(n)))
        if netaddr.parse_ipv6(netaddr.format_ipv6(n)) != n:
            mismatch("ipv6 round trip", str(n), netaddr.format_ipv6(n))
    a = netaddr.parse_prefix("10.0.0.0/8")
    for other in ("10.255.0.0/16", "11.0.0.0/8", "fd00::/8", "0.0.0.0/1"):
        counts["cases"] += 1
        out("overlaps 10.0.0.0/8 " + other + " " + show(a.overlaps(netaddr.parse_prefix(other))))
    out("contains " + show([a.contains(4, netaddr.parse_ipv4("10.3.4.5")),
                            a.contains(4, netaddr.parse_ipv4("11.0.0.0")),
                            a.contains(6, 0x0a000001)]))
    for m in MACS:
        counts["cases"] += 1
        out("mac " + show(m) + " -> " + attempt(netaddr.parse_mac, m))
    for n in IFNAMES:
        counts["cases"] += 1
        out("ifname " + show(n) + " -> " + attempt(netaddr.check_ifname, n))
    for z in ZONES:
        counts["cases"] += 1
        out("zone " + show(z) + " -> " + attempt(netaddr.check_zone, z))


# ---------------------------------------------------------------- zones

NETWORK = """
config interface 'loopback'
	option device 'lo'
	option proto 'static'
config interface 'lan'
	option device 'br-lan'
	option proto 'static'
config interface 'guest'
	option ifname 'eth0.3 wlan1'
	option type 'bridge'
config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'
config interface 'wan6'
	option device '@wan'
	option proto 'dhcpv6'
config interface 'wan6b'
	option device '@wan6'
config interface 'pppwan'
	option proto 'pppoe'
	option device 'eth2'
config interface 'vpn'
	option proto 'wireguard'
config interface 'iot'
	list device 'eth0.4'
	list device 'eth0.5'
config interface 'hop1'
	option device '@hop2'
config interface 'hop2'
	option device '@hop3'
config interface 'hop3'
	option device 'eth7'
config interface 'back3'
	option device 'eth8'
config interface 'back2'
	option device '@back3'
config interface 'back1'
	option device '@back2'
config interface 'loop1'
	option device '@loop2 eth9'
config interface 'loop2'
	option device '@loop1'
"""

FIREWALL = """
config defaults
config zone
	option name 'lan'
	list network 'lan'
config zone
	option name 'guest'
	list network 'guest'
	list network 'iot'
	list device 'tap+'
config zone
	option name 'wan'
	list network 'wan'
	list network 'wan6'
	list network 'wan6b'
	list network 'pppwan'
	list network 'vpn'
	list network 'missing'
config zone
	option name 'empty'
"""


def check_zones():
    out("== zones")
    net = uci.parse(NETWORK)
    fw = uci.parse(FIREWALL)
    devs = zones.interface_devices(net)
    for name in sorted(devs.keys()):
        counts["cases"] += 1
        out("interface " + name + " -> " + show(devs[name]))
    # an alias chain resolves whatever the order of the interfaces in the file
    for name, want in (("hop1", ["eth7"]), ("back1", ["eth8"]), ("wan6b", ["eth1"])):
        counts["cases"] += 1
        if devs.get(name) != want:
            mismatch("alias chain " + name, show(want), show(devs.get(name)))
    for names, option in ((["lan"], "lan_zone"), (["lan", "guest"], "lan_zone"),
                          (["wan"], "wan_zone"), (["nope"], "wan_zone"), (["empty"], "lan_zone")):
        counts["cases"] += 1
        try:
            out("zones " + show(names) + " -> " + show(zones.resolve(names, fw, zones.interface_devices(net), option)[0]))
        except settings.SettingsError as e:
            out("zones " + show(names) + " -> ERROR " + e.field + ": " + e.message)
    counts["cases"] += 1
    try:
        zones.interface_devices(uci.parse("config interface 'x'\n\toption device 'way-too-long-device'\n"))
        mismatch("bad device", "ERROR network.x.device", "no error")
    except settings.SettingsError as e:
        out("bad device -> ERROR " + e.field + ": " + e.message)


# ---------------------------------------------------------------- plan.Blocker

def check_blocks():
    out("== plan.Blocker")
    s = settings.parse("""
config protocol 'pptp'
	option enabled '0'
config client 'kid'
	list ip '192.168.1.128/25'
	list ip 'fd00::/120'
	option action 'block'
config client 'boss'
	list mac '02:00:00:00:00:01'
	list ip '192.168.1.10'
	option action 'allow'
""")
    for ipv6 in (True, False):
        s.ipv6 = ipv6
        p = plan.build(s, ["br-lan"], ["wan0"], {"pptp": True})
        for proto in ("pptp", "l2tp", "ipsec"):
            for addr, mac in (("192.168.1.10", None), ("192.168.1.11", "02:00:00:00:00:01"),
                              ("192.168.1.11", None), ("192.168.1.200", "02:00:00:00:00:01"),
                              ("fd00::5", None), ("fd00::1:5", None)):
                counts["cases"] += 1
                family, n = netaddr.parse_address(addr)
                out("blocks ipv6=%s %s %s %s -> %s" % (
                    show(ipv6), proto, addr, show(mac),
                    show(plan.Blocker(p).blocks(proto, family, n, mac))))
    # clients as LuCI writes them (anonymous, one value each): the flow cut's answers
    luci = settings.parse("config client\n\tlist ip '192.168.1.23'\n\toption action 'block'\n"
                          "\nconfig client\n\toption name 'boss'\n\tlist mac '02:00:00:00:00:01'\n"
                          "\toption action 'allow'\n\nconfig protocol 'l2tp'\n\toption enabled '0'\n")
    p = plan.build(luci, ["br-lan"], ["wan0"], {"pptp": True})
    for proto in ("pptp", "l2tp"):
        for addr, mac in (("192.168.1.23", None), ("192.168.1.24", "02:00:00:00:00:01"),
                          ("192.168.1.24", None)):
            counts["cases"] += 1
            family, n = netaddr.parse_address(addr)
            out("blocks luci %s %s %s -> %s" % (proto, addr, show(mac), show(
                plan.Blocker(p).blocks(proto, family, n, mac))))
    out("render_delete " + show(ruleset.render_delete()))
    for t in ("", "a", "vpn-passthrough", "\u00e9t\u00e9 \u2713"):
        counts["cases"] += 1
        out("digest " + show(t) + " " + tablecomment.digest(t))


# ---------------------------------------------------------------- flows

CONNTRACK = """tcp      6 431999 ESTABLISHED src=192.168.1.23 dst=203.0.113.5 sport=51000 dport=1723 packets=12 bytes=1500 src=203.0.113.5 dst=198.51.100.1 sport=1723 dport=51000 packets=10 bytes=900 [ASSURED] mark=0 helper=pptp use=1
gre      47 1799 src=192.168.1.23 dst=203.0.113.5 srckey=0x4000 dstkey=0x8001 packets=40 bytes=4000 src=203.0.113.5 dst=198.51.100.1 srckey=0x8001 dstkey=0x4000 packets=38 bytes=3900 [ASSURED] mark=0 use=1
gre      47 29 src=203.0.113.5 dst=198.51.100.1 srckey=0x8002 dstkey=0x4001 [UNREPLIED] src=192.168.1.24 dst=203.0.113.5 srckey=0x4001 dstkey=0x8002 mark=0 use=1
ipv4     2 udp      17 29 src=192.168.1.30 dst=192.0.2.9 sport=4500 dport=4500 [UNREPLIED] src=192.0.2.9 dst=198.51.100.1 sport=4500 dport=4500 mark=0 delta-time=12 use=1
udp      17 170 src=192.168.1.31 dst=192.0.2.10 sport=1701 dport=1701 src=192.0.2.10 dst=198.51.100.1 sport=1701 dport=1701 [ASSURED] mark=0 use=1
udp      17 25 src=192.168.1.32 dst=192.0.2.11 sport=500 dport=500 src=192.0.2.11 dst=198.51.100.1 sport=500 dport=500 mark=0 use=1
unknown  50 599 src=192.168.1.33 dst=192.0.2.12 src=192.0.2.12 dst=198.51.100.1 mark=0 use=1
unknown  51 599 src=192.168.1.34 dst=192.0.2.12 src=192.0.2.12 dst=198.51.100.1 mark=0 use=1
ipv6     10 udp      17 60 src=fd00:1::23 dst=2001:db8::5 sport=40000 dport=500 src=2001:db8::5 dst=fd00:1::23 sport=500 dport=40000 mark=0 use=1
tcp      6 117 SYN_SENT src=198.51.100.1 dst=203.0.113.5 sport=40001 dport=1723 [UNREPLIED] src=203.0.113.5 dst=198.51.100.1 sport=1723 dport=40001 mark=0 use=1
tcp      6 60 TIME_WAIT src=192.168.1.23 dst=192.168.1.1 sport=51001 dport=1723 src=192.168.1.1 dst=192.168.1.23 sport=1723 dport=51001 mark=0 use=1
tcp      6 431999 ESTABLISHED src=192.168.1.40 dst=203.0.113.80 sport=50000 dport=443 src=203.0.113.80 dst=198.51.100.1 sport=443 dport=50000 [ASSURED] mark=0 use=2
conntrack v1.4.7 (conntrack-tools): 12 flow entries have been shown.

tcp 6 garbage
udp      17 src=192.168.1.50
"""


def check_flows():
    out("== flows")
    network = flows.Network(
        [netaddr.parse_prefix("192.168.1.0/24"), netaddr.parse_prefix("fd00:1::/64")],
        set([netaddr.parse_address("192.168.1.1"), netaddr.parse_address("fd00:1::1"),
             netaddr.parse_address("198.51.100.1")]),
        {})
    parsed = flows.parse(CONNTRACK)
    out("entries " + str(len(parsed)))
    for f in parsed:
        counts["cases"] += 1
        out("flow " + show(f))
        out("  protocol " + show(flows.protocol(f)) + " client " + show(flows.lan_client(f, network)))
        out("  session " + show(flows.session(f, network)))
        out("  delete " + " ".join(flows.delete_args(f)))
    for line in ("", "tcp", "tcp 6", "ipv4 2", "tcp x 1 src=1.2.3.4 dst=5.6.7.8"):
        counts["cases"] += 1
        out("line " + show(line) + " -> " + show(flows.parse_line(line)))
    out("is_lan_host " + show([network.is_lan_host(x) for x in
                               ("192.168.1.5", "192.168.1.1", "10.0.0.1", "fd00:1::9", "junk")]))


def main():
    check_configs()
    check_uci()
    check_netaddr()
    check_zones()
    check_blocks()
    check_flows()
    out("core_check: %d cases, %d mismatches" % (counts["cases"], counts["mismatches"]))


main()
