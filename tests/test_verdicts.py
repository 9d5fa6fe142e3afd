"""The diagnosis's pure part: verdicts.py (evidence -> verdicts) and rulescan.py (other
tables' rules), on the samples of tests/micropython/verdicts_check.py, under CPython and
(where a port is installed) under a real MicroPython with the same transcript."""

import importlib.util
import json
import os
import sys

import pytest

from conftest import in_ns
from vpn_passthrough import evidence, rulescan, verdicts

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "micropython", "verdicts_check.py")
sys.path.insert(0, os.path.join(HERE, "micropython"))
import verdicts_check as samples  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "vpt_micropython_runner_diag", os.path.join(HERE, "micropython", "runner.py"))
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)
MODULES = runner.PURE + ("verdicts", "rulescan")


def decide(title):
    return verdicts.decide(dict(samples.SAMPLES)[title])


def ids(title):
    return [(v["protocol"], v["verdict"]) for v in decide(title)]


@pytest.mark.parametrize("title, expected", [
    ("switch off", [("l2tp", "blocked_switch"), ("all", "no_traffic")]),
    ("client rule", [("ipsec", "blocked_client")]),
    ("other table", [("ipsec", "blocked_elsewhere")]),
    ("other table, answered anyway", [("ipsec", "natt_ok")]),
    ("unanswered, double NAT", [("ipsec", "unanswered")]),
    ("unanswered, CGNAT", [("l2tp", "unanswered")]),
    ("gre one-way", [("pptp", "unanswered")]),
    ("pptp no helper", [("pptp", "pptp_helper_not_assigned")]),
    ("pptp nat missing", [("pptp", "pptp_nat_missing")]),
    ("pptp translated", [("pptp", "pptp_ok")]),
    ("esp through nat", [("ipsec", "esp_without_natt")]),
    ("esp one-way", [("ipsec", "unanswered")]),
    ("nat-t", [("ipsec", "natt_ok")]),
    ("l2tp ok, acct off", [("l2tp", "ok"), ("all", "limited_view")]),
    ("nothing, offloading", [("all", "no_traffic"), ("all", "limited_view")]),
    ("disabled", [("all", "disabled"), ("all", "no_traffic")]),
])
def test_each_sample_gets_its_verdicts(title, expected):
    assert ids(title) == expected
    for v in decide(title):
        assert v["severity"] == verdicts.SEVERITY[v["verdict"]]
        assert (v["fix"] == "") == (v["severity"] == "ok"), v


def test_double_nat_is_named_in_the_evidence_and_the_fix():
    v = decide("unanswered, double NAT")[0]
    assert "192.168.0.2 is private (RFC 1918)" in "\n".join(v["evidence"])
    assert "second NAT" in v["fix"]
    v = decide("esp one-way")[0]
    assert v["evidence"][0].startswith("ESP one-way: IKE was answered")
    assert "10.0.0.2 is private (RFC 1918)" in "\n".join(v["evidence"])
    v = decide("gre one-way")[0]
    assert "198.51.100.1 is not private" in "\n".join(v["evidence"])
    assert "second NAT" not in v["fix"]


def test_wan_kind():
    assert [verdicts.wan_kind(a) for a in ("10.0.0.1", "172.16.0.1", "172.31.255.1",
                                           "172.32.0.1", "192.168.1.1", "100.64.0.1",
                                           "100.127.255.254", "100.128.0.1", "198.51.100.1")] \
        == ["private", "private", "private", "public", "private", "cgnat", "cgnat", "public",
            "public"]


@pytest.mark.parametrize("switch_on, clients, expected", [
    (True, [], (True, "switch", None)),
    (False, [], (False, "switch", None)),
    # a block entry wins over an allow entry, whatever their order
    (True, [("a", "allow"), ("b", "block")], (False, "client", "b")),
    (False, [("a", "allow"), ("b", "block")], (False, "client", "b")),
    # an allow entry only matters while the switch is off
    (True, [("a", "allow")], (True, "switch", None)),
    (False, [("a", "allow")], (True, "client", "a")),
    # a client for other protocols does not count
    (False, [("c", "allow", ["l2tp"])], (False, "switch", None)),
])
def test_policy_mirrors_the_rules(switch_on, clients, expected):
    cs = [{"label": c[0], "name": c[0], "action": c[1],
           "protocols": c[2] if len(c) > 2 else ["pptp", "l2tp", "ipsec"]} for c in clients]
    passes, by, client = verdicts.policy("pptp", switch_on, cs)
    assert (passes, by, client and client["label"]) == expected


def test_rule_scan_finds_vpn_stops_and_names_table_and_chain():
    lines = samples.scan_lines(samples.LAN1)
    assert "ipsec inet adblock fwd forward drop sure=True packets=4 | udp dport 500 counter " \
        "drop" in lines
    # reached through a jump that selected tcp 1723: the drop-all chain counts for pptp only,
    # named by the jump a user would change
    assert "pptp inet adblock fwd forward drop sure=True packets=None | tcp dport 1723 jump " \
        "sub -> sub: counter drop" in lines
    assert not [x for x in lines if x.startswith(("l2tp", "ipsec")) and "sub" in x]
    # prerouting redirections count; input hooks and unreached chains do not
    assert "ipsec inet adblock pre prerouting redirect sure=True packets=None | udp dport " \
        "500 redirect to :8080" in lines
    assert not [x for x in lines if " unreached " in x or " in input " in x]
    # a named set cannot be read here: kept, marked not sure
    assert [x for x in lines if "@s" in x and "sure=False" in x]
    # fw4's generic drops and rejects (invalid state, tcp reject) are not about VPN
    assert not [x for x in lines if " fw4 " in x]
    # our own table is never "elsewhere"; port 53 and accept rules are not stops
    assert not [x for x in lines if "vpn_passthrough" in x or "53" in x or "accept" in x]


def test_rule_scan_follows_source_matches():
    lan1 = samples.scan_lines(samples.LAN1)
    other = samples.scan_lines(samples.ELSEWHERE)
    saddr_10 = [x for x in lan1 + other if "10.0.0.0/8" in x]
    assert saddr_10 and all(x in lan1 and x not in other for x in saddr_10)
    not_lan1 = [x for x in lan1 + other if "!= 10.77.1.10" in x]
    assert not_lan1 and all(x in other and x not in lan1 for x in not_lan1)


def test_rule_counters_for_deltas():
    c = rulescan.counters(samples.ADBLOCK)
    assert c == {("inet", "adblock", 5): 4, ("inet", "adblock", 20): 2}


def test_report_stays_small_whatever_the_evidence():
    many = [samples.flow("udp", 500, replied=False) for _ in range(5000)]
    hits = [dict(samples.OTHER_TABLE, rule="x" * 5000) for _ in range(500)]
    e = samples.evidence(ipsec=samples.proto(flows=many, foreign=hits),
                         l2tp=samples.proto(flows=many))
    e["addresses"] = ["10.0.0.%d" % i for i in range(200)]
    r = verdicts.report(e)
    assert len(json.dumps(r)) < 8192
    for v in r["verdicts"]:
        assert len(v["evidence"]) <= verdicts.EVIDENCE_MAX
        assert max(len(x) for x in v["evidence"]) <= verdicts.TEXT_MAX


class FakeService:
    def __init__(self, config_dir):
        self.config_dir = config_dir


def test_offloading_evidence_from_fw4_option_flowtables_and_entries(tmp_path):
    (tmp_path / "firewall").write_text("config defaults\n\toption flow_offloading '1'\n")
    snap = {"items": [{"flowtable": {"family": "inet", "table": "fw4", "name": "ft"}}],
            "flows": [{"state": "[OFFLOAD]"}]}
    assert evidence._offload(FakeService(str(tmp_path)), snap) == [
        "fw4 option flow_offloading", "flowtable ft in table inet fw4",
        "offloaded entries in conntrack"]
    (tmp_path / "firewall").write_text("config defaults\n\toption flow_offloading '0'\n")
    assert evidence._offload(FakeService(str(tmp_path)), {"items": [], "flows": []}) == []


@pytest.mark.parametrize("watch", ["-1", "31", "x", None])
def test_watch_is_bounded(watch):
    with pytest.raises(evidence.SettingsError) as e:
        evidence.check_watch(watch)
    assert e.value.field == "watch"


def test_pure_modules_import_nothing_impure():
    import ast
    for name in ("verdicts", "rulescan"):
        path = os.path.join(runner.PACKAGE, name + ".py")
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                for a in node.names:
                    assert a.name in MODULES, "%s.py imports .%s" % (name, a.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                pytest.fail("%s.py line %d imports outside the package" % (name, node.lineno))


@pytest.fixture(scope="module")
def cpython_transcript():
    r = runner.run("cpython", CHECK, modules=MODULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("verdicts_check: done")
    return r.stdout


@pytest.mark.parametrize("port", ["wasm", "unix"])
def test_same_verdicts_under_micropython(port, cpython_transcript):
    reason = runner.missing(port)
    if reason:
        print("test_verdicts: SKIP: MicroPython " + port + " port unavailable: " + reason,
              file=sys.stderr)
        pytest.skip("MicroPython " + port + " port unavailable: " + reason)
    r = runner.run(port, CHECK, modules=MODULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == cpython_transcript


def test_flow_cut_keeps_an_answered_flow_and_every_kind():
    many = [samples.flow("udp", 500, replied=False, server="198.51.100.%d" % (i % 250))
            for i in range(400)]
    rare = [samples.flow("udp", 500, server="203.0.113.9"), samples.flow("udp", 4500),
            samples.flow("esp", replied=False)]
    kept = evidence._keep(many + rare)
    assert len(kept) == evidence.FLOWS_PER_KIND + 2       # 4 of udp 500, one each of the rest
    assert [(f["l4"], f["dport"], f["replied"]) for f in kept][:2] == [
        ("udp", 500, True), ("udp", 500, False)]
    assert ("udp", 4500) in [(f["l4"], f["dport"]) for f in kept]
    assert "esp" in [f["l4"] for f in kept]


@pytest.mark.parametrize("user_rules", [True, False])
def test_rule_scan_on_a_real_fw4_ruleset(netns, user_rules):
    """fw4's own drops and rejects (handle_reject's tcp reset, zone policies) are not
    reported; a user's fw4 rule against IKE or GRE is, by its chain and comment."""
    with open(os.path.join(HERE, "golden", "fw4-user-vpn-rules.nft")) as f:
        text = f.read()
    if not user_rules:
        text = "\n".join([x for x in text.split("\n") if "Block-" not in x])
    loaded = in_ns(netns, ["nft", "-f", "-"], stdin=text)
    assert loaded.returncode == 0, loaded.stderr
    items = json.loads(in_ns(netns, ["nft", "-j", "list", "ruleset"]).stdout)["nftables"]
    hits = rulescan.scan(items, {"addresses": [(4, 0xc0a80117)], "macs": []})
    if not user_rules:
        assert hits == {}
        return
    assert sorted(hits) == ["ipsec", "pptp"]
    ike, gre = hits["ipsec"], hits["pptp"]
    assert [(h["table"], h["chain"], h["hook"], h["verdict"]) for h in ike] == [
        ("inet fw4", "forward_lan", "forward", "reject")]
    assert ike[0]["rule"].startswith('udp dport 500 counter jump reject_to_wan comment '
                                     '"!fw4: Block-IKE-user" -> handle_reject: reject')
    assert [(h["chain"], h["verdict"]) for h in gre] == [("forward_lan", "drop")]
    assert 'comment "!fw4: Block-GRE-user"' in gre[0]["rule"]
