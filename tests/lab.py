"""Network-namespace test lab for vpn-passthrough.

Topology (every namespace is private to one Lab instance; names carry the pid)::

    lan1 (eth0 10.77.1.10, fd77:1::10) --+
                                         +-- [router: br-lan 10.77.1.1, fd77:1::1]
    lan2 (eth0 10.77.1.11, fd77:1::11) --+          wan0 198.51.100.1, fd77:2::1
                                                     |
                                     wan (server: eth0 198.51.100.2, fd77:2::2)

* router: Linux bridge ``br-lan`` (ports ``lan1``/``lan2``, veths to the LAN hosts) as on
  OpenWrt, ``wan0`` veth to the server; IPv4 + IPv6 forwarding on.
* lan1/lan2: default routes (v4 + v6) via the router.
* wan: NO IPv4 route back to 10.77.1.0/24 (IPv4 only works through the masquerade), but an
  IPv6 route to fd77:1::/64 via the router (no NAT66, like OpenWrt's default).
* ``table inet fw4`` in the router is a STAND-IN for OpenWrt's fw4 (it is not fw4): only a
  forward chain with policy accept and ``oifname "wan0" masquerade`` for IPv4.

Test traffic only ever goes to addresses inside these namespaces.  Nothing is loaded into the
host's root namespace.  ``Lab`` is a context manager and always removes its namespaces (and the
processes it started in them), also on failure; ``atexit`` is a second safety net.

Usage::

    from lab import Lab
    with Lab() as lab:
        lab.run("lan1", ["ping", "-c1", lab.server_v4])
        srv = lab.peer("wan", "pptp", ["server", "--timeout", "10"], ready=True)
        res = lab.peer_run("lan1", "pptp", ["client", "--server", lab.server_v4, "--call-id", "7"])

pytest: ``from lab import lab_fixture`` gives a module-scoped fixture named ``lab`` that skips
(with the reason) when not root or tools are missing; or call ``skip_reason()`` yourself.
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
SRC_DIR = os.path.join(REPO_DIR, "src")
PEERS_DIR = os.path.join(TESTS_DIR, "peers")

ROLES = ("router", "lan1", "lan2", "wan")
ROLE_ALIASES = {"server": "wan"}
NS_PREFIX = "vplab"
_NS_RE = re.compile(r"^%s-(\d+)-\d+-(router|lan1|lan2|wan)$" % NS_PREFIX)

# The stand-in for OpenWrt's fw4 table.  NOT fw4: just enough (masquerade on the WAN side, a
# forward chain) for the lab to behave like a NAT router and for "other tables are left
# unchanged" assertions to have something to compare.
FW4_STANDIN = """\
# lab stand-in for OpenWrt's fw4 table (not the real fw4): forward + IPv4 masquerade on wan0
table inet fw4 {
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tcounter
\t}
\tchain srcnat {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "wan0" meta nfproto ipv4 masquerade
\t}
}
"""


class LabError(RuntimeError):
    """A lab command failed; carries argv, rc, stdout and stderr."""

    def __init__(self, msg, argv=None, rc=None, stdout="", stderr=""):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        detail = msg
        if argv is not None:
            detail += "\n  argv: %s\n  rc: %s\n  stdout: %s\n  stderr: %s" % (
                " ".join(map(str, argv)), rc, (stdout or "").strip()[-2000:],
                (stderr or "").strip()[-2000:])
        super().__init__(detail)


def skip_reason():
    """Why the lab cannot run here (a string), or None when it can."""
    if os.geteuid() != 0:
        return "lab needs root (network namespaces, nftables)"
    for tool in ("ip", "nft", "conntrack"):
        if shutil.which(tool) is None:
            return "lab needs %r on PATH (apt-get install -y iproute2 nftables conntrack)" % tool
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale():
    """Delete lab namespaces left behind by lab processes that no longer exist.

    Only names matching ``vplab-<pid>-<n>-<role>`` whose pid is dead are touched."""
    removed = []
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                             timeout=10).stdout
    except Exception:
        return removed
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NS_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            _kill_ns_pids(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
            removed.append(name)
    return removed


def _kill_ns_pids(name):
    """Kill the processes still living in one of OUR namespaces (started by this lab)."""
    try:
        out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                             timeout=10).stdout
    except Exception:
        return
    for tok in out.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


class Lab:
    """Four network namespaces wired as LAN hosts -> OpenWrt-like router -> WAN server."""

    _counter = 0

    # addresses
    lan_net_v4 = "10.77.1.0/24"
    lan_net_v6 = "fd77:1::/64"
    wan_net_v4 = "198.51.100.0/24"
    wan_net_v6 = "fd77:2::/64"
    router_lan_v4 = "10.77.1.1"
    router_lan_v6 = "fd77:1::1"
    lan1_v4 = "10.77.1.10"
    lan1_v6 = "fd77:1::10"
    lan2_v4 = "10.77.1.11"
    lan2_v6 = "fd77:1::11"
    router_wan_v4 = "198.51.100.1"
    router_wan_v6 = "fd77:2::1"
    server_v4 = "198.51.100.2"
    server_v6 = "fd77:2::2"
    # devices in the router namespace
    lan_device = "br-lan"
    wan_device = "wan0"
    lan_ports = ("lan1", "lan2")
    # device name inside lan1 / lan2 / wan
    host_device = "eth0"

    def __init__(self, fw4=True, bridge_netfilter=False, python=None):
        """fw4: load the fw4 stand-in table (masquerade).  bridge_netfilter: leave the kernel's
        br_netfilter hooks on for br-lan (OpenWrt does not load br_netfilter; default off)."""
        Lab._counter += 1
        self.id = "%s-%d-%d" % (NS_PREFIX, os.getpid(), Lab._counter)
        self.names = {role: "%s-%s" % (self.id, role) for role in ROLES}
        self.want_fw4 = fw4
        self.bridge_netfilter = bridge_netfilter
        self.python = python or sys.executable
        self.tmpdir = None
        self._procs = []
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        if self._started:
            return self
        self._started = True
        atexit.register(self.close)
        cleanup_stale()
        self.tmpdir = tempfile.mkdtemp(prefix=self.id + "-")
        for role in ROLES:
            self._ip(["netns", "add", self.names[role]])
        self._build()
        return self

    def close(self):
        """Kill what we started, delete our namespaces and temp dir.  Idempotent."""
        if self._closed or not self._started:
            return
        self._closed = True
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                proc.wait(timeout=5)
            except Exception:
                pass
            for f in (proc.stdout, proc.stderr, proc.stdin):
                try:
                    if f:
                        f.close()
                except Exception:
                    pass
        for role in ROLES:
            name = self.names[role]
            _kill_ns_pids(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        try:
            atexit.unregister(self.close)
        except Exception:
            pass

    # ------------------------------------------------------------------ building
    def _ip(self, args, ns=None):
        argv = ["ip"] + (["-n", self.ns(ns)] if ns else []) + list(args)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            raise LabError("ip failed", argv, p.returncode, p.stdout, p.stderr)
        return p.stdout

    def _sysctl(self, ns, key, value, optional=False):
        path = "/proc/sys/" + key.replace(".", "/")
        p = self.run(ns, ["sh", "-c", 'echo %s > %s' % (value, path)], check=not optional)
        return p.returncode == 0

    def _build(self):
        r = "router"
        # lo everywhere
        for role in ROLES:
            self._ip(["link", "set", "lo", "up"], role)
            # no DAD delays, no RA/autoconf noise on the lab links
            self._sysctl(role, "net.ipv6.conf.all.accept_dad", 0, optional=True)
            self._sysctl(role, "net.ipv6.conf.default.accept_dad", 0, optional=True)
            self._sysctl(role, "net.ipv6.conf.default.accept_ra", 0, optional=True)
        # router: bridge + ports, wan veth (created directly inside the namespaces: device
        # names are per namespace, so parallel labs never collide)
        self._ip(["link", "add", self.lan_device, "type", "bridge", "stp_state", "0",
                  "forward_delay", "0"], r)
        for port, host in (("lan1", "lan1"), ("lan2", "lan2")):
            self._ip(["link", "add", port, "type", "veth", "peer", "name", self.host_device,
                      "netns", self.ns(host)], r)
            self._ip(["link", "set", port, "master", self.lan_device], r)
            self._ip(["link", "set", port, "up"], r)
        self._ip(["link", "add", self.wan_device, "type", "veth", "peer", "name",
                  self.host_device, "netns", self.ns("wan")], r)
        self._ip(["link", "set", self.lan_device, "up"], r)
        self._ip(["link", "set", self.wan_device, "up"], r)
        self._ip(["addr", "add", self.router_lan_v4 + "/24", "dev", self.lan_device], r)
        self._ip(["addr", "add", self.router_lan_v6 + "/64", "dev", self.lan_device, "nodad"], r)
        self._ip(["addr", "add", self.router_wan_v4 + "/24", "dev", self.wan_device], r)
        self._ip(["addr", "add", self.router_wan_v6 + "/64", "dev", self.wan_device, "nodad"], r)
        self._sysctl(r, "net.ipv4.ip_forward", 1)
        self._sysctl(r, "net.ipv6.conf.all.forwarding", 1)
        if not self.bridge_netfilter:
            for fam in ("iptables", "ip6tables", "arptables"):
                self._sysctl(r, "net.bridge.bridge-nf-call-" + fam, 0, optional=True)
        # LAN hosts
        for host, v4, v6 in (("lan1", self.lan1_v4, self.lan1_v6),
                             ("lan2", self.lan2_v4, self.lan2_v6)):
            self._ip(["link", "set", self.host_device, "up"], host)
            self._ip(["addr", "add", v4 + "/24", "dev", self.host_device], host)
            self._ip(["addr", "add", v6 + "/64", "dev", self.host_device, "nodad"], host)
            self._ip(["route", "add", "default", "via", self.router_lan_v4], host)
            self._ip(["-6", "route", "add", "default", "via", self.router_lan_v6], host)
        # WAN server: no IPv4 route to the LAN (masquerade needed); IPv6 routed, no NAT66
        w = "wan"
        self._ip(["link", "set", self.host_device, "up"], w)
        self._ip(["addr", "add", self.server_v4 + "/24", "dev", self.host_device], w)
        self._ip(["addr", "add", self.server_v6 + "/64", "dev", self.host_device, "nodad"], w)
        self._ip(["-6", "route", "add", self.lan_net_v6, "via", self.router_wan_v6], w)
        if self.want_fw4:
            self.nft(FW4_STANDIN)
        self._wait_links()

    def _wait_links(self, timeout=5.0):
        """Wait until the bridge forwards and IPv6 addresses are usable (no tentative)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = self._ip(["-6", "addr", "show", "tentative"], "router") + \
                self._ip(["-6", "addr", "show", "tentative"], "lan1") + \
                self._ip(["-6", "addr", "show", "tentative"], "lan2")
            br = self._ip(["link", "show", self.lan_device], "router")
            if "tentative" not in out and "state UP" in br:
                return
            time.sleep(0.05)

    # ------------------------------------------------------------------ helpers
    def ns(self, name):
        """Real netns name for a role ('router', 'lan1', 'lan2', 'wan'/'server') or a real name."""
        if name in self.names.values():
            return name
        role = ROLE_ALIASES.get(name, name)
        if role not in self.names:
            raise KeyError("unknown lab namespace %r (roles: %s)" % (name, ", ".join(ROLES)))
        return self.names[role]

    def _argv(self, ns, argv, env=None):
        full = ["ip", "netns", "exec", self.ns(ns)]
        if env:
            full += ["env"] + ["%s=%s" % kv for kv in env.items()]
        return full + [str(a) for a in argv]

    def run(self, ns, argv, input=None, check=True, timeout=30, env=None):
        """Run argv in a namespace; returns subprocess.CompletedProcess (text).
        check=True raises LabError on a non-zero exit."""
        full = self._argv(ns, argv, env)
        try:
            p = subprocess.run(full, input=input, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise LabError("timed out after %ss" % timeout, full, None,
                           _txt(e.stdout), _txt(e.stderr))
        if check and p.returncode != 0:
            raise LabError("command failed", full, p.returncode, p.stdout, p.stderr)
        return p

    def popen(self, ns, argv, env=None, stdin=subprocess.DEVNULL, **kw):
        """Start argv in a namespace (own process group, stdout/stderr piped, text mode).
        The process is killed at close() if still running."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(self._argv(ns, argv, env), stdin=stdin, text=True,
                                start_new_session=True, **kw)
        self._procs.append(proc)
        return proc

    # --- nftables / conntrack in the router ---
    def nft(self, text, ns="router", check=True):
        """Load nft text with ``nft -f -`` (router namespace by default)."""
        return self.run(ns, ["nft", "-f", "-"], input=text, check=check)

    def nft_list_tables(self, ns="router"):
        """['inet fw4', ...] — every table in the namespace, 'family name'."""
        out = self.run(ns, ["nft", "list", "tables"]).stdout
        return sorted(line[len("table "):].strip() for line in out.splitlines()
                      if line.startswith("table "))

    def ruleset_text(self, table, ns="router"):
        """`nft list table` text of one table ('inet fw4' or 'fw4' = inet), counters included
        (use ruleset_text_stable() for "unchanged" comparisons)."""
        parts = table.split()
        if len(parts) == 1:
            parts = ["inet"] + parts
        return self.run(ns, ["nft", "list", "table"] + parts).stdout

    def ruleset_text_stable(self, table, ns="router"):
        """ruleset_text() with counter/quota values zeroed: for 'unchanged' assertions."""
        txt = self.ruleset_text(table, ns)
        txt = re.sub(r"packets \d+ bytes \d+", "packets 0 bytes 0", txt)
        return txt

    def conntrack_run(self, args, check=False, ns="router"):
        """``conntrack <args>`` in the router namespace -> CompletedProcess (the summary
        'N flow entries have been deleted/shown' is on stderr)."""
        if isinstance(args, str):
            args = args.split()
        return self.run(ns, ["conntrack"] + list(args), check=check)

    def conntrack(self, args, check=True, ns="router"):
        """Run ``conntrack <args>`` in the router namespace; returns stdout text.
        (conntrack exits 1 with '0 flow entries' on an empty delete; use check=False there.)"""
        if isinstance(args, str):
            args = args.split()
        p = self.run(ns, ["conntrack"] + list(args), check=check)
        return p.stdout

    # --- the product ---
    def vpn(self, args, config_path, env=None, timeout=60):
        """Run ``python3 -m vpn_passthrough --config <config_path> <args>`` in the router
        namespace with PYTHONPATH=<repo>/src.  Returns (rc, stdout, stderr)."""
        if isinstance(args, str):
            args = args.split()
        e = {"PYTHONPATH": SRC_DIR}
        if env:
            e.update(env)
        p = self.run("router", [self.python, "-m", "vpn_passthrough", "--config",
                                str(config_path)] + list(args),
                     check=False, timeout=timeout, env=e)
        return p.returncode, p.stdout, p.stderr

    # --- peers (tests/peers/*.py) ---
    def peer_argv(self, name, args):
        script = os.path.join(PEERS_DIR, name if name.endswith(".py") else name + ".py")
        return [self.python, script] + [str(a) for a in args]

    def peer(self, ns, name, args, ready=False, ready_timeout=5.0):
        """Start a peer script in a namespace (Popen).  ready=True passes
        --ready-file and waits until the peer has bound its sockets."""
        proc = self._start_peer(ns, name, args, ready)
        if ready:
            self.wait_ready(proc, ready_timeout)
        return proc

    def _start_peer(self, ns, name, args, ready):
        args = [str(a) for a in args]
        ready_file = None
        if ready:
            fd, ready_file = tempfile.mkstemp(prefix="ready-", dir=self.tmpdir)
            os.close(fd)
            os.unlink(ready_file)
            args += ["--ready-file", ready_file]
        proc = self.popen(ns, self.peer_argv(name, args))
        proc.ready_file = ready_file
        proc.peer_name = name
        return proc

    @staticmethod
    def wait_ready(proc, timeout=5.0):
        """Wait until a peer started with ready=True (or via peers()) has bound its sockets."""
        ready_file = getattr(proc, "ready_file", None)
        if not ready_file:
            return proc
        deadline = time.time() + timeout
        while not os.path.exists(ready_file):
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise LabError("peer %s exited before ready" % proc.peer_name, proc.args,
                               proc.returncode, out, err)
            if time.time() > deadline:
                raise LabError("peer %s not ready after %ss" % (proc.peer_name, timeout),
                               proc.args)
            time.sleep(0.02)
        return proc

    def peers(self, specs, ready=True, ready_timeout=5.0):
        """Start several peers at once: specs = [(ns, name, args), ...]; with ready=True
        waits until all of them are ready (in parallel, faster than peer() in a loop)."""
        procs = [self._start_peer(ns, name, args, ready) for ns, name, args in specs]
        for p in procs:
            self.wait_ready(p, ready_timeout)
        return procs

    @staticmethod
    def result(proc, timeout=30):
        """Wait for a peer and parse the last JSON line it printed (dict)."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise LabError("peer timed out after %ss" % timeout, proc.args, None, out, err)
        for line in reversed((out or "").splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                d.setdefault("_rc", proc.returncode)
                d.setdefault("_stderr", err)
                return d
        raise LabError("peer printed no JSON", proc.args, proc.returncode, out, err)

    def peer_run(self, ns, name, args, timeout=30):
        """Run a peer to completion; returns its JSON result (dict)."""
        return self.result(self.peer(ns, name, args), timeout=timeout)

    @staticmethod
    def stop(proc, timeout=10):
        """SIGTERM a long-running peer (flow-send, listeners) and return its JSON result."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return Lab.result(proc, timeout=timeout)

    # --- ready-made scenarios for the integration tests ---
    def send_and_listen(self, cases, src="lan1", count=3, timeout=3.0, dst_ns="wan"):
        """Probe several protocols at once.  cases: [(proto, port, dst), ...] with proto in
        udp/tcp/esp/ah/gre (port 0 for esp/ah/gre; dst an IPv4 or IPv6 address).  UDP uses
        sport = dport (like IKE/NAT-T/L2TP).  Returns [(send_result, listen_result), ...];
        a blocked protocol shows listen_result["count"] == 0 after `timeout` seconds."""
        listeners = self.peers([(dst_ns, "probe", [
            "listen", "--proto", proto, "--port", port, "--timeout", timeout,
            "--expect", count, "--family", "6" if ":" in dst else "4"])
            for proto, port, dst in cases])
        senders = self.peers([(src, "probe", [
            "send", "--proto", proto, "--dst", dst, "--port", port, "--count", count,
            "--sport", port if proto == "udp" else 0, "--connect-timeout", min(timeout, 2.0)])
            for proto, port, dst in cases], ready=False)
        out = [self.result(s, timeout=timeout + 10) for s in senders]
        return [(s, self.result(l, timeout=timeout + 10)) for s, l in zip(out, listeners)]

    def pptp_calls(self, clients=("lan1", "lan2"), call_id=7, count=4, gre_delay=0.0,
                   hold=0.0, wait=0.7, connect_timeout=2.0, server_timeout=10.0,
                   during=None):
        """One PPTP server on wan, one client per namespace in `clients`, all with the same
        call ID, concurrently.  during(): optional callable run while the calls are up
        (use gre_delay to inspect expectations, hold to inspect GRE entries).
        Returns {"clients": [client results], "server": server result, "during": value}."""
        srv = self.peer("wan", "pptp", ["server", "--calls", len(clients),
                                        "--timeout", server_timeout], ready=True)
        procs = [self.peer(ns, "pptp", [
            "client", "--server", self.server_v4, "--call-id", call_id, "--count", count,
            "--gre-delay", gre_delay, "--hold", hold, "--wait", wait,
            "--connect-timeout", connect_timeout]) for ns in clients]
        seen = during() if during else None
        res = [self.result(p, timeout=server_timeout + 10) for p in procs]
        if not all(r.get("tcp_sport") for r in res):
            # a client never connected (blocked): don't wait for the server's full timeout
            srv_res = self.stop(srv)
        else:
            srv_res = self.result(srv, timeout=server_timeout + 10)
        return {"clients": res, "server": srv_res, "during": seen}

    def info(self):
        """Names and addresses as a dict (for demos / logs)."""
        keys = ("lan_net_v4", "lan_net_v6", "wan_net_v4", "wan_net_v6", "router_lan_v4",
                "router_lan_v6", "lan1_v4", "lan1_v6", "lan2_v4", "lan2_v6", "router_wan_v4",
                "router_wan_v6", "server_v4", "server_v6", "lan_device", "wan_device")
        d = {k: getattr(self, k) for k in keys}
        d["namespaces"] = dict(self.names)
        return d

    @staticmethod
    def wait_for(predicate, timeout=5.0, interval=0.05):
        """Poll predicate() until truthy; returns its last value."""
        deadline = time.time() + timeout
        val = predicate()
        while not val and time.time() < deadline:
            time.sleep(interval)
            val = predicate()
        return val


def _txt(b):
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


def _main(argv):
    """python3 tests/lab.py [--no-fw4] : build a lab, print its names/addresses as JSON, keep
    it until Enter / Ctrl-C / SIGTERM, then clean up (for demos and poking around with
    `ip netns exec <name> ...`)."""
    import argparse
    ap = argparse.ArgumentParser(description=_main.__doc__)
    ap.add_argument("--no-fw4", action="store_true", help="no fw4 stand-in (no masquerade)")
    a = ap.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1

    def _term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, _term)
    with Lab(fw4=not a.no_fw4) as lab:
        print(json.dumps(lab.info(), indent=2), flush=True)
        try:
            sys.stdin.readline() if sys.stdin and sys.stdin.isatty() else signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


try:  # pytest fixture, when pytest is around
    import pytest as _pytest

    @_pytest.fixture(scope="module", name="lab")
    def lab_fixture():
        reason = skip_reason()
        if reason:
            print("SKIP: " + reason)
            _pytest.skip(reason)
        with Lab() as lab:
            yield lab
except ImportError:  # pragma: no cover
    pass
