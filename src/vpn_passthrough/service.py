"""The core every door (CLI, ubus) uses: apply, status, sessions, check, flush, stop, set.

Order of an apply: read and validate everything first, then load modules and
probe helpers, then render, then one `nft -f`. Any error before the nft call
changes nothing; nft itself is atomic. Only after the new rules are live are
the flows they now block cut from conntrack.
"""

import gc
import os

from . import flows
from . import kernel
from . import netaddr
from . import plan as planner
from . import platform
from . import ruleset
from . import settings as schema
from . import uci
from . import zones
from .settings import SettingsError, PROTOCOLS

DEFAULT_CONFIG = "/etc/config/vpn-passthrough"
SET_KEYS = ("enabled", "log", "ipv6") + PROTOCOLS


class ApplyError(Exception):
    """The kernel refused a change; `field` names what was being applied."""

    def __init__(self, message, field="nft"):
        super().__init__(message)
        self.field = field


def _read(path, what):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise SettingsError(what, "cannot read " + path + ": " + (e.strerror or str(e)))


def helper_error(name):
    return (name + ": the kernel has no '" + name + "' conntrack helper; install "
            + planner.KMOD_PACKAGE + " (older releases: " + planner.KMOD_PACKAGE_OLD
            + "). " + name + " passes without call-ID translation (one client per server).")


class Service:
    def __init__(self, config_path=DEFAULT_CONFIG):
        self.config_path = config_path
        self.config_dir = os.path.dirname(config_path) or "."

    # --- reading -------------------------------------------------------------

    def sections(self):
        text = _read(self.config_path, schema.CONFIG)
        try:
            return uci.parse(text, self.config_path)
        except uci.UciError as e:
            raise schema.from_uci_error(e)

    def settings(self):
        return schema.parse(_read(self.config_path, schema.CONFIG), self.config_path)

    def devices(self, s):
        """Explicit devices, else the zones' devices from firewall + network."""
        lan, wan = s.lan_devices, s.wan_devices
        if lan and wan:
            return lan, wan
        fw = self._other("firewall", "globals.lan_zone" if not lan else "globals.wan_zone")
        net = self._other("network", "globals.lan_zone" if not lan else "globals.wan_zone")
        if not lan:
            lan = zones.zone_devices(s.lan_zones, fw, net, "lan_zone")
        if not wan:
            wan = zones.zone_devices(s.wan_zones, fw, net, "wan_zone")
        for d in lan:
            if d in wan:
                raise SettingsError(schema.CONFIG + ".globals",
                                    "device " + d + " is both LAN and WAN")
        return lan, wan

    def _other(self, name, option):
        path = os.path.join(self.config_dir, name)
        text = _read(path, schema.CONFIG + "." + option)
        try:
            return uci.parse(text, path)
        except uci.UciError as e:
            raise SettingsError(schema.CONFIG + "." + option, str(e))

    def plan(self, probe=True, s=None, load=True):
        """Settings -> Plan. With load, modprobe the helper modules (nft loads the
        conntrack helper by itself, never nf_nat_pptp); with probe, ask the kernel
        whether it has the helper, else assume it does."""
        if s is None:
            s = self.settings()
        lan, wan = self.devices(s)
        available = {}
        for name in planner.HELPERS:
            if load:
                kernel.load_modules(planner.MODULES[name])
            helper_type, l4, _ = planner.HELPERS[name]
            available[name] = kernel.helper_available(helper_type, l4) if probe else True
        return planner.build(s, lan, wan, available)

    def render(self):
        """The ruleset apply would load, with no effect on the system."""
        return ruleset.render(self.plan(probe=False, load=False), self.config_path)

    # --- changing ------------------------------------------------------------

    def apply(self):
        """Make the kernel match the settings. Returns {changed, flushed, errors}."""
        with platform.Lock():
            # Thousands of client objects live until the apply returns and hold no
            # cycles: the cyclic collector would walk them again and again.
            # Reference counting frees them all.
            collecting = gc.isenabled()
            gc.disable()
            try:
                return self._apply()
            finally:
                if collecting:
                    gc.enable()

    def _apply(self):
        s = self.settings()
        if not s.enabled:
            changed = kernel.applied_listing() is not None   # netlink: no nft, no elements
            self.stop()
            return {"changed": changed, "flushed": 0, "errors": []}
        # Helpers are assumed present (no `nft -c` probe): the kernel refuses the
        # transaction if one is missing, and only then is it probed.
        p = self.plan(probe=False, s=s)
        text = ruleset.render(p, self.config_path)
        listing = kernel.applied_listing() or ""
        live_digest, states = ruleset.read_comment(listing)
        if live_digest is not None and live_digest == ruleset.read_comment(text)[0]:
            return {"changed": False, "flushed": 0, "errors": []}
        if "degraded" in states.values():   # live without a helper: compare like with like
            p = self.plan(s=s)
            text = ruleset.render(p, self.config_path)
            if live_digest == ruleset.read_comment(text)[0]:
                return {"changed": False, "flushed": 0, "errors": _helper_errors(p)}
        try:
            kernel.nft_apply(text)
        except kernel.KernelError as e:
            p2 = self.plan(s=s) if p.helpers() else p
            if not _helper_errors(p2):
                raise ApplyError(str(e))
            p, text = p2, ruleset.render(p2, self.config_path)
            try:
                kernel.nft_apply(text)
            except kernel.KernelError as e2:
                raise ApplyError(str(e2))
        # Flows to cut exist only if the table was absent or its policy was another:
        # under an unchanged policy a blocked flow never got past its first packet.
        policy_changed = ruleset.read_policy(listing) != ruleset.read_policy(text)
        flushed = self.cut_blocked(p) if policy_changed and planner.blocks_any(p) else 0
        return {"changed": True, "flushed": flushed, "errors": _helper_errors(p)}

    def cut_blocked(self, p, only=None):
        """Delete forwarded flows the plan now blocks (or every flow of `only`)."""
        if platform.which("conntrack") is None:
            return 0
        network = kernel.network_facts(p.lan_devices)
        blocker = None              # indexed at the first flow that needs a verdict
        cut = 0
        for flow in flows.parse(kernel.conntrack_text()):
            name = flows.protocol(flow)
            if name is None or (only is not None and name != only):
                continue
            ends = flows.lan_client(flow, network)
            if ends is None:
                continue
            if only is None:
                key = netaddr.parse_address(ends[0])    # lan_client parsed it already
                blocker = blocker or planner.Blocker(p)
                if not blocker.blocks(name, key[0], key[1], network.neighbours.get(key)):
                    continue
            if kernel.conntrack_delete(flow):
                cut += 1
        return cut

    def flush(self, name):
        if name not in PROTOCOLS:
            raise SettingsError("protocol", "'" + name[:20] + "': " + schema.UNKNOWN_PROTOCOL)
        return self.cut_blocked(self.plan(probe=False, load=False), only=name)

    def stop(self):
        r = platform.run(["nft", "-f", "-"], stdin=ruleset.render_delete())
        if not r.ok():
            raise ApplyError("nft could not remove the table: " + (r.err or "").strip())

    def set(self, values):
        """Change switches in the settings file (validated first), then apply."""
        if not isinstance(values, dict) or not values:
            raise SettingsError("values", "expects a table such as {\"pptp\": false}")
        sections = self.sections()
        for key in values:
            if key not in SET_KEYS:
                raise SettingsError("values." + str(key)[:20],
                                    "unknown switch (known: " + ", ".join(SET_KEYS) + ")")
            flag = _flag(values[key], "values." + key)
            if key in PROTOCOLS:
                section = _section(sections, "protocol", key)
            else:
                section = _section(sections, "globals", "globals")
            section.set("enabled" if key in PROTOCOLS else key, flag)
        schema.from_sections(sections)          # refuse to write an invalid file
        _write_atomic(self.config_path, uci.dump(sections))
        return self.apply()

    # --- reading the live state ---------------------------------------------

    def status(self):
        out = {"enabled": False, "applied": False, "log": False, "ipv6": True,
               "lan_devices": [], "wan_devices": [], "protocols": {}, "clients": [],
               "errors": []}
        s = None
        try:
            s = self.settings()
            out["enabled"], out["log"], out["ipv6"] = s.enabled, s.log, s.ipv6
            if s.enabled:
                out["lan_devices"], out["wan_devices"] = self.devices(s)
        except SettingsError as e:
            out["errors"].append(str(e))
        listing = kernel.applied_listing()
        out["applied"] = listing is not None
        _, states = ruleset.read_comment(listing or "")
        live = _live(kernel.table_json() if listing is not None else None)
        for name in PROTOCOLS:
            configured = s.protocols[name] if s else None
            entry = {"configured": configured,
                     "effective": states.get(name, "disabled"),
                     "helper": "none", "modules": {},
                     "blocked": live["counters"].get(name + "_blocked", _zero()),
                     "passed": live["counters"].get(name + "_passed", _zero()),
                     "error": ""}
            if name in planner.HELPERS:
                entry["modules"] = dict([(m, kernel.module_state(m))
                                         for m in planner.MODULES[name]])
                if name in live["helpers"]:
                    entry["helper"] = "assigned"
                elif entry["effective"] == "degraded":
                    entry["helper"] = "missing"
                    entry["error"] = helper_error(name)
                    out["errors"].append(entry["error"])
            out["protocols"][name] = entry
        for c in (s.clients if s else []):
            out["clients"].append({"name": c.name, "id": c.label, "action": c.action,
                                   "protocols": c.protocols,
                                   "matched": live["clients"].get(c.label, _zero())})
        return out

    def sessions(self):
        s = self.settings()
        lan, _ = self.devices(s)
        network = kernel.network_facts(lan)
        out = []
        for flow in flows.parse(kernel.conntrack_text()):
            entry = flows.session(flow, network)
            if entry is not None:
                out.append(entry)
        return {"sessions": out}

    def check(self):
        from . import diagnose
        return {"findings": diagnose.findings(self)}


def _helper_errors(p):
    return [helper_error(x.name) for x in p.protocols if x.helper == "missing"]


def _zero():
    return {"packets": 0, "bytes": 0}


def _live(items):
    """Counters, helper objects and per-client counters from `nft -j list table`."""
    live = {"counters": {}, "helpers": {}, "clients": {}}
    for item in items or []:
        if "counter" in item:
            c = item["counter"]
            live["counters"][c.get("name")] = {"packets": c.get("packets", 0),
                                               "bytes": c.get("bytes", 0)}
        elif "ct helper" in item:
            live["helpers"][item["ct helper"].get("name")] = True
        elif "set" in item:
            for e in item["set"].get("elem", []) or []:
                elem = e.get("elem") if isinstance(e, dict) else None
                if not isinstance(elem, dict) or "comment" not in elem:
                    continue
                total = live["clients"].setdefault(elem["comment"], _zero())
                counter = elem.get("counter") or {}
                total["packets"] += counter.get("packets", 0)
                total["bytes"] += counter.get("bytes", 0)
    return live


def _flag(value, where):
    if value is not True and value is not False:
        try:
            value = schema.parse_bool(str(value) if value.__class__ is int else value)
        except ValueError:
            raise SettingsError(where, "must be true or false")
    return "1" if value else "0"


def _section(sections, stype, name):
    for s in sections:
        if s.type == stype and s.name == name:
            return s
    s = uci.Section(stype, name, len([x for x in sections if x.type == stype]), 0)
    sections.append(s)
    return s


def _write_atomic(path, text):
    """Write next to the file and rename: a reader sees the old or the new file."""
    tmp = path + ".vpn-passthrough-new"
    try:
        mode = os.stat(path).st_mode & 0o777     # keep the conffile's 0600
    except OSError:
        mode = 0o600
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.rename(tmp, path)
