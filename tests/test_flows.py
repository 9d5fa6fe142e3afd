"""conntrack -L parsing and the 'forwarded for a LAN host' rule that decides what is cut."""

from vpn_passthrough import flows, netaddr

LINES = """\
tcp      6 431998 ESTABLISHED src=10.77.1.10 dst=198.51.100.2 sport=40000 dport=1723 src=198.51.100.2 dst=198.51.100.1 sport=1723 dport=40000 [ASSURED] mark=0 helper=pptp use=1
gre      47 179 src=10.77.1.10 dst=198.51.100.2 srckey=0x1 dstkey=0x5 src=198.51.100.2 dst=198.51.100.1 srckey=0x5 dstkey=0x8001 [ASSURED] mark=0 use=1
gre      47 29 src=198.51.100.2 dst=198.51.100.1 srckey=0x0 dstkey=0x8001 src=10.77.1.11 dst=198.51.100.2 srckey=0x8001 dstkey=0x0 mark=0 use=1
udp      17 29 src=198.51.100.1 dst=198.51.100.2 sport=500 dport=500 [UNREPLIED] src=198.51.100.2 dst=198.51.100.1 sport=500 dport=500 mark=0 use=1
udp      17 120 src=10.77.1.10 dst=198.51.100.2 sport=4500 dport=4500 packets=3 bytes=300 src=198.51.100.2 dst=198.51.100.1 sport=4500 dport=4500 packets=1 bytes=100 [ASSURED] mark=0 delta-time=42 use=1
unknown  50 599 src=10.77.1.11 dst=198.51.100.2 src=198.51.100.2 dst=198.51.100.1 mark=0 use=1
udp      17 30 src=10.77.1.10 dst=198.51.100.2 sport=5000 dport=53 src=198.51.100.2 dst=198.51.100.1 sport=53 dport=5000 mark=0 use=1
tcp      6 100 ESTABLISHED src=198.51.100.2 dst=198.51.100.1 sport=5555 dport=1723 src=198.51.100.1 dst=198.51.100.2 sport=1723 dport=5555 [ASSURED] mark=0 use=1
udp      17 30 src=fd77:1::10 dst=fd77:2::2 sport=1701 dport=1701 src=fd77:2::2 dst=fd77:1::10 sport=1701 dport=1701 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 9 flow entries have been shown.
"""


def network():
    local = {}
    for a in ("10.77.1.1", "198.51.100.1", "fd77:1::1", "fd77:2::1"):
        local[netaddr.parse_address(a)] = True
    prefixes = [netaddr.parse_prefix("10.77.1.0/24"), netaddr.parse_prefix("fd77:1::/64")]
    return flows.Network(prefixes, local, {})


def test_parse_fields():
    fs = flows.parse(LINES)
    assert len(fs) == 9
    tcp = fs[0]
    assert tcp["state"] == "ESTABLISHED" and tcp["helper"] == "pptp" and tcp["assured"]
    assert tcp["orig"] == {"src": "10.77.1.10", "dst": "198.51.100.2", "sport": 40000, "dport": 1723}
    assert tcp["reply"]["dst"] == "198.51.100.1"
    assert fs[1]["orig"]["srckey"] == "0x1" and fs[1]["reply"]["dstkey"] == "0x8001"
    assert fs[4]["orig"]["packets"] == 3 and fs[4]["age"] == 42
    assert fs[5]["proto"] == 50 and fs[5]["timeout"] == 599


def test_extended_output_is_parsed_too():
    f = flows.parse_line("ipv4     2 udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=1701 "
                         "src=10.0.0.2 dst=10.0.0.1 sport=1701 dport=1 mark=0 use=1")
    assert flows.protocol(f) == "l2tp"


def test_protocols():
    names = [flows.protocol(f) for f in flows.parse(LINES)]
    assert names == ["pptp", "pptp", "pptp", "ipsec", "ipsec", "ipsec", None, "pptp", "l2tp"]


def test_only_flows_forwarded_for_lan_hosts_count():
    net = network()
    ends = [flows.lan_client(f, net) for f in flows.parse(LINES)]
    assert ends[0] == ("10.77.1.10", "198.51.100.2")
    assert ends[1] == ("10.77.1.10", "198.51.100.2")
    assert ends[2] == ("10.77.1.11", "198.51.100.2")    # GRE opened by the server, for lan2
    assert ends[3] is None                               # the router's own IKE
    assert ends[7] is None                               # to the router's own PPTP server
    assert ends[8] == ("fd77:1::10", "fd77:2::2")


def test_sessions_and_delete_arguments():
    net = network()
    fs = flows.parse(LINES)
    s = flows.session(fs[4], net)
    assert s["protocol"] == "ipsec" and s["packets"] == 4 and s["bytes"] == 400 and s["age"] == 42
    assert flows.session(fs[0], net)["bytes"] is None
    assert flows.session(fs[6], net) is None             # DNS is no VPN
    assert flows.delete_args(fs[0]) == ["-D", "-f", "ipv4", "-p", "tcp", "-s", "10.77.1.10",
                                        "-d", "198.51.100.2", "--sport", "40000", "--dport", "1723"]
    assert flows.delete_args(fs[5])[:5] == ["-D", "-f", "ipv4", "-p", "50"]
    assert flows.delete_args(fs[8])[2] == "ipv6"
