"""`vpn-passthrough diagnose HOST` against real traffic in the namespace lab.

One test per verdict: the router namespace runs the product as the router would, the
LAN hosts send real VPN packets (tests/peers/), and the diagnosis must name what the
kernel did with them. `table inet fw4` is the lab's stand-in (masquerade only), and
the extra tables loaded here are test tables, said so by their names.
"""

import json
import time

import pytest

from lab import lab_fixture  # noqa: F401  (module-scoped fixture "lab")
from test_integration import config, apply, fake_tool, mac_of
from vpn_passthrough import pkgmgr

ACCT = "net.netfilter.nf_conntrack_acct"


def diagnose(lab, path, host, watch=0, env=None, expect=0):
    rc, out, err = lab.vpn(["diagnose", host, "--watch", str(watch), "--json"], path, env=env)
    assert rc == expect, (rc, out, err)
    return json.loads(out) if rc == 0 else err


def only(report, protocol):
    """The one verdict about `protocol` (fails if there is none or more than one)."""
    found = [v for v in report["verdicts"] if v["protocol"] == protocol]
    assert len(found) == 1, report
    return found[0]


def protocols(report):
    return sorted(v["protocol"] for v in report["verdicts"] if v["protocol"] != "all")


def text(verdict):
    return "\n".join(verdict["evidence"])


@pytest.fixture(autouse=True)
def clean_state(lab):
    lab.conntrack(["-F"], check=False)
    lab._sysctl("router", ACCT, 1)
    yield
    lab.vpn(["stop"], "/nonexistent")
    for table in lab.nft_list_tables():
        if table.startswith("inet diagtest"):
            lab.nft("delete table " + table)
    lab.run("wan", ["nft", "flush", "ruleset"])
    lab.run("router", ["ip", "addr", "flush", "dev", "wan0", "to", "100.64.0.0/10"], check=False)


def send(lab, cases, src="lan1", count=3):
    """Send and report how many arrived at the server (no one answers)."""
    return [listen["count"] for _, listen in
            lab.send_and_listen(cases, src=src, count=count, timeout=1.5)]


def answered(lab, port, duration):
    """A UDP flow lan1:PORT -> server:PORT for DURATION seconds that the server echoes."""
    echo = lab.peer("wan", "probe", ["flow-listen", "--proto", "udp", "--port", port,
                                     "--timeout", 6, "--echo"], ready=True)
    flow = lab.peer("lan1", "probe", ["flow-send", "--proto", "udp", "--dst", lab.server_v4,
                                      "--port", port, "--sport", port, "--duration", duration])
    assert lab.result(flow)["replies"] > 0
    lab.stop(echo)


def test_blocked_here_by_the_switch_names_the_counter_that_rose(lab, tmp_path):
    path = config(tmp_path, l2tp=0)
    apply(lab, path)
    listener = lab.peer("wan", "probe", ["listen", "--proto", "udp", "--port", 1701,
                                         "--timeout", 5], ready=True)
    sender = lab.peer("lan1", "probe", ["send", "--proto", "udp", "--dst", lab.server_v4,
                                        "--port", 1701, "--sport", 1701, "--count", 40,
                                        "--interval", 0.1])
    report = diagnose(lab, path, lab.lan1_v4, watch=2)
    lab.result(sender)
    assert lab.stop(listener)["count"] == 0                   # really blocked
    v = only(report, "l2tp")
    assert v["verdict"] == "blocked_switch" and v["severity"] == "error", report
    counter = [x for x in v["evidence"] if x.startswith("l2tp_blocked counter")]
    rose = int(counter[0].split("(+")[1].split()[0])
    assert rose >= 5, counter                                  # it rose while watching
    assert "l2tp.enabled='1'" in v["fix"]
    assert protocols(report) == ["l2tp"]                       # pptp, ipsec: nothing to say
    assert report["addresses"][0] == lab.lan1_v4 and report["macs"] == [mac_of(lab, "lan1")]


def test_blocked_here_by_a_client_rule_names_the_rule_and_its_counter(lab, tmp_path):
    clients = ("config client\n\toption name 'lan1 laptop'\n\tlist mac '%s'\n"
               "\toption action 'block'\n\tlist protocol 'ipsec'\n" % mac_of(lab, "lan1"))
    path = config(tmp_path, clients=clients)
    apply(lab, path)
    assert send(lab, [("udp", 500, lab.server_v4)]) == [0]
    report = diagnose(lab, path, "lan1 laptop")                 # by the client's name
    assert report["name"] == "lan1 laptop" and lab.lan1_v4 in report["addresses"]
    v = only(report, "ipsec")
    assert v["verdict"] == "blocked_client", report
    assert "client rule @client[0] ('lan1 laptop')" in v["evidence"][0]
    assert "its ipsec block counter: 3 packets" in text(v)
    assert "@client[0].action='allow'" in v["fix"]
    assert protocols(report) == ["ipsec"]                      # the rule lists ipsec only
    # by MAC, the same device and rule; another device is not concerned
    assert only(diagnose(lab, path, mac_of(lab, "lan1").upper()), "ipsec")["verdict"] \
        == "blocked_client"
    other = diagnose(lab, path, lab.lan2_v4)
    assert [v["verdict"] for v in other["verdicts"]] == ["no_traffic"], other


def test_blocked_elsewhere_names_the_other_table_and_chain(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    # a test table standing for an ad blocker or a user's rule, after our forward chain
    lab.nft("table inet diagtest_other {\n\tchain fwd_block {\n\t\ttype filter hook forward "
            "priority filter + 10; policy accept;\n\t\tudp dport 500 counter drop\n\t}\n}\n")
    assert send(lab, [("udp", 500, lab.server_v4), ("udp", 1701, lab.server_v4)]) == [0, 3]
    report = diagnose(lab, path, lab.lan1_v4)
    v = only(report, "ipsec")
    assert v["verdict"] == "blocked_elsewhere", report
    assert "table inet diagtest_other chain fwd_block (hook forward): udp dport 500 counter " \
        "drop [3 packets]" in v["evidence"][0], v
    assert "ipsec_passed counter (our table, all devices): 3 packets" in text(v)
    assert "inet diagtest_other" in v["fix"]
    # L2TP went out and was never answered (nobody answers in this test): not "elsewhere"
    assert only(report, "l2tp")["verdict"] == "unanswered"


def test_sent_but_never_answered_with_the_wan_address_remark(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    assert send(lab, [("udp", 500, lab.server_v4)]) == [3]     # arrives, nobody answers
    report = diagnose(lab, path, lab.lan1_v4)
    v = only(report, "ipsec")
    assert v["verdict"] == "unanswered", report
    assert "udp 10.77.1.10:500 -> 198.51.100.2:500, 3 out / 0 back" in text(v), v
    # the lab's WAN address (198.51.100.1, a documentation range) is not RFC 1918/CGNAT
    assert "WAN address 198.51.100.1 is not private" in text(v)
    # the same router with a carrier-grade NAT address on its WAN side
    lab.run("router", ["ip", "addr", "add", "100.64.7.1/10", "dev", lab.wan_device])
    v = only(diagnose(lab, path, lab.lan1_v4), "ipsec")
    assert "WAN address 100.64.7.1 is carrier-grade NAT" in text(v), v
    assert "second NAT" in v["fix"]
    # TCP 1723 to a server whose namespace drops it: the control connection never answered
    lab.nft("table inet diagtest_server {\n\tchain input {\n\t\ttype filter hook input "
            "priority filter; policy accept;\n\t\ttcp dport 1723 drop\n\t}\n}\n", ns="wan")
    res = lab.pptp_calls(clients=("lan1",), connect_timeout=1.0)
    assert not res["clients"][0]["ok"]
    v = only(diagnose(lab, path, lab.lan1_v4), "pptp")
    assert v["verdict"] == "unanswered" and "TCP 1723 was sent and never answered" in text(v), v


FAKE_NO_PPTP_HELPER = (
    'case "$*" in *-f*) input=$(cat); case "$input" in *\'type "pptp"\'*) echo "Error: Could '
    'not process rule: No such file or directory" >&2; exit 1;; esac; printf "%s\\n" "$input" '
    '| /usr/sbin/nft "$@"; exit $?;; esac\nexec /usr/sbin/nft "$@"\n')


def test_pptp_helper_not_assigned_when_the_kernel_has_none(lab, tmp_path):
    # As in test_integration: the wrapper makes the kernel refuse every pptp helper object
    # (apply and the diagnosis's probe), as on a router without kmod-nf-nathelper-pptp.
    env = fake_tool(tmp_path, "nft", FAKE_NO_PPTP_HELPER)
    path = config(tmp_path)
    rc, _, err = lab.vpn(["apply"], path, env=env)
    assert rc == 3, err                                        # applied, pptp degraded
    seen = {}

    def look():
        lab.wait_for(lambda: "dport=1723" in lab.conntrack(["-L", "-p", "tcp"]), 5)
        seen["report"] = diagnose(lab, path, lab.lan1_v4, env=env)
        return True

    lab.pptp_calls(clients=("lan1",), gre_delay=0.3, hold=1.0, during=look)
    v = only(seen["report"], "pptp")
    assert v["verdict"] == "pptp_helper_not_assigned", seen
    assert "control connection without helper=pptp: tcp 10.77.1.10:" in v["evidence"][0]
    assert "the kernel has no pptp conntrack helper" in text(v)
    # the release's own install command (opkg here: no /usr/bin/apk on this machine)
    assert v["fix"].startswith(pkgmgr.install(pkgmgr.pptp_kmod()) + ";"), v["fix"]


def test_pptp_call_ids_seen_and_translated(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    seen = {}

    def look():
        lab.wait_for(lambda: lab.conntrack(["-L", "-p", "gre"]).count("src=") >= 4, 5)
        seen["report"] = diagnose(lab, path, lab.lan2_v4)
        return True

    res = lab.pptp_calls(call_id=7, hold=1.5, during=look)
    assert all(c["ok"] for c in res["clients"]), res
    v = only(seen["report"], "pptp")
    assert v["verdict"] == "pptp_ok" and v["severity"] == "ok", seen
    assert "helper=pptp" in v["evidence"][0]
    server_side = [c["peer_call_id"] for c in res["server"]["calls"]
                   if c["peer_call_id"] != 7]
    lines = [x for x in v["evidence"] if x.startswith("GRE call ID 0x0007")]
    assert len(lines) == 1, v
    # the ID the server saw for one of the two clients is the one named here
    assert int(lines[0].split("translated to ")[1].split()[0], 16) in server_side, (lines, res)


def test_ipsec_esp_without_nat_t_through_nat(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    assert send(lab, [("esp", 0, lab.server_v4)]) == [3]
    # the server answers to the router's WAN address, as an IPsec peer does
    lab.peer_run("wan", "probe", ["send", "--proto", "esp", "--dst", lab.router_wan_v4,
                                  "--count", 2])
    report = diagnose(lab, path, lab.lan1_v4)
    v = only(report, "ipsec")
    assert v["verdict"] == "esp_without_natt" and v["severity"] == "warning", report
    assert "ESP/AH without NAT-T through NAT: esp 10.77.1.10 -> 198.51.100.2" in text(v)
    assert "NAT-T" in v["fix"]


def answered_report(lab, tmp_path, port, wait, protocol, **settings):
    """Settings applied, an answered UDP flow of lan1 to PORT, then lan1 diagnosed:
    (settings path, report, the verdict of PROTOCOL)."""
    path = config(tmp_path, **settings)
    apply(lab, path)
    answered(lab, port, wait)
    report = diagnose(lab, path, lab.lan1_v4)
    return path, report, only(report, protocol)


def test_ipsec_nat_t_in_use_and_fine(lab, tmp_path):
    _, report, v = answered_report(lab, tmp_path, 4500, 1.5, "ipsec")
    assert v["verdict"] == "natt_ok" and v["fix"] == "", report
    assert v["evidence"][0].startswith("NAT-T in use: udp 10.77.1.10:4500 -> 198.51.100.2:4500")
    assert [x["verdict"] for x in report["verdicts"]] == ["natt_ok"]   # accounting on here


def test_accounting_off_and_flow_offloading_limit_the_view(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    lab._sysctl("router", ACCT, 0)
    assert send(lab, [("udp", 1701, lab.server_v4)]) == [3]
    report = diagnose(lab, path, lab.lan1_v4)
    limited = only(report, "all")
    assert limited["verdict"] == "limited_view", report
    assert "conntrack accounting is off" in text(limited)
    assert "nf_conntrack_acct=1" in limited["fix"]
    # without packet counts the unanswered flow is still told by [UNREPLIED]
    v = only(report, "l2tp")
    assert v["verdict"] == "unanswered" and "no reply" in text(v), v
    # fw4's flow offloading (this kernel has no flowtable support: the option is the
    # evidence here; flowtables in the ruleset are covered by tests/test_verdicts.py)
    (tmp_path / "firewall").write_text("config defaults\n\toption flow_offloading '1'\n")
    lab._sysctl("router", ACCT, 1)
    limited = only(diagnose(lab, path, lab.lan1_v4), "all")
    assert "flow offloading (fw4 option flow_offloading)" in text(limited), limited
    assert "flow_offloading='0'" in limited["fix"] and "acct" not in limited["fix"]


def test_nothing_wrong_found_with_what_was_seen(lab, tmp_path):
    path, report, v = answered_report(lab, tmp_path, 1701, 1.0, "l2tp", pptp=0)
    assert v["verdict"] == "ok" and v["severity"] == "ok", report
    assert v["evidence"][0].startswith("udp 10.77.1.10:1701 -> 198.51.100.2:1701, ")
    assert " 0 back" not in v["evidence"][0]
    # pptp is off for every device: said even though lan1 did not try it
    assert only(report, "pptp")["verdict"] == "blocked_switch"
    quiet = diagnose(lab, path, lab.lan2_v4)
    v = only(quiet, "all")
    assert v["verdict"] == "no_traffic", quiet
    assert "l2tp would pass (switch on)" in v["evidence"] and \
        "ipsec would pass (switch on)" in v["evidence"]


def test_diagnose_changes_nothing_and_stays_small(lab, tmp_path):
    path = config(tmp_path)
    apply(lab, path)
    # 400 unanswered IKE entries of one device (inserted, as a busy device leaves them)
    script = ("i=20000; while [ $i -lt 20400 ]; do conntrack -I -p udp -s %s -d %s "
              "--sport $i --dport 500 -t 120 -u UNREPLIED >/dev/null 2>&1 || exit 1; "
              "i=$((i+1)); done" % (lab.lan1_v4, lab.server_v4))
    lab.run("router", ["sh", "-c", script], timeout=120)
    before = (lab.run("router", ["nft", "list", "ruleset"]).stdout,
              lab.conntrack(["-L"]).count("\n"))
    report = diagnose(lab, path, lab.lan1_v4, watch=1)
    after = (lab.run("router", ["nft", "list", "ruleset"]).stdout,
             lab.conntrack(["-L"]).count("\n"))
    assert after == before
    assert len(json.dumps(report)) < 4096, len(json.dumps(report))
    v = only(report, "ipsec")
    assert v["verdict"] == "unanswered" and len(v["evidence"]) <= 8


@pytest.mark.parametrize("args, field", [
    (["no such device"], "host"),
    (["10.77.1.10", "--watch", "99"], "watch"),
    (["--watch", "soon", "10.77.1.10"], "watch"),
])
def test_bad_input_is_refused_naming_the_field(lab, tmp_path, args, field):
    path = config(tmp_path)
    rc, out, err = lab.vpn(["diagnose"] + args, path)
    assert rc == 1 and "error: " + field + ":" in err, (rc, out, err)
    started = time.time()
    assert lab.vpn(["diagnose"], path)[0] == 2                  # usage
    assert time.time() - started < 10


def test_ubus_diagnose_for_both_callers(lab, tmp_path, monkeypatch, ubusd):
    """The ubus method through the REAL python3-ubus on a REAL ubusd of the kit, called by
    the real `ubus` CLI; every process the service starts runs on the lab router."""
    import realubus
    import test_ubus
    from vpn_passthrough import nfnetlink, platform, ubus_api
    from vpn_passthrough.service import Service
    path = config(tmp_path, l2tp=0)
    apply(lab, path)
    assert send(lab, [("udp", 1701, lab.server_v4)]) == [0]
    real_run = platform.run

    def run(argv, stdin=None, timeout=platform.TIMEOUT):
        return real_run(["ip", "netns", "exec", lab.ns("router")] + list(argv), stdin=stdin,
                        timeout=timeout)

    def refused(family, name, timeout=2.0):
        raise OSError(1, "netlink refused: this process is not in the router's namespace")
    monkeypatch.setattr(platform, "run", run)
    monkeypatch.setattr(nfnetlink, "table_comment", refused)
    bus = realubus.binding()
    bus.connect(socket_path=ubusd.socket)
    try:
        ubus_api.Api(Service(path), bus).register()
        for luci in (False, True):
            reply = test_ubus.one_reply(test_ubus.call(ubusd, bus, ubus_api.OBJECT, "diagnose",
                                                       {"host": lab.lan1_v4}, luci=luci))
            assert reply["watched"] == 3 and reply["host"] == lab.lan1_v4
            assert only(reply, "l2tp")["verdict"] == "blocked_switch", reply
        reply = test_ubus.one_reply(test_ubus.call(ubusd, bus, ubus_api.OBJECT, "diagnose",
                                                   {"host": "nobody; reboot"}))
        assert reply["ok"] is False and reply["field"] == "host", reply
        assert test_ubus.call(ubusd, bus, ubus_api.OBJECT, "diagnose", {})[0] == 2  # invalid
    finally:
        if bus.get_connected():
            bus.disconnect()
