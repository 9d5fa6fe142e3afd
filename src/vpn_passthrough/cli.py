"""`vpn-passthrough` command line: a thin door onto service.py."""

import sys

from .service import Service, ApplyError, DEFAULT_CONFIG
from .settings import SettingsError, PROTOCOLS
from . import kernel

USAGE = """usage: vpn-passthrough [--config FILE] COMMAND
commands:
  apply            load the rules for the current settings
  status [--json]  per protocol: configured, effective, helper, counters
  sessions [--json] VPN flows of LAN clients, from conntrack
  check [--json]   diagnostics, each with a one-line fix
  diagnose HOST [--watch SECONDS] [--json]
                   why a device's VPN fails: HOST is a MAC, an IP or a client's name
  flush PROTOCOL   cut running flows of pptp, l2tp or ipsec
  render           print the ruleset apply would load; changes nothing
  stop             remove the table
  serve            run the resident ubus service (procd starts it)
exit status: 0 ok, 1 error (nothing changed), 2 usage, 3 applied but degraded"""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    config = DEFAULT_CONFIG
    as_json = False
    if "--json" in argv:
        argv.remove("--json")
        as_json = True
    if len(argv) >= 2 and argv[0] == "--config":
        config = argv[1]
        argv = argv[2:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    svc = Service(config)
    try:
        return _run(svc, command, args, as_json)
    except SettingsError as e:
        sys.stderr.write("vpn-passthrough: error: " + str(e) + "\n")
        return 1
    except (ApplyError, kernel.KernelError) as e:
        sys.stderr.write("vpn-passthrough: error: " + str(e) + "\n")
        return 1


def _json(data):
    import json                 # only --json needs it: apply starts leaner without
    return json.dumps(data)


def _run(svc, command, args, as_json):
    if command == "apply" and not args:
        result = svc.apply()
        for e in result["errors"]:
            sys.stderr.write("vpn-passthrough: error: " + e + "\n")
        print("applied" if result["changed"] else "unchanged",
              "(" + str(result["flushed"]) + " flows cut)" if result["flushed"] else "")
        return 3 if result["errors"] else 0
    if command == "render" and not args:
        sys.stdout.write(svc.render())
        return 0
    if command == "stop" and not args:
        svc.stop()
        return 0
    if command == "flush" and len(args) == 1:
        print(str(svc.flush(args[0])) + " flows cut")
        return 0
    if command == "status" and not args:
        st = svc.status()
        print(_json(st) if as_json else format_status(st))
        return 0
    if command == "sessions" and not args:
        data = svc.sessions()
        print(_json(data) if as_json else format_sessions(data["sessions"]))
        return 0
    if command == "check" and not args:
        data = svc.check()
        print(_json(data) if as_json else format_findings(data["findings"]))
        return 1 if [f for f in data["findings"] if f["severity"] == "error"] else 0
    if command == "diagnose" and args:
        from . import evidence, verdicts
        watch = evidence.WATCH_DEFAULT
        if "--watch" in args[:-1]:
            watch = args.pop(args.index("--watch") + 1)
            args.remove("--watch")
        if len(args) != 1:
            sys.stderr.write(USAGE + "\n")
            return 2
        data = evidence.diagnose(svc, args[0], watch)
        print(_json(data) if as_json else verdicts.format_text(data))
        return 0
    if command == "serve" and not args:
        from . import ubus_api
        return ubus_api.serve(svc)
    sys.stderr.write(USAGE + "\n")
    return 2


def format_status(st):
    lines = ["vpn-passthrough: " + ("enabled" if st["enabled"] else "disabled")
             + (", rules loaded" if st["applied"] else ", rules NOT loaded")
             + ("; LAN " + " ".join(st["lan_devices"]) + " -> WAN " + " ".join(st["wan_devices"])
                if st["lan_devices"] else "")]
    lines.append("%-6s %-10s %-9s %-9s %16s %16s" % ("proto", "configured", "effective",
                                                    "helper", "passed pkts", "blocked pkts"))
    for name in PROTOCOLS:
        p = st["protocols"][name]
        conf = {True: "on", False: "off", None: "?"}[p["configured"]]
        lines.append("%-6s %-10s %-9s %-9s %16d %16d" % (
            name, conf, p["effective"], p["helper"], p["passed"]["packets"],
            p["blocked"]["packets"]))
    for c in st["clients"]:
        lines.append("client %s (%s): %s %s, %d packets matched" % (
            c["name"], c["id"], c["action"], ",".join(c["protocols"]), c["matched"]["packets"]))
    for e in st["errors"]:
        lines.append("error: " + e)
    return "\n".join(lines)


def format_sessions(sessions):
    if not sessions:
        return "no VPN sessions"
    lines = ["%-6s %-5s %-28s %-28s %-12s %8s" % ("proto", "l4", "client", "server",
                                                  "state", "bytes")]
    for s in sessions:
        lines.append("%-6s %-5s %-28s %-28s %-12s %8s" % (
            s["protocol"], s["l4"], s["client"], s["server"], s["state"],
            "-" if s["bytes"] is None else s["bytes"]))
    return "\n".join(lines)


def format_findings(findings):
    if not findings:
        return "ok: no findings"
    return "\n".join(["%s: %s\n  fix: %s" % (f["severity"], f["message"], f["fix"])
                      for f in findings])
