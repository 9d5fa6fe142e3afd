"""`make demo`: vpn-passthrough on a namespace router, with real traffic through the real kernel.

    lan1, lan2 --- [router: br-lan | vpn-passthrough | masquerade on wan0] --- wan (VPN server)

Everything runs in private network namespaces; no packet leaves them. There is
no OpenWrt here: `table inet fw4` is a stand-in that only masquerades, and the
settings file is edited the way `uci set … ; uci commit` would leave it.
"""

import json
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from lab import Lab, skip_reason  # noqa: E402
from vpn_passthrough import uci  # noqa: E402

BOLD, DIM, GREEN, RED, END = "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = RED = END = ""

PROBES = {
    "pptp": [("gre", 0, "GRE (PPTP data)")],
    "l2tp": [("udp", 1701, "UDP 1701 (L2TP)")],
    "ipsec": [("udp", 500, "UDP 500 (IKE)"), ("udp", 4500, "UDP 4500 (NAT-T)"),
              ("esp", 0, "ESP"), ("ah", 0, "AH")],
}
FAILED = []


def step(text):
    print("\n" + BOLD + "== " + text + END)


def shell(text):
    print(DIM + "$ " + text + END)


def verdict(ok, text):
    print("  " + (GREEN + "PASS " if ok else RED + "FAIL ") + END + text)
    if not ok:
        FAILED.append(text)


def uci_set(path, section, option, value):
    """What `uci set vpn-passthrough.<section>.<option>=<value>; uci commit` leaves in the file."""
    shell("uci set vpn-passthrough.%s.%s=%s && uci commit vpn-passthrough" % (section, option, value))
    with open(path) as f:
        sections = uci.parse(f.read(), path)
    for s in sections:
        if s.name == section:
            s.set(option, value)
    with open(path, "w") as f:
        f.write(uci.dump(sections))


def vpn(lab, path, *args):
    shell("vpn-passthrough " + " ".join(args))
    rc, out, err = lab.vpn(list(args), path)
    for line in (out + err).strip().split("\n"):
        if line:
            print("  " + line)
    return rc, out


def probe(lab, name, src="lan1", expect=True):
    cases = [(p, port, lab.server_v4) for p, port, _ in PROBES[name]]
    results = lab.send_and_listen(cases, src=src, timeout=2.0)
    for (p, port, label), (sent, got) in zip(PROBES[name], results):
        n = got["count"]
        where = "from " + src + " to the WAN server"
        if expect:
            verdict(n == sent["sent"] and n > 0, "%-18s %s: %d/%d arrived (source seen: %s)"
                    % (label, where, n, sent["sent"], got.get("first_source")))
        else:
            verdict(n == 0, "%-18s %s: %d/%d arrived — blocked" % (label, where, n, sent["sent"]))


def diagnose_while(lab, path, host, traffic, watch=3):
    """`vpn-passthrough diagnose HOST` watching while TRAFFIC runs; prints its answer,
    returns the JSON report."""
    shell("vpn-passthrough diagnose %s --watch %d" % (host, watch))
    out = {}
    t = threading.Thread(target=lambda: out.update(r=lab.vpn(
        ["diagnose", host, "--watch", str(watch), "--json"], path)))
    t.start()
    time.sleep(1.0)                         # its first snapshot is taken by then
    traffic()
    t.join()
    rc, text, err = out["r"]
    if rc != 0:
        print("  " + err.strip())
        return {}
    report = json.loads(text)
    for v in report["verdicts"]:
        print("  %s: %s [%s]" % (v["protocol"], v["verdict"], v["severity"]))
        for x in v["evidence"]:
            print("    - " + x)
        if v["fix"]:
            print("    fix: " + v["fix"])
    return report


def counters(lab, path, name):
    rc, out, err = lab.vpn(["status", "--json"], path)
    p = json.loads(out)["protocols"][name]
    return p["passed"]["packets"], p["blocked"]["packets"]


def main():
    reason = skip_reason()
    if reason:
        print("demo needs: " + reason)
        return 1
    print(__doc__)
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vpn-passthrough")
        with open(os.path.join(HERE, "..", "files", "etc", "config", "vpn-passthrough")) as f:
            default = f.read()
        # This lab has no /etc/config/firewall: name the devices instead of the zones.
        default = default.replace("\tlist lan_zone 'lan'\n\tlist wan_zone 'wan'\n",
                                  "\tlist lan_device 'br-lan'\n\tlist wan_device 'wan0'\n")
        with open(path, "w") as f:
            f.write(default)
        step("The lab: two LAN clients behind a masquerading router, one server on the WAN")
        for k, v in sorted(lab.info().items()):
            if k != "namespaces":
                print("  %-14s %s" % (k, v))

        step("1. Default settings: every protocol on")
        vpn(lab, path, "apply")
        vpn(lab, path, "status")

        step("2. Two PPTP clients, the SAME call ID, one server, one public address")
        res = lab.pptp_calls(call_id=7, count=5, hold=1.0, during=lambda: lab.wait_for(
            lambda: lab.conntrack(["-L", "-p", "gre"]).count("src=") >= 4, 5)
            and lab.conntrack(["-L", "-p", "gre"]))
        seen = [c["peer_call_id"] for c in res["server"]["calls"]]
        for c in res["clients"]:
            verdict(c["ok"], "client call ID %d: %d/%d GRE packets echoed back through NAT"
                    % (c["call_id"], c["gre_received"], c["gre_sent"]))
        verdict(len(set(seen)) == 2, "the server saw call IDs %s from %s (nf_nat_pptp translated)"
                % (seen, sorted({c["client"] for c in res["server"]["calls"]})))
        shell("conntrack -L -p gre")
        print("\n".join("  " + l for l in (res["during"] or "").strip().split("\n")))

        for name in ("pptp", "l2tp", "ipsec"):
            step("3. %s: on, then switched off" % name.upper())
            probe(lab, name)
            uci_set(path, name, "enabled", "0")
            vpn(lab, path, "apply")
            before = counters(lab, path, name)[1]
            probe(lab, name, expect=False)
            after = counters(lab, path, name)[1]
            verdict(after > before, "%s blocked counter: %d -> %d" % (name, before, after))
            if name == "pptp":
                r = lab.pptp_calls(clients=("lan1",), connect_timeout=1.0)
                verdict(not r["clients"][0]["ok"] and not r["server"]["calls"],
                        "a new PPTP control connection (TCP 1723) does not reach the server")

        step("4. Per-client policy: IPsec off for everyone but lan1; L2TP blocked for lan2 only")
        uci_set(path, "l2tp", "enabled", "1")
        with open(path, "a") as f:
            f.write("\nconfig client\n\toption name 'Work laptop'\n\tlist ip '%s'\n"
                    "\toption action 'allow'\n\tlist protocol 'ipsec'\n"
                    "\nconfig client\n\toption name 'Kids tablet'\n\tlist ip '%s'\n"
                    "\toption action 'block'\n\tlist protocol 'l2tp'\n" % (lab.lan1_v4, lab.lan2_v4))
        shell("uci add vpn-passthrough client … && uci commit vpn-passthrough  (two clients)")
        vpn(lab, path, "apply")
        probe(lab, "ipsec", src="lan1")
        probe(lab, "ipsec", src="lan2", expect=False)
        probe(lab, "l2tp", src="lan1")
        probe(lab, "l2tp", src="lan2", expect=False)

        step("5. What the router reports")
        vpn(lab, path, "status")
        vpn(lab, path, "clients")
        vpn(lab, path, "check")
        shell("nft list chain inet vpn_passthrough vpn_ipsec")
        print(lab.run("router", ["nft", "list", "chain", "inet", "vpn_passthrough",
                                 "vpn_ipsec"]).stdout)

        step("6. \"Why does the tablet's VPN not connect?\" (lan2 tries L2TP while it is watched)")
        report = diagnose_while(lab, path, lab.lan2_v4, lambda: probe(lab, "l2tp", src="lan2",
                                                                       expect=False))
        l2tp = [v for v in report.get("verdicts", []) if v["protocol"] == "l2tp"]
        verdict(bool(l2tp) and l2tp[0]["verdict"] == "blocked_client"
                and "Kids tablet" in " ".join(l2tp[0]["evidence"]),
                "diagnose names the client rule that blocks lan2's L2TP")

        step("7. Stop")
        before = lab.ruleset_text_stable("fw4")
        vpn(lab, path, "stop")
        verdict(lab.ruleset_text_stable("fw4") == before
                and "inet vpn_passthrough" not in lab.nft_list_tables(),
                "stop removed only table inet vpn_passthrough; the fw4 stand-in is unchanged")

    print("\n" + BOLD + ("demo: all checks passed" if not FAILED else
                         "demo: %d checks FAILED" % len(FAILED)) + END)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
