"""The schema of /etc/config/vpn-passthrough: defaults, validation, errors.

Input: parsed uci sections. Output: a Settings value, or a SettingsError that
names the section and option (`vpn-passthrough.@client[2].ip`) so a user can
find the line. Nothing here touches the system.
"""

from . import netaddr
from .netaddr import Prefix
from . import uci

CONFIG = "vpn-passthrough"
PROTOCOLS = ("pptp", "l2tp", "ipsec")
ACTIONS = ("block", "allow")
NAME_MAX = 64

TRUE = ("1", "on", "true", "yes", "enabled")
FALSE = ("0", "off", "false", "no", "disabled")

GLOBAL_OPTIONS = ("enabled", "log", "ipv6", "lan_zone", "wan_zone", "lan_device", "wan_device")
PROTOCOL_OPTIONS = ("enabled",)
CLIENT_OPTIONS = ("name", "mac", "ip", "action", "protocol", "enabled")


class SettingsError(Exception):
    def __init__(self, field, message):
        super().__init__(field + ": " + message)   # MicroPython: no Exception.__init__
        self.field = field
        self.message = message

    def __str__(self):
        return self.field + ": " + self.message


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
    def __init__(self):
        self.enabled = True
        self.log = False
        self.ipv6 = True
        self.lan_zones = ["lan"]
        self.wan_zones = ["wan"]
        self.lan_devices = []       # explicit devices replace the zone lookup
        self.wan_devices = []
        self.protocols = {"pptp": True, "l2tp": True, "ipsec": True}
        self.clients = []           # [Client], file order; made from `bulk` when it holds them
        self.bulk = None            # Bulk: every client plain, kept as columns

    def client_list(self):
        """Every client as a Client object (from the columns on first use)."""
        if self.bulk is not None and not self.clients:
            self.clients = self.bulk.clients()
        return self.clients


class Bulk:
    """Clients as columns, one entry each in file order: what LuCI writes by the
    thousand (anonymous sections with at most a name, one IPv4 host, one lowercase MAC
    and an action, each valid, no two alike), checked by C-level scans. The rules need
    only the element texts and labels; Client objects are made when something asks
    for them (status, the flow cut)."""
    __slots__ = ("labels", "names", "macs", "ips", "actions", "hosts")

    def __init__(self, labels, names, macs, ips, actions, hosts):
        self.labels = labels        # '@client[N]'
        self.names = names          # str or None (the label stands in)
        self.macs = macs            # str or None
        self.ips = ips              # dotted quad or None
        self.actions = actions      # 'block' | 'allow'
        self.hosts = hosts          # the ips as ints (None where no ip)

    def _column(self, kind):
        return self.macs if kind == "mac" else self.ips if kind == "ipv4" else []

    def entries(self, action, kind):
        """[(element text, client label)] of one set kind, for the clients of an action."""
        column = self._column(kind)
        if self.actions.count(action) == len(self.actions):     # one action for all
            return [(e, label) for e, label in zip(column, self.labels) if e is not None]
        return [(e, label) for e, label, a in zip(column, self.labels, self.actions)
                if e is not None and a == action]

    def has(self, action, kind):
        for e, a in zip(self._column(kind), self.actions):
            if e is not None and a == action:
                return True
        return False

    def clients(self):
        every = list(PROTOCOLS)     # one list for all: nothing changes a client's protocols
        return [Client(label, label if name is None else name, [] if mac is None else [mac],
                       [] if ip is None else [Prefix(4, host, 32, ip)], action, every)
                for label, name, mac, ip, action, host
                in zip(self.labels, self.names, self.macs, self.ips, self.actions, self.hosts)]


def field(section, option=None):
    text = CONFIG + "." + section.label()
    if option:
        text += "." + option
    return text


def _scalar(section, option):
    value = section.get(option)
    if isinstance(value, list):
        raise SettingsError(field(section, option), "must be an option, not a list")
    return value


def _bool(section, option, default):
    value = _scalar(section, option)
    if value is None:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise SettingsError(field(section, option),
                        "'" + _show(value) + "' is not a boolean (use 1 or 0)")


def _list(section, option):
    """uci lists; a plain option holding space-separated words is accepted too."""
    value = section.get(option)
    if value is None:
        return None
    if isinstance(value, list):
        return value
    return value.split()


def _show(value):
    """A value as it may be quoted back in an error message: short, printable."""
    out = []
    for c in value[:40]:
        out.append(c if " " <= c <= "~" else "?")
    return "".join(out) + ("..." if len(value) > 40 else "")


def _check_options(section, allowed):
    for option in section.order:
        if option not in allowed:
            raise SettingsError(field(section, option), "unknown option (known: "
                                + ", ".join(allowed) + ")")


def _names(section, option, check, default):
    words = section.values.get(option)
    if words is None:
        return default
    if not isinstance(words, list):
        words = words.split()
    try:
        return [check(w) for w in words]
    except ValueError:
        pass
    for w in words:         # say which one
        try:
            check(w)
        except ValueError as e:
            raise SettingsError(field(section, option), "'" + _show(w) + "': " + str(e))


def _check_name(section, name):
    if len(name) > NAME_MAX:
        raise SettingsError(field(section, "name"), "longer than " + str(NAME_MAX) + " characters")
    if name and " " <= min(name) and max(name) < "\x7f" and '"' not in name and "\\" not in name:
        return              # printable ASCII without quotes: the common name, checked at C speed
    for c in name:
        if c < " " or c in "\"\\\x7f":
            raise SettingsError(field(section, "name"),
                                "may not hold quotes, backslashes or control characters")


def _client(section):
    values = section.values
    for option in section.order:
        if option not in CLIENT_OPTIONS:
            _check_options(section, CLIENT_OPTIONS)
    label = section.label()
    name = _scalar(section, "name")
    if name is None:
        name = label
    _check_name(section, name)
    macs = _names(section, "mac", netaddr.parse_mac, [])
    prefixes = _names(section, "ip", netaddr.parse_prefix, [])
    if not macs and not prefixes:
        raise SettingsError(field(section), "a client needs at least one mac or ip")
    action = _scalar(section, "action")
    if action is None:
        action = "block"
    if action not in ACTIONS:
        raise SettingsError(field(section, "action"),
                            "'" + _show(action) + "' is not one of: block, allow")
    if "protocol" not in values:
        return Client(label, name, macs, prefixes, action, list(PROTOCOLS))
    wanted = _list(section, "protocol")
    for p in wanted:
        if p not in PROTOCOLS:
            raise SettingsError(field(section, "protocol"),
                                "unknown protocol '" + _show(p) + "' (known: pptp, l2tp, ipsec)")
    if not wanted:
        raise SettingsError(field(section, "protocol"), "empty list")
    protocols = [p for p in PROTOCOLS if p in wanted]
    return Client(label, name, macs, prefixes, action, protocols)


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


PLAIN_OPTIONS = ("name", "mac", "ip", "action")


def _plain_clients(sections):
    """[Client or None] for client sections: None where a section needs the one-by-one
    check of _client. Plain sections, as LuCI writes them by the thousand (a name,
    IPv4 hosts and lowercase MACs as lists, an action, nothing else), are checked
    together, a few C-level scans per kind of value; if any of them is not valid,
    all are left to _client, which finds the first error in file order."""
    rows = [_plain_row(section) for section in sections]
    plain = [r for r in rows if r is not None]
    ips = [a for r in plain for a in r[3]]
    numbers = _plain_values([r[1] for r in plain if r[1] is not None],
                            [m for r in plain for m in r[2]], ips, [r[4] for r in plain])
    if numbers is None:
        return [None] * len(rows)
    hosts = [Prefix(4, n, 32, text) for n, text in zip(numbers, ips)]
    every = list(PROTOCOLS)     # one list for all: nothing changes a client's protocols
    # one address each, the common case: no slicing (as many addresses as clients is
    # not enough: one client may list two where another lists none)
    if set([len(r[3]) for r in plain]) == set([1]):
        hosts = [[h] for h in hosts]
    else:
        ends = [0]
        for r in plain:
            ends.append(ends[-1] + len(r[3]))
        hosts = [hosts[a:b] for a, b in zip(ends, ends[1:])]
    labels = [r[0].label() for r in plain]
    clients = iter([Client(label, label if name is None else name, list(macs), prefixes,
                           action, every)
                    for label, (_, name, macs, _, action), prefixes in zip(labels, plain, hosts)])
    return [None if row is None else next(clients) for row in rows]


def _plain_values(names, macs, ips, actions):
    """The ips as ints if every value is plain and valid, else None: a few C-level
    scans per kind of value, where _client parses each one."""
    if not (set(actions) <= set(ACTIONS) and _plain_names(names)):
        return None
    if macs:        # 17 characters each: ':' at 2, 5, 8, 11, 14, lowercase hex else
        joined = "".join(macs)
        if not (set([len(m) for m in macs]) == set([17]) and joined.count(":") == 5 * len(macs)
                and _colons_in_place(macs, joined) and _only(joined, MAC_BYTES)):
            return None
    if not ips:
        return []
    joined = ".".join(ips)  # dotted quads of 0..255 without leading zeros: one spelling
    octets = joined.split(".")
    if ("/" in joined or ":" in joined or len(octets) != 4 * len(ips)
            or [a for a in ips if a.count(".") != 3]
            or [o for o in set(octets) if o not in netaddr.OCTETS]):
        return None
    value = netaddr.OCTETS
    n = [value[o] for o in octets]
    return [(a << 24) | (b << 16) | (c << 8) | d
            for a, b, c, d in zip(n[0::4], n[1::4], n[2::4], n[3::4])]


def _plain_row(section):
    """(section, name, macs, ips, action) of a plain section, else None."""
    values = section.values
    for option in values:
        if option not in PLAIN_OPTIONS:
            return None
    name = values.get("name")
    macs = values.get("mac", [])
    ips = values.get("ip", [])
    action = values.get("action", "block")
    if (name.__class__ is list or macs.__class__ is not list or ips.__class__ is not list
            or action.__class__ is not str or not (macs or ips)):
        return None
    return section, name, macs, ips, action


NAME_BYTES = bytes([b for b in range(32, 127) if b not in b'"\\'])
MAC_BYTES = b"0123456789abcdef:"


def _only(text, allowed):
    """Does text hold nothing but the bytes `allowed` (ASCII)? At C speed on CPython."""
    data = text.encode()
    try:
        return not data.translate(None, allowed)    # what is left is not allowed
    except (AttributeError, TypeError):             # MicroPython: bytes.translate is missing
        return not [b for b in data if b not in allowed]


def _colons_in_place(macs, joined):
    """Each MAC of `joined` (17 characters each) has ':' at 2, 5, 8, 11 and 14."""
    try:
        colons = ":" * len(macs)
        return not [k for k in (2, 5, 8, 11, 14) if joined[k::17] != colons]
    except NotImplementedError:                     # MicroPython: no extended str slices
        return not [m for m in macs if m[2] + m[5] + m[8] + m[11] + m[14] != ":::::"]


def _plain_names(names):
    """Every name printable ASCII without quotes or backslashes, none too long."""
    return not names or (_only(" ".join(names), NAME_BYTES)
                         and max([len(n) for n in names]) <= NAME_MAX)


def from_sections(sections):
    """Validate parsed uci sections into Settings (or raise SettingsError)."""
    dups = uci.duplicates(sections)
    if dups:
        label, line = dups[0]
        raise SettingsError(CONFIG + "." + label,
                            "section declared twice (again on line " + str(line) + ")")
    s = Settings()
    globals_seen = False
    plain = iter(_plain_clients([x for x in sections if x.type == "client"]))
    for section in sections:
        if section.type == "globals":
            if globals_seen:
                raise SettingsError(field(section), "only one globals section is allowed")
            globals_seen = True
            _check_options(section, GLOBAL_OPTIONS)
            s.enabled = _bool(section, "enabled", True)
            s.log = _bool(section, "log", False)
            s.ipv6 = _bool(section, "ipv6", True)
            s.lan_zones = _names(section, "lan_zone", netaddr.check_zone, s.lan_zones)
            s.wan_zones = _names(section, "wan_zone", netaddr.check_zone, s.wan_zones)
            s.lan_devices = _names(section, "lan_device", netaddr.check_ifname, [])
            s.wan_devices = _names(section, "wan_device", netaddr.check_ifname, [])
        elif section.type == "protocol":
            if section.name not in PROTOCOLS:
                raise SettingsError(field(section),
                                    "unknown protocol (known: pptp, l2tp, ipsec)")
            _check_options(section, PROTOCOL_OPTIONS)
            s.protocols[section.name] = _bool(section, "enabled", True)
        elif section.type == "client":
            client = next(plain)
            if client is None:
                if "enabled" in section.values and not _bool(section, "enabled", True):
                    continue
                client = _client(section)
            s.clients.append(client)
        else:
            raise SettingsError(field(section),
                                "unknown section type '" + section.type
                                + "' (known: globals, protocol, client)")
    _check_overlaps(s.clients)
    return s


def parse(text, path=""):
    """uci text -> Settings; uci format errors become SettingsErrors too. Where every
    client is plain (as LuCI writes them), they are read as columns (Bulk), not as
    sections; any doubt, and the file is read section by section, which also finds
    the first error in file order."""
    kept = uci.parse_keeping(text, "client", path)
    if kept is not None:
        sections, programs, rows = kept
        if not rows:
            return from_sections(sections)
        bulk = _bulk(programs, rows)
        if bulk is not None:
            s = from_sections(sections)
            s.bulk = bulk
            return s
    try:
        sections = uci.parse(text, path)
    except uci.UciError as e:
        raise SettingsError(CONFIG + (" line " + str(e.line) if e.line else ""), e.message)
    return from_sections(sections)


BULK_LISTS = ("mac", "ip")


def _bulk_columns(programs, rows):
    """{option: [value or None per row]} where every row's program is plain, else None."""
    first = programs[0]
    others = [p for p in programs if p is not first]    # mostly none: LuCI writes one shape
    places = {}         # id(program) -> {option: index in its row}
    for program in [first] + others:
        if id(program) in places:
            continue
        where = {}
        for i, (option, is_list) in enumerate(program[2]):
            if option not in PLAIN_OPTIONS or is_list != (option in BULK_LISTS):
                return None
            where[option] = i
        if "mac" not in where and "ip" not in where:
            return None
        places[id(program)] = where
    if not others:              # one shape: a plain pass per option
        where = places[id(first)]
        return dict((option, [None] * len(rows) if where.get(option) is None
                     else [row[where[option]] for row in rows]) for option in PLAIN_OPTIONS)
    wheres = [places[id(p)] for p in programs]
    return dict((option, [row[w[option]] if option in w else None
                          for w, row in zip(wheres, rows)]) for option in PLAIN_OPTIONS)


def _bulk(programs, rows):
    """Bulk for the client rows, or None where any value is not plain and valid or two
    clients list the same MAC or address (the precise path then decides or explains)."""
    columns = _bulk_columns(programs, rows)
    if columns is None:
        return None
    names = columns["name"]
    macs = [m for m in columns["mac"] if m is not None]
    ips = [a for a in columns["ip"] if a is not None]
    actions = ["block" if a is None else a for a in columns["action"]]
    if len(set(macs)) != len(macs) or len(set(ips)) != len(ips):
        return None     # one spelling each (checked next), so a repeat is the same host
    hosts = _plain_values([n for n in names if n is not None], macs, ips, actions)
    if hosts is None:
        return None
    if len(hosts) != len(rows):
        hosts = iter(hosts)
        hosts = [None if a is None else next(hosts) for a in columns["ip"]]
    labels = [uci.anonymous_label("client", i) for i in range(len(rows))]
    return Bulk(labels, names, columns["mac"], columns["ip"], actions, hosts)
