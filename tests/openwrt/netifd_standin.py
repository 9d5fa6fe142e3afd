"""Stand-in for netifd's `network.interface` object (netifd is not in the kit): a python3-ubus
object on the kit's REAL ubusd whose `dump` answers in netifd's own reply shape (interface,
up, pending, available, autostart, dynamic, l3_device, proto, device, ipv4-address, data; see
netifd's ubus.c), with the state the test sets. It imitates only what the kit cannot give:
netifd's run-time state.
"""

import json
import os
import subprocess

import kit

STANDIN = """
# netifd stand-in (tests/openwrt/netifd_standin.py): `network.interface dump` on the real ubusd,
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
