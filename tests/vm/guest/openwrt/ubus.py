"""Test stand-in for python3-ubus *and* ubusd, used only inside the QEMU test VM.

Debian has neither; the VM installs this as the `ubus` module so the real
`vpn-passthrough serve` (ubus_api.serve) can run, and guest/openwrt/ubus-cli is the
`ubus` command the init script calls. A call travels as one JSON line over a unix
socket. Kept from the real thing: python3-ubus's argument rule (an argument not in the
signature, or a declared one missing, is refused with status 2 "invalid argument"),
replies through handler.reply(), events through send(), loop() blocking in C-like
fashion until the process is killed (SIGTERM ends it, as uloop does).
"""

import json
import os
import socket

BLOBMSG_TYPE_ARRAY = 1
BLOBMSG_TYPE_TABLE = 2
BLOBMSG_TYPE_STRING = 3
BLOBMSG_TYPE_INT64 = 4
BLOBMSG_TYPE_INT32 = 5
BLOBMSG_TYPE_INT16 = 6
BLOBMSG_TYPE_INT8 = 7
BLOBMSG_TYPE_BOOL = 7

SOCK = os.environ.get("UBUS_STUB_SOCKET", "/run/ubus-stub.sock")
EVENTS = os.environ.get("UBUS_STUB_EVENTS", "/run/ubus-stub.events")

_objects = {}
_server = None


def connect(socket_path=None):
    global _server
    if _server is not None:
        raise RuntimeError("already connected")
    try:
        os.unlink(SOCK)
    except OSError:
        pass
    _server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _server.bind(SOCK)
    _server.listen(8)
    return True


def add(name, methods):
    if name in _objects:
        raise RuntimeError("object exists: " + name)
    _objects[name] = methods


def send(event, data):
    with open(EVENTS, "a") as f:
        f.write(json.dumps({event: data}) + "\n")


class _Handler:
    def __init__(self):
        self.replies = []

    def reply(self, data):
        self.replies.append(data)


def _answer(req):
    obj = _objects.get(req.get("object"))
    if obj is None:
        return {"status": 4}                      # UBUS_STATUS_NOT_FOUND
    m = obj.get(req.get("method"))
    if m is None:
        return {"status": 3}                      # UBUS_STATUS_METHOD_NOT_FOUND
    args = req.get("args") or {}
    if set(args) != set(m.get("signature") or {}):
        return {"status": 2}                      # UBUS_STATUS_INVALID_ARGUMENT
    h = _Handler()
    m["method"](h, args)
    return {"status": 0, "replies": h.replies}


def loop(timeout=-1):
    while True:
        conn, _ = _server.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            try:
                out = _answer(json.loads(data.decode() or "{}"))
            except Exception as e:                # noqa: BLE001 — reported to the caller
                out = {"status": 9, "error": repr(e)}  # UBUS_STATUS_UNKNOWN_ERROR
            conn.sendall(json.dumps(out).encode() + b"\n")


def disconnect():
    global _server
    if _server is not None:
        _server.close()
        _server = None
        try:
            os.unlink(SOCK)
        except OSError:
            pass
