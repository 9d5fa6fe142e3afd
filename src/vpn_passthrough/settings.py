"""The schema of /etc/config/vpn-passthrough: defaults, validation, errors.

Input: parsed uci sections. Output: a Settings value, or a SettingsError that
names the section and option (`vpn-passthrough.@client[2].ip`) so a user can
find the line. Nothing here touches the system.
"""

from . import netaddr
from . import uci

CONFIG = "vpn-passthrough"
PROTOCOLS = ("pptp", "l2tp", "ipsec")
ACTIONS = ("block", "allow")
NAME_MAX = 64

# The spellings procd's validate_data accepts for `bool` (libubox validate.c
# dt_type_bool), in any case.
TRUE = ("1", "on", "true", "yes", "enabled")
FALSE = ("0", "off", "false", "no", "disabled")

# One table per section type, the shape of fw4's parse_options: (option, type,
# default). Tuples, not dicts: MicroPython dicts keep no order, and the messages
# list the options in this order. The init script's validate_* lines and the LuCI
# view must agree with it (tests/test_settings.py checks both).
SCHEMA = {
    "globals": (
        ("enabled", "bool", True),
        ("log", "bool", False),
        ("ipv6", "bool", True),
        ("lan_zone", "list(zone)", ["lan"]),
        ("wan_zone", "list(zone)", ["wan"]),
        ("lan_device", "list(device)", []),
        ("wan_device", "list(device)", []),
    ),
    "protocol": (
        ("enabled", "bool", True),
    ),
    "client": (
        ("name", "name", None),             # None: the section's label stands in
        ("mac", "list(mac)", []),
        ("ip", "list(ip)", []),
        ("action", "action", "block"),
        ("protocol", "list(protocol)", list(PROTOCOLS)),
        ("enabled", "bool", True),
    ),
}
SECTION_TYPES = ("globals", "protocol", "client")
KNOWN = {}          # section type -> {option: True}
for _type in SCHEMA:
    KNOWN[_type] = dict([(row[0], True) for row in SCHEMA[_type]])
UNKNOWN_PROTOCOL = "unknown protocol (known: " + ", ".join(PROTOCOLS) + ")"


class SettingsError(Exception):
    def __init__(self, field, message):
        super().__init__(field + ": " + message)   # MicroPython: no Exception.__init__
        self.field = field
        self.message = message

    def __str__(self):
        return self.field + ": " + self.message


def from_uci_error(e, field=CONFIG):
    """A uci format error as the SettingsError a user sees (the line, if known)."""
    return SettingsError(field + (" line " + str(e.line) if e.line else ""), e.message)


def parse_bool(value):
    """UCI's boolean spellings -> True/False; ValueError for anything else."""
    if value.__class__ is str:
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
    raise ValueError("not a boolean (use 1 or 0)")


class Client:
    __slots__ = ("label", "name", "macs", "prefixes", "action", "protocols")   # no dicts

    def __init__(self, label, name, macs, prefixes, action, protocols):
        self.label = label          # '@client[0]' or the section name
        self.name = name
        self.macs = macs            # ['aa:bb:…']
        self.prefixes = prefixes    # [netaddr.Prefix]
        self.action = action        # 'block' | 'allow'
        self.protocols = protocols  # subset of PROTOCOLS, in PROTOCOLS order


class Settings:
    """What the file says, absent options as SCHEMA's defaults."""

    def __init__(self):
        self.set_globals([_default(row) for row in SCHEMA["globals"]])
        on = _default(SCHEMA["protocol"][0])
        self.protocols = dict([(p, on) for p in PROTOCOLS])
        self.clients = []           # [Client], file order

    def set_globals(self, values):
        """The globals section's options, in SCHEMA order (explicit devices replace the
        zone lookup)."""
        (self.enabled, self.log, self.ipv6, self.lan_zones, self.wan_zones,
         self.lan_devices, self.wan_devices) = values


def _default(row):
    """A SCHEMA row's default, a list copied (the table's own must not change)."""
    default = row[2]
    return list(default) if default.__class__ is list else default


def field(section, option=None):
    text = CONFIG + "." + section.label()
    if option:
        text += "." + option
    return text


def _show(value):
    """A value as it may be quoted back in an error message: short, printable."""
    out = []
    for c in value[:40]:
        out.append(c if " " <= c <= "~" else "?")
    return "".join(out) + ("..." if len(value) > 40 else "")


def _check_name(name):
    if len(name) > NAME_MAX:
        raise ValueError("longer than " + str(NAME_MAX) + " characters")
    if name and " " <= min(name) and max(name) < "\x7f" and '"' not in name and "\\" not in name:
        return name         # printable ASCII without quotes: the common name
    for c in name:
        if c < " " or c in "\"\\\x7f":
            raise ValueError("may not hold quotes, backslashes or control characters")
    return name


def _check_action(action):
    if action not in ACTIONS:
        raise ValueError("'" + _show(action) + "' is not one of: " + ", ".join(ACTIONS))
    return action


def _check_protocol(name):
    if name not in PROTOCOLS:
        raise ValueError(UNKNOWN_PROTOCOL)
    return name


def _bool_option(value):
    try:
        return parse_bool(value)
    except ValueError:
        raise ValueError("'" + _show(value) + "' is not a boolean (use 1 or 0)")


# A type of SCHEMA -> its check: the value, normalized, or ValueError with the reason.
# Scalar messages quote the value themselves; list messages are prefixed with the item.
TYPES = {
    "bool": _bool_option,
    "name": _check_name,
    "action": _check_action,
    "zone": netaddr.check_zone,
    "device": netaddr.check_ifname,
    "mac": netaddr.parse_mac,
    "ip": netaddr.parse_prefix,
    "protocol": _check_protocol,
}


def _values(section):
    """The section's options in SCHEMA order, each checked and normalized, absent
    ones as their default; a SettingsError names the first bad option."""
    table = SCHEMA[section.type]
    values = section.values
    known = KNOWN[section.type]
    for option in section.order:
        if option not in known:
            raise SettingsError(field(section, option), "unknown option (known: "
                                + ", ".join([row[0] for row in table]) + ")")
    out = []
    for row in table:
        option, kind = row[0], row[1]
        value = values.get(option)
        if value is None:
            out.append(_default(row))
        elif kind.startswith("list("):
            out.append(_list(section, option, TYPES[kind[5:-1]], value))
        elif value.__class__ is list:
            raise SettingsError(field(section, option), "must be an option, not a list")
        else:
            try:
                out.append(TYPES[kind](value))
            except ValueError as e:
                raise SettingsError(field(section, option), str(e))
    return out


def _list(section, option, check, value):
    """A uci list; a plain option holding space-separated words is accepted too."""
    words = value if value.__class__ is list else value.split()
    out = []
    for w in words:
        try:
            out.append(check(w))
        except ValueError as e:
            raise SettingsError(field(section, option), "'" + _show(w) + "': " + str(e))
    return out


def _client(section):
    """A Client, or None for a disabled one (not checked further: it does nothing)."""
    enabled = section.values.get("enabled")
    if enabled is not None and enabled.__class__ is not list and enabled.lower() in FALSE:
        return None
    name, macs, prefixes, action, protocols, _ = _values(section)
    label = section.label()
    if not macs and not prefixes:
        raise SettingsError(field(section), "a client needs at least one mac or ip")
    if not protocols:
        raise SettingsError(field(section, "protocol"), "empty list")
    if len(protocols) != len(PROTOCOLS):
        protocols = [p for p in PROTOCOLS if p in protocols]
    return Client(label, label if name is None else name, macs, prefixes, action, protocols)


def _check_overlaps(clients):
    """Within one action and protocol, no two clients may claim the same host.

    nft refuses overlapping intervals in one set, and a per-client counter
    would be ambiguous; a block and an allow entry may overlap (block wins).
    """
    macs = [m for c in clients for m in c.macs]
    hosts = [p.network for c in clients for p in c.prefixes if p.length == 32 and p.family == 4]
    if (len(set(macs)) == len(macs) and len(set(hosts)) == len(hosts)
            and len(hosts) == sum([len(c.prefixes) for c in clients])):
        return              # only IPv4 hosts and MACs, each listed once: nothing can overlap
    _check_claims(clients)


def _check_claims(clients):
    """The precise check: a MAC or single address is a dict lookup; only where a
    wider prefix is listed are the spans sorted."""
    owners = {}         # (action, mac) or (action, family, address) -> [(client, what)]
    spans = {}          # (action, family) -> [(first, last, position, client, prefix)]
    keys = []           # in file order: MicroPython dicts keep no order
    ranged = {}         # the (action, family) keys holding a prefix wider than one host
    for c in clients:
        for mac in c.macs:
            _claim(owners, (c.action, mac), c, mac, ".mac")
        for prefix in c.prefixes:
            first, last = prefix.first(), prefix.last()
            k = (c.action, prefix.family)
            if k not in spans:
                spans[k] = []
                keys.append(k)
            spans[k].append((first, last, len(spans[k]), c, prefix))
            if first == last:
                _claim(owners, (c.action, prefix.family, first), c, prefix, ".ip")
            else:
                ranged[k] = True
    for k in keys:
        if k in ranged:
            _sweep(k[0], sorted(spans[k]))


def _claim(owners, key, client, what, option):
    """Record that client lists `what`; refuse it if another client with a common
    protocol listed it already."""
    earlier = owners.get(key)
    if earlier is None:
        owners[key] = [(client, what)]
        return
    for other, other_what in earlier:
        common = [p for p in client.protocols if p in other.protocols]
        if other is not client and common:
            _conflict(client, what, other, other_what, option, key[0], common[0])
    earlier.append((client, what))


def _sweep(action, items):
    """Spans sorted by start (positions are unique, so clients are never compared
    and MicroPython's unstable sort gives the same order): per protocol, any
    overlap shows between neighbours."""
    for p in PROTOCOLS:
        previous = None
        for t in items:
            if p not in t[3].protocols:
                continue
            if previous is not None and t[0] <= previous[1] and not (
                    t[3] is previous[3] and t[:2] == previous[:2]):   # a client's repeat
                _conflict(t[3], t[4], previous[3], previous[4], ".ip", action, p)
            if previous is None or t[1] > previous[1]:
                previous = t


def _conflict(client, what, other, other_what, option, action, protocol):
    if option == ".mac":
        text = what + " is already listed by " + other.label
    else:
        text = str(what) + " overlaps " + str(other_what) + " of " + other.label
    raise SettingsError(CONFIG + "." + client.label + option,
                        text + " (" + action + ", " + protocol + ")")


def from_sections(sections):
    """Validate parsed uci sections into Settings (or raise SettingsError)."""
    dups = uci.duplicates(sections)
    if dups:
        label, line = dups[0]
        raise SettingsError(CONFIG + "." + label,
                            "section declared twice (again on line " + str(line) + ")")
    s = Settings()
    globals_seen = False
    for section in sections:
        if section.type == "client":
            client = _client(section)
            if client is not None:
                s.clients.append(client)
        elif section.type == "globals":
            if globals_seen:
                raise SettingsError(field(section), "only one globals section is allowed")
            globals_seen = True
            s.set_globals(_values(section))
        elif section.type == "protocol":
            if section.name not in PROTOCOLS:
                raise SettingsError(field(section), UNKNOWN_PROTOCOL)
            s.protocols[section.name] = _values(section)[0]
        else:
            raise SettingsError(field(section),
                                "unknown section type '" + section.type
                                + "' (known: " + ", ".join(SECTION_TYPES) + ")")
    _check_overlaps(s.clients)
    return s


def parse(text, path=""):
    """uci text -> Settings; uci format errors become SettingsErrors too."""
    try:
        sections = uci.parse(text, path)
    except uci.UciError as e:
        raise from_uci_error(e)
    return from_sections(sections)
