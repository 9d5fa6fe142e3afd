"""Hardening: generated hostile settings files, and faults injected around a live apply.

Fuzzing (hypothesis): every generated file either becomes a valid plan or a
SettingsError naming a field; never another exception. Every valid plan's
ruleset is then checked by the kernel (`nft -c`, batched in a namespace).

Fault injection uses wrapper scripts placed before the real tools in PATH
(labelled as such) around a real apply in the namespace lab.
"""

import json
import os
import stat
import threading

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from conftest import in_ns
from lab import lab_fixture  # noqa: F401
from vpn_passthrough import plan, ruleset, settings, uci, tablecomment
from vpn_passthrough.settings import SettingsError

HOSTILE = ["lan; flush ruleset", "br-lan\"; drop", "$(reboot)", "`id`", "a\\b", "eth0\n",
           "x" * 300, "*", "..", "@wan", "{ }", "'", '"', "#", ";", "\t", "ü", "\x00", "0x1f",
           "192.168.1.1/33", "::ffff:1.2.3.4", "fe80::1%eth0", "aa:bb:cc:dd:ee:ff:00",
           "10.0.0.0/8", "fd00::/7", "1.2.3.4", "AA-BB-CC-DD-EE-FF", "on", "off", "2", "-1"]
VALUES = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=24),
                   st.sampled_from(["0", "1", "lan", "wan", "br-lan", "eth1", "block", "allow",
                                    "pptp", "l2tp", "ipsec", "10.0.0.1", "fd00::1",
                                    "02:00:00:00:00:01"]))
OPTIONS = st.sampled_from(["enabled", "log", "ipv6", "lan_zone", "wan_zone", "lan_device",
                           "wan_device", "name", "mac", "ip", "action", "protocol", "bogus"])
SECTIONS = st.tuples(st.sampled_from(["globals", "protocol", "client", "zone", "x-y"]),
                     st.one_of(st.none(), st.sampled_from(["globals", "pptp", "l2tp", "ipsec",
                                                           "gre", "a b", "c1"])),
                     st.lists(st.tuples(st.sampled_from(["option", "list", "o", "l"]), OPTIONS,
                                        VALUES), max_size=6))


def quote(value):
    """Render a value in one of the quoting styles uci accepts (or a raw, maybe broken one)."""
    return st.sampled_from([uci.quote(value), '"' + value.replace("\\", "\\\\")
                            .replace('"', '\\"') + '"', value])


@st.composite
def config_files(draw):
    lines = []
    for stype, name, opts in draw(st.lists(SECTIONS, max_size=6)):
        lines.append("config " + stype + ((" " + draw(quote(name))) if name else ""))
        for kw, opt, value in opts:
            lines.append("\t" + kw + " " + opt + " " + draw(quote(value)))
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:cut]                            # a file truncated mid-write
    return text


RENDERED = []


def _one(text):
    try:
        s = settings.parse(text)
    except SettingsError as e:
        assert e.field.startswith("vpn-passthrough") and e.message
        return
    p = plan.build(s, ["br-lan"], ["wan0"], {"pptp": True})
    RENDERED.append(ruleset.render(p))


@hsettings(max_examples=10000, deadline=None, database=None,
           suppress_health_check=list(HealthCheck))
@given(st.one_of(config_files(), st.text(max_size=200)))
def _fuzz(text):
    _one(text)


def test_fuzzed_settings_give_a_plan_or_a_named_error(netns):
    RENDERED.clear()
    _fuzz()
    assert len(RENDERED) > 100, "the generator found too few valid files to mean anything"
    # The kernel checks every distinct valid ruleset; the files only differ in our table,
    # so many fit into one `nft -c` transaction.
    unique = sorted(set(RENDERED))
    for i in range(0, len(unique), 200):
        batch = "\n".join(unique[i:i + 200])
        r = in_ns(netns, ["nft", "-c", "-f", "-"], batch)
        assert r.returncode == 0, r.stderr[:2000]
    print("fuzz: %d valid rulesets (%d distinct) checked by nft -c" % (len(RENDERED), len(unique)))


def test_every_truncation_of_a_full_file_is_safe():
    with open(os.path.join(os.path.dirname(__file__), "golden", "..", "..", "README.md")) as f:
        readme = f.read()
    sample = readme.split("```\nconfig globals 'globals'")[1].split("```")[0]
    text = "config globals 'globals'" + sample
    assert settings.parse(text).clients              # the README example is valid
    for cut in range(len(text)):
        _one(text[:cut])


# ---------------------------------------------------------------- faults around a live apply

DEVICES = "config globals 'globals'\n\tlist lan_device 'br-lan'\n\tlist wan_device 'wan0'\n"


def write_config(tmp_path, name, pptp=1, l2tp=1):
    path = tmp_path / name
    path.write_text(DEVICES + "config protocol 'pptp'\n\toption enabled '%d'\n"
                    "config protocol 'l2tp'\n\toption enabled '%d'\n" % (pptp, l2tp))
    return str(path)


def wrapper_dir(tmp_path, tools, omit=()):
    """PATH of wrappers (fault injection) plus links to the real tools, minus `omit`."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for name in ("nft", "conntrack", "ip", "modprobe"):
        if name in omit or name in tools:
            continue
        for base in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
            if os.path.exists(os.path.join(base, name)):
                os.symlink(os.path.join(base, name), str(d / name))
                break
    for name, script in tools.items():
        f = d / name
        f.write_text("#!/bin/sh\n# fault injection wrapper (test only)\n" + script)
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return {"PATH": str(d) + ":/usr/bin:/bin"}


def live(lab):
    return lab.run("router", ["nft", "list", "table", "inet", "vpn_passthrough"],
                   check=False).stdout


@pytest.fixture(autouse=False)
def fresh(lab):
    lab.vpn(["stop"], "/nonexistent")
    yield
    lab.vpn(["stop"], "/nonexistent")


def test_nft_killed_mid_apply_keeps_the_previous_ruleset(lab, tmp_path, fresh):
    assert lab.vpn(["apply"], write_config(tmp_path, "a"))[0] == 0
    before = live(lab)
    real = "/usr/sbin/nft" if os.path.exists("/usr/sbin/nft") else "/sbin/nft"
    # Feed the real nft half the ruleset, then SIGKILL it.
    env = wrapper_dir(tmp_path, {"nft": 'if [ "$1" = "-f" ]; then\n'
                                 '  head -c 600 | { ' + real + ' "$@" & pid=$!; sleep 0.2; '
                                 'kill -9 $pid; wait $pid; }; exit 137\nfi\n'
                                 'exec ' + real + ' "$@"\n'})
    rc, out, err = lab.vpn(["apply"], write_config(tmp_path, "b", pptp=0, l2tp=0), env=env)
    assert rc == 1 and "previous one stays" in err, (rc, out, err)
    assert live(lab) == before


def test_modprobe_failing_is_not_fatal_when_the_kernel_has_the_helper(lab, tmp_path, fresh):
    # Where the host has no /lib/modules tree the product does not start modprobe at
    # all (nothing to load); the VM test runs the real modprobe on real modules.
    env = wrapper_dir(tmp_path, {"modprobe": 'echo "modprobe: FATAL: Module $1 not found" >&2\n'
                                             'exit 1\n'})
    path = write_config(tmp_path, "a")
    rc, out, err = lab.vpn(["apply"], path, env=env)
    assert rc == 0, err                               # helpers are built into this kernel
    st = json.loads(lab.vpn(["status", "--json"], path)[1])
    assert st["protocols"]["pptp"]["helper"] == "assigned"


def test_conntrack_missing_still_blocks_and_says_so(lab, tmp_path, fresh):
    env = wrapper_dir(tmp_path, {}, omit=("conntrack",))
    assert lab.vpn(["apply"], write_config(tmp_path, "a"), env=env)[0] == 0
    path = write_config(tmp_path, "b", l2tp=0)
    rc, out, err = lab.vpn(["apply"], path, env=env)
    assert rc == 0, err
    assert "goto l2tp_block" in live(lab)
    rc, out, err = lab.vpn(["check", "--json"], path, env=env)
    assert "conntrack_missing" in [f["id"] for f in json.loads(out)["findings"]]


def test_settings_file_vanishing_changes_nothing(lab, tmp_path, fresh):
    path = write_config(tmp_path, "a")
    assert lab.vpn(["apply"], path)[0] == 0
    before = live(lab)
    os.unlink(path)
    rc, out, err = lab.vpn(["apply"], path)
    assert rc == 1 and "cannot read" in err and "vpn-passthrough" in err
    assert live(lab) == before


def test_two_applies_at_once_leave_one_whole_ruleset(lab, tmp_path, fresh):
    a = write_config(tmp_path, "a")
    b = write_config(tmp_path, "b", pptp=0, l2tp=0)
    digests = set()
    for p in (a, b):
        text = lab.vpn(["render"], p)[1]
        digests.add(tablecomment.read_comment(text)[0])
    for round_ in range(4):
        results = [None, None]

        def go(i, path):
            results[i] = lab.vpn(["apply"], path)

        threads = [threading.Thread(target=go, args=(0, a)), threading.Thread(target=go, args=(1, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r[0] for r in results] == [0, 0], results
        text = live(lab)
        assert tablecomment.read_comment(text)[0] in digests
        assert text.count("table inet vpn_passthrough") == 1


def test_restart_reapplies_idempotently(lab, tmp_path, fresh):
    path = write_config(tmp_path, "a")
    assert lab.vpn(["apply"], path)[0] == 0
    lab.send_and_listen([("udp", 1701, lab.server_v4)], timeout=1.5)
    before = live(lab)
    rc, out, _ = lab.vpn(["apply"], path)            # what a restarted service does first
    assert rc == 0 and out.startswith("unchanged")
    assert live(lab) == before                       # counters included
    assert "packets 3" in before


def _logging_wrappers(tmp_path, log):
    """Wrappers around the real ip and conntrack that note each call in `log`."""
    tools = {}
    for name in ("ip", "conntrack"):
        real = [os.path.join(b, name) for b in ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
                if os.path.exists(os.path.join(b, name))][0]
        tools[name] = 'echo "%s $*" >> %s\nexec %s "$@"\n' % (name, log, real)
    return wrapper_dir(tmp_path, tools)


def test_a_protocol_switch_starts_conntrack_once_and_ip_only_for_a_flow(lab, tmp_path, fresh):
    log = tmp_path / "calls"
    env = _logging_wrappers(tmp_path, log)
    lab.conntrack(["-F"], check=False)              # no flow left by an earlier test
    assert lab.vpn(["apply"], write_config(tmp_path, "on"), env=env)[0] == 0
    # no VPN flow: one conntrack dump (both families), no ip
    log.write_text("")
    assert lab.vpn(["apply"], write_config(tmp_path, "pptp-off", pptp=0), env=env)[0] == 0
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["conntrack"], calls
    # an L2TP flow from a LAN host: the cut asks ip for the addresses, once
    lab.send_and_listen([("udp", 1701, lab.server_v4)], timeout=1.5)
    log.write_text("")
    rc, out, err = lab.vpn(["apply"], write_config(tmp_path, "l2tp-off", pptp=0, l2tp=0),
                           env=env)
    assert rc == 0, err
    assert out.startswith("applied (1 flows cut)"), out
    calls = [" ".join(c.split()[:2]) for c in log.read_text().splitlines()]
    calls = [c for c in calls if c != "conntrack -D"]       # the cut itself
    assert sorted(calls) in (["conntrack -L", "ip -o"],
                             ["conntrack -L", "ip -o", "ip neigh"]), calls
