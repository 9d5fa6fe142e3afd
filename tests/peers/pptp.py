#!/usr/bin/env python3
"""Minimal PPTP control-channel + enhanced-GRE peers (RFC 2637), stdlib only, IPv4.

Enough of PPTP for the kernel's nf_conntrack_pptp / nf_nat_pptp to act on (no PPP inside):
the control messages have the exact RFC 2637 layouts (length, message type 1, magic cookie
0x1A2B3C4D, control message type), one message per TCP segment.

  pptp.py server [--port 1723] [--timeout 20] [--calls N] [--linger 0.5] [--first-call-id 0x4000]
                 [--ready-file F]
      Answers SCCRQ(1) with SCCRP(2, result 1), OCRQ(7) with OCRP(8, result 1 "connected",
      its own Call ID, Peer Call ID = the call ID it saw in the OCRQ), Call-Clear-Request(12)
      with Call-Disconnect-Notify(13), Stop-Control-Connection-Request(3) with Reply(4).
      Receives GRE v1 (key = its own call ID) on a raw IPPROTO_GRE socket and answers every
      packet with one GRE packet to the sender whose key is the caller's call ID AS SEEN.
      Ends after --calls control connections have closed (+ --linger), or at --timeout.
      Output (one JSON line):
        {"role": "server", "calls": [{"client": "198.51.100.1", "tcp_sport": 40112,
          "peer_call_id": 40112, "call_id": 16384, "gre_received": 5, "gre_sent": 5,
          "closed": true}], "gre_unmatched": 0, "errors": []}

  pptp.py client --server 198.51.100.2 --call-id N [--count K] [--port 1723]
                 [--gre-delay S] [--interval S] [--wait S] [--hold S] [--no-teardown]
                 [--connect-timeout 5] [--ready-file F]
      SCCRQ -> SCCRP, OCRQ(call ID N) -> OCRP, waits --gre-delay, sends K GRE v1 packets
      (key = the server's call ID), counts GRE packets that come back from the server with
      key N, waits --hold, then Call-Clear-Request / Stop-Control-Connection-Request (unless
      --no-teardown) and closes.  Connection refusals are retried until --connect-timeout
      (which also bounds a connect that gets no answer, e.g. a dropped SYN).
      Output (one JSON line):
        {"role": "client", "server": "198.51.100.2", "call_id": 7, "tcp_sport": 40112,
         "sccrp_result": 1, "ocrp_result": 1, "server_call_id": 16384,
         "echoed_peer_call_id": 7, "gre_sent": 5, "gre_received": 5,
         "gre_keys_received": [7], "ok": true, "error": null}
      "ok" is true when the control exchange succeeded and every GRE packet came back.
"""

import argparse
import select
import socket
import struct
import sys
import threading
import time

from peerlib import Stop, emit, stop_on_signals, touch

MAGIC = 0x1A2B3C4D
CTRL = 1
SCCRQ, SCCRP, STOPCCRQ, STOPCCRP = 1, 2, 3, 4
OCRQ, OCRP = 7, 8
CCRQ, CDN = 12, 13
GRE_PPP = 0x880B
IPPROTO_GRE = 47

# body layouts after the 12-byte header (length, type, cookie, ctrl type, reserved0)
BODY = {
    # protocol version, reserved1, framing caps, bearer caps, max channels, firmware rev,
    # host name[64], vendor[64]  -> 156 bytes total
    SCCRQ: "!HHIIHH64s64s",
    # protocol version, result, error, framing caps, bearer caps, max channels, firmware rev,
    # host name[64], vendor[64]  -> 156
    SCCRP: "!HBBIIHH64s64s",
    # reason, reserved1, reserved2 -> 16
    STOPCCRQ: "!BBH",
    # result, error, reserved1 -> 16
    STOPCCRP: "!BBH",
    # call id, call serial, min bps, max bps, bearer type, framing type, recv window,
    # processing delay, phone number length, reserved1, phone number[64], subaddress[64] -> 168
    OCRQ: "!HHIIIIHHHH64s64s",
    # call id, peer call id, result, error, cause, connect speed, recv window,
    # processing delay, physical channel id -> 32
    OCRP: "!HHBBHIHHI",
    # call id, reserved1 -> 16
    CCRQ: "!HH",
    # call id, result, error, cause, reserved1, call statistics[128] -> 148
    CDN: "!HBBHH128s",
}


def ctrl_msg(mtype, *fields):
    body = struct.pack(BODY[mtype], *fields)
    length = 12 + len(body)
    return struct.pack("!HHIHH", length, CTRL, MAGIC, mtype, 0) + body


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def recv_msg(sock):
    """Read one control message -> (ctrl type, tuple of body fields)."""
    hdr = recv_exact(sock, 12)
    length, mtype, cookie, ctype, _ = struct.unpack("!HHIHH", hdr)
    if mtype != CTRL or cookie != MAGIC or length < 12:
        raise ValueError("bad PPTP header len=%d type=%d cookie=%#x" % (length, mtype, cookie))
    body = recv_exact(sock, length - 12)
    fmt = BODY.get(ctype)
    if fmt is None or struct.calcsize(fmt) != len(body):
        return ctype, (body,)
    return ctype, struct.unpack(fmt, body)


def gre_packet(call_id, seq, payload):
    # enhanced GRE: flags K|S, version 1; protocol 0x880B; key = payload len + call id; seq
    return struct.pack("!HHHHI", 0x3001, GRE_PPP, len(payload), call_id & 0xFFFF, seq) + payload


def parse_gre(data):
    """Raw IPv4 socket data -> (src ip, call id) for a GRE v1 / PPP packet, else None."""
    if len(data) < 20:
        return None
    ihl = (data[0] & 0x0F) * 4
    src = socket.inet_ntoa(data[12:16])
    g = data[ihl:]
    if len(g) < 8:
        return None
    flags, proto, _plen, call_id = struct.unpack("!HHHH", g[:8])
    if flags & 7 != 1 or proto != GRE_PPP or not flags & 0x2000:
        return None
    return src, call_id


def name64(s):
    return s.encode()[:64].ljust(64, b"\0")


# ---------------------------------------------------------------------------- server
class Server:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.calls = {}  # our call id -> dict
        self.order = []
        self.next_id = a.first_call_id
        self.errors = []
        self.gre_unmatched = 0
        self.closed = 0
        self.last_close = None

    def handle(self, conn, addr):
        my_calls = []
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(self.a.timeout)
            while True:
                try:
                    ctype, f = recv_msg(conn)
                except EOFError:
                    break
                if ctype == SCCRQ:
                    conn.sendall(ctrl_msg(SCCRP, 0x0100, 1, 0, 3, 3, 16, 1,
                                          name64("vplab-pac"), name64("vpn-passthrough lab")))
                elif ctype == OCRQ:
                    peer_cid = f[0]
                    with self.lock:
                        cid = self.next_id
                        self.next_id += 1
                        call = {"client": addr[0], "tcp_sport": addr[1],
                                "peer_call_id": peer_cid, "call_id": cid,
                                "gre_received": 0, "gre_sent": 0, "closed": False}
                        self.calls[cid] = call
                        self.order.append(cid)
                    my_calls.append(call)
                    # call id, peer call id, result 1 (connected), error, cause,
                    # speed, window, delay, channel
                    conn.sendall(ctrl_msg(OCRP, cid, peer_cid, 1, 0, 0, 64000, 64, 0, 0))
                elif ctype == CCRQ:
                    cid = my_calls[-1]["call_id"] if my_calls else 0
                    conn.sendall(ctrl_msg(CDN, f[0] if cid == 0 else cid, 1, 0, 0, 0,
                                          b"\0" * 128))
                elif ctype == STOPCCRQ:
                    conn.sendall(ctrl_msg(STOPCCRP, 1, 0, 0))
                else:
                    with self.lock:
                        self.errors.append("unexpected control message %d" % ctype)
        except Exception as e:  # report, don't die
            with self.lock:
                self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            conn.close()
            with self.lock:
                for c in my_calls:
                    c["closed"] = True
                self.closed += 1
                self.last_close = time.time()

    def run(self):
        a = self.a
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("0.0.0.0", a.port))
        lsock.listen(16)
        gsock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_GRE)
        touch(a.ready_file)
        deadline = time.time() + a.timeout
        try:
            while time.time() < deadline:
                with self.lock:
                    if a.calls and self.closed >= a.calls and \
                            time.time() - self.last_close >= a.linger:
                        break
                r, _, _ = select.select([lsock, gsock], [], [], 0.05)
                if lsock in r:
                    conn, addr = lsock.accept()
                    threading.Thread(target=self.handle, args=(conn, addr),
                                     daemon=True).start()
                if gsock in r:
                    data, addr = gsock.recvfrom(65536)
                    parsed = parse_gre(data)
                    if not parsed:
                        continue
                    src, key = parsed
                    with self.lock:
                        call = self.calls.get(key)
                        if call is None:
                            self.gre_unmatched += 1
                            continue
                        call["gre_received"] += 1
                        if "gre_sources" not in call:
                            call["gre_sources"] = []
                        if src not in call["gre_sources"]:
                            call["gre_sources"].append(src)
                        seq = call["gre_sent"]
                        peer = call["peer_call_id"]
                    try:
                        gsock.sendto(gre_packet(peer, seq, b"vpt-pptp-server\n"), (src, 0))
                        with self.lock:
                            call["gre_sent"] += 1
                    except OSError as e:
                        with self.lock:
                            self.errors.append("gre send: %s" % e)
        except Stop:
            pass
        with self.lock:
            emit({"role": "server", "calls": [self.calls[c] for c in self.order],
                  "gre_unmatched": self.gre_unmatched, "errors": self.errors[:20]})
        return 0


# ---------------------------------------------------------------------------- client
def client(a):
    res = {"role": "client", "server": a.server, "call_id": a.call_id, "tcp_sport": None,
           "sccrp_result": None, "ocrp_result": None, "server_call_id": None,
           "echoed_peer_call_id": None, "gre_sent": 0, "gre_received": 0,
           "gre_keys_received": [], "ok": False, "error": None}
    sock = None
    try:
        gsock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_GRE)
        touch(a.ready_file)
        deadline = time.time() + a.connect_timeout
        while True:
            try:
                sock = socket.create_connection(
                    (a.server, a.port), timeout=max(0.2, min(2.0, deadline - time.time())))
                break
            except ConnectionRefusedError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(5.0)
        res["tcp_sport"] = sock.getsockname()[1]
        sock.sendall(ctrl_msg(SCCRQ, 0x0100, 0, 3, 3, 0, 1, name64("vplab-pns"),
                              name64("vpn-passthrough lab")))
        ctype, f = recv_msg(sock)
        if ctype != SCCRP:
            raise ValueError("expected SCCRP, got %d" % ctype)
        res["sccrp_result"] = f[1]
        sock.sendall(ctrl_msg(OCRQ, a.call_id, 1, 300, 100000000, 3, 3, 64, 0, 0, 0,
                              b"\0" * 64, b"\0" * 64))
        ctype, f = recv_msg(sock)
        if ctype != OCRP:
            raise ValueError("expected OCRP, got %d" % ctype)
        res["server_call_id"], res["echoed_peer_call_id"], res["ocrp_result"] = f[0], f[1], f[2]
        if a.gre_delay:
            time.sleep(a.gre_delay)
        gsock.setblocking(False)

        def drain(until):
            while True:
                left = until - time.time()
                if left <= 0:
                    return
                r, _, _ = select.select([gsock], [], [], left)
                if not r:
                    return
                try:
                    data, _ = gsock.recvfrom(65536)
                except BlockingIOError:
                    continue
                parsed = parse_gre(data)
                if not parsed or parsed[0] != a.server:
                    continue
                if parsed[1] not in res["gre_keys_received"]:
                    res["gre_keys_received"].append(parsed[1])
                if parsed[1] == a.call_id:
                    res["gre_received"] += 1

        for i in range(a.count):
            gsock.sendto(gre_packet(res["server_call_id"], i, b"vpt-pptp-client\n"),
                         (a.server, 0))
            res["gre_sent"] += 1
            drain(time.time() + a.interval)
        end = time.time() + a.wait
        while res["gre_received"] < a.count and time.time() < end:
            drain(min(end, time.time() + 0.05))
        if a.hold:
            drain(time.time() + a.hold)
        if not a.no_teardown:
            sock.sendall(ctrl_msg(CCRQ, a.call_id, 0))
            try:
                ctype, f = recv_msg(sock)
                sock.sendall(ctrl_msg(STOPCCRQ, 1, 0, 0))
                ctype, f = recv_msg(sock)
            except (EOFError, OSError, ValueError) as e:
                res["error"] = "teardown: %s" % e
        res["ok"] = (res["sccrp_result"] == 1 and res["ocrp_result"] == 1
                     and res["gre_received"] >= a.count)
    except Stop:
        res["error"] = "terminated"
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if sock:
            sock.close()
    emit(res)
    return 0


def main(argv=None):
    stop_on_signals()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, default=1723)
    s.add_argument("--timeout", type=float, default=20.0)
    s.add_argument("--calls", type=int, default=0,
                   help="end after this many control connections have closed")
    s.add_argument("--linger", type=float, default=0.3)
    s.add_argument("--first-call-id", type=lambda x: int(x, 0), default=0x4000)
    s.add_argument("--ready-file")
    c = sub.add_parser("client")
    c.add_argument("--server", required=True)
    c.add_argument("--port", type=int, default=1723)
    c.add_argument("--call-id", type=lambda x: int(x, 0), required=True)
    c.add_argument("--count", type=int, default=3)
    c.add_argument("--interval", type=float, default=0.05)
    c.add_argument("--gre-delay", type=float, default=0.0,
                   help="pause after OCRP before the first GRE packet (expectations visible)")
    c.add_argument("--wait", type=float, default=1.0,
                   help="max seconds to wait for missing GRE replies after sending")
    c.add_argument("--hold", type=float, default=0.0,
                   help="keep the call up this long after the GRE exchange")
    c.add_argument("--no-teardown", action="store_true")
    c.add_argument("--connect-timeout", type=float, default=5.0)
    c.add_argument("--ready-file")
    a = p.parse_args(argv)
    if a.cmd == "server":
        return Server(a).run()
    return client(a)


if __name__ == "__main__":
    sys.exit(main())
