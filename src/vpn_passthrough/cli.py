"""`vpn-passthrough` command line: a thin door onto service.py."""

import sys

from .service import Service, ApplyError, DEFAULT_CONFIG
from .settings import SettingsError
from . import kernel

USAGE = """usage: vpn-passthrough [--config FILE] COMMAND
commands:
  apply            load the rules for the current settings
  status [--json]  summary: per protocol configured, effective, helper, counters;
                   client counts; the zones' devices and networks that are down
  clients [--offset N] [--limit N] [--json]
                   one page of the client table (at most 100), with blocked counts
  sessions [--json] VPN flows of LAN clients, from conntrack (at most 100 shown)
  reset-counters   zero the blocked/passed counters (applies keep them)
  check [--json]   diagnostics, each with a one-line fix
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
    if command == "clients":
        options = _options(args, ("--offset", "--limit"))
        if options is None:
            sys.stderr.write(USAGE + "\n")
            return 2
        data = svc.clients(options.get("--offset", 0), options.get("--limit", 100))
        print(_json(data) if as_json else format_clients(data))
        return 0
    if command == "reset-counters" and not args:
        svc.reset_counters()
        print("counters reset")
        return 0
    if command == "sessions" and not args:
        data = svc.sessions()
        print(_json(data) if as_json else format_sessions(data))
        return 0
    if command == "check" and not args:
        data = svc.check()
        print(_json(data) if as_json else format_findings(data["findings"]))
        return 1 if [f for f in data["findings"] if f["severity"] == "error"] else 0
    if command == "serve" and not args:
        from . import ubus_api
        return ubus_api.serve(svc)
    sys.stderr.write(USAGE + "\n")
    return 2


def _options(args, names):
    """{'--name': int} from '--name N' pairs, or None if anything else is there."""
    out = {}
    if len(args) % 2:
        return None
    for i in range(0, len(args), 2):
        if args[i] not in names or not args[i + 1].isdigit():
            return None
        out[args[i]] = int(args[i + 1])
    return out


def format_status(st):
    lines = ["vpn-passthrough: " + ("enabled" if st["enabled"] else "disabled")
             + (", rules loaded" if st["applied"] else ", rules NOT loaded")
             + ("; LAN " + " ".join(st["lan_devices"]) + " -> WAN " + " ".join(st["wan_devices"])
                if st["lan_devices"] else "")]
    lines.append("%-6s %-10s %-9s %-9s %16s %16s" % ("proto", "configured", "effective",
                                                    "helper", "passed pkts", "blocked pkts"))
    for name in ("pptp", "l2tp", "ipsec"):
        p = st["protocols"][name]
        conf = {True: "on", False: "off", None: "?"}[p["configured"]]
        lines.append("%-6s %-10s %-9s %-9s %16d %16d" % (
            name, conf, p["effective"], p["helper"], p["passed"]["packets"],
            p["blocked"]["packets"]))
    c = st["clients"]
    lines.append("clients: %d (%d block, %d allow; list: vpn-passthrough clients)"
                 % (c["total"], c["blocking"], c["allowing"]))
    if st["counters_since"]:
        import time
        lines.append("counters since " + time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                       time.gmtime(st["counters_since"])))
    for e in st["errors"]:
        lines.append("error: " + e)
    return "\n".join(lines)


def format_clients(data):
    lines = ["clients %d-%d of %d" % (data["offset"] + 1 if data["clients"] else data["offset"],
                                      data["offset"] + len(data["clients"]), data["total"])]
    for c in data["clients"]:
        more = c["hosts_total"] - len(c["hosts"])
        lines.append("%s (%s): %s %s [%s%s] blocked %d packets, passed %d" % (
            c["name"], c["label"], c["action"], ",".join(c["protocols"]),
            " ".join(c["hosts"]), " +%d" % more if more else "",
            c["blocked"]["packets"], c["passed"]["packets"]))
    return "\n".join(lines)


def format_sessions(data):
    sessions = data["flows"]
    if not sessions:
        return "no VPN sessions"
    lines = ["%-6s %-5s %-28s %-28s %-12s %8s" % ("proto", "l4", "client", "server",
                                                  "state", "bytes")]
    for s in sessions:
        lines.append("%-6s %-5s %-28s %-28s %-12s %8s" % (
            s["protocol"], s["l4"], s["client"], s["server"], s["state"],
            "-" if s["bytes"] is None else s["bytes"]))
    if data["truncated"]:
        lines.append("(%d of %d shown)" % (len(sessions), data["total"]))
    return "\n".join(lines)


def format_findings(findings):
    if not findings:
        return "ok: no findings"
    return "\n".join(["%s: %s\n  fix: %s" % (f["severity"], f["message"], f["fix"])
                      for f in findings])
