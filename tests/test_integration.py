"""The product against the real kernel: namespaces, a masquerading router, real packets.

Topology and peers: tests/lab.py, tests/peers/. The router namespace runs
`python3 -m vpn_passthrough apply` exactly as the router would; `table inet fw4`
in the lab is a stand-in for OpenWrt's fw4 (masquerade only), not fw4 itself.
Every "passes" assertion is a packet seen arriving at the WAN server; every
"blocked" assertion is a packet not arriving plus a counter that rose.
"""

import json
import os
import stat
import subprocess
import time

import pytest

from lab import lab_fixture  # noqa: F401  (module-scoped fixture "lab")
from vpn_passthrough.flows import parse as parse_flows

DEVICES = ("config globals 'globals'\n\tlist lan_device 'br-lan'\n\tlist wan_device 'wan0'\n"
           "\toption log '{log}'\n\toption ipv6 '{ipv6}'\n")


def config(tmp_path, pptp=1, l2tp=1, ipsec=1, log=0, ipv6=1, clients=""):
    text = DEVICES.format(log=log, ipv6=ipv6)
    for name, on in (("pptp", pptp), ("l2tp", l2tp), ("ipsec", ipsec)):
        text += "config protocol '%s'\n\toption enabled '%d'\n" % (name, on)
    path = tmp_path / "vpn-passthrough"
    path.write_text(text + clients)
    return str(path)


def apply(lab, path, expect=0):
    rc, out, err = lab.vpn(["apply"], path)
    assert rc == expect, (rc, out, err)
    return out, err


def status(lab, path):
    rc, out, err = lab.vpn(["status", "--json"], path)
    assert rc == 0, err
    return json.loads(out)


def client_page(lab, path):
    rc, out, err = lab.vpn(["clients", "--json"], path)
    assert rc == 0, err
    return json.loads(out)["clients"]


def counters(lab, path, name):
    p = status(lab, path)["protocols"][name]
    return p["passed"]["packets"], p["blocked"]["packets"]


def probe(lab, cases, src="lan1"):
    """[(proto, port, dst)] -> [packets that arrived] (3 sent each)."""
    return [listen["count"] for _, listen in lab.send_and_listen(cases, src=src, timeout=2.0)]


@pytest.fixture(autouse=True)
def clean_state(lab):
    lab.conntrack(["-F"], check=False)
    yield
    lab.vpn(["stop"], "/nonexistent")       # stop needs no settings


def test_pptp_on_two_clients_one_server_with_call_id_translation(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    res = lab.pptp_calls(call_id=7, count=4, hold=1.0,
                         during=lambda: lab.wait_for(
                             lambda: lab.conntrack(["-L", "-p", "gre"]).count("src=") >= 4, 5)
                         and lab.conntrack(["-L", "-p", "gre"]))
    c1, c2 = res["clients"]
    assert c1["ok"] and c2["ok"], (c1, c2)                    # every GRE packet came back
    seen = sorted(c["peer_call_id"] for c in res["server"]["calls"])
    assert len(set(seen)) == 2, seen                          # the server saw two call IDs
    assert seen != [7, 7]                                     # …translated by nf_nat_pptp
    gre = [f for f in parse_flows(res["during"] or "") if f["l4"] == "gre"]
    assert len(gre) == 2, res["during"]
    # conntrack shows the translation: each client's call ID 7 (orig srckey) is known to
    # the server under a different key (reply dstkey), distinct per client
    assert [int(f["orig"]["srckey"], 16) for f in gre] == [7, 7], res["during"]
    translated = {int(f["reply"]["dstkey"], 16) for f in gre}
    assert len(translated) == 2 and 7 not in translated, res["during"]
    assert translated == set(seen)
    passed, blocked = counters(lab, path, "pptp")
    assert passed >= 8 and blocked == 0


def test_pptp_helper_is_assigned_in_conntrack(lab, tmp_path):
    apply(lab, config(tmp_path))
    res = lab.pptp_calls(clients=("lan1",), hold=1.0,
                         during=lambda: lab.wait_for(
                             lambda: "helper=pptp" in lab.conntrack(["-L", "-p", "tcp"]), 5)
                         and lab.conntrack(["-L", "-p", "tcp"]))
    assert res["clients"][0]["ok"]
    assert "helper=pptp" in res["during"] and "dport=1723" in res["during"]


def test_pptp_off_blocks_control_and_gre_and_counts(lab, tmp_path):
    path = config(tmp_path, pptp=0)
    apply(lab, path)
    res = lab.pptp_calls(clients=("lan1",), connect_timeout=1.0)
    assert not res["clients"][0]["ok"]
    assert res["server"]["calls"] == []                       # no control connection arrived
    assert probe(lab, [("gre", 0, lab.server_v4)]) == [0]
    passed, blocked = counters(lab, path, "pptp")
    assert passed == 0 and blocked >= 4                       # SYN retries + 3 GRE


@pytest.mark.parametrize("name, cases", [
    ("l2tp", [("udp", 1701)]),
    ("ipsec", [("udp", 500), ("udp", 4500), ("esp", 0), ("ah", 0)]),
])
def test_udp_esp_ah_protocols_pass_when_on_and_are_blocked_when_off(lab, tmp_path, name, cases):
    on = config(tmp_path, **{name: 1})
    apply(lab, on)
    v4 = [(p, port, lab.server_v4) for p, port in cases]
    assert probe(lab, v4) == [3] * len(cases)
    assert counters(lab, on, name) == (3 * len(cases), 0)
    off = config(tmp_path, **{name: 0})
    apply(lab, off)
    assert probe(lab, v4) == [0] * len(cases)
    assert counters(lab, off, name)[1] == 3 * len(cases)
    other = [("udp", 5353, lab.server_v4)]                    # unrelated traffic still passes
    assert probe(lab, other) == [3]


def test_ipv6_blocking_follows_the_ipv6_option(lab, tmp_path):
    cases = [("udp", 1701, lab.server_v6), ("udp", 500, lab.server_v6), ("esp", 0, lab.server_v6),
             ("gre", 0, lab.server_v6)]
    apply(lab, config(tmp_path, pptp=0, l2tp=0, ipsec=0))
    assert probe(lab, cases) == [0, 0, 0, 0]
    apply(lab, config(tmp_path, pptp=0, l2tp=0, ipsec=0, ipv6=0))
    assert probe(lab, cases) == [3, 3, 3, 3]
    apply(lab, config(tmp_path))
    assert probe(lab, cases) == [3, 3, 3, 3]


def mac_of(lab, ns):
    out = lab.run(ns, ["cat", "/sys/class/net/eth0/address"]).stdout
    return out.strip()


def test_client_block_overrides_an_on_switch_by_ip_and_by_mac(lab, tmp_path):
    clients = ("config client\n\toption name 'lan1 by ip'\n\tlist ip '%s'\n\toption action 'block'\n"
               "\tlist protocol 'l2tp'\n" % lab.lan1_v4)
    path = config(tmp_path, clients=clients)
    apply(lab, path)
    cases = [("udp", 1701, lab.server_v4)]
    assert probe(lab, cases, src="lan1") == [0]
    assert probe(lab, cases, src="lan2") == [3]
    st = status(lab, path)
    assert client_page(lab, path)[0]["blocked"]["packets"] == 3
    assert st["clients"] == {"total": 1, "blocking": 1, "allowing": 0}
    assert st["protocols"]["l2tp"]["blocked"]["packets"] == 3
    assert probe(lab, [("udp", 500, lab.server_v4)], src="lan1") == [3]   # only l2tp listed

    clients = ("config client\n\toption name 'lan2 by mac'\n\tlist mac '%s'\n"
               "\toption action 'block'\n" % mac_of(lab, "lan2").upper())
    apply(lab, config(tmp_path, clients=clients))
    assert probe(lab, [("udp", 4500, lab.server_v4), ("udp", 4500, lab.server_v6)],
                 src="lan2") == [0, 0]
    assert probe(lab, [("udp", 4500, lab.server_v4)], src="lan1") == [3]


def test_client_allow_overrides_an_off_switch(lab, tmp_path):
    clients = ("config client\n\toption name 'work laptop'\n\tlist ip '%s'\n\tlist ip '%s/128'\n"
               "\toption action 'allow'\n" % (lab.lan1_v4, lab.lan1_v6))
    path = config(tmp_path, pptp=0, l2tp=0, ipsec=0, clients=clients)
    apply(lab, path)
    cases = [("udp", 1701, lab.server_v4), ("esp", 0, lab.server_v4), ("udp", 500, lab.server_v6)]
    assert probe(lab, cases, src="lan1") == [3, 3, 3]
    assert probe(lab, cases, src="lan2") == [0, 0, 0]
    st = status(lab, path)
    assert st["protocols"]["l2tp"]["blocked"]["packets"] == 3          # lan2's, counted
    assert st["protocols"]["ipsec"]["blocked"]["packets"] == 6
    res = lab.pptp_calls(clients=("lan1",))                   # helper still assigned for lan1
    assert res["clients"][0]["ok"], res
    assert client_page(lab, path)[0]["passed"]["packets"] >= 9


def test_switching_off_cuts_running_flows_but_not_the_routers_or_unrelated_ones(lab, tmp_path):
    apply(lab, config(tmp_path))
    listeners = [lab.peer("wan", "probe", ["flow-listen", "--proto", "udp", "--port", port,
                                           "--timeout", 12, "--echo"], ready=True)
                 for port in (4500, 5353, 500)]
    flows = [lab.peer("lan1", "probe", ["flow-send", "--proto", "udp", "--dst", lab.server_v4,
                                        "--port", 4500, "--sport", 4500, "--duration", 10]),
             lab.peer("lan1", "probe", ["flow-send", "--proto", "udp", "--dst", lab.server_v4,
                                        "--port", 5353, "--sport", 5353, "--duration", 10]),
             lab.peer("router", "probe", ["flow-send", "--proto", "udp", "--dst", lab.server_v4,
                                          "--port", 500, "--sport", 500, "--duration", 10])]
    assert lab.wait_for(lambda: lab.conntrack(["-L", "-p", "udp", "--dport", "4500"])
                        .count("ASSURED") == 1, 5)
    before = lab.conntrack(["-L", "-p", "udp"])
    out, _ = apply(lab, config(tmp_path, ipsec=0))
    switched = time.time()                                    # the new rules are live now
    assert "1 flows cut" in out, out
    after = lab.conntrack(["-L", "-p", "udp"])
    lan1_nat_t = "src=%s dst=%s sport=4500 dport=4500" % (lab.lan1_v4, lab.server_v4)
    assert lan1_nat_t in before and lan1_nat_t not in after, after
    time.sleep(1.5)
    nat_t, other, own = [lab.stop(p) for p in listeners]
    for p in flows:
        lab.stop(p)
    late = [t for t in nat_t["arrivals"] if t > switched + 0.1]
    assert nat_t["count"] > 0 and late == [], "NAT-T kept arriving after the switch"
    assert [t for t in other["arrivals"] if t > switched + 1.0], "unrelated flow was cut"
    assert [t for t in own["arrivals"] if t > switched + 1.0], "router's own IKE was cut"
    assert "dport=500 " in after and "dport=5353" in after


def test_running_pptp_call_is_cut_when_switched_off(lab, tmp_path):
    apply(lab, config(tmp_path))
    cut = {}

    def switch_off():
        lab.wait_for(lambda: "helper=pptp" in lab.conntrack(["-L", "-p", "tcp"]), 5)
        cut["out"], _ = apply(lab, config(tmp_path, pptp=0))
        cut["tcp"] = lab.conntrack(["-L", "-p", "tcp", "--dport", "1723"])
        cut["gre"] = lab.conntrack(["-L", "-p", "gre"])
        return True

    res = lab.pptp_calls(clients=("lan1",), gre_delay=1.5, hold=0.5, during=switch_off)
    assert "flows cut" in cut["out"], cut
    assert "dport=1723" not in cut["tcp"], cut["tcp"]
    assert res["clients"][0]["gre_received"] == 0, res       # GRE sent after the switch died


def test_other_tables_are_untouched(lab, tmp_path):
    before = lab.ruleset_text_stable("fw4")
    apply(lab, config(tmp_path, pptp=0, clients="config client\n\tlist ip '10.77.1.99'\n"))
    apply(lab, config(tmp_path, l2tp=0))
    assert lab.vpn(["stop"], "/nonexistent")[0] == 0
    assert lab.ruleset_text_stable("fw4") == before
    assert "inet vpn_passthrough" not in lab.nft_list_tables()


def test_second_apply_is_a_no_op_and_keeps_counters(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    assert probe(lab, [("udp", 1701, lab.server_v4)]) == [3]
    out, _ = apply(lab, path)
    assert out.startswith("unchanged")
    assert counters(lab, path, "l2tp") == (3, 0)


def test_counters_survive_applies_and_reset_only_on_request(lab, tmp_path):
    clients = ("config client\n\toption name 'lan1'\n\toption action 'block'\n"
               "\tlist protocol 'l2tp'\n\tlist ip '%s'\n" % lab.lan1_v4)
    path = config(tmp_path, clients=clients)
    apply(lab, path)
    since = status(lab, path)["counters_since"]
    assert since > 0
    assert probe(lab, [("udp", 1701, lab.server_v4)], src="lan1") == [0]
    assert probe(lab, [("udp", 500, lab.server_v4)], src="lan1") == [3]
    assert counters(lab, path, "l2tp") == (0, 3)
    assert counters(lab, path, "ipsec") == (3, 0)
    assert client_page(lab, path)[0]["blocked"]["packets"] == 3
    # a switch change and a client change each replace the table: the counts stay
    out, _ = apply(lab, config(tmp_path, pptp=0, clients=clients))
    assert out.startswith("applied")
    path = config(tmp_path, pptp=0, clients=clients + "\tlist ip '10.77.1.99'\n")
    out, _ = apply(lab, path)
    assert out.startswith("applied")
    assert counters(lab, path, "l2tp") == (0, 3)
    assert counters(lab, path, "ipsec") == (3, 0)
    assert client_page(lab, path)[0]["blocked"]["packets"] == 3
    assert status(lab, path)["counters_since"] == since
    # ... and go on rising from there
    assert probe(lab, [("udp", 1701, lab.server_v4)], src="lan1") == [0]
    assert counters(lab, path, "l2tp") == (0, 6)
    assert client_page(lab, path)[0]["blocked"]["packets"] == 6
    time.sleep(1.1)
    rc, out, err = lab.vpn(["reset-counters"], path)
    assert rc == 0, err
    assert counters(lab, path, "l2tp") == (0, 0) and counters(lab, path, "ipsec") == (0, 0)
    assert client_page(lab, path)[0]["blocked"]["packets"] == 0
    assert status(lab, path)["counters_since"] > since
    assert probe(lab, [("udp", 1701, lab.server_v4)], src="lan1") == [0]      # still blocks
    assert counters(lab, path, "l2tp") == (0, 3)


def fake_tool(tmp_path, name, script):
    """A wrapper earlier in PATH around the real tool: fault injection, said so by its name."""
    d = tmp_path / "fault-bin"
    d.mkdir(exist_ok=True)
    f = d / name
    f.write_text("#!/bin/sh\n# fault injection wrapper around the real " + name + "\n" + script)
    f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return {"PATH": str(d) + ":" + os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}


def live_table(lab):
    """Our table's rules, counters zeroed: a stray lab packet must not fail a comparison."""
    return lab.ruleset_text_stable("vpn_passthrough")


def test_disabling_removes_the_table_once(lab, tmp_path):
    apply(lab, config(tmp_path))
    assert "inet vpn_passthrough" in lab.nft_list_tables()
    path = tmp_path / "off"
    path.write_text(DEVICES.format(log=0, ipv6=1) + "\toption enabled '0'\n")
    out, _ = apply(lab, str(path))
    assert out.startswith("applied") and "inet vpn_passthrough" not in lab.nft_list_tables()
    out, _ = apply(lab, str(path))
    assert out.startswith("unchanged")
    assert probe(lab, [("udp", 1701, lab.server_v4)]) == [3]     # nothing of ours is left


def test_flows_are_scanned_only_when_the_blocking_policy_changes(lab, tmp_path):
    # A logging change blocks nothing new: apply must not walk conntrack for it.
    log = tmp_path / "conntrack-calls"
    env = fake_tool(tmp_path, "conntrack", 'echo "$*" >> ' + str(log) + '\n'
                    'exec /usr/sbin/conntrack "$@"\n')

    def scanned(path):
        log.write_text("")
        rc, out, err = lab.vpn(["apply"], path, env=env)
        assert rc == 0 and out.startswith("applied"), (rc, out, err)
        return "-L" in log.read_text()

    assert scanned(config(tmp_path, ipsec=0))                 # no table before: scan
    assert not scanned(config(tmp_path, ipsec=0, log=1))      # only logging changed
    assert scanned(config(tmp_path, ipsec=0, l2tp=0, log=1))  # L2TP now blocked
    assert scanned(config(tmp_path, ipsec=0, l2tp=0, log=1,
                          clients="config client\n\tlist ip '10.77.1.99'\n"))


def test_nft_failure_mid_transaction_keeps_the_previous_ruleset(lab, tmp_path):
    apply(lab, config(tmp_path))
    before = live_table(lab)
    # The real nft gets our whole ruleset plus one bad command at the end of the batch.
    env = fake_tool(tmp_path, "nft", 'if [ "$1" = "-f" ]; then\n'
                    '  { cat; echo "add rule inet vpn_passthrough no_such_chain drop"; } | '
                    '/usr/sbin/nft "$@"; exit $?\nfi\nexec /usr/sbin/nft "$@"\n')
    rc, out, err = lab.vpn(["apply"], config(tmp_path, pptp=0, l2tp=0), env=env)
    assert rc == 1 and "previous one stays" in err, (rc, out, err)
    assert live_table(lab) == before
    assert probe(lab, [("udp", 1701, lab.server_v4)]) == [3]   # the old rules still decide


@pytest.mark.parametrize("bad, field", [
    ("config globals 'globals'\n\tlist lan_zone 'lan; flush ruleset'\n", "globals.lan_zone"),
    ("config globals 'globals'\n\tlist wan_device 'wan0\"'\n", "globals.wan_device"),
    ("config protocol 'pptp'\n\toption enabled 'sometimes'\n", "pptp.enabled"),
    ("config client\n\tlist ip '10.77.1.300'\n", "@client[0].ip"),
])
def test_bad_settings_change_nothing(lab, tmp_path, bad, field):
    apply(lab, config(tmp_path))
    before = live_table(lab)
    path = tmp_path / "bad"
    path.write_text(bad)
    rc, out, err = lab.vpn(["apply"], str(path))
    assert rc == 1 and "vpn-passthrough." + field in err, err
    assert live_table(lab) == before
    rc, _, err = lab.vpn(["apply"], str(tmp_path / "missing"))
    assert rc == 1 and "cannot read" in err
    assert live_table(lab) == before


def test_missing_pptp_helper_degrades_pptp_only(lab, tmp_path):
    # This host kernel has the helper built in; the wrapper makes the kernel refuse every
    # transaction with a pptp helper object (probe or ruleset), as on a router without
    # kmod-nf-nathelper-pptp.
    env = fake_tool(tmp_path, "nft", 'case "$*" in *-f*) input=$(cat); case "$input" in '
                    '*\'type "pptp"\'*) echo "Error: Could not process rule: No such file '
                    'or directory" >&2; exit 1;; esac; printf "%s\\n" "$input" | /usr/sbin/nft "$@";'
                    ' exit $?;; esac\nexec /usr/sbin/nft "$@"\n')
    path = config(tmp_path)
    rc, out, err = lab.vpn(["apply"], path, env=env)
    assert rc == 3 and "kmod-nf-nathelper-pptp" in err and "kmod-nf-nathelper-extra" in err, err
    st = status(lab, path)
    assert st["protocols"]["pptp"]["effective"] == "degraded"
    assert st["protocols"]["pptp"]["helper"] == "missing"
    assert [st["protocols"][p]["effective"] for p in ("l2tp", "ipsec")] == ["on", "on"]
    assert "ct helper" not in live_table(lab)
    assert probe(lab, [("udp", 1701, lab.server_v4), ("udp", 500, lab.server_v4)]) == [3, 3]


def _kernel_log_lines(marker):
    out = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    return [line for line in out.split("\n") if marker in line]


def test_blocked_attempts_are_logged_rate_limited(lab, tmp_path):
    path = config(tmp_path, l2tp=0, log=1)
    apply(lab, path)
    text = lab.run("router", ["nft", "list", "chain", "inet", "vpn_passthrough",
                              "l2tp_block"]).stdout
    assert 'log prefix "vpn-passthrough: block l2tp: "' in text and "limit rate 10/minute" in text
    # The kernel logs from namespaces other than the host's only with this (host-wide)
    # switch; it is restored afterwards.
    knob = "/proc/sys/net/netfilter/nf_log_all_netns"
    try:
        with open(knob) as f:
            saved = f.read().strip()
        with open(knob, "w") as f:
            f.write("1")
    except OSError as e:
        pytest.skip("cannot enable namespace logging (%s): %s" % (knob, e))
    try:
        marker = "vpn-passthrough: block l2tp: "
        before = len(_kernel_log_lines(marker))
        sent, got = lab.send_and_listen([("udp", 1701, lab.server_v4)], count=20, timeout=2.0)[0]
        assert got["count"] == 0                               # logging lets nothing through
        time.sleep(0.5)
        lines = _kernel_log_lines(marker)[before:]
    finally:
        with open(knob, "w") as f:
            f.write(saved)
    ours = [line for line in lines if "SRC=%s" % lab.lan1_v4 in line and "DPT=1701" in line]
    assert 1 <= len(ours) <= 5, lines                         # burst 5, then 10 a minute
    assert counters(lab, path, "l2tp")[1] == 20                # every attempt is counted


def test_sessions_and_check_see_real_flows(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    seen = {}

    def look():
        lab.wait_for(lambda: "helper=pptp" in lab.conntrack(["-L", "-p", "tcp"]), 5)
        rc, out, err = lab.vpn(["sessions", "--json"], path)
        seen["sessions"] = json.loads(out) if rc == 0 else err
        return True

    lab.pptp_calls(gre_delay=0.2, hold=1.5, during=look)
    sessions = seen["sessions"]["flows"]
    assert seen["sessions"]["total"] == len(sessions), seen
    assert not seen["sessions"]["truncated"]
    assert seen["sessions"]["counts"]["pptp"] >= 2, seen
    clients = sorted({s["client"] for s in sessions if s["protocol"] == "pptp"})
    assert clients == [lab.lan1_v4, lab.lan2_v4], sessions
    assert all(s["server"] == lab.server_v4 for s in sessions)
    assert any(s["helper"] == "pptp" and s["dport"] == 1723 for s in sessions)
    rc, out, err = lab.vpn(["check", "--json"], path)
    ids = [f["id"] for f in json.loads(out)["findings"]]
    for bad in ("not_applied", "pptp_helper_missing", "pptp_helper_not_assigned", "fw4_missing"):
        assert bad not in ids, out                            # the fw4 stand-in is loaded
    # an fw4 that assigns the pptp helper itself while PPTP passthrough is off
    lab.nft('table inet fw4 {\n\tct helper pptp {\n\t\ttype "pptp" protocol tcp\n'
            '\t\tl3proto ip\n\t}\n\tchain helper_lan {\n\t\ttcp dport 1723 ct helper set '
            '"pptp"\n\t}\n}\n')
    off = config(tmp_path, pptp=0)
    apply(lab, off)
    rc, out, err = lab.vpn(["check", "--json"], off)
    found = [f for f in json.loads(out)["findings"] if f["id"] == "fw4_assigns_pptp"]
    assert found and found[0]["fix"], out
    lab.nft("delete chain inet fw4 helper_lan\ndelete ct helper inet fw4 pptp\n")
    lab.vpn(["stop"], path)
    rc, out, _ = lab.vpn(["check", "--json"], path)
    assert rc == 1 and "not_applied" in [f["id"] for f in json.loads(out)["findings"]]


def test_flush_command_cuts_one_protocol_only(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    listeners = [lab.peer("wan", "probe", ["flow-listen", "--proto", "udp", "--port", port,
                                           "--timeout", 8, "--echo"], ready=True)
                 for port in (1701, 500)]
    l2tp = lab.peer("lan1", "probe", ["flow-send", "--proto", "udp", "--dst", lab.server_v4,
                                      "--port", 1701, "--sport", 1701, "--duration", 1])
    ike = lab.peer("lan1", "probe", ["flow-send", "--proto", "udp", "--dst", lab.server_v4,
                                     "--port", 500, "--sport", 500, "--duration", 6])
    lab.result(l2tp)                                          # the L2TP sender has finished
    before = lab.conntrack(["-L", "-p", "udp"])
    assert "dport=1701" in before and "dport=500" in before, before
    rc, out, err = lab.vpn(["flush", "l2tp"], path)
    assert rc == 0 and out.startswith("1 flows cut"), (out, err)
    left = lab.conntrack(["-L", "-p", "udp"])
    assert "dport=500" in left and "dport=1701" not in left, left
    rc, out, err = lab.vpn(["flush", "gre"], path)
    assert rc == 1 and "protocol" in err
    for p in [ike] + listeners:
        lab.stop(p)
