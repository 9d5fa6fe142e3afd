"""The kit's real OpenWrt userland (ubusd, procd, rpcd, uhttpd + LuCI) driven from a test.

It wraps the kit's own `userland.sh` (see ../shared/openwrt/README.md): the daemons run chrooted
into an OpenWrt-shaped root, in a private mount namespace and in a network namespace of ours
(`OWRT_NETNS`), so fw4 and the service only ever see that namespace's nftables.

One userland per build prefix at a time: `VPT_OWRT_PREFIX` (tests/kit.py) picks the prefix,
`VPT_OWRT_HTTP_PORT` the port LuCI listens on (inside the namespace, 127.0.0.1).
"""

import json
import os
import signal
import subprocess
import time

import kit

RPC_NO_SESSION = "00000000000000000000000000000000"
# The python3-ubus the kit's build compiled against its libubus (PyPI sdist `ubus` 0.1.3).
PY_SITE = "venv/lib/python3.11/site-packages"


class UserlandError(Exception):
    pass


class Userland:
    def __init__(self, netns, port=None):
        self.prefix = kit.prefix()
        self.netns = netns
        self.port = int(port or os.environ.get("VPT_OWRT_HTTP_PORT") or 8088)
        self.run_dir = os.path.join(self.prefix, "run")       # /run inside the root
        self.config_dir = os.path.join(self.prefix, "etc", "config")

    # -- the kit's shell functions -------------------------------------------------------
    def _env(self, extra=None):
        env = dict(os.environ, OWRT_USERLAND=self.prefix, OWRT_HTTP_PORT=str(self.port),
                   OWRT_NETNS=self.netns)
        env.update(extra or {})
        return env

    def shell(self, script, args=(), input=None, timeout=60, check=True, env=None):
        """Run bash with the kit's userland.sh sourced; SCRIPT may call userland_* functions."""
        argv = ["bash", "-c", '. "$0"; ' + script, os.path.join(kit.KIT, "userland.sh")]
        r = subprocess.run(argv + list(args), input=input, capture_output=True, text=True,
                           timeout=timeout, env=self._env(env))
        if check and r.returncode != 0:
            raise UserlandError("%s: exit %d\n%s%s\n%s" % (script, r.returncode, r.stdout,
                                                            r.stderr, self.logs()))
        return r

    def start(self, seed_opkg="24.10", seed_apk="25.12"):
        self.shell("userland_start", timeout=120,
                   env={"OWRT_SEED_OPKG": seed_opkg or "", "OWRT_SEED_APK": seed_apk or ""})
        self._python3_ubus()
        return self

    def stop(self):
        self.shell("userland_stop", check=False, timeout=60)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def logs(self, lines=20):
        r = subprocess.run("tail -n %d %s/*.log" % (lines, os.path.join(self.run_dir, "logs")),
                           shell=True, capture_output=True, text=True)
        return r.stdout

    # -- inside the root -------------------------------------------------------------
    def exec(self, argv, input=None, timeout=60, check=True):
        """ARGV run in the root (chroot, the daemons' namespaces), as `userland_exec`."""
        return self.shell('userland_exec "$@"', args=argv, input=input, timeout=timeout,
                          check=check)

    def sh(self, script, input=None, timeout=60, check=True):
        """A busybox ash script run in the root."""
        return self.exec(["/bin/sh", "-c", script], input=input, timeout=timeout, check=check)

    def read(self, inside):
        """A file's text inside the running root (its tmpfs/overlays are seen only from within)."""
        return self.exec(["cat", inside]).stdout

    def write(self, inside, text, mode="0644"):
        self.exec(["/bin/sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"',
                   "write", inside, mode], input=text)

    def _python3_ubus(self):
        """Python in the root imports the kit's python3-ubus, as on a router where the
        python3-ubus package installs `ubus` into site-packages."""
        src = os.path.join(self.prefix, PY_SITE)
        self.sh('mkdir -p /usr/lib/python3/dist-packages && '
                'ln -sf %s/ubus*.so /usr/lib/python3/dist-packages/' % src)

    # -- ubus -------------------------------------------------------------------------
    def ubus(self, args, timeout=30, check=True):
        """The kit's `ubus` CLI on the userland's socket (the real client)."""
        argv = [os.path.join(self.prefix, "bin", "ubus"), "-s",
                os.path.join(self.run_dir, "ubus", "ubus.sock")] + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise UserlandError("ubus %s: exit %d %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def call(self, obj, method, args=None, timeout=30):
        """`ubus call OBJ METHOD ARGS` → the decoded reply ({} for an empty one)."""
        r = self.ubus(["-t", str(timeout), "call", obj, method, json.dumps(args or {})],
                      timeout=timeout + 5)
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def call_status(self, obj, method, args=None, timeout=30):
        """(ubus status of `ubus call`, decoded reply or None): 0 ok, 2 invalid argument,
        3 method not found, 4 not found, 6 permission denied, 7 timeout (the CLI exits with
        the status negated, 254 for 2)."""
        r = self.ubus(["-t", str(timeout), "call", obj, method, json.dumps(args or {})],
                      timeout=timeout + 5, check=False)
        status = 256 - r.returncode if r.returncode > 128 else r.returncode
        return status, (json.loads(r.stdout) if r.stdout.strip() else None)

    def signatures(self, obj):
        """{method: {argument: type name}} as ubusd lists OBJ (`ubus -v list OBJ`)."""
        out = {}
        for line in self.ubus(["-v", "list", obj]).stdout.splitlines():
            line = line.strip()
            if line.startswith('"'):
                name, _, sig = line.partition(":")
                out[json.loads(name)] = json.loads(sig)
        return out

    def wait_object(self, obj, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.ubus(["list", obj], check=False).returncode == 0:
                return True
            time.sleep(0.1)
        raise UserlandError("ubus object %s did not appear\n%s" % (obj, self.logs()))

    # -- HTTP, exactly as LuCI's rpc.js calls ----------------------------------------
    def http(self, body, path="/ubus", timeout=30):
        argv = ["ip", "netns", "exec", self.netns, "curl", "-s", "-m", str(timeout),
                "http://127.0.0.1:%d%s" % (self.port, path), "-H",
                "Content-Type: application/json", "-d", json.dumps(body)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 5)
        return json.loads(r.stdout)

    def login(self, user="root", password="rigpass"):
        reply = self.http({"jsonrpc": "2.0", "id": 1, "method": "call",
                           "params": [RPC_NO_SESSION, "session", "login",
                                      {"username": user, "password": password}]})
        return reply["result"][1]["ubus_rpc_session"]

    def http_call(self, sid, obj, method, args=None):
        """(status, data): status 0 = ok (ubus's codes: 2 invalid argument, 6 permission denied,
        ...); a JSON-RPC error (e.g. access denied by rpcd) gives ('error', its object)."""
        reply = self.http({"jsonrpc": "2.0", "id": 1, "method": "call",
                           "params": [sid, obj, method, args or {}]})
        if "error" in reply:
            return "error", reply["error"]
        result = reply["result"]
        return result[0], (result[1] if len(result) > 1 else None)

    def object_id(self, obj):
        """ubusd's id of OBJ (it changes when the object is registered anew), or None."""
        r = self.ubus(["-v", "list", obj], check=False)
        head = r.stdout.split("\n", 1)[0]
        return head.split("@", 1)[1].strip() if r.returncode == 0 and "@" in head else None

    def wait_rpcd(self, old_id, timeout=60.0):
        """rpcd registered anew (its `file` object has an id other than OLD_ID)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            now = self.object_id("file")
            if now is not None and now != old_id:
                return
            time.sleep(0.1)
        raise UserlandError("rpcd did not register anew\n" + self.logs())

    def rpcd_reload(self, timeout=60.0):
        """rpcd re-reads its ACLs and plugins, keeping its sessions: SIGHUP, on which it
        re-executes itself (same pid) and registers its objects anew. Done here rather than
        with the kit's userland_rpcd_reload, whose 5 s wait a loaded machine outlasts. Only
        an rpcd that has registered gets the signal: one still re-executing would die of it."""
        self.wait_object("file", timeout=timeout)
        before = self.object_id("file")
        with open(os.path.join(self.run_dir, "rpcd.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGHUP)
        self.wait_rpcd(before, timeout)
