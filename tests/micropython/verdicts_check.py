"""The diagnosis's pure part (verdicts, rulescan) on sample evidence: a transcript.

Run under CPython and MicroPython by tests/test_verdicts.py; the transcripts must be
equal. The samples are also the unit tests' inputs (imported from there).
"""

from vpn_passthrough import rulescan, verdicts


def flow(l4, dport=None, replied=True, nat=True, helper=None, key_out=None, key_in=None,
         out_packets=3, in_packets=None, client="10.77.1.10", server="198.51.100.2"):
    return {"l4": l4, "client": client, "server": server,
            "sport": dport, "dport": dport, "replied": replied, "nat": nat,
            "out_packets": out_packets,
            "in_packets": (in_packets if in_packets is not None else (3 if replied else 0))
            if out_packets is not None else None,
            "helper": helper, "offload": False, "key_out": key_out, "key_in": key_in}


def proto(passes=True, by="switch", client=None, flows=None, foreign=None, blocked=0,
          delta=None, client_blocked=None):
    return {"pass": passes, "by": by, "client": client,
            "blocked": {"packets": blocked, "delta": delta},
            "passed": {"packets": 5, "delta": None}, "client_blocked": client_blocked,
            "flows": flows or [], "foreign": foreign or []}


def evidence(wan="198.51.100.1", **protocols):
    e = {"host": "10.77.1.10", "name": None, "addresses": ["10.77.1.10"], "macs": [],
         "watched": 0, "enabled": True, "applied": True, "acct": True, "offload": [],
         "wan": [{"address": wan, "kind": verdicts.wan_kind(wan)}],
         "pptp": {"kernel_helper": True, "nat_module": "builtin", "assigns": True},
         "protocols": {"pptp": proto(), "l2tp": proto(), "ipsec": proto()}}
    for name in protocols:
        e["protocols"][name] = protocols[name]
    return e


LAPTOP = {"label": "@client[0]", "name": "laptop", "action": "block", "protocols": ["ipsec"]}
OTHER_TABLE = {"table": "inet adblock", "chain": "fwd", "hook": "forward", "verdict": "drop",
               "rule": "udp dport 500 counter drop", "packets": 9, "delta": 3, "sure": True}

SAMPLES = [
    ("switch off", evidence(l2tp=proto(passes=False, blocked=12, delta=4))),
    ("client rule", evidence(ipsec=proto(passes=False, by="client", client=LAPTOP,
                                         client_blocked={"packets": 3, "delta": None}))),
    ("other table", evidence(ipsec=proto(foreign=[OTHER_TABLE]))),
    ("other table, answered anyway", evidence(ipsec=proto(foreign=[OTHER_TABLE],
                                                          flows=[flow("udp", 4500)]))),
    ("unanswered, double NAT", evidence(wan="192.168.0.2",
                                        ipsec=proto(flows=[flow("udp", 500, replied=False)]))),
    ("unanswered, CGNAT", evidence(wan="100.64.3.4",
                                   l2tp=proto(flows=[flow("udp", 1701, replied=False)]))),
    ("gre one-way", evidence(pptp=proto(flows=[flow("tcp", 1723, helper="pptp"),
                                               flow("gre", replied=False, key_out=7)]))),
    ("pptp no helper", evidence(pptp=proto(flows=[flow("tcp", 1723)]))),
    ("pptp nat missing", dict(evidence(pptp=proto(flows=[flow("tcp", 1723, helper="pptp")])),
                              pptp={"kernel_helper": True, "nat_module": "missing",
                                    "assigns": True})),
    ("pptp translated", evidence(pptp=proto(flows=[
        flow("tcp", 1723, helper="pptp"), flow("gre", key_out=7, key_in=0xc3f1)]))),
    ("esp through nat", evidence(ipsec=proto(flows=[flow("udp", 500), flow("esp")]))),
    ("esp one-way", evidence(wan="10.0.0.2", ipsec=proto(flows=[flow("udp", 500),
                                                              flow("esp", replied=False)]))),
    ("nat-t", evidence(ipsec=proto(flows=[flow("udp", 500), flow("udp", 4500),
                                          flow("esp")]))),
    ("l2tp ok, acct off", dict(evidence(l2tp=proto(flows=[flow("udp", 1701, out_packets=None)])),
                               acct=False)),
    ("nothing, offloading", dict(evidence(), offload=["flowtable ft in table inet fw4"])),
    ("disabled", dict(evidence(), enabled=False, applied=False)),
]

FW4_LIKE = [
    {"table": {"family": "inet", "name": "fw4"}},
    {"chain": {"family": "inet", "table": "fw4", "name": "forward", "hook": "forward"}},
    {"chain": {"family": "inet", "table": "fw4", "name": "handle_reject"}},
    {"rule": {"family": "inet", "table": "fw4", "chain": "forward", "handle": 1, "expr": [
        {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}},
        {"drop": None}]}},
    {"rule": {"family": "inet", "table": "fw4", "chain": "forward", "handle": 2,
              "expr": [{"jump": {"target": "handle_reject"}}]}},
    {"rule": {"family": "inet", "table": "fw4", "chain": "handle_reject", "handle": 3, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
        {"reject": {"type": "tcp reset"}}]}},
]


def _dport(l4, right):
    return {"match": {"op": "==", "left": {"payload": {"protocol": l4, "field": "dport"}},
                      "right": right}}


def _saddr(right, op="=="):
    return {"match": {"op": op, "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                      "right": right}}


def _rule(chain, handle, *expr):
    return {"rule": {"family": "inet", "table": "adblock", "chain": chain, "handle": handle,
                     "expr": list(expr)}}


ADBLOCK = [
    {"chain": {"family": "inet", "table": "adblock", "name": "fwd", "hook": "forward"}},
    {"chain": {"family": "inet", "table": "adblock", "name": "sub"}},
    {"chain": {"family": "inet", "table": "adblock", "name": "unreached"}},
    {"chain": {"family": "inet", "table": "adblock", "name": "pre", "hook": "prerouting"}},
    {"chain": {"family": "inet", "table": "adblock", "name": "in", "hook": "input"}},
    _rule("fwd", 5, _dport("udp", 500), {"counter": {"packets": 4, "bytes": 9}}, {"drop": None}),
    _rule("fwd", 7, _saddr({"prefix": {"addr": "10.0.0.0", "len": 8}}),
          _dport("udp", {"set": [1701, 4500]}), {"reject": {"type": "icmp"}}),
    _rule("fwd", 9, {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}},
                               "right": {"set": ["gre", "esp"]}}}, _saddr("@s"), {"drop": None}),
    _rule("fwd", 11, _dport("tcp", 1723), {"jump": {"target": "sub"}}),
    _rule("fwd", 12, _saddr("10.77.1.10", "!="), _dport("th", 4500), {"drop": None}),
    _rule("fwd", 13, _dport("udp", 53), {"drop": None}),
    _rule("fwd", 14, _dport("udp", {"range": [1000, 2000]}), {"accept": None}),
    _rule("sub", 20, {"counter": {"packets": 2, "bytes": 80}}, {"drop": None}),
    _rule("unreached", 30, _dport("udp", 500), {"drop": None}),
    _rule("pre", 40, _dport("udp", 500), {"redirect": {"port": 8080}}),
    _rule("in", 50, _dport("udp", 500), {"drop": None}),
    {"chain": {"family": "inet", "table": "vpn_passthrough", "name": "pptp_block",
               "hook": "forward"}},
    {"rule": {"family": "inet", "table": "vpn_passthrough", "chain": "pptp_block", "handle": 1,
              "expr": [_dport("tcp", 1723), {"drop": None}]}},
]

LAN1 = {"addresses": [(4, (10 << 24) | (77 << 16) | (1 << 8) | 10)], "macs": []}
ELSEWHERE = {"addresses": [(4, (192 << 24) | (168 << 16) | 5)], "macs": []}


def scan_lines(host):
    hits = rulescan.scan(FW4_LIKE + ADBLOCK, host)
    out = []
    for name in sorted(hits):
        for h in hits[name]:
            out.append(name + " " + h["table"] + " " + h["chain"] + " " + str(h["hook"]) + " "
                       + h["verdict"] + " sure=" + str(h["sure"]) + " packets="
                       + str(h["packets"]) + " | " + h["rule"])
    return out


def main():
    for title, e in SAMPLES:
        print("== " + title)
        for v in verdicts.decide(e):
            print(v["protocol"] + " " + v["verdict"] + " " + v["severity"])
            for x in v["evidence"]:
                print("  - " + x)
            print("  fix: " + v["fix"])
    for title, host in (("lan1", LAN1), ("elsewhere", ELSEWHERE)):
        print("== rules for " + title)
        for line in scan_lines(host):
            print(line)
    print("verdicts_check: done")


if __name__ == "__main__":
    main()
