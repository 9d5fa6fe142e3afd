#!/usr/bin/env python3
"""Generic traffic probe for the vpn-passthrough lab (stdlib only, run inside a namespace).

Every command prints ONE JSON line on stdout when it ends and always ends in bounded time
(--timeout / --duration, or SIGTERM/SIGINT which also prints the result).

  probe.py listen      --proto udp|tcp|esp|ah|gre [--port P] [--family 4|6|both]
                       [--timeout T] [--expect N] [--echo] [--ready-file F]
  probe.py send        --proto udp|tcp|esp|ah|gre --dst ADDR [--port P] [--count N]
                       [--interval S] [--sport P] [--wait W] [--spi N] [--gre-key K]
  probe.py flow-send   --proto udp|tcp --dst ADDR --port P [--interval 0.1] [--duration D]
                       [--sport P]          (runs until --duration or SIGTERM)
  probe.py flow-listen --proto udp|tcp --port P [--timeout T] [--echo] [--ready-file F]
                       (= listen, never stops early, reports arrival times)

listen/flow-listen output:
  {"role": "listen", "proto": "udp", "port": 1701, "count": 3,
   "sources": {"198.51.100.1": 3}, "first_source": "198.51.100.1",
   "first_at": 1764285000.123, "last_at": 1764285000.223, "max_gap": 0.1,
   "arrivals": [epoch, ...] (first 2000), "connections": 0 (tcp: accepted connections),
   "spis": [...] (esp/ah), "gre_keys": [...] (gre), "started_at": epoch, "ended_at": epoch,
   "errors": []}
  For tcp, "count" is the number of accepted connections for `listen`, and the number of
  newline-terminated messages for `flow-listen`; both are also reported as "connections"
  and "messages".
send output:
  {"role": "send", "proto": "udp", "dst": "198.51.100.2", "port": 1701, "sport": 40000,
   "sent": 3, "errors": ["..."], "replies": 0, "connected": 3 (tcp), "failed": 0 (tcp)}
flow-send output:
  {"role": "flow-send", "proto": "udp", "dst": ..., "port": ..., "sport": ..., "sent": 97,
   "errors": 0, "error_samples": [...], "first_at": epoch, "last_at": epoch,
   "replies": 95, "last_reply_at": epoch, "connected": true|false|null (tcp only)}
  Note: a UDP flow nobody answers stays conntrack state NEW (UNREPLIED) forever; run
  flow-listen with --echo to get an ESTABLISHED flow.

Addresses may be IPv4 or IPv6; IPv4-mapped IPv6 sources are reported as plain IPv4.
The fake AH header says "next header 59 (none)": over IPv4 the router tracks it as
"unknown 51"; over IPv6 conntrack skips AH as an extension header, finds nothing, and the
packet has NO conntrack entry (ct state invalid) -- `meta l4proto ah` still matches it.
"""

import argparse
import errno
import ipaddress
import select
import socket
import struct
import sys
import time

from peerlib import Stop, emit, stop_on_signals, touch

PROTO_NUM = {"esp": 50, "ah": 51, "gre": 47}
MAX_ARRIVALS = 2000


def family_of(addr):
    return socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET


def norm(addr):
    addr = addr.split("%")[0]
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)


# ---------------------------------------------------------------------------- packet builders
def esp_packet(spi, seq, tag):
    return struct.pack("!II", spi, seq) + tag + b"\x00" * 16


def ah_packet(spi, seq, tag):
    # next header 59 (no next header), payload len = 24 bytes/4 - 2 = 4, reserved,
    # SPI, sequence, 12-byte ICV; then the tag as (unauthenticated) data.
    return struct.pack("!BBHII", 59, 4, 0, spi, seq) + b"\x00" * 12 + tag


def gre_packet(key, seq, tag, version):
    if version == 1:
        # RFC 2637 enhanced GRE: K + S bits, version 1, protocol 0x880B,
        # key = payload length (16 bit) + call id (16 bit), sequence number
        return struct.pack("!HHHHI", 0x3001, 0x880B, len(tag), key & 0xFFFF, seq) + tag
    # RFC 2784/2890 GRE v0 with a key, carrying a (fake) IPv4 protocol payload
    return struct.pack("!HHI", 0x2000, 0x0800, key) + tag


def parse_raw(proto, data, is_v4):
    """Strip the IPv4 header (raw IPv4 sockets include it); return (payload, info)."""
    if is_v4 and len(data) >= 20:
        ihl = (data[0] & 0x0F) * 4
        data = data[ihl:]
    info = {}
    if proto in ("esp", "ah"):
        off = 4 if proto == "ah" else 0
        if len(data) >= off + 4:
            info["spi"] = struct.unpack("!I", data[off:off + 4])[0]
    elif proto == "gre" and len(data) >= 4:
        flags, ptype = struct.unpack("!HH", data[:4])
        info["gre_version"] = flags & 7
        if flags & 0x2000 and len(data) >= 8:
            if flags & 7 == 1:
                info["gre_key"] = struct.unpack("!H", data[6:8])[0]
            else:
                off = 8 if flags & 0x8000 else 4
                info["gre_key"] = struct.unpack("!I", data[off:off + 4])[0]
    return data, info


# ---------------------------------------------------------------------------- listen
def cmd_listen(a, flow=False):
    fams = {"4": [socket.AF_INET], "6": [socket.AF_INET6],
            "both": [socket.AF_INET, socket.AF_INET6]}[a.family]
    socks = []
    for fam in fams:
        if a.proto == "udp":
            s = socket.socket(fam, socket.SOCK_DGRAM)
        elif a.proto == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            s = socket.socket(fam, socket.SOCK_RAW, PROTO_NUM[a.proto])
        if a.proto in ("udp", "tcp"):
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(("0.0.0.0" if fam == socket.AF_INET else "::", a.port))
            if a.proto == "tcp":
                s.listen(64)
        s.setblocking(False)
        socks.append(s)
    res = {"role": "flow-listen" if flow else "listen", "proto": a.proto, "port": a.port,
           "count": 0, "sources": {}, "first_source": None, "first_at": None,
           "last_at": None, "max_gap": None, "arrivals": [], "connections": 0,
           "messages": 0, "errors": [], "started_at": round(time.time(), 3)}
    if a.proto in ("esp", "ah"):
        res["spis"] = []
    if a.proto == "gre":
        res["gre_keys"] = []
    conns = {}  # tcp: socket -> [source, buffer]

    def arrived(src):
        now = time.time()
        res["count"] += 1
        src = norm(src)
        res["sources"][src] = res["sources"].get(src, 0) + 1
        if res["first_source"] is None:
            res["first_source"], res["first_at"] = src, round(now, 3)
        if res["last_at"] is not None:
            gap = round(now - res["last_at"], 3)
            if res["max_gap"] is None or gap > res["max_gap"]:
                res["max_gap"] = gap
        res["last_at"] = round(now, 3)
        if len(res["arrivals"]) < MAX_ARRIVALS:
            res["arrivals"].append(round(now, 3))

    touch(a.ready_file)
    deadline = time.time() + a.timeout
    try:
        while True:
            left = deadline - time.time()
            if left <= 0:
                break
            if a.expect and res["count"] >= a.expect:
                break
            r, _, _ = select.select(socks + list(conns), [], [], min(left, 0.2))
            for s in r:
                if s in conns:  # tcp data
                    try:
                        data = s.recv(65536)
                    except OSError as e:
                        data = b""
                        res["errors"].append(str(e))
                    if not data:
                        s.close()
                        del conns[s]
                        continue
                    if a.echo:
                        try:
                            s.sendall(data)
                        except OSError:
                            pass
                    conns[s][1] += data
                    while b"\n" in conns[s][1]:
                        _, conns[s][1] = conns[s][1].split(b"\n", 1)
                        res["messages"] += 1
                        if flow:
                            arrived(conns[s][0])
                    continue
                if a.proto == "tcp":
                    try:
                        c, addr = s.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    conns[c] = [addr[0], b""]
                    res["connections"] += 1
                    if not flow:
                        arrived(addr[0])
                    continue
                try:
                    data, addr = s.recvfrom(65536)
                except OSError as e:
                    res["errors"].append(str(e))
                    continue
                if a.proto == "udp":
                    if a.echo:
                        try:
                            s.sendto(data, addr)
                        except OSError:
                            pass
                else:
                    _, info = parse_raw(a.proto, data, s.family == socket.AF_INET)
                    if "spi" in info and len(res["spis"]) < 100:
                        if info["spi"] not in res["spis"]:
                            res["spis"].append(info["spi"])
                    if "gre_key" in info and info["gre_key"] not in res["gre_keys"]:
                        res["gre_keys"].append(info["gre_key"])
                arrived(addr[0])
    except Stop:
        pass
    res["ended_at"] = round(time.time(), 3)
    emit(res)
    return 0


# ---------------------------------------------------------------------------- send
def make_sock(proto, dst, sport=None):
    fam = family_of(dst)
    if proto == "udp":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:  # don't also claim the IPv4 port
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(("0.0.0.0" if fam == socket.AF_INET else "::", sport))
    else:
        s = socket.socket(fam, socket.SOCK_RAW, PROTO_NUM[proto])
    return s


def raw_payload(a, seq):
    tag = b"vpt-probe %d\n" % seq
    if a.proto == "esp":
        return esp_packet(a.spi, seq + 1, tag)
    if a.proto == "ah":
        return ah_packet(a.spi, seq + 1, tag)
    return gre_packet(a.gre_key, seq, tag, a.gre_version)


def cmd_send(a):
    res = {"role": "send", "proto": a.proto, "dst": a.dst, "port": a.port, "sport": None,
           "sent": 0, "errors": [], "replies": 0}
    try:
        if a.proto == "tcp":
            res.update(connected=0, failed=0)
            for i in range(a.count):
                try:
                    c = socket.create_connection((a.dst, a.port), timeout=a.connect_timeout,
                                                 source_address=("", a.sport) if a.sport
                                                 else None)
                    res["connected"] += 1
                    res["sport"] = c.getsockname()[1]
                    c.sendall(b"vpt-probe %d\n" % i)
                    res["sent"] += 1
                    if a.wait:
                        c.settimeout(a.wait)
                        try:
                            if c.recv(4096):
                                res["replies"] += 1
                        except OSError:
                            pass
                    c.close()
                except socket.timeout:
                    res["failed"] += 1
                    res["errors"].append("timeout")
                except OSError as e:
                    res["failed"] += 1
                    res["errors"].append(errno.errorcode.get(e.errno, str(e)))
                if i + 1 < a.count:
                    time.sleep(a.interval)
        else:
            s = make_sock(a.proto, a.dst, a.sport)
            s.setblocking(False)
            if a.proto == "udp":
                res["sport"] = s.getsockname()[1] if a.sport else None
            for i in range(a.count):
                data = (b"vpt-probe %d\n" % i) if a.proto == "udp" else raw_payload(a, i)
                try:
                    s.sendto(data, (a.dst, a.port if a.proto == "udp" else 0))
                    res["sent"] += 1
                except OSError as e:
                    res["errors"].append(errno.errorcode.get(e.errno, str(e)))
                if a.proto == "udp" and res["sport"] is None:
                    res["sport"] = s.getsockname()[1]
                if i + 1 < a.count:
                    time.sleep(a.interval)
            end = time.time() + a.wait
            while a.proto == "udp" and time.time() < end:
                r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
                if r:
                    try:
                        s.recvfrom(65536)
                        res["replies"] += 1
                    except OSError as e:
                        res["errors"].append(errno.errorcode.get(e.errno, str(e)))
    except Stop:
        pass
    res["errors"] = res["errors"][:20]
    emit(res)
    return 0


# ---------------------------------------------------------------------------- flow-send
def cmd_flow_send(a):
    res = {"role": "flow-send", "proto": a.proto, "dst": a.dst, "port": a.port, "sport": None,
           "sent": 0, "errors": 0, "error_samples": [], "first_at": None, "last_at": None,
           "connected": None, "replies": 0, "last_reply_at": None}
    end = time.time() + a.duration
    s = None
    try:
        if a.proto == "tcp":
            try:
                s = socket.create_connection((a.dst, a.port), timeout=a.connect_timeout,
                                             source_address=("", a.sport) if a.sport else None)
                res["connected"] = True
                s.setblocking(False)
            except OSError as e:
                res["connected"] = False
                res["errors"] += 1
                res["error_samples"].append(errno.errorcode.get(e.errno, str(e)) or "timeout")
                s = None
        else:
            s = make_sock("udp", a.dst, a.sport)
            s.setblocking(False)
        if s is not None:
            res["sport"] = s.getsockname()[1] if a.proto == "tcp" or a.sport else None
            i = 0
            while time.time() < end:
                data = b"vpt-flow %d\n" % i
                try:
                    if a.proto == "tcp":
                        s.send(data)
                    else:
                        s.sendto(data, (a.dst, a.port))
                    res["sent"] += 1
                    now = round(time.time(), 3)
                    res["first_at"] = res["first_at"] or now
                    res["last_at"] = now
                except OSError as e:
                    res["errors"] += 1
                    if len(res["error_samples"]) < 5:
                        res["error_samples"].append(errno.errorcode.get(e.errno, str(e)))
                if res["sport"] is None:
                    res["sport"] = s.getsockname()[1]
                i += 1
                nxt = time.time() + a.interval
                while True:  # count echoed replies (listener --echo) while pacing
                    left = nxt - time.time()
                    if left <= 0:
                        break
                    r, _, _ = select.select([s], [], [], left)
                    if not r:
                        break
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError as e:  # e.g. ECONNREFUSED from an ICMP error
                        res["errors"] += 1
                        if len(res["error_samples"]) < 5:
                            res["error_samples"].append(errno.errorcode.get(e.errno, str(e)))
                        continue
                    if a.proto == "tcp" and not data:
                        break
                    n = data.count(b"\n") if a.proto == "tcp" else 1
                    res["replies"] += n
                    res["last_reply_at"] = round(time.time(), 3)
    except Stop:
        pass
    emit(res)
    return 0


def main(argv=None):
    stop_on_signals()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("listen", "flow-listen"):
        l = sub.add_parser(name)
        l.add_argument("--proto", choices=("udp", "tcp", "esp", "ah", "gre"),
                       default="udp")
        l.add_argument("--port", type=int, default=0)
        l.add_argument("--family", choices=("4", "6", "both"), default="both")
        l.add_argument("--timeout", type=float, default=5.0)
        l.add_argument("--expect", type=int, default=0,
                       help="stop as soon as this many arrived (listen only)")
        l.add_argument("--echo", action="store_true", help="echo udp/tcp data back")
        l.add_argument("--ready-file")
    s = sub.add_parser("send")
    s.add_argument("--proto", choices=("udp", "tcp", "esp", "ah", "gre"), default="udp")
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--sport", type=int, default=0)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--interval", type=float, default=0.05)
    s.add_argument("--wait", type=float, default=0.0,
                   help="seconds to wait for echoed replies (udp, tcp)")
    s.add_argument("--connect-timeout", type=float, default=2.0)
    s.add_argument("--spi", type=lambda x: int(x, 0), default=0x1001)
    s.add_argument("--gre-key", type=lambda x: int(x, 0), default=1)
    s.add_argument("--gre-version", type=int, choices=(0, 1), default=0)
    s.add_argument("--ready-file")
    f = sub.add_parser("flow-send")
    f.add_argument("--proto", choices=("udp", "tcp"), default="udp")
    f.add_argument("--dst", required=True)
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--sport", type=int, default=0)
    f.add_argument("--interval", type=float, default=0.1)
    f.add_argument("--duration", type=float, default=10.0)
    f.add_argument("--connect-timeout", type=float, default=2.0)
    f.add_argument("--ready-file")
    a = p.parse_args(argv)
    try:
        return dispatch(a)
    except Exception as e:  # still one JSON line, so the caller sees what went wrong
        emit({"role": a.cmd, "proto": getattr(a, "proto", None),
              "error": "%s: %s" % (type(e).__name__, e)})
        return 1


def dispatch(a):
    if a.cmd == "listen":
        return cmd_listen(a)
    if a.cmd == "flow-listen":
        a.expect = 0
        return cmd_listen(a, flow=True)
    touch(getattr(a, "ready_file", None))
    if a.cmd == "send":
        return cmd_send(a)
    return cmd_flow_send(a)


if __name__ == "__main__":
    sys.exit(main())
