"""Other tables' rules that stop VPN traffic, from `nft -j list ruleset` (pure).

A rule counts when it names a VPN port (tcp 1723, udp 1701/500/4500) or protocol
(gre, esp, ah) — itself or through the jump that led to its chain — and ends in
drop, reject, queue or a redirection (redirect, dnat, tproxy). Rules that stop
everything (fw4's `ct state invalid drop`, zone reject policies) are not the VPN's
problem and are left out. Chains are walked from base chains on the prerouting,
forward and postrouting hooks, through jump/goto. A source match that leaves the
device out skips the rule; one this module cannot evaluate (a named set) keeps it,
marked not sure.
"""

from . import netaddr

HOOKS = ("prerouting", "forward", "postrouting")
STOPS = ("drop", "reject", "queue", "redirect", "dnat", "tproxy")
PORTS = {("tcp", 1723): "pptp", ("udp", 1701): "l2tp", ("udp", 500): "ipsec",
         ("udp", 4500): "ipsec"}
PROTOS = {"gre": "pptp", "esp": "ipsec", "ah": "ipsec", 47: "pptp", 50: "ipsec", 51: "ipsec"}
# All of TCP or UDP is not aimed at VPN (fw4's handle_reject has `meta l4proto tcp reject`):
# such a match only narrows what an earlier match selected.
CARRIED = {"tcp": ("pptp",), "udp": ("l2tp", "ipsec"), 6: ("pptp",), 17: ("l2tp", "ipsec")}
HITS_MAX = 8
DEPTH_MAX = 16


def _values(right):
    """A match's right side as a list of plain values, ranges as (low, high); None if it
    cannot be read here (a named set '@x', a map)."""
    if isinstance(right, (int, str)):
        if isinstance(right, str) and right.startswith("@"):
            return None
        return [right]
    if isinstance(right, dict):
        if "set" in right:
            out = []
            for v in right["set"]:
                inner = _values(v)
                if inner is None:
                    return None
                out.extend(inner)
            return out
        if "range" in right:
            return [tuple(right["range"])]
        if "prefix" in right:
            return [right]
    return None


def _has(values, wanted):
    for v in values:
        if v == wanted or (isinstance(v, tuple) and isinstance(wanted, int)
                           and v[0] <= wanted <= v[1]):
            return True
    return False


def _protocols(match):
    """VPN protocols a `==` match selects: a set of names, None when the match is not
    about ports or protocols, or an empty set when it selects none."""
    left = match.get("left") or {}
    values = _values(match.get("right"))
    payload = left.get("payload") if isinstance(left, dict) else None
    if payload and payload.get("field") == "dport":
        l4 = payload.get("protocol")
        if values is None:
            return set(["pptp", "l2tp", "ipsec"])      # unreadable: may be any
        found = set()
        for (proto, port), name in PORTS.items():
            if (l4 == proto or l4 == "th") and _has(values, port):
                found.add(name)
        return found
    meta = left.get("meta") if isinstance(left, dict) else None
    if (meta and meta.get("key") == "l4proto") or (
            payload and payload.get("field") in ("protocol", "nexthdr")
            and payload.get("protocol") in ("ip", "ip6")):
        if values is None:
            return set(["pptp", "ipsec"])
        found = set([PROTOS[v] for v in values if v in PROTOS])
        carried = set()
        for v in values:
            carried |= set(CARRIED.get(v, ()))
        if carried and not (carried <= found):
            return ("carries", found | carried)
        return found
    return None


def _source_fits(match, host):
    """True/False when the match on a source address or MAC decides for the device,
    None when it is not such a match or cannot be read here."""
    left = match.get("left") or {}
    payload = left.get("payload") if isinstance(left, dict) else None
    if not payload or payload.get("field") != "saddr":
        return None
    values = _values(match.get("right"))
    if values is None:
        return None
    kind = payload.get("protocol")
    hit = False
    for v in values:
        if kind == "ether":
            hit = hit or (isinstance(v, str) and v.lower() in host["macs"])
            continue
        text = v
        if isinstance(v, dict):
            text = v["prefix"]["addr"] + "/" + str(v["prefix"]["len"])
        if not isinstance(text, str):
            return None
        try:
            prefix = netaddr.parse_prefix(text)
        except ValueError:
            return None
        for family, n in host["addresses"]:
            if prefix.contains(family, n):
                hit = True
    return hit if match.get("op", "==") == "==" else not hit


def _text(expr):
    """A rule's expressions as short nft-like text (for the evidence)."""
    words = []
    for x in expr:
        if "match" in x:
            m = x["match"]
            words.append(_operand(m.get("left")) + ("" if m.get("op") in ("==", "in")
                                                    else " " + str(m.get("op")))
                         + " " + _operand(m.get("right")))
        elif "counter" in x:
            words.append("counter")
        else:
            for k in x:
                words.append(k + _argument(x[k]))
    return " ".join(words)


def _argument(v):
    """' sub' of a jump, ' to 10.0.0.1:8080' of a redirection, '' otherwise."""
    if not isinstance(v, dict):
        return ""
    if v.get("target"):
        return " " + str(v["target"])
    if v.get("addr") is not None or v.get("port") is not None:
        return " to " + _operand(v.get("addr", "")) + (":" + str(v["port"]) if
                                                       v.get("port") is not None else "")
    return ""


def _operand(v):
    if isinstance(v, dict):
        if "payload" in v:
            return str(v["payload"].get("protocol")) + " " + str(v["payload"].get("field"))
        if "meta" in v:
            return "meta " + str(v["meta"].get("key"))
        if "set" in v:
            return "{ " + ", ".join([_operand(x) for x in v["set"]]) + " }"
        if "range" in v:
            return "-".join([str(x) for x in v["range"]])
        if "prefix" in v:
            return str(v["prefix"].get("addr")) + "/" + str(v["prefix"].get("len"))
        return "?"
    return str(v)


def scan(items, host, skip=("inet", "vpn_passthrough")):
    """items: the list under "nftables"; host: {"addresses": [(family, int)], "macs": [str]}.
    -> {protocol: [hit]}, hit = {table, chain, hook, verdict, rule, packets, sure, key},
    at most HITS_MAX per protocol; key = (family, table, handle) for counter deltas."""
    chains = {}
    rules = {}
    for item in items:
        if "chain" in item:
            c = item["chain"]
            chains[(c.get("family") or "", c.get("table") or "", c.get("name") or "")] = c
        elif "rule" in item:
            r = item["rule"]
            key = (r.get("family") or "", r.get("table") or "", r.get("chain") or "")
            rules.setdefault(key, []).append(r)
    out = {}
    for key in sorted(chains):          # a stable order (MicroPython dicts keep none)
        c = chains[key]
        if (key[0], key[1]) == skip or c.get("hook") not in HOOKS:
            continue
        _walk(key, c["hook"], None, True, chains, rules, host, out, [key])
    return out


def _walk(key, hook, wanted, sure, chains, rules, host, out, path, origin=None):
    """Rules of one chain; `wanted`: the VPN protocols the way here selected (None: not
    narrowed yet); `origin`: the rule that selected them on the way (a jump of fw4's
    `forward_lan` to `reject_to_wan`, say), which is the one a user would change."""
    for r in rules.get(key, []):
        protos = wanted
        rule_sure = sure
        excluded = False
        for x in r.get("expr", []):
            m = x.get("match") if isinstance(x, dict) else None
            if m is None:
                continue
            if m.get("op", "==") == "==":
                found = _protocols(m)
                if isinstance(found, tuple):        # all of TCP/UDP: narrows only
                    found = None if protos is None else found[1]
                if found is not None:
                    protos = found if protos is None else protos & found
            fits = _source_fits(m, host)
            if fits is False:
                excluded = True
            elif fits is None and _is_source(m):
                rule_sure = False
        if excluded or (protos is not None and not protos):
            continue
        verdict = _verdict(r.get("expr", []))
        here = origin
        if here is None and protos is not None:
            here = (key, r)
        if verdict in ("jump", "goto"):
            nxt = (key[0], key[1], _target(r.get("expr", [])))
            if nxt in chains and nxt not in path and len(path) < DEPTH_MAX:
                _walk(nxt, hook, protos, rule_sure, chains, rules, host, out, path + [nxt],
                      here)
            continue
        if verdict not in STOPS or protos is None:
            continue
        where, first = here
        text = _rule_text(first)
        if first is not r:
            text += " -> " + key[2] + ": " + _rule_text(r)
        for name in sorted(protos):
            hits = out.setdefault(name, [])
            if len(hits) < HITS_MAX:
                hits.append({"table": key[0] + " " + key[1], "chain": where[2], "hook": hook,
                             "verdict": verdict, "rule": text,
                             "packets": _packets(first.get("expr", [])), "sure": rule_sure,
                             "key": (key[0], key[1], first.get("handle"))})


def _rule_text(r):
    text = _text(r.get("expr", []))
    if r.get("comment"):
        text += ' comment "' + str(r["comment"]) + '"'
    return text


def _is_source(m):
    left = m.get("left") or {}
    return isinstance(left, dict) and (left.get("payload") or {}).get("field") == "saddr"


def _verdict(expr):
    for x in expr:
        if isinstance(x, dict):
            for k in x:
                if k in STOPS or k in ("jump", "goto", "accept", "return", "continue"):
                    return k
    return None


def _target(expr):
    for x in expr:
        if isinstance(x, dict):
            for k in ("jump", "goto"):
                if k in x and isinstance(x[k], dict):
                    return x[k].get("target")
    return None


def _packets(expr):
    for x in expr:
        if isinstance(x, dict) and isinstance(x.get("counter"), dict):
            return x["counter"].get("packets")
    return None


def counters(items, skip=("inet", "vpn_passthrough")):
    """{(family, table, handle): packets} of every counting rule outside our table."""
    out = {}
    for item in items:
        r = item.get("rule") if isinstance(item, dict) else None
        if r is None or (r.get("family"), r.get("table")) == skip:
            continue
        n = _packets(r.get("expr", []))
        if n is not None:
            out[(r.get("family"), r.get("table"), r.get("handle"))] = n
    return out
