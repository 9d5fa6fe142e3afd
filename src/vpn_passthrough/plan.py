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
    def __init__(self, name, on, members):
        self.name = name
        self.on = on                    # the switch: on = passes, off = blocked
        self.helper = "none"            # 'assign' | 'missing' | 'none'
        self.members = members          # the plan's: (action, kind) -> [(element, label, protocols)]

    def set_name(self, action, kind):
        return self.name + "_" + action + "_" + kind

    def elements(self, action, kind):
        """[(element text, client label)] of this protocol's (action, kind) set."""
        return [(e, label) for e, label, protocols in self.members.get((action, kind), ())
                if self.name in protocols]

    def has(self, action, kind):
        for _, _, protocols in self.members.get((action, kind), ()):
            if self.name in protocols:
                return True
        return False

    def wants_helper(self):
        """A helper is useful whenever some LAN host may pass."""
        return self.name in HELPERS and (self.on or self.has("allow", "mac")
                                         or self.has("allow", "ipv4")
                                         or self.has("allow", "ipv6"))

    def effective(self):
        if not self.on:
            return "off"
        return "degraded" if self.helper == "missing" else "on"


class Plan:
    def __init__(self, settings, lan_devices, wan_devices):
        self.enabled = settings.enabled
        self.log = settings.log
        self.ipv6 = settings.ipv6
        self.lan_devices = lan_devices
        self.wan_devices = wan_devices
        self.clients = settings.clients
        # Client entries once for all protocols, each with the protocols it is for:
        # with thousands of clients the three protocols' sets mostly hold the same.
        self.members = {}               # (action, kind) -> [(element, label, protocols)]
        self.partial = {}               # (action, kind) with an entry not for every protocol
        self.protocols = [ProtocolPlan(p, settings.protocols[p], self.members)
                          for p in PROTOCOLS]

    def protocol(self, name):
        for p in self.protocols:
            if p.name == name:
                return p
        raise KeyError(name)

    def helpers(self):
        return [p for p in self.protocols if p.helper == "assign"]


def build(settings, lan_devices, wan_devices, helper_available):
    """settings + resolved devices + {'pptp': bool} -> Plan."""
    plan = Plan(settings, lan_devices, wan_devices)
    members = plan.members
    every = len(PROTOCOLS)
    for client in settings.clients:
        action, label, protocols = client.action, client.label, client.protocols
        entries = [("mac", mac) for mac in client.macs]
        for prefix in client.prefixes:
            entries.append(("ipv4" if prefix.family == 4 else "ipv6", str(prefix)))
        for kind, element in entries:
            key = (action, kind)
            if key not in members:
                members[key] = []
            members[key].append((element, label, protocols))
            if len(protocols) != every:
                plan.partial[key] = True
    for proto in plan.protocols:
        if proto.wants_helper():
            proto.helper = "assign" if helper_available.get(proto.name, False) else "missing"
    return plan


def blocks_any(plan):
    """Does the plan block anything at all? If not, no flow needs cutting."""
    for proto in plan.protocols:
        if not proto.on:
            return True
        for kind in KINDS:
            if proto.has("block", kind):
                return True
    return False


def blocks(plan, proto_name, family, address, mac):
    """Would the plan block this LAN host for this protocol? (used to cut flows)

    address: (family, int) of the host; mac: its MAC or None. Mirrors the
    rules: a block entry wins, then an allow entry, then the switch. Uses the
    clients' parsed addresses, not the rendered set elements.
    """
    if family == 6 and not plan.ipv6:
        return False                # the table does not look at IPv6 at all
    allowed = False
    for client in plan.clients:
        if proto_name not in client.protocols:
            continue
        if mac in client.macs or [p for p in client.prefixes if p.contains(family, address)]:
            if client.action == "block":
                return True
            allowed = True
    return not allowed and not plan.protocol(proto_name).on
