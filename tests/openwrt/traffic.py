"""Real packets between the LAN client and the WAN server of tests/openwrt/router.py."""

import subprocess
import time

from openwrt.router import WAN_SERVER

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


def _py(ns, script, *args, **kw):
    return subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", script]
                            + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def udp(router, port, count=3, server=WAN_SERVER):
    """Datagrams LAN client -> WAN server; how many arrived."""
    listener = _py(router.wan_ns, LISTEN, port, 1.5)
    assert listener.stdout.readline().strip() == "ready"
    sender = _py(router.lan_ns, SEND, server, port, count)
    sender.wait(timeout=10)
    out, err = listener.communicate(timeout=10)
    return int(out.strip())


def pptp_helper_assigned(router):
    """A TCP connection to port 1723 through the router: does conntrack show the
    pptp helper on it?"""
    subprocess.run(["ip", "netns", "exec", router.netns, "conntrack", "-F"],
                   capture_output=True)
    server = _py(router.wan_ns, ACCEPT, 1723, 3)
    assert server.stdout.readline().strip() == "ready"
    client = _py(router.lan_ns, CONNECT, WAN_SERVER, 1723, 1.0)
    time.sleep(0.5)
    listing = subprocess.run(["ip", "netns", "exec", router.netns, "conntrack", "-L", "-p",
                              "tcp", "--dport", "1723"], capture_output=True, text=True)
    client.wait(timeout=10)
    server.kill()
    server.wait()
    return "helper=pptp" in listing.stdout
