"""Timing loops that run INSIDE the lab's router namespace (started by tests/bench.py with
`ip netns exec <router> python3 nsworker.py MODE SPEC.json`), so that no `ip netns exec`
overhead lands in either side of a comparison. Prints one JSON object on stdout;
progress goes to stderr.

Modes:
  apply    interleaved (0 1 2 2 1 0 ...): `vpn-passthrough apply` (product), its floor
           (`python3 -c pass` + `nft -f -` of the very same ruleset) and the resident
           service's apply (Service.apply() in this running interpreter, as a ubus
           `reload` does it); configs alternate A, B, A, B ... over the whole sequence,
           so every run is a real change.
  startup  ABBA-interleaved: `vpn-passthrough serve` (the resident service, with the
           python3-ubus stand-in) against `vpn-passthrough apply`; each measured from
           process start to the moment `nft monitor` reports our table added (rules live).
  profile  in-process: Service.apply() with every subprocess timed (where the time goes).
"""

import json
import os
import subprocess
import sys
import threading
import time

TABLE = "vpn_passthrough"


def log(*words):
    sys.stderr.write(" ".join(str(w) for w in words) + "\n")
    sys.stderr.flush()


def abba(n):
    """Kinds 0/1 in the order 0 1 1 0 0 1 1 0 ... (2n slots, n of each)."""
    return [(0 if i % 4 in (0, 3) else 1) for i in range(2 * n)]


def product_argv(spec, config, command):
    return [spec["python"], "-m", "vpn_passthrough", "--config", config, command]


def product_env(spec, standins=False):
    env = dict(os.environ)
    env["PYTHONPATH"] = (spec["standins"] + ":" if standins else "") + spec["src"]
    return env


def live_digest():
    out = subprocess.run(["nft", "-t", "list", "table", "inet", TABLE],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('comment "vpn-passthrough '):
            return line.split()[2]
    return None


def run_product(spec, config, env):
    t0 = time.perf_counter()
    p = subprocess.run(product_argv(spec, config, "apply"), env=env, capture_output=True,
                       text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0 or not p.stdout.startswith("applied"):
        raise SystemExit("apply was not a real change: rc=%s out=%r err=%r"
                         % (p.returncode, p.stdout, p.stderr[-500:]))
    return dt


def run_floor(spec, text, env):
    t0 = time.perf_counter()
    a = subprocess.run([spec["python"], "-c", "pass"], env=env)
    b = subprocess.run(["nft", "-f", "-"], input=text, text=True, capture_output=True)
    dt = time.perf_counter() - t0
    if a.returncode != 0 or b.returncode != 0:
        raise SystemExit("floor failed: " + b.stderr[-500:])
    return dt


def run_resident(service, config):
    """The resident service's apply (what `ubus call vpn-passthrough reload` runs):
    in this already-running interpreter, no start-up and no imports."""
    t0 = time.perf_counter()
    result = service.Service(config).apply()
    dt = time.perf_counter() - t0
    if not result["changed"]:
        raise SystemExit("resident apply was not a real change")
    return dt


def pattern(n):
    """Kinds 0 (apply), 1 (floor), 2 (resident) as 0 1 2 2 1 0 0 1 2 2 1 0 ...: each kind
    equally often early and late; at least n of each."""
    return [0, 1, 2, 2, 1, 0] * ((n + 1) // 2)


def mode_apply(spec):
    configs, rulesets, digests = spec["configs"], [], spec["digests"]
    for path in spec["rulesets"]:
        with open(path) as f:
            rulesets.append(f.read())
    env = product_env(spec)
    sys.path.insert(0, spec["src"])
    from vpn_passthrough import service
    subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True)
    times = ([], [], [])
    names = ("apply", "floor", "resident")
    # the first 6 slots warm up (page cache, __pycache__) and are not kept
    for slot, kind in enumerate([0, 1, 2, 2, 1, 0] + pattern(spec["n"])):
        which = slot % 2                        # A B A B ...: each run changes the table
        if slot == 6:
            times = ([], [], [])
        if kind == 0:
            times[0].append(run_product(spec, configs[which], env))
        elif kind == 1:
            times[1].append(run_floor(spec, rulesets[which], env))
        else:
            times[2].append(run_resident(service, configs[which]))
        if kind != 1:
            got = live_digest()
            if got != digests[which]:
                raise SystemExit("live table %s is not the rendered %s" % (got, digests[which]))
        log("    %s %s %.1f ms" % (spec["label"], names[kind], 1000 * times[kind][-1]))
    return {"apply": times[0], "floor": times[1], "resident": times[2]}


class Monitor:
    """`nft monitor new tables` in this namespace; records when our table is added."""

    def __init__(self):
        self.proc = subprocess.Popen(["stdbuf", "-oL", "nft", "monitor", "new", "tables"],
                                     stdout=subprocess.PIPE, text=True)
        self.events = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)                         # let it subscribe

    def _read(self):
        for line in self.proc.stdout:
            now = time.perf_counter()
            if "table inet " + TABLE in line and line.startswith("add "):
                with self.cond:
                    self.events.append(now)
                    self.cond.notify_all()

    def wait_after(self, t0, timeout=60):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for t in self.events:
                    if t > t0:
                        return t
                left = deadline - time.time()
                if left <= 0:
                    raise SystemExit("no 'add table' event from nft monitor")
                self.cond.wait(left)

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def mode_startup(spec):
    configs = spec["configs"]
    mon = Monitor()
    envs = (product_env(spec, standins=True), product_env(spec))
    commands = ("serve", "apply")
    subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True)

    def one(kind, config):
        t0 = time.perf_counter()
        p = subprocess.Popen(product_argv(spec, config, commands[kind]), env=envs[kind],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        live = mon.wait_after(t0)
        out, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit("%s failed: rc=%s %s" % (commands[kind], p.returncode, err[-500:]))
        return live - t0

    try:
        for i in range(2):
            one(i % 2, configs[i % 2])
        times = ([], [])
        for slot, kind in enumerate(abba(spec["n"])):
            times[kind].append(one(kind, configs[slot % 2]))
            log("    start-up %s %.1f ms" % (commands[kind], 1000 * times[kind][-1]))
    finally:
        mon.close()
    return {"serve": times[0], "apply": times[1]}


def mode_profile(spec):
    """Where the time of one apply goes: each subprocess timed, the rest is Python."""
    sys.path.insert(0, spec["src"])
    t0 = time.perf_counter()
    from vpn_passthrough import platform, service
    t_import = time.perf_counter() - t0
    calls = []
    real_run = platform.run

    def timed_run(argv, *a, **kw):
        t = time.perf_counter()
        r = real_run(argv, *a, **kw)
        calls.append((" ".join(argv[:3]), time.perf_counter() - t))
        return r
    platform.run = timed_run
    subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True)
    runs = []
    for i in range(spec["n"] + 1):
        del calls[:]
        t = time.perf_counter()
        result = service.Service(spec["configs"][i % 2]).apply()
        total = time.perf_counter() - t
        if not result["changed"]:
            raise SystemExit("profile: apply was not a real change")
        if i:
            runs.append({"total": total, "calls": list(calls)})
    return {"import": t_import, "runs": runs}


def main(argv):
    mode, path = argv
    with open(path) as f:
        spec = json.load(f)
    out = {"apply": mode_apply, "startup": mode_startup, "profile": mode_profile}[mode](spec)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
