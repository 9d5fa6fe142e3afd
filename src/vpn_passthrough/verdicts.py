"""Per-device diagnosis, pure part: evidence about one LAN device in, verdicts out.

evidence.py gathers the facts (settings, our counters, conntrack, other tables, the
WAN address, kernel switches); this module only decides. It runs on MicroPython.

The reply of `vpn-passthrough diagnose HOST --json` and of ubus `diagnose {host}`::

    {"host": "10.77.1.10",              # as asked
     "name": "work laptop" | null,      # the client section naming this device, if any
     "addresses": ["10.77.1.10", ...],  # the device's addresses (at most 8)
     "macs": ["02:..."],                # its MACs (at most 4)
     "watched": 3,                      # seconds watched (0: what conntrack already held)
     "verdicts": [                      # one per protocol seen, tried or blocked; at
       {"protocol": "pptp",             #   least one. 'all': about the device or router
        "verdict": "blocked_switch",    # stable id (below); LuCI translates by it
        "severity": "error",            # ok | info | warning | error
        "evidence": ["...", ...],       # short English facts, at most 8, each <= 200 chars
        "fix": "..."}]}                 # one line; "" when nothing needs doing

A HOST that is neither a MAC, an IP nor a client's name (or a bad --watch) is refused:
the CLI exits 1 naming `host` (`watch`), ubus answers {"ok": false, "error": "host: ...",
"field": "host"}. The CLI watches --watch seconds (default 3, 0-30); ubus always 3.

Verdict ids (stable):
  blocked_switch            the protocol's switch is off and no client rule allows the device
  blocked_client            a client rule blocks the device (evidence names it and its counter)
  blocked_elsewhere         another nftables table drops/rejects/redirects it (table, chain)
  unanswered                sent, never answered (IKE/TCP 1723 unreplied, GRE one-way);
                            evidence says whether the WAN address is private (double NAT)
  pptp_helper_not_assigned  the control connection has no pptp helper
  pptp_nat_missing          nf_nat_pptp missing: a second device cannot reach the same server
  pptp_ok                   control connection helped, GRE call IDs seen (and translated)
  esp_without_natt          ESP through NAT without NAT-T: one device per server at most
  natt_ok                   IPsec NAT-T (udp 4500) in use and answered
  ok                        seen and answered; nothing wrong found here
  no_traffic                (all) no VPN traffic of this device seen; nothing here blocks it
  limited_view              (all) conntrack accounting off or flow offloading: less to see
  disabled                  (all) vpn-passthrough is disabled or its table is not loaded
"""

PROTOCOLS = ("pptp", "l2tp", "ipsec")
EVIDENCE_MAX = 8
TEXT_MAX = 200

SEVERITY = {"blocked_switch": "error", "blocked_client": "error", "blocked_elsewhere": "error",
            "unanswered": "error", "pptp_helper_not_assigned": "error",
            "pptp_nat_missing": "warning", "esp_without_natt": "warning",
            "pptp_ok": "ok", "natt_ok": "ok", "ok": "ok", "no_traffic": "info",
            "limited_view": "info", "disabled": "warning"}

CONFIG = "vpn-passthrough"
KMOD = "kmod-nf-nathelper-pptp (older releases: kmod-nf-nathelper-extra)"


def wan_kind(text):
    """'private' (RFC 1918), 'cgnat' (100.64.0.0/10) or 'public' for a dotted quad."""
    try:
        a, b = [int(x) for x in text.split(".")[:2]]
    except ValueError:
        return "public"
    if a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168):
        return "private"
    if a == 100 and 64 <= b <= 127:
        return "cgnat"
    return "public"


def verdict(protocol, vid, evidence, fix):
    out = []
    for e in evidence[:EVIDENCE_MAX]:
        out.append(e if len(e) <= TEXT_MAX else e[:TEXT_MAX - 3] + "...")
    return {"protocol": protocol, "verdict": vid, "severity": SEVERITY[vid],
            "evidence": out, "fix": fix}


def policy(name, switch_on, clients):
    """What our table does with this device's `name` traffic, mirroring the rules: a block
    entry wins, then an allow entry, then the switch. clients: [{label, name, action,
    protocols}] whose MAC or address is the device's. -> (pass?, 'client'|'switch', client)"""
    mine = [c for c in clients if name in c["protocols"]]
    for action in ("block", "allow"):
        for c in mine:
            if c["action"] == action:
                if action == "allow" and switch_on:
                    break               # allow entries only matter while the switch is off
                return action == "allow", "client", c
    return switch_on, "switch", None


def _count(c):
    """'12 packets (+3 while watching)' from {packets, delta}."""
    text = str(c.get("packets", 0)) + " packets"
    if c.get("delta") is not None:
        text += " (+" + str(c["delta"]) + " while watching)"
    return text


def _flow_text(f):
    text = f["l4"] + " " + f["client"]
    if f.get("sport") is not None:
        text += ":" + str(f["sport"])
    text += " -> " + f["server"]
    if f.get("dport") is not None:
        text += ":" + str(f["dport"])
    if f.get("out_packets") is not None:
        text += ", " + str(f["out_packets"]) + " out / " + str(f.get("in_packets") or 0) + " back"
    elif not f["replied"]:
        text += ", no reply"
    else:
        text += ", answered"
    if f.get("helper"):
        text += ", helper=" + f["helper"]
    if f.get("offload"):
        text += ", offloaded"
    return text


def _wan_remark(e):
    """Evidence lines about the WAN address (double NAT / carrier-grade NAT)."""
    out = []
    for w in e.get("wan", []):
        if w["kind"] == "private":
            out.append("WAN address " + w["address"] + " is private (RFC 1918): this router "
                       "sits behind another NAT (double NAT), where ESP without NAT-T and "
                       "GRE commonly die")
        elif w["kind"] == "cgnat":
            out.append("WAN address " + w["address"] + " is carrier-grade NAT (100.64.0.0/10): "
                       "the ISP's NAT is in the path, where ESP without NAT-T and GRE "
                       "commonly die")
    if not out and e.get("wan"):
        out.append("WAN address " + ", ".join([w["address"] for w in e["wan"]][:3])
                   + " is not private: no second NAT on this side")
    return out


def _double_nat(e):
    return [w for w in e.get("wan", []) if w["kind"] in ("private", "cgnat")]


def _blocked(name, p, e):
    if p["by"] == "client":
        c = p["client"]
        ev = ["client rule " + c["label"] + (" ('" + c["name"] + "')" if c.get("name") else "")
              + " blocks " + name + " for this device"]
        if p.get("client_blocked") is not None:
            ev.append("its " + name + " block counter: " + _count(p["client_blocked"]))
        ev.append(name + "_blocked counter (all devices): " + _count(p["blocked"]))
        fix = ("uci set " + CONFIG + "." + c["label"] + ".action='allow' (or remove '" + name
               + "' from its protocols); uci commit " + CONFIG)
        return verdict(name, "blocked_client", ev, fix)
    ev = [name + " passthrough is off and no client rule allows this device",
          name + "_blocked counter (all devices): " + _count(p["blocked"])]
    if p.get("flows"):
        ev.append("older entries in conntrack: " + _flow_text(p["flows"][0]))
    fix = ("uci set " + CONFIG + "." + name + ".enabled='1'; uci commit " + CONFIG
           + " (or add a client section with action 'allow' for this device)")
    return verdict(name, "blocked_switch", ev, fix)


def _elsewhere(name, p, hits):
    ev = []
    for h in hits:
        text = ("table " + h["table"] + " chain " + h["chain"]
                + (" (hook " + h["hook"] + ")" if h.get("hook") else "")
                + ": " + h["rule"])
        if h.get("packets") is not None:
            text += " [" + _count({"packets": h["packets"], "delta": h.get("delta")}) + "]"
        if not h.get("sure"):
            text += " (may not apply to this device)"
        ev.append(text)
    ev.append(name + "_passed counter (our table, all devices): " + _count(p["passed"]))
    first = hits[0]
    fix = ("remove or narrow that rule in table " + first["table"] + " chain " + first["chain"]
           + " (nft -a list chain " + first["table"] + " " + first["chain"]
           + "), or exempt this device in the package that made it")
    return verdict(name, "blocked_elsewhere", ev, fix)


def _unanswered(name, flows, e, what):
    ev = [what] + [_flow_text(f) for f in flows[:3]] + _wan_remark(e)
    if _double_nat(e):
        fix = ("check that the server answers from another network; behind a second NAT "
               "use NAT-T (IPsec) or ask the upstream router/ISP to pass the protocol "
               "(or for a public address)")
    else:
        fix = ("the server or something upstream does not answer: check the server address "
               "and that it runs; try from another network to tell server from ISP")
    return verdict(name, "unanswered", ev, fix)


def _pptp(p, e):
    flows = p["flows"]
    control = [f for f in flows if f["l4"] == "tcp"]
    gre = [f for f in flows if f["l4"] == "gre"]
    helper = e.get("pptp", {})
    if control and not [f for f in control if f["replied"]]:
        return _unanswered("pptp", control, e, "TCP 1723 was sent and never answered")
    bare = [f for f in control if f.get("helper") != "pptp"]
    if bare:
        ev = ["control connection without helper=pptp: " + _flow_text(bare[0])]
        if not helper.get("kernel_helper", True):
            ev.append("the kernel has no pptp conntrack helper")
            fix = "opkg install " + KMOD + "; then: vpn-passthrough apply"
        elif not helper.get("assigns", True):
            ev.append("the loaded rules do not assign the pptp helper (applied while it "
                      "was missing, or the table is not loaded)")
            fix = "vpn-passthrough apply; then reconnect the VPN"
        else:
            ev.append("the rules assign it now: this connection began before they did")
            fix = "reconnect the VPN on this device"
        ev.append("without it GRE call IDs are not translated: a second device cannot "
                  "reach the same server")
        return verdict("pptp", "pptp_helper_not_assigned", ev, fix)
    if control and helper.get("nat_module") == "missing":
        ev = ["nf_nat_pptp is not loaded: call IDs are tracked but not translated",
              _flow_text(control[0])]
        return verdict("pptp", "pptp_nat_missing", ev,
                       "opkg install " + KMOD + "; modprobe nf_nat_pptp")
    if gre and not [f for f in gre if f["replied"]]:
        return _unanswered("pptp", gre, e, "GRE one-way: sent, nothing came back"
                           + (" (the control connection was answered)" if control else ""))
    ev = [_flow_text(f) for f in control[:2]]
    keyed = [f for f in gre if f.get("key_out") is not None]
    for f in keyed[:3]:
        if f.get("key_in") is not None and f["key_in"] != f["key_out"]:
            ev.append("GRE call ID 0x%04x translated to 0x%04x on the way out"
                      % (f["key_out"], f["key_in"]))
        else:
            ev.append("GRE call ID 0x%04x seen (not translated)" % f["key_out"])
    ev += [_flow_text(f) for f in gre[:2] if f.get("key_out") is None]
    if control or keyed:
        return verdict("pptp", "pptp_ok", ev, "")
    return verdict("pptp", "ok", ev, "")


def _ipsec(p, e):
    flows = p["flows"]
    if not [f for f in flows if f["replied"]]:
        return _unanswered("ipsec", flows, e, "IKE/IPsec was sent and never answered")
    esp = [f for f in flows if f["l4"] in ("esp", "ah") and f.get("nat")]
    natt = [f for f in flows if f["l4"] == "udp" and f.get("dport") == 4500 and f["replied"]]
    if esp and not natt and not [f for f in esp if f["replied"]]:
        return _unanswered("ipsec", esp, e, "ESP one-way: IKE was answered, no ESP came back")
    if esp and not natt:
        ev = ["ESP/AH without NAT-T through NAT: " + _flow_text(esp[0]),
              "ESP has no ports: only one device can reach this server through the NAT"]
        ev += _wan_remark(e)
        return verdict("ipsec", "esp_without_natt", ev,
                       "enable NAT-T (UDP encapsulation, udp 4500) on the VPN client or server")
    if natt:
        return verdict("ipsec", "natt_ok", ["NAT-T in use: " + _flow_text(natt[0])]
                       + [_flow_text(f) for f in flows if f is not natt[0]][:2], "")
    return verdict("ipsec", "ok", [_flow_text(f) for f in flows[:3]], "")


def _l2tp(p, e):
    flows = p["flows"]
    if not [f for f in flows if f["replied"]]:
        return _unanswered("l2tp", flows, e, "L2TP (udp 1701) was sent and never answered")
    return verdict("l2tp", "ok", [_flow_text(f) for f in flows[:3]], "")


def _limits(e):
    ev = []
    if e.get("acct") is False:
        ev.append("conntrack accounting is off: flows show no packet counts, a one-way flow "
                  "is told only by [UNREPLIED]")
    for what in e.get("offload", []):
        ev.append("flow offloading (" + what + "): established TCP/UDP flows bypass the "
                  "counters and conntrack's counts stop")
    if not ev:
        return None
    fix = []
    if e.get("acct") is False:
        fix.append("sysctl -w net.netfilter.nf_conntrack_acct=1")
    if e.get("offload"):
        fix.append("uci set firewall.@defaults[0].flow_offloading='0'; fw4 reload "
                   "(while diagnosing)")
    return verdict("all", "limited_view", ev, "; ".join(fix))


def decide(e):
    """evidence dict (see evidence.py) -> [verdict], most important first."""
    out = []
    if not e.get("enabled") or not e.get("applied"):
        out.append(verdict("all", "disabled",
                           ["vpn-passthrough is " + ("not loaded" if e.get("enabled")
                                                     else "disabled")
                            + ": it neither blocks nor assigns helpers"],
                           "/etc/init.d/vpn-passthrough restart" if e.get("enabled") else
                           "uci set " + CONFIG + ".globals.enabled='1'; uci commit " + CONFIG))
    seen = []
    for name in PROTOCOLS:
        p = e["protocols"].get(name)
        if p is None:
            continue
        v = None
        if e.get("applied") and not p["pass"]:
            v = _blocked(name, p, e)
        elif p.get("foreign") and not [f for f in p["flows"] if f["replied"]]:
            v = _elsewhere(name, p, p["foreign"])
        elif p["flows"]:
            v = {"pptp": _pptp, "l2tp": _l2tp, "ipsec": _ipsec}[name](p, e)
        if v is not None:
            out.append(v)
        elif p["flows"] == [] and e.get("applied"):
            seen.append(name + " would pass (" + ("client rule " + p["client"]["label"]
                                                  if p["by"] == "client" else "switch on")
                        + ")")
    # Blocked traffic leaves no conntrack entry: "nothing seen" stands beside a switch
    # that blocks every device, not beside a verdict that counted this device's packets.
    flowing = [n for n in PROTOCOLS if e["protocols"].get(n) and e["protocols"][n]["flows"]]
    counted = [v for v in out if v["verdict"] in ("blocked_client", "blocked_elsewhere")]
    if not flowing and not counted:
        ev = ["no VPN flow of this device in conntrack"
              + (" during " + str(e["watched"]) + " s" if e.get("watched") else "")] + seen
        out.append(verdict("all", "no_traffic", ev,
                           "start the VPN on the device, then diagnose again "
                           "(vpn-passthrough diagnose HOST --watch 10)"))
    limits = _limits(e)
    if limits is not None:
        out.append(limits)
    return out


def report(e):
    """The reply (see the module docstring) for an evidence dict."""
    return {"host": e["host"], "name": e.get("name"), "addresses": e.get("addresses", [])[:8],
            "macs": e.get("macs", [])[:4], "watched": e.get("watched", 0),
            "verdicts": decide(e)}


def format_text(r):
    """The CLI's plain-text rendering of a report."""
    head = "device " + r["host"]
    if r.get("name"):
        head += " ('" + r["name"] + "')"
    if r.get("addresses") or r.get("macs"):
        head += ": " + " ".join(r.get("addresses", []) + r.get("macs", []))
    lines = [head]
    for v in r["verdicts"]:
        lines.append("%s: %s [%s]" % (v["protocol"], v["verdict"], v["severity"]))
        for x in v["evidence"]:
            lines.append("  - " + x)
        if v["fix"]:
            lines.append("  fix: " + v["fix"])
    return "\n".join(lines)
