"""The router of the OpenWrt tier: the kit's REAL userland (ubusd, procd, rpcd, uhttpd + LuCI,
uci, fw4, opkg) in a network namespace of its own, a LAN client and a WAN server in namespaces
of their own (veth pairs, nothing leaves them), and vpn-passthrough installed by the root's
own opkg, the way a user does it.

    <ns>      the router: br-lan 192.168.1.1/24, eth1 192.0.2.1/24, forwarding on
    <ns>-lan  the LAN client 192.168.1.10, default route through the router
    <ns>-wan  the WAN server 192.0.2.2

`serving(ipks, ...)` is the one way to start it with the service; tests/openwrt/conftest.py
holds the fixtures built on it. netifd does not run: the zones' devices come from
/etc/config/network (the service's fallback), or from tests/openwrt/netifd_standin.py.
/etc/config persists in the kit prefix: it is saved at start and put back at the end.
"""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import kit
import userland
from openwrt.uci_configs import FIREWALL, NETWORK

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# one namespace per kit prefix, so helpers with their own prefixes never share one
NETNS = os.environ.get("VPT_OWRT_NETNS") or "vpt-" + os.path.basename(kit.PREFIX.rstrip("/"))
NAME = "vpn-passthrough"
TABLE = ("inet", "vpn_passthrough")
LAN_CLIENT, WAN_SERVER = "192.168.1.10", "192.0.2.2"
SETTINGS = os.path.join(ROOT, "files", "etc", "config", NAME)



def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


class Router(userland.Userland):
    """A Userland in its own network namespace, plus what the tests ask of the router."""

    def __init__(self, netns=NETNS, port=None):
        super().__init__(netns, port)
        self.lan_ns, self.wan_ns = netns + "-lan", netns + "-wan"
        self.saved = None

    # -- start and end -------------------------------------------------------------------
    def up(self, network=NETWORK, firewall=FIREWALL):
        """The namespaces made, NETWORK and FIREWALL written, the userland started."""
        if shutil.which("ip") is None or shutil.which("nft") is None \
                and not os.path.exists("/usr/sbin/nft"):
            kit.unavailable("ip and nft are needed (make deps installs them)")
        self.stop()                         # a userland of an interrupted run on this prefix
        self.saved = tempfile.mkdtemp(prefix="vpt-owrt-config-")
        os.makedirs(self.config_dir, exist_ok=True)
        for name in os.listdir(self.config_dir):
            if name.startswith(NAME):       # left by an interrupted run
                os.unlink(os.path.join(self.config_dir, name))
            else:
                shutil.copy2(os.path.join(self.config_dir, name), self.saved)
        for name, text in (("network", network), ("firewall", firewall)):
            with open(os.path.join(self.config_dir, name), "w") as f:
                f.write(text)
        try:
            self._namespaces()
            self.start()
        except Exception:
            self.down()
            raise
        return self

    def _namespaces(self):
        for ns in (self.netns, self.lan_ns, self.wan_ns):
            ip("netns", "del", ns, check=False)
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        for dev, peer_ns, addr, peer_addr in (("br-lan", self.lan_ns, "192.168.1.1/24",
                                               LAN_CLIENT + "/24"),
                                              ("eth1", self.wan_ns, "192.0.2.1/24",
                                               WAN_SERVER + "/24")):
            ip("-n", self.netns, "link", "add", dev, "type", "veth", "peer", "name", "eth0",
               "netns", peer_ns)
            ip("-n", self.netns, "addr", "add", addr, "dev", dev)
            ip("-n", self.netns, "link", "set", dev, "up")
            ip("-n", peer_ns, "addr", "add", peer_addr, "dev", "eth0")
            ip("-n", peer_ns, "link", "set", "eth0", "up")
        ip("-n", self.lan_ns, "route", "add", "default", "via", "192.168.1.1")
        subprocess.run(["ip", "netns", "exec", self.netns, "sysctl", "-qw",
                        "net.ipv4.ip_forward=1"], check=True)

    def down(self):
        """The userland stopped, the namespaces gone, /etc/config as it was before up()."""
        self.stop()
        for ns in (self.lan_ns, self.wan_ns, self.netns):
            ip("netns", "del", ns, check=False)
        if self.saved is not None:
            for name in os.listdir(self.config_dir):
                os.unlink(os.path.join(self.config_dir, name))
            for name in os.listdir(self.saved):
                shutil.copy2(os.path.join(self.saved, name), self.config_dir)
            shutil.rmtree(self.saved, ignore_errors=True)
            self.saved = None
        for name in os.listdir(self.run_dir):
            if name.endswith(".ipk") or name.endswith(".apk"):
                os.unlink(os.path.join(self.run_dir, name))

    def uplink(self, dev, addr, peer_addr):
        """One more WAN device of the router (a veth to the server's namespace)."""
        peer = "up" + dev[-6:]
        ip("-n", self.netns, "link", "add", dev, "type", "veth", "peer", "name", peer,
           "netns", self.wan_ns)
        ip("-n", self.netns, "addr", "add", addr, "dev", dev)
        ip("-n", self.netns, "link", "set", dev, "up")
        ip("-n", self.wan_ns, "addr", "add", peer_addr, "dev", peer)
        ip("-n", self.wan_ns, "link", "set", peer, "up")

    def opkg_install(self, path):
        """The root's opkg installs PATH (copied to /run, which the root shares with the host)."""
        shutil.copy(path, self.run_dir)
        inside = "/run/" + os.path.basename(path)
        try:
            return self.exec(["opkg", "install", inside], timeout=120)
        finally:
            os.unlink(os.path.join(self.run_dir, os.path.basename(path)))

    def firewall_init(self):
        """fw4's init script (/etc/init.d/firewall), which the kit's root does not have."""
        fw = os.path.join(self.prefix, "share", "firewall4-root", "etc", "init.d", "firewall")
        self.write("/etc/init.d/firewall", open(fw).read(), "0755")

    # -- the router ----------------------------------------------------------------------
    def nft(self, *args, check=True):
        r = subprocess.run(["ip", "netns", "exec", self.netns, "nft"] + list(args),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise userland.UserlandError("nft %s: %s" % (" ".join(args), r.stderr))
        return r

    def table(self):
        """`nft list table inet vpn_passthrough` in the router's namespace, or None."""
        r = self.nft("list", "table", *TABLE, check=False)
        return r.stdout if r.returncode == 0 else None

    def counter(self, name):
        """Packets counted by the named counter of our table."""
        out = json.loads(self.nft("-j", "list", "counter", *TABLE, name).stdout)
        return [x["counter"] for x in out["nftables"] if "counter" in x][0]["packets"]

    def wait_for(self, what, predicate, timeout=10.0, step=0.05):
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.time() > deadline:
                raise AssertionError("timed out after %.1f s waiting for %s\n%s"
                                     % (timeout, what, self.logs()))
            time.sleep(step)

    def vpn(self, *args, check=True):
        return self.exec(["/usr/sbin/" + NAME] + list(args), check=check, timeout=120)

    def service(self, action):
        return self.exec(["/etc/init.d/" + NAME, action], check=False, timeout=120)

    def firewall(self, action):
        return self.exec(["/etc/init.d/firewall", action], timeout=120)

    def settings_path(self):
        """/etc/config/vpn-passthrough, seen from the host (the root binds $PREFIX/etc/config)."""
        return os.path.join(self.config_dir, NAME)

    def instance(self):
        """procd's view of the service's instance ({} when there is none)."""
        listing = self.call("service", "list", {"name": NAME})
        return listing.get(NAME, {}).get("instances", {}).get("instance1", {})

    def reset_settings(self, text=None, timeout=30):
        """The package's default settings (or TEXT) written and applied through the service."""
        with open(self.settings_path(), "w") as f:
            f.write(text if text is not None else open(SETTINGS).read())
        self.wait_object(NAME)
        return self.call(NAME, "reload", timeout=timeout)


@contextlib.contextmanager
def serving(ipks, settings=None, network=NETWORK, firewall=FIREWALL, before=None,
            timeout=30):
    """A Router up with `make ipk`'s vpn-passthrough and luci-app-vpn-passthrough installed
    by the root's opkg (their postinst enables and starts the service through procd), the
    service answering on ubus and, given SETTINGS, applying them. BEFORE(router) runs
    before the install (what the router must have when the service first starts)."""
    router = Router().up(network, firewall)
    try:
        if before is not None:
            before(router)
        router.opkg_install(ipks[NAME])
        rpcd = router.object_id("file")
        router.opkg_install(ipks["luci-app-" + NAME])
        # its postinst (luci.mk's) sends rpcd SIGHUP (killall), so rpcd reads the app's ACL;
        # a second signal while rpcd re-executes would kill it: wait for it instead
        try:
            router.wait_rpcd(rpcd, timeout=10)
        except userland.UserlandError:  # no killall in the root: reload it ourselves
            router.rpcd_reload()
        router.wait_object(NAME, timeout=30)
        router.wait_object("luci." + NAME, timeout=30)
        if settings is not None:
            router.reset_settings(settings, timeout)
        router.wait_for("the table", router.table, timeout=max(10, timeout))
        yield router
    finally:
        router.down()
