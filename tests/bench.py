"""`make bench`: the goals of BENCHMARKS.md, each a ratio measured side by side in one run.

    python3 tests/bench.py [--quick] [--only apply,compile,memory,iperf,ipk] [--src DIR]

--quick takes fewer runs and shorter streams; --only runs some parts (and writes nothing);
--src measures another copy of the package (e.g. a candidate change) instead of src/.

This machine is shared and noisy, so every figure that matters is a RATIO of two things
measured interleaved (A B B A ...) in the same run, never an absolute time. Everything runs
in the namespace lab of tests/lab.py (lan1, lan2 -> router with br-lan, wan0 and a
masquerading fw4 stand-in -> wan); no packet leaves those namespaces. BENCHMARKS.md says
how each figure is measured; this script rewrites its results block (between the
markers) unless --no-write, --quick or --only.
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
import tarfile
import tempfile
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
SIZES = [("defaults", 0), ("100 clients", 100), ("1,000 clients", 1000)]
GOAL_SWITCH = 1.2           # CLI protocol switch / its floor
GOAL_RESIDENT = 1.0         # the resident service's switch / the CLI floor
GOAL_THROUGHPUT = 0.98
GOAL_RSS = 1.3
GOAL_IPK = 40 * 1024
STREAMS = {1: "one", 2: "two"}
MARK_BEGIN = "<!-- bench results: written by tests/bench.py -->"
MARK_END = "<!-- end of bench results -->"
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


class Bench:
    def __init__(self, lab, workdir, quick):
        self.lab = lab
        self.dir = workdir
        self.quick = quick
        self.sets = {}          # clients -> {"configs": [on, off], "rulesets", "digests", "cuts"}

    def prepare(self, clients):
        """The two settings files of a size (PPTP on, off), their rendered rulesets and
        digests, and whether applying each (from the other) cuts flows."""
        if clients in self.sets:
            return self.sets[clients]
        paths = configs.write(self.dir, clients)
        rulesets, digests, cuts = [], [], []
        sys.path.insert(0, SRC)
        from vpn_passthrough import plan, settings
        for path in paths:
            r = sh([PY, "-m", "vpn_passthrough", "--config", path, "render"],
                   env=dict(os.environ, PYTHONPATH=SRC))
            if r.returncode != 0:
                raise SystemExit("render failed: " + r.stderr)
            with open(path + ".nft", "w") as f:
                f.write(r.stdout)
            rulesets.append(path + ".nft")
            digests.append(digest_of(r.stdout))
            with open(path) as f:
                s = settings.parse(f.read())
            # the policy changes with every switch: apply cuts flows if anything is blocked
            cuts.append(plan.blocks_any(plan.build(s, s.lan_devices, s.wan_devices, {})))
        self.sets[clients] = {"configs": paths, "rulesets": rulesets, "digests": digests,
                              "cuts": cuts}
        return self.sets[clients]

    def worker(self, mode, clients, n, label, timeout=1200, extra=None):
        spec = dict(self.prepare(clients), python=PY, src=SRC, standins=STANDINS, n=n,
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
        """Put the rendered ruleset (PPTP on) of a size live (raw nft -f), or none (None)."""
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


# --------------------------------------------------------------------------- 1: switch

def bench_apply(b, results):
    out = []
    for label, clients in SIZES:
        n = 7 if b.quick else 15       # -> 8 or 16 runs of each
        say("protocol switch, %s (CLI apply, floor, resident set interleaved)" % label)
        resident = os.path.join(b.dir, "resident-%d" % clients, "vpn-passthrough")
        os.makedirs(os.path.dirname(resident), exist_ok=True)
        r = b.worker("apply", clients, n, label, extra={"resident": resident})
        # each run is paired with the floor run next to it (0 1 2 2 1 0 order): the median
        # of the pair ratios cancels the machine's drift, the quartiles show the noise
        pairs = [a / f for a, f in zip(r["apply"], r["floor"])]
        resident = [a / f for a, f in zip(r["resident"], r["floor"])]
        row = {"label": label, "clients": clients, "n": len(r["apply"]),
               "cuts": b.prepare(clients)["cuts"], "processes": r["processes"],
               "apply": median(r["apply"]), "floor": median(r["floor"]),
               "resident": median(r["resident"]),
               "apply_all": r["apply"], "floor_all": r["floor"], "resident_all": r["resident"],
               "ratio": median(pairs), "q1": quantile(pairs, 0.25), "q3": quantile(pairs, 0.75),
               "resident_ratio": median(resident), "resident_q3": quantile(resident, 0.75)}
        say("  -> apply %s, floor %s, ratio %.2f (quartiles %.2f - %.2f); resident set %s, "
            "ratio %.2f" % (ms(row["apply"]), ms(row["floor"]), row["ratio"], row["q1"],
                            row["q3"], ms(row["resident"]), row["resident_ratio"]))
        out.append(row)
    results["apply"] = out


def _process_list(run):
    """'nft -f 21 ms, conntrack -L 3.1 ms' of one in-process apply."""
    return ", ".join("`%s` %s" % (name, ms(dt)) for name, dt in run["calls"]) or "none"


# --------------------------------------------------------------------------- 2: compile

def bench_compile(results):
    """Modules a CLI call of the installed package compiles: the service ipk unpacked,
    `render` run from it as OpenWrt's Python runs it (it writes no bytecode), `python3 -v`
    saying for each module whether its code came from bytecode or was compiled."""
    ipks = sorted(glob.glob(os.path.join(ROOT, "dist", "vpn-passthrough_*.ipk")))
    if not ipks:
        results["compile"] = {"error": "no dist/vpn-passthrough_*.ipk (make ipk)"}
        return
    root = tempfile.mkdtemp(prefix="vpbench-ipk-")
    try:
        with tarfile.open(ipks[-1]) as outer:
            data = [m for m in outer.getmembers() if m.name.endswith("data.tar.gz")]
            with tarfile.open(fileobj=outer.extractfile(data[0])) as inner:
                inner.extractall(root)
        found = [d for d, _, files in os.walk(root) if os.path.basename(d) == "vpn_passthrough"]
        if not found:
            results["compile"] = {"error": "no vpn_passthrough package in " + ipks[-1]}
            return
        config = os.path.join(root, "vpn-passthrough")
        with open(config, "w") as f:
            f.write(configs.HEAD.format(pptp=1))
        env = dict(os.environ, PYTHONPATH=os.path.dirname(found[0]), PYTHONDONTWRITEBYTECODE="1")
        r = sh([PY, "-v", "-m", "vpn_passthrough", "--config", config, "render"], env=env)
        if r.returncode != 0:
            results["compile"] = {"error": "render from the ipk failed: " + r.stderr[-300:]}
            return
        loaded = re.findall(r"^# code object from '?([^'\n]*vpn_passthrough[^'\n]*)'?$",
                            r.stderr, re.M)
        compiled = [os.path.basename(p) for p in loaded if p.endswith(".py")]
        results["compile"] = {"ipk": os.path.basename(ipks[-1]), "modules": len(loaded),
                              "compiled": compiled}
        say("compile: %d of %d modules compiled from source" % (len(compiled), len(loaded)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- 3: data plane

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
    results["memory"] = out


# --------------------------------------------------------------------------- 5: package size

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


# --------------------------------------------------------------------------- report

def verdict(ok):
    return "met" if ok else "**MISSED**"


def report(results):
    lines = ["| measure | result | ratio | goal |", "| --- | --- | --- | --- |"]
    add = lines.append
    for row in results.get("apply", []):
        floor = "floor" + (" (with one conntrack dump)" if any(row["cuts"]) else "")
        add("| protocol switch by the CLI, %s (%d each) | `apply` %s vs %s %s; pair ratios: "
            "quartiles %.2f – %.2f | %.2f | ≤ %.1f: %s |"
            % (row["label"], row["n"], ms(row["apply"]), floor, ms(row["floor"]), row["q1"],
               row["q3"], row["ratio"], GOAL_SWITCH, verdict(row["ratio"] <= GOAL_SWITCH)))
    for row in results.get("apply", []):
        add("| protocol switch by the resident service (`Service.set`, in process), %s | %s vs "
            "CLI floor %s | %.2f | ≤ %.1f: %s |"
            % (row["label"], ms(row["resident"]), ms(row["floor"]), row["resident_ratio"],
               GOAL_RESIDENT, verdict(row["resident_ratio"] <= GOAL_RESIDENT)))
    comp = results.get("compile")
    if comp and "error" in comp:
        add("| modules a CLI call of the installed package compiles | not measured: %s | | "
            "0: **MISSED** |" % comp["error"])
    elif comp:
        add("| modules a CLI call of the installed package compiles (`%s`) | %d of %d%s | | "
            "0: %s |" % (comp["ipk"], len(comp["compiled"]), comp["modules"],
                         (": " + ", ".join(comp["compiled"])) if comp["compiled"] else "",
                         verdict(not comp["compiled"])))
    mem = results.get("memory", {})
    if "error" in mem:
        add("| VmRSS, service idle | not measured: %s | | ≤ %.1f×: **MISSED** |"
            % (mem["error"], GOAL_RSS))
    elif mem:
        add("| VmRSS, service idle after %d ubus calls (stand-in) vs bare python3 sleeping"
            " | %d kB vs %d kB | %.2f | ≤ %.1f×: %s |"
            % (mem["calls"], mem["service"], mem["bare"], mem["ratio"], GOAL_RSS,
               verdict(mem["ratio"] <= GOAL_RSS)))
    ip = results.get("iperf", {})
    if "error" in ip:
        add("| non-VPN TCP throughput | not measured: %s | | ≥ %.2f: **MISSED** |"
            % (ip["error"], GOAL_THROUGHPUT))
    for v in ip.get("variants", []):
        add("| non-VPN TCP throughput lan1 → wan, %s: table active vs dormant (= no table), "
            "%s %d s stream%s, %d pairs | %.2f vs %.2f Gbit/s; pair ratios: quartiles %.3f – "
            "%.3f; 95 %% CI of the median %.3f – %.3f | %.3f | %s |"
            % (v["name"], STREAMS.get(ip.get("streams", 1), ip.get("streams")), ip["seconds"],
               "s" if ip.get("streams", 1) > 1 else "", v["pairs"], v["median_with"] / 1e9,
               v["median_without"] / 1e9, v["q1"], v["q3"], v["ci"][0], v["ci"][1], v["ratio"],
               "(method check: 1 expected)" if v.get("control") else
               "≥ %.2f: %s" % (GOAL_THROUGHPUT, verdict(v["ratio"] >= GOAL_THROUGHPUT))))
    ipk = results.get("ipk", {})
    for f in ipk.get("files", []):
        add("| %s package `%s` | %d bytes (%.1f KiB) | | %s |"
            % ("LuCI" if f["luci"] else "service", f["name"], f["bytes"], f["bytes"] / 1024.0,
               "report" if f["luci"] else "≤ 40 KiB: " + verdict(f["bytes"] <= GOAL_IPK)))
    if ipk and not ipk.get("files"):
        add("| service package | not measured: %s | | ≤ 40 KiB: **MISSED** |"
            % (ipk.get("note") or "no dist/vpn-passthrough_*.ipk"))
    return "\n".join(lines)


def explanations(results):
    """The 'why' of every goal missed, from this run's own measurements."""
    out = []
    for row in results.get("apply", []):
        goals = [("the CLI's switch", row["ratio"], GOAL_SWITCH, row["apply"]),
                 ("the resident service's switch", row["resident_ratio"], GOAL_RESIDENT,
                  row["resident"])]
        for who, ratio, goal, took in goals:
            if ratio <= goal:
                continue
            runs = row["processes"]
            out.append("**%s, %s: %.2f against ≤ %.1f.** It took %s against the floor's %s. "
                       "Processes it started (one in-process apply to each state): to PPTP on "
                       "%s, to PPTP off %s; the rest of those applies (%s, %s) is Python."
                       % (who[0].upper() + who[1:], row["label"], ratio, goal, ms(took),
                          ms(row["floor"]), _process_list(runs[0]), _process_list(runs[1]),
                          ms(runs[0]["total"] - sum(dt for _, dt in runs[0]["calls"])),
                          ms(runs[1]["total"] - sum(dt for _, dt in runs[1]["calls"]))))
    comp = results.get("compile", {})
    if comp.get("compiled"):
        out.append("**A CLI call compiles %d modules** (%s): the installed tree holds no "
                   "bytecode the interpreter accepts for them." % (len(comp["compiled"]),
                                                                  ", ".join(comp["compiled"])))
    ip = results.get("iperf", {})
    for v in ip.get("variants", []):
        if v["ratio"] >= GOAL_THROUGHPUT or v.get("control"):
            continue
        lo, hi = v["ci"][:2]
        out.append("**Throughput goal (≥ %.2f) missed** with %s: median pair ratio %.3f over "
                   "%d pairs (95 %% interval of the median %.3f – %.3f). %s"
                   % (GOAL_THROUGHPUT, v["name"], v["ratio"], v["pairs"], lo, hi,
                      "The interval reaches the goal: this run can neither show nor rule it "
                      "out." if hi >= GOAL_THROUGHPUT else
                      "Even the upper end of the interval is below the goal."))
    mem = results.get("memory", {})
    if mem and "error" not in mem and mem["ratio"] > GOAL_RSS:
        mods = mem.get("modules")
        out.append("**Memory goal (≤ %.1f×) missed**: the idle service holds %d kB against "
                   "%d kB for a bare interpreter%s." % (
                       GOAL_RSS, mem["service"], mem["bare"],
                       (": it loads %d modules where a bare interpreter has %d"
                        % (mods[1], mods[0])) if mods else ""))
    for f in results.get("ipk", {}).get("files", []):
        if not f["luci"] and f["bytes"] > GOAL_IPK:
            out.append("**Package size goal missed**: %s is %d bytes." % (f["name"], f["bytes"]))
    return "\n\n".join(out)


def close_calls(results):
    """Goals met by the median whose spread in this run still reaches across the line."""
    out = []
    for r in results.get("apply", []):
        if r["ratio"] <= GOAL_SWITCH < r["q3"]:
            out.append("* CLI switch, %s: the median pair ratio %.2f meets the goal, but the "
                       "upper quartile is %.2f." % (r["label"], r["ratio"], r["q3"]))
    for v in results.get("iperf", {}).get("variants", []):
        lo = v.get("ci", (float("nan"),))[0]
        if v["ratio"] >= GOAL_THROUGHPUT > lo and not v.get("control"):
            out.append("* Throughput, %s: the median pair ratio %.3f meets the goal, but the "
                       "95 %% interval of the median reaches down to %.3f."
                       % (v["name"], v["ratio"], lo))
    return "\n".join(out)


def results_block(results, table, why, elapsed, argv):
    m = results["machine"]
    text = [MARK_BEGIN, "",
            "Written by `make bench` (`python3 tests/bench.py%s`) on %s; the run took %.0f s."
            % ((" " + " ".join(argv)) if argv else "", m["date"], elapsed), "",
            "**Machine**: %s CPU(s), %s, %s RAM; %s, kernel %s; %s; %s; %s. Load average at "
            "the start %s, at the end %s." % (
                m["nproc"], m["cpu"], m["memory"], m["os"], m["kernel"], m["python"], m["nft"],
                m["iperf3"] or "iperf3 missing", m["load"], m.get("load_end", "?")), "",
            "### Results", "", table, "", "### Goals missed, and why", "",
            why or "None: every goal was met in this run.", ""]
    close = close_calls(results)
    if close:
        text += ["### Close calls", "", close, ""]
    text += ["### Raw figures of this run", ""]
    for row in results.get("apply", []):
        text.append("* switch, %s: apply %s; floor %s; resident %s (ms); processes to PPTP on: "
                    "%s; to PPTP off: %s" % (
                        row["label"], _list_ms(row["apply_all"]), _list_ms(row["floor_all"]),
                        _list_ms(row["resident_all"]), _process_list(row["processes"][0]),
                        _process_list(row["processes"][1])))
    ip = results.get("iperf", {})
    for v in ip.get("variants", []):
        text.append("* iperf3, %s: %d segments of %.2f s, %d pairs; deciles of the pair "
                    "ratios: %s; per stream %s; switch %.2f ms; L2TP probe counted active / "
                    "dormant: %s" % (
                        v["name"], v["segments"], ip["segment"], v["pairs"],
                        _deciles(v["ratios"], 1, "%.3f"),
                        ", ".join("%.3f" % x for x in v["per_stream"]), 1000 * v["switch"],
                        ", ".join("%s / %s" % (p["active"], p["dormant"]) for p in v["probe"])))
    mem = results.get("memory", {})
    if mem and "error" not in mem:
        text.append("* VmRSS service: %s kB; bare: %s kB"
                    % (", ".join(map(str, mem["service_all"])), ", ".join(map(str, mem["bare_all"]))))
    text += ["", MARK_END]
    return "\n".join(text)


def write_results(path, block):
    """Replace the results block of BENCHMARKS.md (goals and method stay as written)."""
    with open(path) as f:
        text = f.read()
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def _deciles(values, scale, fmt):
    return ", ".join(fmt % (scale * quantile(values, q / 10.0)) for q in range(11))


def _list_ms(values):
    return ", ".join("%.0f" % (1000 * v) for v in values)


# --------------------------------------------------------------------------- main

def main(argv):
    global SRC
    if "--src" in argv:
        SRC = os.path.abspath(argv[argv.index("--src") + 1])
    only = None
    if "--only" in argv:
        only = argv[argv.index("--only") + 1].split(",")
    quick = "--quick" in argv
    write = "--no-write" not in argv and only is None and not quick
    out = os.path.join(ROOT, "BENCHMARKS.md")
    reason = skip_reason()
    if reason:
        print("bench: " + reason, file=sys.stderr)
        return 1
    # As the installed package ships bytecode: every timed run imports it, whatever
    # PYTHONDONTWRITEBYTECODE says here (the compile part checks the real package).
    import compileall
    compileall.compile_dir(SRC, quiet=1)
    results = {"machine": machine()}
    say("machine: %(nproc)s CPU, %(cpu)s, kernel %(kernel)s, %(python)s, load %(load)s"
        % results["machine"])
    workdir = tempfile.mkdtemp(prefix="vpbench-")
    try:
        if only is None or "ipk" in only or "compile" in only:
            bench_ipk(results)
        if only is None or "compile" in only:
            bench_compile(results)
        with Lab() as lab:
            say("lab up: " + lab.names["router"])
            b = Bench(lab, workdir, quick)
            for name, fn in (("apply", bench_apply), ("memory", bench_memory),
                             ("iperf", bench_iperf)):
                if only is None or name in only:
                    fn(b, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    elapsed = time.time() - T0
    table = report(results)
    why = explanations(results)
    print("\n" + table + "\n")
    if why:
        print(why + "\n")
    say("done in %.0f s" % elapsed)
    if write:
        write_results(out, results_block(results, table, why, elapsed,
                                         [a for a in argv if a != "--no-write"]))
        say("wrote " + os.path.relpath(out, os.getcwd()))
    with open(workdir + ".json", "w") as f:
        json.dump(results, f, indent=1, default=str)
    say("raw results: " + workdir + ".json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
