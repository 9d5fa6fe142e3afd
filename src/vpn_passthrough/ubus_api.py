"""ubus door (python3-ubus): the resident service behind `vpn-passthrough serve`.

python3-ubus answers a call only when its arguments are exactly the declared
ones (no optional arguments), and LuCI's calls through rpcd always carry
`ubus_rpc_session`. One method cannot serve both callers, so every method is
registered twice: on `vpn-passthrough` (ubus call, scripts) and on
`luci.vpn-passthrough` (the same methods, each also declaring the session).

The service idles in ubus.loop(): no timer, it wakes only for calls. procd's
reload calls the `reload` method (see the init script): a signal would not do,
because Python runs its signal handlers only between bytecodes, and the loop is
libubox's uloop in C, which goes back to sleep after any signal but SIGTERM and
SIGINT. Those two end the process (see serve()), and procd's stop works at once.

Every reply and the event stay small at any number of clients or flows (see
report.py): `status` is a summary, `clients` a page, `sessions` at most a page.
"""

import signal
import sys

from . import kernel
from .service import ApplyError
from .settings import SettingsError

OBJECT = "vpn-passthrough"
LUCI_OBJECT = "luci.vpn-passthrough"
EVENT = "vpn-passthrough.changed"
SESSION = "ubus_rpc_session"


def _error(e):
    """Reply fields for an error the user can act on (field names section.option)."""
    return {"ok": False, "error": str(e), "field": getattr(e, "field", "") or ""}


class Api:
    """The methods, each a thin call into the Service; `bus` is the ubus module."""

    def __init__(self, svc, bus):
        self.svc = svc
        self.bus = bus

    # --- methods: each takes the call's arguments, returns the reply ----------

    def status(self, args):
        return self.svc.status()

    def clients(self, args):
        try:
            return self.svc.clients(args.get("offset", 0), args.get("limit", 100))
        except SettingsError as e:
            reply = _error(e)
            reply.update({"total": 0, "offset": 0, "clients": []})
            return reply

    def sessions(self, args):
        try:
            return self.svc.sessions()
        except SettingsError as e:
            reply = _error(e)
            reply.update({"total": 0, "truncated": False, "counts": {}, "flows": []})
            return reply

    def reset_counters(self, args):
        return self.apply(self.svc.reset_counters)

    def check(self, args):
        return self.svc.check()

    def reload(self, args):
        return self.apply(self.svc.apply)

    def set(self, args):
        values = args.get("values")
        return self.apply(lambda: self.svc.set(values))

    def apply(self, action):
        """Run an apply, announce the outcome, reply as DESIGN.md says."""
        try:
            action()
            reply = {"ok": True}
        except (SettingsError, ApplyError, kernel.KernelError) as e:
            sys.stderr.write("vpn-passthrough: error: " + str(e) + "\n")
            reply = _error(e)
        status = self.svc.status()
        if reply["ok"]:
            reply["status"] = status
        self.announce(status)
        return reply

    def announce(self, status):
        try:
            self.bus.send(EVENT, status)
        except Exception as e:          # an event is a courtesy: never fail the call for it
            sys.stderr.write("vpn-passthrough: cannot send " + EVENT + ": " + str(e) + "\n")

    # --- registration --------------------------------------------------------

    def table(self, luci):
        """{method: {"method": callback, "signature": {...}}} for bus.add()."""
        table = self.bus.BLOBMSG_TYPE_TABLE
        number = self.bus.BLOBMSG_TYPE_INT32
        methods = (("status", self.status, {}),
                   ("clients", self.clients, {"offset": number, "limit": number}),
                   ("sessions", self.sessions, {}),
                   ("reset_counters", self.reset_counters, {}),
                   ("check", self.check, {}),
                   ("reload", self.reload, {}),
                   ("set", self.set, {"values": table}))
        out = {}
        for name, fn, signature in methods:
            signature = dict(signature)
            if luci:
                signature[SESSION] = self.bus.BLOBMSG_TYPE_STRING
            out[name] = {"method": self._callback(name, fn), "signature": signature}
        return out

    def _callback(self, name, fn):
        def callback(handler, data):
            try:
                reply = fn(data or {})
            except Exception as e:      # keep serving; the caller gets a reason, not status 9
                _print_traceback(e)
                reply = {"ok": False, "error": name + ": internal error: " + str(e),
                         "field": ""}
            handler.reply(reply)
        return callback

    def register(self):
        self.bus.add(OBJECT, self.table(False))
        self.bus.add(LUCI_OBJECT, self.table(True))


def _print_traceback(e):
    try:
        import traceback        # only when something broke: keeps the resident process small
        traceback.print_exc()
    except ImportError:
        sys.stderr.write("vpn-passthrough: " + repr(e) + "\n")


def serve(svc, bus=None):
    """Apply, register both objects, then sleep in ubus.loop() until told to stop."""
    if bus is None:
        try:
            import ubus as bus
        except ImportError:
            sys.stderr.write("vpn-passthrough: python3-ubus is missing: opkg install "
                             "python3-ubus\n")
            svc_apply_once(svc)
            return 1
    api = Api(svc, bus)
    # A SIGTERM before loop() would be lost: uloop's handler only marks the loop
    # cancelled, and loop() clears that mark when it starts. So until loop(), our
    # handler (installed first: uloop then leaves SIGTERM alone) ends the process at
    # once; in loop(), SIGTERM and SIGINT take their default action and end it too.
    old = {signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate)}
    try:
        try:
            bus.connect()
        except Exception as e:
            sys.stderr.write("vpn-passthrough: cannot connect to ubus: " + str(e) + "\n")
            svc_apply_once(svc)
            return 1
        try:
            api.register()
            api.apply(svc.apply)
            old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # Returns when ubusd goes away (procd respawns us).
            bus.loop()
        finally:
            try:
                bus.disconnect()
            except Exception:
                pass
    finally:
        for signo in old:
            signal.signal(signo, old[signo])
    return 0


def _terminate(signo, frame):
    raise SystemExit(0)


def svc_apply_once(svc):
    """Without ubus the rules still matter: load them, report, and let procd decide."""
    try:
        svc.apply()
    except (SettingsError, ApplyError, kernel.KernelError) as e:
        sys.stderr.write("vpn-passthrough: error: " + str(e) + "\n")
