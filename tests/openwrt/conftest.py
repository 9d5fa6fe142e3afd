"""Fixtures of the OpenWrt tier: the kit's REAL userland (ubusd, procd, rpcd, uhttpd + LuCI,
uci, fw4, opkg) with the package installed into its root the way a user does it.

    owrt_root   a started userland in a network namespace of its own, with the router's
                LAN and WAN devices (veth pairs, nothing leaves the namespace); no package
    owrt        the same with `make ipk`'s vpn-passthrough and luci-app-vpn-passthrough
                installed by the root's own opkg (their postinst enables and starts the
                service through procd); the service answers on ubus when it is handed out
    ipks        {package name: path of the .ipk in dist/} (`make ipk`, once per session)

Both userland fixtures are per module (one userland at a time per kit prefix; a start costs
about 2 s, an install about 3 s). A test that changes the package's settings puts them back
with `owrt.reset_settings()`. The kit is located and built by tests/kit.py: without it the
tier is skipped (one line in the summary says so), with VPT_REQUIRE_KIT=1 it fails.

The router's kernel is the namespace's (host nft and conntrack); netifd does not run: the
zones' devices come from /etc/config/network, which names the devices made here. The
network and firewall configs are written at every start (OpenWrt's default zones).

Other modules of tests/openwrt/ take these fixtures by name; `opkg_install(router, path)`
and `Router` are importable as `from openwrt.conftest import ...` (tests/openwrt is a
package, so this conftest never shadows tests/conftest.py).
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

import kit
import userland

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# one namespace per kit prefix, so helpers with their own prefixes never share one
NETNS = os.environ.get("VPT_OWRT_NETNS") or "vpt-" + os.path.basename(kit.PREFIX.rstrip("/"))
TABLE = ("inet", "vpn_passthrough")
# the devices /etc/config/network gives the zones lan (br-lan) and wan/wan6 (eth1), each a
# veth whose peer stays in the namespace: addresses from the documentation ranges
DEVICES = (("br-lan", "lan-peer", "192.168.1.1/24"), ("eth1", "wan-peer", "192.0.2.2/24"))
NETWORK = """config interface 'loopback'
\toption device 'lo'
\toption proto 'static'
\toption ipaddr '127.0.0.1'
\toption netmask '255.0.0.0'

config device
\toption name 'br-lan'
\toption type 'bridge'
\tlist ports 'eth0'

config interface 'lan'
\toption device 'br-lan'
\toption proto 'static'
\toption ipaddr '192.168.1.1'
\toption netmask '255.255.255.0'

config interface 'wan'
\toption device 'eth1'
\toption proto 'dhcp'

config interface 'wan6'
\toption device 'eth1'
\toption proto 'dhcpv6'
"""
# OpenWrt's default zones (firewall4's shipped config, its rules shortened): written at every
# start, since /etc/config persists in the kit prefix and other tests may have changed it
FIREWALL = """config defaults
\toption syn_flood\t1
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT

config zone
\toption name\t\tlan
\tlist   network\t\t'lan'
\toption input\t\tACCEPT
\toption output\t\tACCEPT
\toption forward\t\tACCEPT

config zone
\toption name\t\twan
\tlist   network\t\t'wan'
\tlist   network\t\t'wan6'
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT
\toption masq\t\t1
\toption mtu_fix\t\t1

config forwarding
\toption src\t\tlan
\toption dest\t\twan

config rule
\toption name\t\tAllow-DHCP-Renew
\toption src\t\twan
\toption proto\t\tudp
\toption dest_port\t68
\toption target\t\tACCEPT
\toption family\t\tipv4

config rule
\toption name\t\tAllow-Ping
\toption src\t\twan
\toption proto\t\ticmp
\toption icmp_type\techo-request
\toption family\t\tipv4
\toption target\t\tACCEPT
"""
SETTINGS = os.path.join(ROOT, "files", "etc", "config", "vpn-passthrough")


class Router(userland.Userland):
    """A Userland in its own network namespace, plus what the tests ask of the router."""

    def nft(self, *args, check=True):
        r = subprocess.run(["ip", "netns", "exec", self.netns, "nft"] + list(args),
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise userland.UserlandError("nft %s: %s" % (" ".join(args), r.stderr))
        return r

    def table(self):
        """`nft list table inet vpn_passthrough` in the router's namespace, or None."""
        r = self.nft("list", "table", *TABLE, check=False)
        return r.stdout if r.returncode == 0 else None

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

    def settings_path(self):
        """/etc/config/vpn-passthrough, seen from the host (the root binds $PREFIX/etc/config)."""
        return os.path.join(self.config_dir, "vpn-passthrough")

    def instance(self):
        """procd's view of the service's instance ({} when there is none)."""
        listing = self.call("service", "list", {"name": "vpn-passthrough"})
        return listing.get("vpn-passthrough", {}).get("instances", {}).get("instance1", {})

    def reset_settings(self, text=None):
        """The package's default settings (or TEXT) written and applied through the service."""
        with open(self.settings_path(), "w") as f:
            f.write(text if text is not None else open(SETTINGS).read())
        self.wait_object("vpn-passthrough")
        return self.call("vpn-passthrough", "reload")


def _netns(name):
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    for dev, peer, addr in DEVICES:
        subprocess.run(["ip", "-n", name, "link", "add", dev, "type", "veth", "peer", "name",
                        peer], check=True)
        subprocess.run(["ip", "-n", name, "addr", "add", addr, "dev", dev], check=True)
        for d in (dev, peer):
            subprocess.run(["ip", "-n", name, "link", "set", d, "up"], check=True)


def _started():
    """A started Router; its /etc/config is put back as it was when the module ends."""
    if shutil.which("ip") is None or shutil.which("nft") is None \
            and not os.path.exists("/usr/sbin/nft"):
        kit.unavailable("ip and nft are needed (make deps installs them)")
    router = Router(NETNS)
    router.stop()                       # a userland of an interrupted run on this prefix
    saved = tempfile.mkdtemp(prefix="vpt-owrt-config-")
    os.makedirs(router.config_dir, exist_ok=True)
    for name in os.listdir(router.config_dir):
        if name.startswith("vpn-passthrough"):   # left by an interrupted run
            os.unlink(os.path.join(router.config_dir, name))
        else:
            shutil.copy2(os.path.join(router.config_dir, name), saved)
    for name, text in (("network", NETWORK), ("firewall", FIREWALL)):
        with open(os.path.join(router.config_dir, name), "w") as f:
            f.write(text)
    _netns(NETNS)
    try:
        router.start()
    except Exception:
        _teardown(router, saved)
        raise
    return router, saved


def _teardown(router, saved):
    router.stop()
    subprocess.run(["ip", "netns", "del", router.netns], capture_output=True)
    for name in os.listdir(router.config_dir):
        os.unlink(os.path.join(router.config_dir, name))
    for name in os.listdir(saved):
        shutil.copy2(os.path.join(saved, name), router.config_dir)
    shutil.rmtree(saved, ignore_errors=True)
    for name in os.listdir(router.run_dir):
        if name.endswith(".ipk") or name.endswith(".apk"):
            os.unlink(os.path.join(router.run_dir, name))


@pytest.fixture(scope="session")
def ipks():
    """`make ipk` once: {package: path} of the packages in dist/."""
    kit.prefix()                        # no kit: skip before building anything
    r = subprocess.run(["make", "-s", "ipk"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    dist = os.path.join(ROOT, "dist")
    out = {}
    for name in os.listdir(dist):
        if name.endswith(".ipk"):
            out[name.split("_")[0]] = os.path.join(dist, name)
    return out


@pytest.fixture(scope="module")
def owrt_root():
    router, saved = _started()
    try:
        yield router
    finally:
        _teardown(router, saved)


def opkg_install(router, path):
    """The root's opkg installs PATH (copied to /run, which the root shares with the host)."""
    shutil.copy(path, router.run_dir)
    inside = "/run/" + os.path.basename(path)
    try:
        return router.exec(["opkg", "install", inside], timeout=120)
    finally:
        os.unlink(os.path.join(router.run_dir, os.path.basename(path)))


@pytest.fixture(scope="module")
def owrt(ipks):
    """The userland with vpn-passthrough + its LuCI app installed by opkg and running."""
    router, saved = _started()
    try:
        opkg_install(router, ipks["vpn-passthrough"])
        rpcd = router.object_id("file")
        opkg_install(router, ipks["luci-app-vpn-passthrough"])
        # its postinst (luci.mk's) sends rpcd SIGHUP (killall), so rpcd reads the app's ACL;
        # a second signal while rpcd re-executes would kill it: wait for it instead
        try:
            router.wait_rpcd(rpcd, timeout=10)
        except userland.UserlandError:  # no killall in the root: reload it ourselves
            router.rpcd_reload()
        router.wait_object("vpn-passthrough", timeout=30)
        router.wait_object("luci.vpn-passthrough", timeout=30)
        router.wait_for("the table", router.table)
        yield router
    finally:
        _teardown(router, saved)
