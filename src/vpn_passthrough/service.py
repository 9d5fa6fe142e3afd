"""The settings as this router sees them: the file, the zones' devices, the Plan.

Every door (CLI, ubus) holds one Service and calls its methods; each method is a
line that hands over to the module doing that job:
  changes.py  what changes the system: apply, set, stop, flush, reset_counters
  report.py   what only reads it: status, clients, sessions, check
Here: reading and validating the settings, resolving zones to devices (zones.py
decides, from netifd or the files), and building the Plan from both.
"""

import os

from . import changes
from . import kernel
from . import netifd
from . import plan as planner
from . import report
from . import ruleset
from . import settings as schema
from . import uci
from . import zones
from .settings import SettingsError
from .changes import ApplyError   # noqa: F401  (the doors catch it from here)

DEFAULT_CONFIG = "/etc/config/vpn-passthrough"


def _read(path, what):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise SettingsError(what, "cannot read " + path + ": " + (e.strerror or str(e)))


class Service:
    def __init__(self, config_path=DEFAULT_CONFIG):
        self.config_path = config_path
        self.config_dir = os.path.dirname(config_path) or "."

    # --- the doors' methods ----------------------------------------------------

    def apply(self):
        return changes.apply(self)

    def set(self, values):
        return changes.set_switches(self, values)

    def stop(self):
        return changes.stop()

    def flush(self, name):
        return changes.flush(self, name)

    def reset_counters(self):
        return changes.reset_counters(self)

    def status(self):
        return report.status(self)

    def clients(self, offset=0, limit=report.PAGE):
        return report.clients(self, offset, limit)

    def sessions(self):
        return report.sessions(self)

    def check(self):
        return report.check(self)

    # --- reading ---------------------------------------------------------------

    def sections(self):
        text = _read(self.config_path, schema.CONFIG)
        try:
            return uci.parse(text, self.config_path)
        except uci.UciError as e:
            raise SettingsError(schema.CONFIG + " line " + str(e.line), e.message)

    def settings(self):
        return schema.parse(_read(self.config_path, schema.CONFIG), self.config_path)

    def zones(self, s):
        """{"source": "settings" | "netifd" | "files", "lan"/"wan": {"zones", "devices",
        "down"}}: explicit devices, else the zones' devices from netifd (as fw4 takes
        them), else from /etc/config/network where netifd is not running."""
        out = {"source": "settings"}
        sides = (("lan", s.lan_zones, s.lan_devices), ("wan", s.wan_zones, s.wan_devices))
        firewall = interfaces = None
        for side, names, explicit in sides:
            if explicit:
                out[side] = {"zones": [], "devices": list(explicit), "down": []}
                continue
            option = "globals." + side + "_zone"
            if firewall is None:
                firewall = self._other("firewall", option)
                dump = netifd.interface_dump()
                if dump is not None:
                    out["source"], interfaces = "netifd", zones.netifd_interfaces(dump)
                else:
                    out["source"] = "files"
                    interfaces = zones.interface_devices(self._other("network", option))
            devices, down = zones.resolve(names, firewall, interfaces, side + "_zone")
            out[side] = {"zones": list(names), "devices": devices, "down": down}
        for d in out["lan"]["devices"]:
            if d in out["wan"]["devices"]:
                raise SettingsError(schema.CONFIG + ".globals",
                                    "device " + d + " is both LAN and WAN")
        return out

    def devices(self, s):
        z = self.zones(s)
        return z["lan"]["devices"], z["wan"]["devices"]

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
