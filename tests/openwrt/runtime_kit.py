"""A router made of the kit's REAL OpenWrt userland (ubusd, procd, fw4 and its init script,
python3-ubus) in a network namespace of its own, with this checkout's package copied into
its root (not opkg-installed: these tests are about the service at run time), a LAN client
and a WAN server in namespaces of their own, and real packets between them.

    <ns>      the router: br-lan 192.168.1.1/24, eth1 192.0.2.1/24 (veths), forwarding on
    <ns>-lan  the LAN client 192.168.1.10, default route through the router
    <ns>-wan  the WAN server 192.0.2.2

netifd is not in the kit. Where a test needs netifd's run-time view it starts NetifdStandin:
a python3-ubus object `network.interface` on the kit's real ubusd whose `dump` answers in
netifd's own reply shape (interface, up, pending, available, autostart, dynamic, l3_device,
proto, device, ipv4-address, data; see netifd's ubus.c), with the state the test sets. It
imitates only what the kit cannot give: netifd's run-time state.
"""

import json
import os
import subprocess
import time

import kit
import userland

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "vpn-passthrough"
LAN_CLIENT, WAN_SERVER = "192.168.1.10", "192.0.2.2"

NETWORK = """config interface 'loopback'
\toption device 'lo'
\toption proto 'static'
\toption ipaddr '127.0.0.1'
\toption netmask '255.0.0.0'

config interface 'lan'
\toption device 'br-lan'
\toption proto 'static'
\toption ipaddr '192.168.1.1'
\toption netmask '255.255.255.0'

config interface 'wan'
\toption device 'eth1'
\toption proto 'static'
\toption ipaddr '192.0.2.1'
\toption netmask '255.255.255.0'
"""

FIREWALL = """config defaults
\toption input 'ACCEPT'
\toption output 'ACCEPT'
\toption forward 'REJECT'

config zone
\toption name 'lan'
\tlist network 'lan'
\tlist device 'br-lan'
\toption input 'ACCEPT'
\toption output 'ACCEPT'
\toption forward 'ACCEPT'

config zone
\toption name 'wan'
\tlist network 'wan'
\tlist device 'eth1'
{wan_extra}\toption input 'REJECT'
\toption output 'ACCEPT'
\toption forward 'REJECT'
\toption masq '1'

config forwarding
\toption src 'lan'
\toption dest 'wan'
"""

# Counts UDP datagrams arriving on a port for a while; prints the count.
LISTEN = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(0.2)
n, end = 0, time.time() + float(sys.argv[2])
print("ready", flush=True)
while time.time() < end:
    try:
        s.recv(2048)
        n += 1
    except socket.timeout:
        pass
print(n)
"""

SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
    s.sendto(b"x" * 40, (sys.argv[1], int(sys.argv[2])))
"""

# Accepts TCP connections on a port for a while (the PPTP helper needs a real handshake).
ACCEPT = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
conns = []
try:
    while True:
        conns.append(s.accept()[0])
except socket.timeout:
    pass
"""

CONNECT = """
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
time.sleep(float(sys.argv[3]))
"""


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


class Router(userland.Userland):
    def __init__(self, netns, port=None):
        super().__init__(netns, port)
        self.lan_ns, self.wan_ns = netns + "-lan", netns + "-wan"

    # -- set-up -------------------------------------------------------------------------
    def build(self, wan_extra="", network_extra=""):
        self.teardown_namespaces()
        for ns in (self.netns, self.lan_ns, self.wan_ns):
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
        with open(os.path.join(self.config_dir, "network"), "w") as f:
            f.write(NETWORK + network_extra)
        with open(os.path.join(self.config_dir, "firewall"), "w") as f:
            f.write(FIREWALL.format(wan_extra=wan_extra))
        self.start()
        self.install()
        return self

    def uplink(self, dev, addr, peer_addr):
        """One more WAN device of the router (a veth to the server's namespace)."""
        peer = "up" + dev[-6:]
        ip("-n", self.netns, "link", "add", dev, "type", "veth", "peer", "name", peer,
           "netns", self.wan_ns)
        ip("-n", self.netns, "addr", "add", addr, "dev", dev)
        ip("-n", self.netns, "link", "set", dev, "up")
        ip("-n", self.wan_ns, "addr", "add", peer_addr, "dev", peer)
        ip("-n", self.wan_ns, "link", "set", peer, "up")

    def teardown_namespaces(self):
        for ns in (self.lan_ns, self.wan_ns):
            ip("netns", "del", ns, check=False)

    def close(self):
        self.stop()
        self.teardown_namespaces()
        ip("netns", "del", self.netns, check=False)

    def install(self):
        """The package's files where the package puts them, and fw4's init script."""
        src = os.path.join(ROOT, "src", "vpn_passthrough")
        lib = "/usr/lib/vpn-passthrough/vpn_passthrough/"
        for name in sorted(os.listdir(src)):
            if name.endswith(".py"):
                self.write(lib + name, open(os.path.join(src, name)).read())
        for path, mode in (("/usr/sbin/" + NAME, "0755"), ("/etc/init.d/" + NAME, "0755")):
            self.write(path, open(os.path.join(ROOT, "files") + path).read(), mode)
        fw = os.path.join(self.prefix, "share", "firewall4-root", "etc", "init.d", "firewall")
        self.write("/etc/init.d/firewall", open(fw).read(), "0755")

    def settings(self, text):
        with open(os.path.join(self.config_dir, NAME), "w") as f:
            f.write(text)

    # -- the router -----------------------------------------------------------------------
    def nft(self, *args, check=True):
        r = subprocess.run(["ip", "netns", "exec", self.netns, "nft"] + list(args),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise userland.UserlandError("nft %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def table(self):
        r = subprocess.run(["ip", "netns", "exec", self.netns, "nft", "list", "table", "inet",
                            "vpn_passthrough"], capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else None

    def counter(self, name):
        out = json.loads(self.nft("-j", "list", "counter", "inet", "vpn_passthrough", name))
        c = [x["counter"] for x in out["nftables"] if "counter" in x][0]
        return c["packets"]

    def vpn(self, *args, check=True):
        return self.exec(["/usr/sbin/" + NAME] + list(args), check=check, timeout=120)

    def service(self, action):
        return self.exec(["/etc/init.d/" + NAME, action], check=False, timeout=120)

    def firewall(self, action):
        return self.exec(["/etc/init.d/firewall", action], timeout=120)

    def wait(self, what, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.2)
        raise userland.UserlandError("timed out waiting\n" + self.logs())

    # -- traffic ------------------------------------------------------------------------
    def _py(self, ns, script, *args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", script]
                                + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kw)

    def udp(self, port, count=3, server=WAN_SERVER):
        """Datagrams LAN client -> WAN server; how many arrived."""
        listener = self._py(self.wan_ns, LISTEN, port, 1.5)
        assert listener.stdout.readline().strip() == "ready"
        sender = self._py(self.lan_ns, SEND, server, port, count)
        sender.wait(timeout=10)
        out, err = listener.communicate(timeout=10)
        return int(out.strip())

    def pptp_helper_assigned(self):
        """A TCP connection to port 1723 through the router: does conntrack show the
        pptp helper on it?"""
        subprocess.run(["ip", "netns", "exec", self.netns, "conntrack", "-F"],
                       capture_output=True)
        server = self._py(self.wan_ns, ACCEPT, 1723, 3)
        assert server.stdout.readline().strip() == "ready"
        client = self._py(self.lan_ns, CONNECT, WAN_SERVER, 1723, 1.0)
        time.sleep(0.5)
        listing = subprocess.run(["ip", "netns", "exec", self.netns, "conntrack", "-L", "-p",
                                  "tcp", "--dport", "1723"], capture_output=True, text=True)
        client.wait(timeout=10)
        server.kill()
        server.wait()
        return "helper=pptp" in listing.stdout


STANDIN = """
# netifd stand-in (tests/openwrt/runtime_kit.py): `network.interface dump` on the real ubusd,
# answering from a JSON file the test writes; ends when that file is removed.
import json, os, sys
import ubus
state = sys.argv[1]
ubus.connect()
def dump(handler, data):
    with open(state) as f:
        handler.reply(json.load(f))
ubus.add("network.interface", {"dump": {"method": dump, "signature": {}}})
while os.path.exists(state):
    ubus.loop(200)
ubus.disconnect()
"""


def netifd_interface(name, proto, device=None, address=None):
    """One entry of netifd's dump, shaped as netifd_handle_status writes it: an interface
    that is up has l3_device, uptime, metric and its address lists; one without a device
    (down) has neither."""
    entry = {"interface": name, "up": device is not None, "pending": False,
             "available": device is not None, "autostart": True, "dynamic": False,
             "proto": proto, "data": {}}
    if device is not None:
        entry.update({"uptime": 42, "l3_device": device, "device": device, "metric": 0,
                      "dns_metric": 0, "delegation": True,
                      "ipv4-address": [{"address": address, "mask": 24}] if address else [],
                      "ipv6-address": [], "ipv6-prefix": [], "ipv6-prefix-assignment": [],
                      "route": [], "dns-server": [], "dns-search": [], "neighbors": [],
                      "inactive": {"ipv4-address": [], "ipv6-address": [], "route": [],
                                   "dns-server": [], "dns-search": [], "neighbors": []}})
    return entry


class NetifdStandin:
    """Stand-in for netifd's `network.interface` object (netifd is not in the kit)."""

    def __init__(self, router):
        self.router = router
        self.state = os.path.join(router.run_dir, "netifd-standin.json")
        self.proc = None

    def set(self, interfaces):
        tmp = self.state + ".new"
        with open(tmp, "w") as f:
            json.dump({"interface": interfaces}, f)
        os.rename(tmp, self.state)

    def start(self, interfaces):
        self.set(interfaces)
        self.router.write("/tmp/netifd-standin.py", STANDIN)
        self.proc = subprocess.Popen(
            ["bash", "-c", '. "$0"; userland_exec python3 /tmp/netifd-standin.py '
             '/run/netifd-standin.json', os.path.join(kit.KIT, "userland.sh")],
            env=self.router._env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.router.wait_object("network.interface")
        return self

    def stop(self):
        try:
            os.remove(self.state)
        except OSError:
            pass
        if self.proc is not None:
            self.proc.wait(timeout=10)
