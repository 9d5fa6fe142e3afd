"""fw4 zones -> Linux devices, the way fw4 resolves them.

A zone lists `network` (logical interfaces) and/or `device` entries. Where
netifd runs, an interface's device is what netifd says now (`ubus call
network.interface dump`: `l3_device`, else `device`), exactly as fw4.uc reads
it: a Wi-Fi uplink, an LTE modem, pppoe or a tunnel get their device only at
run time. Without netifd (a test bench, a container), /etc/config/network is
read instead: `device` (OpenWrt 21.02+) or `ifname` (older), protocols that
create their own L3 device named `<proto>-<interface>` as netifd names them.

A zone `device` may end in fw4's wildcard `+` (`tun+`: every device whose name
starts with `tun`), written `tun*` in nft. An interface without a device yet
(down, or not known to netifd) is reported, not silently matched by nothing.
Values from those files and from netifd are validated like our own.
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


def device_match(value, where):
    """A zone `device` as nft matches it: 'tun+' and 'tun*' -> 'tun*'; None for a
    bare '+' (any device: fw4 leaves such a match out, and so do we)."""
    value = str(value)
    base = value[:-1] if value[-1:] in ("+", "*") else value
    if not base and value:
        return None
    if "+" in base or "*" in base:
        raise SettingsError(where, "'" + value[:40] + "': a wildcard may only end the name")
    base = _device(base, where)
    return base + "*" if base != value else base


def netifd_interfaces(dump):
    """{interface: [device]} from netifd's `network.interface dump`, as fw4 takes it
    (`l3_device ?? device`); an interface that has neither maps to []."""
    out = {}
    for ifc in (dump or {}).get("interface") or []:
        name = ifc.get("interface") if isinstance(ifc, dict) else None
        if not isinstance(name, str):
            continue
        device = ifc.get("l3_device") or ifc.get("device")
        where = "network.interface." + name[:32]
        out[name] = [_device(device, where + ".l3_device")] if isinstance(device, str) else []
    return out


def interface_devices(network_sections):
    """{interface name: [devices]} from /etc/config/network (no netifd)."""
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


def resolve(zones, firewall_sections, interfaces, option):
    """(devices, down networks) of the named zones; interfaces: {name: [device]}.
    SettingsError naming globals.<option> if a zone is unknown or lists nothing."""
    found = {}
    devices = []
    down = []
    for s in firewall_sections:
        if s.type != "zone":
            continue
        name = s.get("name")
        if name not in zones:
            continue
        found[name] = True
        where = "firewall." + s.label()
        for d in _words(s.get("device")):
            d = device_match(d, where + ".device")
            if d is not None and d not in devices:
                devices.append(d)
        for net in _words(s.get("network")):
            got = interfaces.get(net, [])
            if not got and net not in down:
                down.append(net)
            for d in got:
                if d not in devices:
                    devices.append(d)
    for z in zones:
        if z not in found:
            raise SettingsError(CONFIG + ".globals." + option,
                                "zone '" + z + "' is not defined in /etc/config/firewall")
    if not devices and not down:
        raise SettingsError(CONFIG + ".globals." + option,
                            "zones " + ", ".join(zones) + " resolve to no device")
    return devices, down

