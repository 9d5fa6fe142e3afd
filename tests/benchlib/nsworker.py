"""Timing loops that run INSIDE the lab's router namespace (started by tests/bench.py with
`ip netns exec <router> python3 nsworker.py MODE SPEC.json`), so that no `ip netns exec`
overhead lands in either side of a comparison. Prints one JSON object on stdout;
progress goes to stderr.

Modes:
  apply    a protocol switch (PPTP on <-> off), interleaved 0 1 2 2 1 0 ...: the CLI's
           `vpn-passthrough apply` (product), its floor (`python3 -c pass` + `nft -f -` of
           the very same ruleset, + one `conntrack -L` where the apply must cut flows) and
           the resident service's `set` of the switch (Service.set() in this running
           interpreter, what `ubus call vpn-passthrough set` runs). Before each timed run
           the table is reset (untimed, raw `nft -f`) to the other state, so each run is the
           switch. Then one in-process apply per state with every process it starts timed.
  toggle   during one running TCP stream (started by the caller), switches our loaded table
           between active and dormant every `segment` seconds in the order A D D A A D D A
           ... (one netlink message each, the table's flags read back after every one) and
           reads the router's WAN device tx bytes (/proc/net/dev, this namespace's) around
           every switch.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

TABLE = "vpn_passthrough"
CONNTRACK_DUMP = ["conntrack", "-L", "-o", "ktimestamp"]     # as kernel.conntrack_text


def log(*words):
    sys.stderr.write(" ".join(str(w) for w in words) + "\n")
    sys.stderr.flush()


def live_digest():
    out = subprocess.run(["nft", "-t", "list", "table", "inet", TABLE],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('comment "vpn-passthrough '):
            return line.split()[2]
    return None


def load(text):
    p = subprocess.run(["nft", "-f", "-"], input=text, text=True, capture_output=True)
    if p.returncode != 0:
        raise SystemExit("nft -f failed: " + p.stderr[-500:])


def run_product(spec, config, env):
    t0 = time.perf_counter()
    p = subprocess.run([spec["python"], "-m", "vpn_passthrough", "--config", config, "apply"],
                       env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0 or not p.stdout.startswith("applied"):
        raise SystemExit("apply was not a real change: rc=%s out=%r err=%r"
                         % (p.returncode, p.stdout, p.stderr[-500:]))
    return dt


def run_floor(spec, text, env, cut):
    t0 = time.perf_counter()
    a = subprocess.run([spec["python"], "-c", "pass"], env=env)
    load(text)
    if cut:
        subprocess.run(CONNTRACK_DUMP, capture_output=True)
    dt = time.perf_counter() - t0
    if a.returncode != 0:
        raise SystemExit("floor: python3 -c pass failed")
    return dt


def run_resident(service, config, on):
    """The resident service's switch (what `ubus call vpn-passthrough set` runs): in this
    already-running interpreter, no start-up and no imports; it writes its settings file
    and applies."""
    t0 = time.perf_counter()
    result = service.Service(config).set({"pptp": on})
    dt = time.perf_counter() - t0
    if not result["changed"]:
        raise SystemExit("resident set was not a real change")
    return dt


def abba(n):
    """Kinds 0/1 in the order 0 1 1 0 0 1 1 0 ... (2n slots, n of each)."""
    return [(0 if i % 4 in (0, 3) else 1) for i in range(2 * n)]


def pattern(n):
    """Kinds 0 (apply), 1 (floor), 2 (resident) as 0 1 2 2 1 0 0 1 2 2 1 0 ...: each kind
    equally often early and late; at least n of each."""
    return [0, 1, 2, 2, 1, 0] * ((n + 1) // 2)


def processes(spec, service, platform, rulesets):
    """One in-process apply to each state, from the other: [(process, seconds)] each, and
    the seconds of the whole apply."""
    calls = []
    real_run = platform.run

    def timed_run(argv, *a, **kw):
        t = time.perf_counter()
        r = real_run(argv, *a, **kw)
        calls.append((" ".join(argv[:2]), time.perf_counter() - t))
        return r
    out = []
    platform.run = timed_run
    try:
        for which in (0, 1):
            load(rulesets[1 - which])
            del calls[:]
            t = time.perf_counter()
            service.Service(spec["configs"][which]).apply()
            out.append({"total": time.perf_counter() - t, "calls": list(calls)})
    finally:
        platform.run = real_run
    return out


def mode_apply(spec):
    configs, digests, cuts = spec["configs"], spec["digests"], spec["cuts"]
    rulesets = []
    for path in spec["rulesets"]:
        with open(path) as f:
            rulesets.append(f.read())
    env = dict(os.environ, PYTHONPATH=spec["src"])
    sys.path.insert(0, spec["src"])
    from vpn_passthrough import platform, service
    resident = spec["resident"]
    shutil.copy(configs[0], resident)
    times = ([], [], [])
    names = ("apply", "floor", "resident")
    # the first 6 slots warm up (page cache) and are not kept
    for slot, kind in enumerate([0, 1, 2, 2, 1, 0] + pattern(spec["n"])):
        which = slot % 2                        # 0: PPTP on, 1: PPTP off
        if slot == 6:
            times = ([], [], [])
        load(rulesets[1 - which])               # from the other state: each run is the switch
        if kind == 0:
            times[0].append(run_product(spec, configs[which], env))
        elif kind == 1:
            times[1].append(run_floor(spec, rulesets[which], env, cuts[which]))
        else:
            times[2].append(run_resident(service, resident, which == 0))
        got = live_digest()
        if got != digests[which]:
            raise SystemExit("live table %s is not the rendered %s" % (got, digests[which]))
        log("    %s %s %.1f ms" % (spec["label"], names[kind], 1000 * times[kind][-1]))
    return {"apply": times[0], "floor": times[1], "resident": times[2],
            "processes": processes(spec, service, platform, rulesets)}


def tx_bytes(device):
    """Transmitted bytes of `device` in this network namespace (/proc/net/dev)."""
    with open("/proc/net/dev") as f:
        for line in f:
            name, sep, rest = line.partition(":")
            if sep and name.strip() == device:
                return int(rest.split()[8])
    raise SystemExit("toggle: no device %s in /proc/net/dev" % device)


# nf_tables over netlink, for the toggle mode: switching the dormant flag with `nft` costs a
# process start (and with a 10,000-client table much more when nft must echo), one
# netlink message much less. Messages and attributes are built by the
# product's read-only nfnetlink module; what only this writer needs is here.
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NLM_F_ACK = 4
NFTA_TABLE_FLAGS, NFTA_TABLE_HANDLE = 2, 4
NFT_TABLE_F_DORMANT = 1


class Table:
    """Our table in this namespace's nf_tables: its flags and handle (NFT_MSG_GETTABLE),
    and the dormant switch: NFT_MSG_NEWTABLE of the existing table with NFTA_TABLE_FLAGS
    dormant or 0 in one batch, the message `nft add table inet NAME { flags dormant; }` /
    `nft add table inet NAME` sends."""

    def __init__(self, src, name=TABLE):
        sys.path.insert(0, src)
        from vpn_passthrough import nfnetlink
        self.nl = nfnetlink
        self.family = nfnetlink.FAMILIES["inet"]
        self.name = name.encode() + b"\0"
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, nfnetlink.NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.settimeout(5)
        self.seq = 0

    def _tables(self, msg):
        return (self.nl.NFNL_SUBSYS_NFTABLES << 8) | msg

    def _answer(self, seq):
        data = self.sock.recv(65536)
        length, kind, _, got = struct.unpack_from("=IHHI", data, 0)
        if got != seq:
            raise SystemExit("toggle: netlink answer for request %d, not %d" % (got, seq))
        if kind == self.nl.NLMSG_ERROR:
            error = -struct.unpack_from("=i", data, 16)[0]
            if error:
                raise SystemExit("toggle: nf_tables refused: %s" % os.strerror(error))
            return None
        return self.nl._attrs(data[20:length])

    def state(self):
        """(flags, handle) of the table as the kernel has it now."""
        nl = self.nl
        self.seq += 1
        self.sock.send(nl.message(self._tables(nl.NFT_MSG_GETTABLE), nl.NLM_F_REQUEST,
                                  self.family, nl._attr(nl.NFTA_TABLE_NAME, self.name),
                                  seq=self.seq))
        attrs = self._answer(self.seq)
        if not attrs or attrs.get(nl.NFTA_TABLE_NAME) != self.name:
            raise SystemExit("toggle: no table inet %s" % self.name[:-1].decode())
        return (struct.unpack("!I", attrs[NFTA_TABLE_FLAGS])[0],
                struct.unpack("!Q", attrs[NFTA_TABLE_HANDLE])[0])

    def set_dormant(self, dormant):
        """One batch (begin, NEWTABLE with the flags, end); waits for the kernel's ACK of
        the NEWTABLE message, i.e. until the batch is committed."""
        nl = self.nl
        self.seq += 3
        seq = self.seq
        flags = struct.pack("!I", NFT_TABLE_F_DORMANT if dormant else 0)
        subsys = nl.NFNL_SUBSYS_NFTABLES
        self.sock.send(
            nl.message(NFNL_MSG_BATCH_BEGIN, nl.NLM_F_REQUEST, 0, seq=seq - 2, res_id=subsys)
            + nl.message(self._tables(nl.NFT_MSG_NEWTABLE), nl.NLM_F_REQUEST | NLM_F_ACK,
                         self.family, nl._attr(nl.NFTA_TABLE_NAME, self.name)
                         + nl._attr(NFTA_TABLE_FLAGS, flags), seq=seq - 1)
            + nl.message(NFNL_MSG_BATCH_END, nl.NLM_F_REQUEST, 0, seq=seq, res_id=subsys))
        self._answer(seq - 1)


def mode_toggle(spec):
    """One stream, our table switched active (0) / dormant (1) in slots of `segment`
    seconds, order 0 1 1 0 0 1 1 0 ..., until the clock (time.perf_counter, CLOCK_MONOTONIC:
    the same for the caller) reaches `until`, a little before the stream ends. Every slot
    begins with the same work: one switch message (a real change, or re-asserting the state
    the table already has; each state gets as many of both) and one read-back of the
    table's flags, which must be the asked ones on the same table handle. A segment's bytes
    and seconds are counted from the end of its own switch to the start of the next one."""
    seg, until, device = spec["segment"], spec["until"], spec["device"]
    avoid = spec.get("avoid_cpu")
    if avoid is not None and hasattr(os, "sched_setaffinity"):   # off the stream's CPU
        os.sched_setaffinity(0, set(range(os.cpu_count())) - set([avoid]))
    kinds = abba(int((until - time.perf_counter()) / seg) // 2 + 1)
    table = Table(spec["src"], spec.get("table", TABLE))
    flags, handle = table.state()
    if flags & NFT_TABLE_F_DORMANT:
        raise SystemExit("toggle: the table was dormant at the start")
    for kind in (1, 0):                         # a round trip, each state read back
        table.set_dormant(kind)
        if table.state() != (NFT_TABLE_F_DORMANT if kind else 0, handle):
            raise SystemExit("toggle: the dormant flag did not %s" % ("clear", "set")[kind])
    # wait for the stream (the caller started it just before this worker)
    deadline = time.perf_counter() + spec.get("wait", 10.0)
    last = tx_bytes(device)
    while True:
        time.sleep(0.05)
        now = tx_bytes(device)
        if now - last > 1000000:
            break
        last = now
        if time.perf_counter() > deadline:
            raise SystemExit("toggle: no stream on %s" % device)
    segments = []
    state = 0
    t_next = t0 = time.perf_counter()
    for kind in kinds:
        if t_next + seg > until:
            break
        delay = t_next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t_a, b_a = time.perf_counter(), tx_bytes(device)
        if segments:
            segments[-1]["seconds"] = t_a - segments[-1].pop("t")
            segments[-1]["bytes"] = b_a - segments[-1].pop("b")
        table.set_dormant(kind)
        got = table.state()
        if got != (NFT_TABLE_F_DORMANT if kind else 0, handle):
            raise SystemExit("toggle: asked for %s after %s, the kernel has flags %d, handle "
                             "%d (table handle %d)" % ("dormant" if kind else "active",
                                                       "dormant" if state else "active",
                                                       got[0], got[1], handle))
        t_b, b_b = time.perf_counter(), tx_bytes(device)
        segments.append({"state": "dormant" if kind else "active", "start": t_b - t0,
                         "switch": t_b - t_a, "switched": kind != state, "t": t_b, "b": b_b})
        state = kind
        t_next += seg
    t_a, b_a = time.perf_counter(), tx_bytes(device)
    segments[-1]["seconds"] = t_a - segments[-1].pop("t")
    segments[-1]["bytes"] = b_a - segments[-1].pop("b")
    table.set_dormant(False)
    if table.state() != (0, handle):
        raise SystemExit("toggle: the table did not wake up at the end")
    log("    %s: %d segments of %.2f s, %d switches, each read back from the kernel"
        % (spec["label"], len(segments), seg, sum(s["switched"] for s in segments)))
    return {"segments": segments, "handle": handle}


def main(argv):
    mode, path = argv
    with open(path) as f:
        spec = json.load(f)
    out = {"apply": mode_apply, "toggle": mode_toggle}[mode](spec)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
