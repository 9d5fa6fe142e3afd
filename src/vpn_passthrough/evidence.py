"""Per-device diagnosis, effects part: what the router knows about one LAN device.

HOST is a MAC, an IP address or a client's name (or label) from the settings. It is
resolved to addresses and MACs through the settings and the neighbour table. Then
two snapshots `watch` seconds apart (one with watch 0) of `nft -j list ruleset`
(our counters, other tables' rules) and `conntrack -L` give the evidence that
verdicts.py decides on; the reply's shape is documented there.

Everything here only reads: settings, `ip addr`/`ip neigh`, nft listings, conntrack
listings, an `nft -c` probe for the pptp helper (checked, never committed), /proc/sys
and /etc/config/firewall. It changes nothing and sends no traffic.
"""

import time

from . import flows
from . import kernel
from . import netaddr
from . import pkgmgr
from . import rulescan
from . import uci
from . import verdicts
from .plan import TABLE, FAMILY
from .settings import SettingsError, PROTOCOLS

WATCH_DEFAULT = 3
WATCH_MAX = 30
FLOWS_PER_KIND = 4      # per protocol, l4 and port: enough to decide; the reply stays small
HOST_MAX = 64


def diagnose(svc, host, watch=WATCH_DEFAULT):
    """The reply for `diagnose HOST`; SettingsError naming 'host' or 'watch' on bad input."""
    return verdicts.report(collect(svc, host, watch))


def check_watch(watch):
    try:
        n = int(watch)
    except (TypeError, ValueError):
        raise SettingsError("watch", "must be a number of seconds (0-" + str(WATCH_MAX) + ")")
    if n < 0 or n > WATCH_MAX:
        raise SettingsError("watch", "must be between 0 and " + str(WATCH_MAX) + " seconds")
    return n


def collect(svc, host, watch=WATCH_DEFAULT):
    watch = check_watch(watch)
    s = svc.settings()
    try:
        lan, wan = svc.devices(s)
    except SettingsError:
        lan, wan = [], []       # zones unresolved: addresses and neighbours still tell
    network = kernel.network_facts(lan)
    device = resolve(host, s, network)      # a bad HOST is refused before any wait
    first = _snapshot()
    second = first
    if watch:
        time.sleep(watch)
        second = _snapshot()
        # a device that only now tries may only now be in the neighbour table
        network = kernel.network_facts(lan)
        device = resolve(host, s, network)
    ours = _ours(second["items"])
    before = _ours(first["items"]) if watch else None
    applied = ours["applied"]
    host_flows = _device_flows(first["flows"] + (second["flows"] if watch else []), device,
                               network)
    hits = rulescan.scan(second["items"], device)
    old = rulescan.counters(first["items"]) if watch else {}
    e = {"host": host, "name": device["name"], "watched": watch,
         "addresses": [_format(a) for a in device["addresses"]],
         "macs": device["macs"], "enabled": s.enabled, "applied": applied,
         "protocols": {}, "wan": _wan(wan),
         "acct": _acct(), "offload": _offload(svc, second)}
    for name in PROTOCOLS:
        passes, by, client = verdicts.policy(name, s.protocols[name], device["clients"])
        p = {"pass": passes, "by": by, "client": client,
             "blocked": _delta(ours, before, name + "_blocked"),
             "passed": _delta(ours, before, name + "_passed"),
             "client_blocked": None, "flows": host_flows.get(name, []),
             "foreign": []}
        if client is not None and client["action"] == "block":
            p["client_blocked"] = _client_delta(ours, before, name, client["label"])
        for h in hits.get(name, []):
            h = dict(h)
            if watch and h["packets"] is not None and h["key"] in old:
                h["delta"] = h["packets"] - old[h["key"]]
            del h["key"]
            p["foreign"].append(h)
        e["protocols"][name] = p
    if host_flows.get("pptp"):
        e["pptp"] = {"install": pkgmgr.install(pkgmgr.pptp_kmod()),
                     "kernel_helper": kernel.helper_available("pptp", "tcp"),
                     "nat_module": kernel.module_state("nf_nat_pptp"),
                     "assigns": ours["helper"]}
    return e


# --- the device -------------------------------------------------------------

def resolve(host, s, network):
    """HOST -> {name, addresses [(family, int)], prefixes [Prefix], macs, clients}."""
    if not isinstance(host, str) or not host or len(host) > HOST_MAX:
        raise SettingsError("host", "expects a MAC, an IP address or a client's name")
    macs, addresses, prefixes, named = [], [], [], None
    try:
        macs = [netaddr.parse_mac(host)]
    except ValueError:
        try:
            addresses = [netaddr.parse_address(host)]
        except ValueError:
            for c in s.clients:
                if host in (c.name, c.label):
                    named = c
                    break
            if named is None:
                raise SettingsError("host", "'" + host + "' is neither a MAC, an IP address "
                                    "nor the name of a client in the settings")
            macs = list(named.macs)
            for p in named.prefixes:
                if p.length == p.bits():
                    addresses.append((p.family, p.network))
                else:
                    prefixes.append(p)
    for key in addresses:
        mac = network.neighbours.get(key)
        if mac is not None and mac not in macs:
            macs.append(mac)
    for key in network.neighbours:      # the same device's other addresses (IPv4 + IPv6)
        if network.neighbours[key] in macs and key not in addresses:
            addresses.append(key)
    clients = []
    for c in s.clients:
        if c is named or [m for m in c.macs if m in macs] or \
                [p for p in c.prefixes for a in addresses if p.contains(a[0], a[1])]:
            clients.append({"label": c.label, "name": c.name, "action": c.action,
                            "protocols": list(c.protocols)})
    name = named.name if named is not None else None
    if name is None and len(clients) == 1:
        name = clients[0]["name"]
    return {"name": name, "addresses": addresses, "prefixes": prefixes, "macs": macs,
            "clients": clients}


def _format(key):
    return netaddr.format_ipv4(key[1]) if key[0] == 4 else netaddr.format_ipv6(key[1])


def _is_device(text, device):
    try:
        key = netaddr.parse_address(text)
    except ValueError:
        return False
    if key in device["addresses"]:
        return True
    return bool([p for p in device["prefixes"] if p.contains(key[0], key[1])])


# --- snapshots ---------------------------------------------------------------

def _snapshot():
    return {"items": kernel.ruleset_json() or [],
            "flows": flows.parse(kernel.conntrack_text())}


def _ours(items):
    """Our table's counters, per-element counters by set, helper object, presence."""
    out = {"applied": False, "helper": False, "counters": {}, "elements": {}}
    for item in items:
        for kind in ("table", "counter", "set", "ct helper"):
            obj = item.get(kind)
            if obj is None or obj.get("family") != FAMILY or \
                    (obj.get("table", obj.get("name")) if kind != "table"
                     else obj.get("name")) != TABLE:
                continue
            if kind == "table":
                out["applied"] = True
            elif kind == "counter":
                out["counters"][obj.get("name")] = obj.get("packets", 0)
            elif kind == "ct helper":
                out["helper"] = True
            else:
                per = out["elements"].setdefault(obj.get("name"), {})
                for e in obj.get("elem", []) or []:
                    elem = e.get("elem") if isinstance(e, dict) else None
                    if isinstance(elem, dict) and "comment" in elem:
                        per[elem["comment"]] = per.get(elem["comment"], 0) + \
                            (elem.get("counter") or {}).get("packets", 0)
    return out


def _delta(ours, before, name):
    n = ours["counters"].get(name, 0)
    return {"packets": n, "delta": None if before is None
            else n - before["counters"].get(name, 0)}


def _client_delta(ours, before, proto, label):
    def total(o):
        return sum([o["elements"].get(proto + "_block_" + kind, {}).get(label, 0)
                    for kind in ("mac", "ipv4", "ipv6")])
    n = total(ours)
    return {"packets": n, "delta": None if before is None else n - total(before)}


def _device_flows(all_flows, device, network):
    """{protocol: [flow summary]} of the device's VPN flows, the later snapshot winning."""
    by_key = {}
    for f in all_flows:
        name = flows.protocol(f)
        if name is None:
            continue
        o, r = f["orig"], f["reply"]
        if _is_device(o["src"], device) and not network.is_local(o["dst"]):
            mine, theirs = o, r
        elif f["proto"] == 47 and r.get("src") and _is_device(r["src"], device):
            mine, theirs = r, o           # GRE opened by the server (the helper's expectation)
        else:
            continue
        key = (f["proto"], mine["src"], mine["dst"], mine.get("sport"), mine.get("dport"),
               mine.get("srckey"))
        by_key[key] = (name, f, mine, theirs)
    out = {}
    for key in by_key:
        name, f, mine, theirs = by_key[key]
        replied = f["state"] != "[UNREPLIED]" and theirs.get("packets") != 0
        out.setdefault(name, []).append({
            "l4": flows.NAMES.get(f["proto"], str(f["proto"])), "client": mine["src"],
            "server": mine["dst"], "sport": mine.get("sport"), "dport": mine.get("dport"),
            "replied": replied, "out_packets": mine.get("packets"),
            "in_packets": theirs.get("packets"), "helper": f["helper"],
            "nat": theirs.get("dst") != mine["src"], "offload": "OFFLOAD" in f["state"],
            "key_out": _key(mine.get("srckey")), "key_in": _key(theirs.get("dstkey"))})
    for name in out:
        out[name] = _keep(out[name])
    return out


def _keep(summaries):
    """At most FLOWS_PER_KIND per kind (l4 and port), answered ones first: whether any
    of a kind was answered survives the cut, and no kind crowds out another."""
    summaries.sort(key=lambda x: (x["l4"] not in ("tcp", "udp"), x["l4"], x["dport"] or 0,
                                  not x["replied"], x["server"]))
    kept, last, n = [], None, 0
    for x in summaries:
        kind = (x["l4"], x["dport"])
        n = n + 1 if kind == last else 1
        last = kind
        if n <= FLOWS_PER_KIND:
            kept.append(x)
    return kept


def _key(text):
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


# --- router-wide facts -------------------------------------------------------

def _wan(wan_devices):
    """The router's IPv4 WAN addresses, classified (private, cgnat, public)."""
    seen = []
    for device, family, n, _ in kernel.addresses():
        if family == 4 and device in wan_devices:
            seen.append(netaddr.format_ipv4(n))
    return [{"address": a, "kind": verdicts.wan_kind(a)} for a in seen[:4]]


def _acct():
    try:
        with open("/proc/sys/net/netfilter/nf_conntrack_acct") as f:
            return f.read().strip() != "0"
    except OSError:
        return None


def _offload(svc, snapshot):
    """What offloads flows: fw4's flow_offloading option, flowtables, offloaded entries."""
    out = []
    path = svc.config_dir + "/firewall"
    try:
        with open(path) as f:
            for sec in uci.parse(f.read(), path):
                if sec.type == "defaults" and sec.get("flow_offloading") == "1":
                    out.append("fw4 option flow_offloading")
    except (OSError, uci.UciError):
        pass
    for item in snapshot["items"]:
        ft = item.get("flowtable")
        if ft is not None and len(out) < 4:
            out.append("flowtable " + str(ft.get("name")) + " in table "
                       + str(ft.get("family")) + " " + str(ft.get("table")))
    if [f for f in snapshot["flows"] if "OFFLOAD" in f["state"]] and len(out) < 4:
        out.append("offloaded entries in conntrack")
    return out
