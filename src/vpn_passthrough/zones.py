"""fw4 zones -> Linux devices, from /etc/config/firewall and /etc/config/network.

A zone lists `network` (logical interfaces) and/or `device` entries; each
interface names its `device` (OpenWrt 21.02+) or `ifname` (older). Protocols
that create their own L3 device (pppoe, …) are named `<proto>-<interface>`,
as netifd does. Values from those files are validated like our own.
"""

from . import netaddr
from .settings import SettingsError, CONFIG

# netifd protocols whose traffic leaves through a device of their own
L3_PROTOS = ("pppoe", "pppoa", "pptp", "l2tp", "3g", "ppp", "wwan")


def _words(value):
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return value.split()


def _device(value, where):
    if value.startswith("@"):        # alias of another interface: follow it later
        return value
    try:
        return netaddr.check_ifname(value)
    except ValueError as e:
        raise SettingsError(where, "'" + value[:40] + "': " + str(e))


def interface_devices(network_sections):
    """{interface name: [devices]} from /etc/config/network."""
    out = {}
    for s in network_sections:
        if s.type != "interface" or s.name is None:
            continue
        where = "network." + s.name
        proto = s.get("proto")
        if proto in L3_PROTOS:
            out[s.name] = [_device(proto + "-" + s.name, where + ".proto")]
            continue
        if proto == "wireguard":
            out[s.name] = [_device(s.name, where)]
            continue
        devices = [_device(d, where + ".device") for d in _words(s.get("device"))]
        if not devices:
            devices = [_device(d, where + ".ifname") for d in _words(s.get("ifname"))]
            if s.get("type") == "bridge" and devices:
                devices = [_device("br-" + s.name, where + ".type")]
        out[s.name] = devices
    # '@wan' means "the device of interface wan"; aliases may chain, in any
    # order in the file (and MicroPython dicts keep no order at all)
    def resolve(name, path):
        devices = []
        for d in out.get(name, []):
            if not d.startswith("@"):
                devices.append(d)
            elif d[1:] not in path:     # an alias loop resolves to nothing
                devices.extend(resolve(d[1:], path + [d[1:]]))
        return devices
    resolved = {}
    for name in out:
        resolved[name] = resolve(name, [name])
    return resolved


def zone_devices(zones, firewall_sections, network_sections, option):
    """Devices of the named zones; SettingsError naming globals.<option> if any is unknown."""
    interfaces = interface_devices(network_sections)
    found = {}
    devices = []
    for s in firewall_sections:
        if s.type != "zone":
            continue
        name = s.get("name")
        if name not in zones:
            continue
        found[name] = True
        where = "firewall." + s.label()
        for d in _words(s.get("device")):
            d = _device(d, where + ".device")
            if d not in devices:
                devices.append(d)
        for net in _words(s.get("network")):
            for d in interfaces.get(net, []):
                if d not in devices:
                    devices.append(d)
    for z in zones:
        if z not in found:
            raise SettingsError(CONFIG + ".globals." + option,
                                "zone '" + z + "' is not defined in /etc/config/firewall")
    if not devices:
        raise SettingsError(CONFIG + ".globals." + option,
                            "zones " + ", ".join(zones) + " resolve to no device")
    return devices
