"""Conntrack entries: parse `conntrack -L` text, find forwarded VPN flows.

A flow belongs to a LAN client when its original source is a host on a LAN
prefix that is not one of the router's own addresses, and its original
destination is not the router: the router's own connections and flows to it
are never ours to cut. PPTP's GRE may be opened from the server side (the
helper's expectation), so for GRE the reply source counts as well.
"""

from . import netaddr
from .plan import TRAFFIC

NAMES = {6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah"}
# (IP protocol number, destination port or None) -> VPN protocol, from plan.TRAFFIC
WIRE = {}
for _name in TRAFFIC:
    for _l4, _port in TRAFFIC[_name]:
        for _number in NAMES:
            if NAMES[_number] == _l4:
                WIRE[(_number, _port)] = _name


def parse_line(line):
    """One `conntrack -L` line -> dict, or None for lines that are not entries."""
    words = line.split()
    if len(words) < 4 or not words[1].isdigit():
        return None
    if words[0] in ("ipv4", "ipv6"):          # `-o extended` adds the family first
        words = words[2:]
        if len(words) < 4 or not words[1].isdigit():
            return None
    flow = {"l4": words[0], "proto": int(words[1]), "timeout": None, "state": "",
            "orig": {}, "reply": {}, "helper": None, "assured": False, "age": None}
    rest = words[2:]
    if rest and rest[0].isdigit():
        flow["timeout"] = int(rest[0])
        rest = rest[1:]
    side = flow["orig"]
    for w in rest:
        if w == "[ASSURED]":
            flow["assured"] = True
            continue
        if "=" not in w:
            if w.isupper():
                flow["state"] = w
            continue
        key, value = w.split("=", 1)
        if key in ("src", "dst", "sport", "dport", "packets", "bytes", "srckey", "dstkey"):
            if key == "src" and "src" in side:
                side = flow["reply"]
            if key in ("sport", "dport", "packets", "bytes"):
                value = int(value) if value.isdigit() else None
            if key not in side:
                side[key] = value
        elif key == "helper":
            flow["helper"] = value
        elif key == "delta-time":
            flow["age"] = int(value) if value.isdigit() else None
    if "src" not in flow["orig"] or "dst" not in flow["orig"]:
        return None
    return flow


def parse(text):
    out = []
    for line in text.split("\n"):
        flow = parse_line(line)
        if flow is not None:
            out.append(flow)
    return out


def protocol(flow):
    """The VPN protocol a flow is part of, or None."""
    p = flow["proto"]
    return WIRE.get((p, None)) or WIRE.get((p, flow["orig"].get("dport")))


class Network:
    """Facts about the router: LAN prefixes, its own addresses, LAN neighbours."""

    def __init__(self, lan_prefixes, local_addresses, neighbours):
        self.lan_prefixes = lan_prefixes        # [netaddr.Prefix]
        self.local = local_addresses            # {(family, int)}
        self.neighbours = neighbours            # {(family, int): mac}

    def is_lan_host(self, text):
        try:
            family, n = netaddr.parse_address(text)
        except ValueError:
            return False
        if (family, n) in self.local:
            return False
        for p in self.lan_prefixes:
            if p.contains(family, n):
                return True
        return False

    def is_local(self, text):
        try:
            return netaddr.parse_address(text) in self.local
        except ValueError:
            return False


def lan_client(flow, network):
    """(client address, remote address) if the flow was forwarded for a LAN host."""
    orig, reply = flow["orig"], flow["reply"]
    if network.is_lan_host(orig["src"]) and not network.is_local(orig["dst"]):
        return orig["src"], orig["dst"]
    if flow["proto"] == 47 and reply.get("src") and network.is_lan_host(reply["src"]) \
            and not network.is_local(orig["src"]):
        return reply["src"], orig["src"]
    return None


def session(flow, network):
    """A flow as the `sessions` API shows it, or None when it is not a LAN VPN flow."""
    name = protocol(flow)
    if name is None:
        return None
    ends = lan_client(flow, network)
    if ends is None:
        return None
    orig = flow["orig"]
    return {"protocol": name, "client": ends[0], "server": ends[1],
            "l4": NAMES.get(flow["proto"], str(flow["proto"])),
            "sport": orig.get("sport"), "dport": orig.get("dport"),
            "state": flow["state"] or ("ASSURED" if flow["assured"] else "UNREPLIED"),
            "timeout": flow["timeout"], "age": flow["age"],
            "packets": _sum(orig, flow["reply"], "packets"),
            "bytes": _sum(orig, flow["reply"], "bytes"),
            "helper": flow["helper"]}


def _sum(a, b, key):
    if a.get(key) is None and b.get(key) is None:
        return None
    return (a.get(key) or 0) + (b.get(key) or 0)


def delete_args(flow):
    """conntrack arguments that delete exactly this flow (by its original tuple)."""
    orig = flow["orig"]
    family = "ipv6" if ":" in orig["src"] else "ipv4"
    name = NAMES.get(flow["proto"], str(flow["proto"]))
    if name in ("esp", "ah"):
        name = str(flow["proto"])           # conntrack knows these by number only
    args = ["-D", "-f", family, "-p", name, "-s", orig["src"], "-d", orig["dst"]]
    if flow["proto"] in (6, 17) and orig.get("sport") is not None:
        args += ["--sport", str(orig["sport"]), "--dport", str(orig["dport"])]
    return args
