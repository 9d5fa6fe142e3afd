"""Plan -> nft text. Text only: every decision was made in plan.py.

The text replaces `table inet vpn_passthrough` in one transaction (the
"create, delete, create" idiom works whether or not the table exists) and
touches no other table. The table comment (tablecomment.py) carries a digest of
the rules so an unchanged apply can be recognised without keeping state files;
fw4include.py turns this text into fw4's include.
"""

from .plan import TABLE, FAMILY, TRAFFIC, KINDS, HELPERS
from . import tablecomment

# Filter priority -5: after conntrack and NAT prerouting, just before fw4's
# forward chain (priority filter), so our counters see what fw4 would drop too.
# The helper is assigned here as well, on the way out of the pass chain: after the
# conntrack lookup and before the new entry is confirmed (postrouting), and only
# for connections that pass. No other hook: other packets pay nothing more.
FORWARD_PRIORITY = "filter - 5"
LOG_RATE = "limit rate 10/minute burst 5 packets"
LOG_PREFIX = "vpn-passthrough: block "
LOG_LINE = "\t\t" + LOG_RATE + " log "

SET_TYPE = {"mac": "ether_addr", "ipv4": "ipv4_addr", "ipv6": "ipv6_addr"}
MATCH = {"mac": "ether saddr", "ipv4": "ip saddr", "ipv6": "ip6 saddr"}


def _quoted(names):
    return ", ".join(['"' + n + '"' for n in names])


def _set(lines, name, kind, elements, marks):
    lines.append("\tset " + name + " {")
    lines.append("\t\ttype " + SET_TYPE[kind])
    if kind != "mac":
        lines.append("\t\tflags interval")
    lines.append("\t\tcounter")
    lines.append("\t\telements = {")
    marks.append((len(lines), name))      # where carried counts go in (with_counts)
    lines.append(elements)
    lines.append("\t\t}")
    lines.append("\t}")


def _elements(proto, action, kind, shared):
    """The element lines of one set; built once when every client of the action is for
    every protocol, as the text is then the same for each."""
    key = (action, kind)
    if key in shared:
        return shared[key]
    text = ",\n".join(["\t\t\t" + e + ' comment "' + label + '"'
                       for e, label in proto.entries(action, kind)])
    if action not in proto.plan.partial:
        shared[key] = text
    return text


def _dispatch(plan):
    """Which chain each protocol/port goes to (only protocols with a chain)."""
    by_l4 = {}
    for proto in plan.protocols:
        for l4, port in TRAFFIC[proto.name]:
            if l4 not in by_l4:
                by_l4[l4] = []
            by_l4[l4].append((port, proto.name))
    return by_l4


def _device_set(lines, name, devices):
    """Interval flag: fw4's wildcard 'tun+' becomes the prefix match "tun*"."""
    lines.append("\tset " + name + " {")
    lines.append("\t\ttype ifname")
    lines.append("\t\tflags interval")
    if devices:                 # a zone whose networks are all down: an empty set
        lines.append("\t\telements = { " + _quoted(devices) + " }")
    lines.append("\t}")


def _body(plan, marks=None):
    """The table's lines without counts; `marks` gets (line index, set name) of each
    set's element text."""
    marks = [] if marks is None else marks
    lines = []
    for proto in plan.helpers():
        name = proto.name
        lines.append("\tct helper " + name + " {")
        lines.append('\t\ttype "' + name + '" protocol tcp')
        lines.append("\t\tl3proto ip")
        lines.append('\t\tcomment "' + name + ' passthrough: lets NAT translate call IDs"')
        lines.append("\t}")
    _device_set(lines, "lan_devices", plan.lan_devices)
    _device_set(lines, "wan_devices", plan.wan_devices)
    for proto in plan.protocols:
        for what in ("passed", "blocked"):
            lines.append("\tcounter " + proto.name + "_" + what + " {")
            lines.append('\t\tcomment "' + proto.name + " packets " + what + ' LAN to WAN"')
            lines.append("\t}")
    shared = {}
    for proto in plan.protocols:
        for action in ("block", "allow"):
            if action == "allow" and proto.on:
                continue            # allow entries only matter while the switch is off
            for kind in KINDS:
                if proto.has(action, kind):
                    _set(lines, proto.set_name(action, kind), kind,
                         _elements(proto, action, kind, shared), marks)

    by_l4 = _dispatch(plan)
    verdicts = []
    for l4 in ("tcp", "udp", "gre", "esp", "ah"):
        ports = by_l4.get(l4)
        if not ports:
            continue
        target = "vpn_" + (l4 if ports[0][0] is not None else ports[0][1])
        verdicts.append(l4 + " : jump " + target)
    # Every forwarded packet crosses this hook, so it first meets the cheapest tests: a
    # 2-byte port and a 1-byte protocol, each one bitmap lookup. Only packets that may be
    # VPN go on to the ifname lookups (16-byte keys) and the exact protocol/port checks.
    # (`th dport` of another protocol reads other bytes: a chance hit only costs the
    # exact check.)
    ports = sorted(set([port for l4 in ("tcp", "udp") for port, _ in by_l4.get(l4, ())]))
    bare = [l4 for l4 in ("gre", "esp", "ah") if l4 in by_l4]
    family = "" if plan.ipv6 else "meta nfproto ipv4 "
    lines.append("\tchain forward {")
    lines.append("\t\ttype filter hook forward priority " + FORWARD_PRIORITY + "; policy accept;")
    if ports:
        lines.append("\t\tth dport { " + ", ".join([str(p) for p in ports])
                     + ' } goto lan_to_wan comment "maybe VPN: port"')
    if bare:
        lines.append("\t\tmeta l4proto { " + ", ".join(bare)
                     + ' } goto lan_to_wan comment "maybe VPN: protocol"')
    lines.append("\t}")
    lines.append("\tchain lan_to_wan {")
    lines.append("\t\t" + family + "iifname @lan_devices oifname @wan_devices meta l4proto vmap { "
                 + ", ".join(verdicts) + ' } comment "LAN to WAN: only VPN protocols go on"')
    lines.append("\t}")
    for l4 in ("tcp", "udp"):
        ports = by_l4.get(l4)
        if not ports:
            continue
        lines.append("\tchain vpn_" + l4 + " {")
        if len(ports) == 1:
            lines.append("\t\t" + l4 + " dport " + str(ports[0][0]) + " goto vpn_" + ports[0][1])
        else:
            lines.append("\t\t" + l4 + " dport vmap { " + ", ".join(
                [str(port) + " : goto vpn_" + name for port, name in ports]) + " }")
        lines.append("\t}")
    for proto in plan.protocols:
        name = proto.name
        # 'ipsec' is an nft keyword: chains carry a prefix
        lines.append("\tchain vpn_" + name + " {")
        for action in ("block", "allow"):
            if action == "allow" and proto.on:
                continue            # allow entries only matter while the switch is off
            for kind in KINDS:
                if proto.has(action, kind):
                    lines.append("\t\t" + MATCH[kind] + " @" + proto.set_name(action, kind)
                                 + " goto " + name + ("_block" if action == "block" else "_pass")
                                 + ' comment "clients: ' + action + '"')
        if proto.on:
            lines.append("\t\tgoto " + name + '_pass comment "switch on"')
        else:
            lines.append("\t\tgoto " + name + '_block comment "switch off"')
        lines.append("\t}")
        lines.append("\tchain " + name + "_pass {")
        if proto.helper == "assign":
            _, l4, port = HELPERS[name]
            lines.append("\t\tmeta nfproto ipv4 " + l4 + " dport " + str(port) + " ct state new"
                         ' ct helper set "' + name + '" comment "' + name
                         + ': assign the conntrack helper"')
        lines.append('\t\tcounter name "' + name + '_passed" accept')
        lines.append("\t}")
        lines.append("\tchain " + name + "_block {")
        if plan.log:
            lines.append("\t\t" + LOG_RATE + ' log prefix "' + LOG_PREFIX + name + ': " level info')
        lines.append('\t\tcounter name "' + name + '_blocked" drop')
        lines.append("\t}")
    return lines


def summary(plan):
    """'pptp=on l2tp=off ipsec=on': kept in the table comment, so status reads
    the effective state from the kernel, written in the same transaction."""
    return " ".join([p.name + "=" + p.effective() for p in plan.protocols])


SHARED_MIN = 4096     # element texts longer than this are hashed once, not once per set


def digests(plan, lines):
    """(digest, policy digest) of a body. The policy digest covers all but the log
    rules: a change of logging alone blocks nothing new, so apply need not scan
    conntrack for flows to cut. The digest adds the log switch to it, which decides
    the log rules: one pass of SHA-256 over megabytes of set elements, not two, and
    an element text that three sets share is hashed once."""
    if plan.log:
        lines = [x for x in lines if not x.startswith(LOG_LINE)]
    pieces = [summary(plan)]
    shared = {}         # id -> digest of an element text that several sets share
    for i, line in enumerate(lines):
        if i:
            pieces.append("\n")
        if len(line) > SHARED_MIN:   # set elements: the same text object for each protocol
            key = id(line)
            if key not in shared:
                shared[key] = "elements " + tablecomment.digest_pieces([line])
            line = shared[key]
        pieces.append(line)
    policy = tablecomment.digest_pieces(pieces)
    return (tablecomment.digest(policy + " log") if plan.log else policy), policy


def render(plan, source="/etc/config/vpn-passthrough", carried=None, since=0):
    """The complete `nft -f` input that replaces our table. `carried` (counts.Carried)
    gives counters their values from the table it replaces: an apply keeps the counts
    (the digest leaves them out). `since`: when the counts last started from zero."""
    marks = []
    lines = _body(plan, marks)
    full, policy = digests(plan, lines)
    if carried is not None:
        lines = with_counts(plan, lines, marks, carried)
    head = ["#!/usr/sbin/nft -f",
            "# vpn-passthrough: generated from " + source + "; do not edit",
            "table " + FAMILY + " " + TABLE,
            "delete table " + FAMILY + " " + TABLE,
            "table " + FAMILY + " " + TABLE + " {",
            "\t" + tablecomment.line(full, policy, since, summary(plan))]
    return "\n".join(head + lines + ["}", ""])


def _count(value):
    return "counter packets " + str(value[0]) + " bytes " + str(value[1])


def with_counts(plan, lines, marks, carried):
    """The lines with the carried values: named counters and set elements (a set's
    elements are written per set here, as each set's counts differ)."""
    lines = list(lines)
    for i, line in enumerate(lines):
        if line.startswith("\tcounter ") and line.endswith(" {"):
            value = carried.named.get(line[len("\tcounter "):-2])
            if value is not None:
                lines[i] = line + "\n\t\tpackets " + str(value[0]) + " bytes " + str(value[1])
    sets = {}
    for proto in plan.protocols:
        for action in ("block", "allow"):
            for kind in KINDS:
                sets[proto.set_name(action, kind)] = (proto, action, kind)
    for i, name in marks:
        values = carried.elements.get(name)
        if not values:
            continue
        proto, action, kind = sets[name]
        out = []
        for e, label in proto.entries(action, kind):
            value = values.get(e)
            out.append("\t\t\t" + e + (" " + _count(value) if value else "")
                       + ' comment "' + label + '"')
        lines[i] = ",\n".join(out)
    return lines


def render_delete():
    """Remove our table whether or not it exists, in one transaction."""
    return ("table " + FAMILY + " " + TABLE + "\n"
            "delete table " + FAMILY + " " + TABLE + "\n")
