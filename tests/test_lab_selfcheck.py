"""Self-check of the namespace lab and the protocol peers (needs root, ip, nft, conntrack).

Proves, with a hand-written nft table (not the product), that the lab reproduces what the
integration tests rely on:
  * PPTP: two LAN clients using the SAME call ID to one server at once both get their GRE back
    once the kernel's pptp helper is assigned (ct helper object + `ct helper set` in a
    prerouting chain at priority filter); the server sees two different call IDs (nf_nat_pptp
    call-ID translation); conntrack shows helper=pptp, GRE expectations and GRE entries.
    Without the helper (control) the server sees the client's call ID and no GRE comes back.
  * UDP 1701/500/4500, ESP and AH from lan1 arrive at the server masqueraded (198.51.100.1).
  * IPv6 is routed without NAT: UDP from lan1 arrives from fd77:1::10.
  * An established UDP flow survives a new "ct state new drop" rule and is cut by a conntrack
    delete (what the product's `flush` relies on).
  * Lab bookkeeping: unique namespace names per instance, cleanup also on failure, the fw4
    stand-in table, the ruleset helpers.
"""

import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, lab_fixture, skip_reason  # noqa: E402,F401  (lab_fixture = fixture "lab")

REASON = skip_reason()
if REASON:
    print("test_lab_selfcheck: SKIP: " + REASON, file=sys.stderr)
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

# The helper assignment the product is expected to make, written by hand.
PPTP_HELPER_TABLE = """
table inet lab_selfcheck {
\tct helper pptp-lab {
\t\ttype "pptp" protocol tcp;
\t\tl3proto ip;
\t}
\tchain prerouting {
\t\ttype filter hook prerouting priority filter; policy accept;
\t\tiifname "br-lan" meta nfproto ipv4 tcp dport 1723 ct helper set "pptp-lab"
\t}
}
"""

CALL_ID = 7


def test_pptp_without_helper_is_not_translated(lab):
    """Control: no helper -> the server sees the raw call ID and GRE never comes back."""
    lab.conntrack(["-F"], check=False)
    res = lab.pptp_calls(call_id=CALL_ID)
    (r1, r2), rs = res["clients"], res["server"]
    print("no-helper server:", rs)
    assert r1["ocrp_result"] == 1 and r2["ocrp_result"] == 1, (r1, r2)
    assert [c["peer_call_id"] for c in rs["calls"]] == [CALL_ID, CALL_ID], rs
    assert r1["gre_received"] == 0 and r2["gre_received"] == 0, (r1, r2)
    lab.conntrack(["-F"], check=False)


def test_pptp_helper_translates_call_ids(lab):
    before_fw4 = lab.ruleset_text_stable("inet fw4")
    lab.nft(PPTP_HELPER_TABLE)
    try:
        seen = {}

        def inspect():
            # clients pause 1 s after the call is set up: expectations are pending then
            seen["expect"] = lab.wait_for(
                lambda: (lambda t: t if t.count("proto=47") >= 4 else "")(
                    lab.conntrack(["-L", "expect"])), timeout=3)
            seen["ct_call"] = lab.conntrack(["-L"])
            # after the GRE exchange (during --hold) the GRE entries exist
            seen["gre"] = lab.wait_for(
                lambda: (lambda t: t if t.count("\n") >= 2 and "[ASSURED]" in t else "")(
                    lab.conntrack(["-L", "-p", "gre"])), timeout=4)
            return seen

        # clients pause 1 s after the call is set up, and hold the call 0.8 s after the GRE
        res = lab.pptp_calls(call_id=CALL_ID, gre_delay=1.0, hold=0.8, during=inspect)
        (r1, r2), rs = res["clients"], res["server"]
    finally:
        lab.nft("delete table inet lab_selfcheck")
    print("client1:", r1)
    print("client2:", r2)
    print("server:", rs)
    print("conntrack -L expect:\n" + seen["expect"])
    print("conntrack -L (call up):\n" + seen["ct_call"])
    print("conntrack -L -p gre:\n" + seen["gre"])

    # both calls came up and both clients got ALL their GRE back
    for r in (r1, r2):
        assert r["ok"], r
        assert r["echoed_peer_call_id"] == CALL_ID, r   # OCRP translated back by the router
        assert r["gre_keys_received"] == [CALL_ID], r   # GRE key translated back
    # the server saw two different call IDs, neither the clients' own one: nf_nat_pptp is there
    ids = [c["peer_call_id"] for c in rs["calls"]]
    assert len(ids) == 2 and len(set(ids)) == 2 and CALL_ID not in ids, rs
    assert all(c["client"] == lab.router_wan_v4 for c in rs["calls"]), rs
    assert all(c["gre_received"] == 4 and c["gre_sent"] == 4 for c in rs["calls"]), rs
    # (nf_nat_pptp uses the masqueraded TCP source port as the new call ID)
    print("nf_nat_pptp: call ID %d -> %s (tcp source ports %s)"
          % (CALL_ID, ids, [c["tcp_sport"] for c in rs["calls"]]))
    # conntrack evidence
    assert "helper=pptp" in seen["ct_call"], seen["ct_call"]
    assert "dport=1723" in seen["ct_call"]
    assert seen["expect"].count("proto=47") == 4, seen["expect"]   # 2 per call
    assert "srckey=0x7" in seen["expect"]
    assert seen["gre"].count("gre ") >= 2 and "[ASSURED]" in seen["gre"], seen["gre"]
    # other tables untouched by loading/removing ours
    assert lab.ruleset_text_stable("inet fw4") == before_fw4
    assert lab.nft_list_tables() == ["inet fw4"]
    lab.conntrack(["-F"], check=False)


def test_ipv4_vpn_protocols_are_masqueraded(lab):
    cases = [("udp", 1701, lab.server_v4), ("udp", 500, lab.server_v4),
             ("udp", 4500, lab.server_v4), ("esp", 0, lab.server_v4),
             ("ah", 0, lab.server_v4)]
    for (proto, port, _), (snd, lis) in zip(cases, lab.send_and_listen(cases)):
        print(proto, port, "->", lis["count"], lis["sources"])
        assert snd["sent"] == 3 and not snd["errors"], snd
        assert lis["count"] == 3, (proto, port, lis)
        assert lis["sources"] == {lab.router_wan_v4: 3}, (proto, port, lis)
    ct = lab.conntrack(["-L"])
    print(ct)
    assert "dport=4500" in ct and "unknown  50" in ct


def test_ipv6_is_routed_without_nat(lab):
    cases = [("udp", 500, lab.server_v6), ("udp", 4500, lab.server_v6),
             ("esp", 0, lab.server_v6)]
    for (proto, port, _), (snd, lis) in zip(cases, lab.send_and_listen(cases)):
        print(proto, port, "v6 ->", lis["count"], lis["sources"])
        assert lis["count"] == 3 and lis["sources"] == {lab.lan1_v6: 3}, (proto, lis)


def test_blocked_protocols_report_nothing_in_bounded_time(lab):
    """What the integration tests see when something is dropped: zero arrivals, and a PPTP
    client that cannot connect ends quickly with an error."""
    lab.nft("table inet lab_block {\n\tchain forward {\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tudp dport 1701 counter drop\n\t\tmeta l4proto esp counter drop\n"
            "\t\ttcp dport 1723 counter drop\n\t}\n}\n")
    try:
        t0 = time.time()
        cases = [("udp", 1701, lab.server_v4), ("esp", 0, lab.server_v6),
                 ("udp", 500, lab.server_v4)]
        (s1, l1), (s2, l2), (s3, l3) = lab.send_and_listen(cases, timeout=1.5)
        res = lab.pptp_calls(clients=("lan1",), connect_timeout=1.0, server_timeout=5)
        took = time.time() - t0
        counters = lab.ruleset_text("inet lab_block")
    finally:
        lab.nft("delete table inet lab_block")
    print("blocked: udp1701 %d, esp6 %d, udp500 %d; pptp client: %s; %.1fs\n%s"
          % (l1["count"], l2["count"], l3["count"], res["clients"][0]["error"], took, counters))
    assert l1["count"] == 0 and l2["count"] == 0 and l3["count"] == 3
    assert s1["sent"] == 3 and s2["sent"] == 3           # the senders did send
    c = res["clients"][0]
    assert not c["ok"] and c["tcp_sport"] is None and c["error"], c
    assert res["server"]["calls"] == [], res["server"]
    assert took < 8, took


def test_established_flow_is_cut_by_conntrack_delete(lab):
    lis = lab.peer("wan", "probe", ["flow-listen", "--proto", "udp", "--port", 1701,
                                    "--timeout", 3.2, "--echo"], ready=True)
    snd = lab.peer("lan1", "probe", ["flow-send", "--proto", "udp", "--dst", lab.server_v4,
                                     "--port", 1701, "--duration", 2.8])
    time.sleep(0.8)
    lab.nft("table inet lab_flow {\n\tchain forward {\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tct state new udp dport 1701 counter drop\n\t}\n}\n")
    time.sleep(0.8)
    t_delete = time.time()
    out = lab.run("router", ["conntrack", "-D", "-p", "udp", "--dport", "1701"], check=False)
    s, r = lab.result(snd), lab.result(lis)
    lab.nft("delete table inet lab_flow")
    before = [t for t in r["arrivals"] if t <= t_delete]
    after = [t for t in r["arrivals"] if t > t_delete + 0.05]
    print("flow: sent %d, arrived %d before delete (%.1fs), %d after; conntrack -D: %s"
          % (s["sent"], len(before), t_delete - r["first_at"], len(after), out.stderr.strip()))
    assert s["replies"] >= 10 and len(before) >= 12   # flow survived the new drop rule
    assert after == []                                # and stopped at the delete


def test_lab_instances_are_isolated_and_cleaned_up(lab):
    listed = lambda: subprocess.run(["ip", "netns", "list"], capture_output=True,  # noqa
                                    text=True).stdout
    with pytest.raises(RuntimeError):
        with Lab(fw4=False) as other:
            names = list(other.names.values())
            assert not set(names) & set(lab.names.values())
            assert all(n in listed() for n in names)
            assert other.nft_list_tables() == []
            raise RuntimeError("boom")
    assert not any(n in listed() for n in names)
    # the product entry point runs in the router namespace (whatever the product says)
    rc, out, err = lab.vpn(["status", "--json"], "/nonexistent/vpn-passthrough")
    assert isinstance(rc, int) and isinstance(out, str) and isinstance(err, str)
    # the lab's own facts
    assert lab.run("router", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"
    ports = lab.run("router", ["ip", "-o", "link", "show", "master", "br-lan"]).stdout
    assert "lan1@" in ports and "lan2@" in ports
    assert "10.77.1.0/24" not in lab.run("wan", ["ip", "route"]).stdout
