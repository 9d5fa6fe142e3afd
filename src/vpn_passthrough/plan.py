"""Desired state: what the table must do, decided from settings and system facts.

Nothing here prints rules (ruleset.py does) or touches the system (kernel.py).
"""

from .settings import PROTOCOLS

TABLE = "vpn_passthrough"
FAMILY = "inet"

# What each protocol is on the wire, LAN to WAN.
TRAFFIC = {
    "pptp": [("tcp", 1723), ("gre", None)],
    "l2tp": [("udp", 1701)],
    "ipsec": [("udp", 500), ("udp", 4500), ("esp", None), ("ah", None)],
}

# The kernel helper a protocol needs, and the modules that provide it.
HELPERS = {"pptp": ("pptp", "tcp", 1723)}
MODULES = {"pptp": ["nf_conntrack_pptp", "nf_nat_pptp"]}
KMOD_PACKAGE = "kmod-nf-nathelper-pptp"
KMOD_PACKAGE_OLD = "kmod-nf-nathelper-extra"

KINDS = ("mac", "ipv4", "ipv6")


class ProtocolPlan:
    def __init__(self, name, on, plan):
        self.name = name
        self.on = on                    # the switch: on = passes, off = blocked
        self.helper = "none"            # 'assign' | 'missing' | 'none'
        self.plan = plan

    def set_name(self, action, kind):
        return self.name + "_" + action + "_" + kind

    def clients(self, action):
        """The clients with this action for this protocol, in file order."""
        clients = self.plan.by_action.get(action, [])
        if action not in self.plan.partial:
            return clients
        return [c for c in clients if self.name in c.protocols]

    def entries(self, action, kind):
        """[(element text, client label)] of this protocol's (action, kind) set."""
        return entries(self.clients(action), kind)

    def has(self, action, kind):
        """Does this protocol's (action, kind) set hold anything?"""
        return (self.name, action, kind) in self.plan.present

    def wants_helper(self):
        """A helper is useful whenever some LAN host may pass."""
        return self.name in HELPERS and (self.on or self.has("allow", "mac")
                                         or self.has("allow", "ipv4")
                                         or self.has("allow", "ipv6"))

    def effective(self):
        if not self.on:
            return "off"
        return "degraded" if self.helper == "missing" else "on"


def entries(clients, kind):
    """[(element text, client label)] of one set kind ('mac', 'ipv4', 'ipv6')."""
    if kind == "mac":
        return [(m, c.label) for c in clients for m in c.macs]
    family = 4 if kind == "ipv4" else 6
    return [(str(p), c.label) for c in clients for p in c.prefixes if p.family == family]


class Plan:
    def __init__(self, settings, lan_devices, wan_devices):
        self.enabled = settings.enabled
        self.log = settings.log
        self.ipv6 = settings.ipv6
        self.lan_devices = lan_devices
        self.wan_devices = wan_devices
        self.clients = settings.clients
        # Clients grouped once, not one set entry per protocol: with thousands of
        # clients the three protocols' sets mostly hold the same.
        self.by_action = {}             # action -> [Client]
        self.partial = {}               # actions with a client not for every protocol
        self.present = {}               # (protocol, action, kind) whose set is not empty
        self.protocols = [ProtocolPlan(p, settings.protocols[p], self) for p in PROTOCOLS]

    def protocol(self, name):
        for p in self.protocols:
            if p.name == name:
                return p
        raise KeyError(name)

    def helpers(self):
        return [p for p in self.protocols if p.helper == "assign"]


def _has(clients, kind):
    """Does any of the clients have an entry of this kind? (stops at the first)"""
    if kind == "mac":
        return any(c.macs for c in clients)
    family = 4 if kind == "ipv4" else 6
    return any(p.family == family for c in clients for p in c.prefixes)


def build(settings, lan_devices, wan_devices, helper_available):
    """settings + resolved devices + {'pptp': bool} -> Plan."""
    plan = Plan(settings, lan_devices, wan_devices)
    _group(plan, settings.clients)
    for proto in plan.protocols:
        if proto.wants_helper():
            proto.helper = "assign" if helper_available.get(proto.name, False) else "missing"
    return plan


def _group(plan, all_clients):
    """Clients by action, and which sets hold something."""
    for action in ("block", "allow"):
        clients = [c for c in all_clients if c.action == action]
        if not clients:
            continue
        plan.by_action[action] = clients
        every = [c for c in clients if len(c.protocols) == len(PROTOCOLS)]
        some = [c for c in clients if len(c.protocols) != len(PROTOCOLS)]
        if some:
            plan.partial[action] = True
        for kind in KINDS:
            if _has(every, kind):
                for name in PROTOCOLS:
                    plan.present[(name, action, kind)] = True
            for c in some:
                if _has([c], kind):
                    for name in c.protocols:
                        plan.present[(name, action, kind)] = True


def blocks_any(plan):
    """Does the plan block anything at all? If not, no flow needs cutting."""
    for proto in plan.protocols:
        if not proto.on:
            return True
        for kind in KINDS:
            if proto.has("block", kind):
                return True
    return False


class Blocker:
    """Would the plan block a LAN host for a protocol? (used to cut flows)

    Mirrors the rules: a block entry wins, then an allow entry, then the switch. Uses
    the clients' parsed addresses, not the rendered set elements. The clients are
    indexed once, by MAC and by single address, so each flow costs a few lookups, not
    a pass over every client; wider prefixes are few and are scanned."""

    def __init__(self, plan):
        self.plan = plan
        self.exact = {}         # mac or (family, address) -> [client]
        self.ranges = []        # clients with a prefix wider than one host
        for c in plan.clients:
            for mac in c.macs:
                self.exact.setdefault(mac, []).append(c)
            for prefix in c.prefixes:
                if prefix.length == prefix.bits():
                    self.exact.setdefault((prefix.family, prefix.network), []).append(c)
                elif not self.ranges or self.ranges[-1] is not c:
                    self.ranges.append(c)

    def blocks(self, proto_name, family, address, mac):
        """address: (family, int) of the host; mac: its MAC or None."""
        if family == 6 and not self.plan.ipv6:
            return False
        clients = self.exact.get((family, address), []) + self.exact.get(mac, [])
        clients += [c for c in self.ranges
                    if [p for p in c.prefixes if p.contains(family, address)]]
        actions = [c.action for c in clients if proto_name in c.protocols]
        if "block" in actions:
            return True
        return "allow" not in actions and not self.plan.protocol(proto_name).on
