"""What only reads the system: status, clients, sessions, check.

Every reply stays small whatever the number of clients or flows (ubusd drops
a client that sends over 1 MiB; LuCI polls status every few seconds): status
is a summary read from the table without its set elements, the client table
comes a page at a time, and sessions lists at most a page of flows. A page is
cut shorter still if it would pass BUDGET bytes of JSON.
"""

from . import counts
from . import flows
from . import kernel
from . import plan as planner
from . import tablecomment
from .changes import helper_error
from .settings import SettingsError, PROTOCOLS

PAGE = 100              # clients or flows in one reply, at most
HOSTS = 8               # addresses/MACs shown per client (hosts_total says how many)
BUDGET = 48 * 1024      # bytes of JSON in one reply; ubus's limit is far above


def _zero():
    return {"packets": 0, "bytes": 0}


def _pair(value):
    return {"packets": value[0], "bytes": value[1]}


def status(svc):
    out = {"enabled": False, "applied": False, "log": False, "ipv6": True,
           "lan_devices": [], "wan_devices": [], "zones": {}, "protocols": {},
           "clients": {"total": 0, "blocking": 0, "allowing": 0},
           "counters_since": 0, "errors": []}
    s = None
    try:
        s = svc.settings()
        out["enabled"], out["log"], out["ipv6"] = s.enabled, s.log, s.ipv6
        clients = s.clients
        blocking = len([c for c in clients if c.action == "block"])
        out["clients"] = {"total": len(clients), "blocking": blocking,
                          "allowing": len(clients) - blocking}
        if s.enabled:
            z = svc.zones(s)
            out["zones"] = z
            out["lan_devices"], out["wan_devices"] = z["lan"]["devices"], z["wan"]["devices"]
            for side in ("lan", "wan"):
                if z[side]["down"]:
                    out["errors"].append(down_message(side, z[side]["down"]))
    except SettingsError as e:
        out["errors"].append(str(e))
    listing = kernel.applied_listing()
    out["applied"] = listing is not None
    out["counters_since"] = tablecomment.read_since(listing or "")
    _, states = tablecomment.read_comment(listing or "")
    live = counts.read(kernel.table_json(terse=True) if listing is not None else None)
    for name in PROTOCOLS:
        entry = {"configured": s.protocols[name] if s else None,
                 "effective": states.get(name, "disabled"),
                 "helper": "none", "modules": {},
                 "blocked": _pair(live.named.get(name + "_blocked", (0, 0))),
                 "passed": _pair(live.named.get(name + "_passed", (0, 0))),
                 "error": ""}
        if name in planner.HELPERS:
            entry["modules"] = dict([(m, kernel.module_state(m))
                                     for m in planner.MODULES[name]])
            if name in live.helpers:
                entry["helper"] = "assigned"
            elif entry["effective"] == "degraded":
                entry["helper"] = "missing"
                entry["error"] = helper_error(name)
                out["errors"].append(entry["error"])
        out["protocols"][name] = entry
    return out


def down_message(side, networks):
    return (side.upper() + " zone network " + ", ".join(networks) + " has no device (down): "
            "no rule matches its traffic until it comes up and the service re-applies")


def _bounded(number, default, low, high):
    if isinstance(number, bool) or not isinstance(number, int):
        return default
    return max(low, min(high, number))


def clients(svc, offset=0, limit=PAGE):
    """{total, offset, clients: [...]}, one page in file order; limit capped at PAGE."""
    offset = _bounded(offset, 0, 0, 1 << 30)
    limit = _bounded(limit, PAGE, 0, PAGE)
    all_clients = svc.settings().clients
    page = all_clients[offset:offset + limit]
    # per-client counts live in the set elements: listed only for a page to show
    per = counts.read(kernel.table_json()).clients if page else {}
    out = []
    for c in page:
        hosts = list(c.macs) + [str(p) for p in c.prefixes]
        blocked, passed = [0, 0], [0, 0]
        for set_name, value in per.get(c.label, {}).items():
            total = blocked if "_block_" in set_name else passed
            total[0] += value[0]
            total[1] += value[1]
        out.append({"name": c.name, "label": c.label, "action": c.action,
                    "protocols": list(c.protocols), "hosts": hosts[:HOSTS],
                    "hosts_total": len(hosts), "blocked": _pair(blocked),
                    "passed": _pair(passed)})
    return fit({"total": len(all_clients), "offset": offset, "clients": out}, "clients")


def sessions(svc):
    """{total, truncated, counts: {protocol: n}, flows: [at most PAGE]}."""
    s = svc.settings()
    lan, _ = svc.devices(s)
    network = kernel.network_facts(lan)
    found = {}
    for name in PROTOCOLS:
        found[name] = 0
    out = []
    total = 0
    for flow in flows.parse(kernel.conntrack_text()):
        entry = flows.session(flow, network)
        if entry is None:
            continue
        total += 1
        found[entry["protocol"]] = found.get(entry["protocol"], 0) + 1
        if len(out) < PAGE:
            out.append(entry)
    reply = fit({"total": total, "truncated": False, "counts": found, "flows": out}, "flows")
    reply["truncated"] = len(reply["flows"]) < total
    return reply


def fit(reply, key):
    """Drop entries from the end of reply[key] until the reply's JSON fits BUDGET."""
    import json
    while reply[key] and len(json.dumps(reply)) > BUDGET:
        reply[key] = reply[key][:len(reply[key]) * 3 // 4]
    return reply


def check(svc):
    from . import diagnose
    return {"findings": diagnose.findings(svc)}
