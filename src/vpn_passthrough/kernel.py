"""Effects on the kernel: nft, modprobe, conntrack, ip. Each call goes through platform.run.

Also fw4's include of our table: fw4 reads /usr/share/nftables.d/ruleset-post/*.nft
(following a symlink; a missing target is skipped silently) into the ruleset of
every start, restart and reload. The link points at a runtime file under /var/run,
so a stopped or removed service leaves nothing for fw4 to load.
"""

import os

from . import flows
from . import netaddr
from . import nfnetlink
from . import platform
from . import ruleset
from .plan import TABLE, FAMILY


class KernelError(Exception):
    def __init__(self, what, result):
        # nft repeats the failing line with markers; the first lines say it all
        detail = "\n".join((result.err or result.out or "").strip().split("\n")[:3])
        super().__init__(what + ": " + (detail or "exit status " + str(result.rc)))
        self.result = result


def nft_apply(text):
    """Load a ruleset in one transaction; on failure the kernel kept the old one."""
    r = platform.run(["nft", "-f", "-"], stdin=text)
    if not r.ok():
        raise KernelError("nft rejected the ruleset, the previous one stays", r)


def nft_delete_table():
    """Remove our table whether or not it exists, in one transaction."""
    r = platform.run(["nft", "-f", "-"], stdin=ruleset.render_delete())
    if not r.ok():
        raise KernelError("nft could not remove the table", r)


INCLUDE_DIR = "/usr/share/nftables.d/ruleset-post"
INCLUDE_LINK = INCLUDE_DIR + "/vpn-passthrough.nft"
INCLUDE_FILE = "/var/run/vpn-passthrough/fw4.nft"


def install_include(text):
    """Write fw4's include (atomically: fw4 may read it at any moment) and link it
    where fw4 looks, when fw4 is installed (/usr/share/nftables.d exists)."""
    folder = os.path.dirname(INCLUDE_FILE)
    try:
        os.mkdir(folder, 0o755)
    except OSError:
        pass
    tmp = INCLUDE_FILE + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, INCLUDE_FILE)
    if os.path.isdir(os.path.dirname(INCLUDE_DIR)) and not os.path.islink(INCLUDE_LINK):
        try:            # fw4 ships nftables.d with only a README: the folder may be new
            if not os.path.isdir(INCLUDE_DIR):
                os.mkdir(INCLUDE_DIR, 0o755)
            os.symlink(INCLUDE_FILE, INCLUDE_LINK)
        except OSError:
            pass        # read-only /usr: fw4 then cannot bring the table back (check says)


def include_present():
    return os.path.exists(INCLUDE_FILE)


def include_linked():
    """Does fw4 find our include? None where fw4 is not installed."""
    if not os.path.isdir(os.path.dirname(INCLUDE_DIR)):
        return None
    return (os.path.exists(INCLUDE_FILE)
            and os.path.realpath(INCLUDE_LINK) == os.path.realpath(INCLUDE_FILE))


def remove_include():
    try:
        os.remove(INCLUDE_FILE)
    except OSError:
        pass


def nft_check(text):
    """Let the kernel validate a ruleset without committing it (`nft -c`)."""
    r = platform.run(["nft", "-c", "-f", "-"], stdin=text)
    return r


def helper_available(name, l4proto):
    """Does the kernel accept a ct helper object of this type? (modules may be built in)"""
    probe = ("table inet vpn_passthrough_probe {\n\tct helper h {\n\t\ttype \"" + name
             + "\" protocol " + l4proto + "\n\t\tl3proto ip\n\t}\n}\n")
    return nft_check(probe).ok()


def table_listing():
    """Terse listing of our table (no set elements), or None if absent."""
    r = platform.run(["nft", "-t", "list", "table", FAMILY, TABLE])
    return r.out if r.ok() else None


def applied_listing():
    """Our table's comment line (digest, policy, states) for tablecomment.read_comment, or
    None if the table is absent. Asked over netlink; only if the kernel cannot be
    asked that way, from nft (which fetches every set element)."""
    try:
        comment = nfnetlink.table_comment(FAMILY, TABLE)
    except (OSError, ValueError):
        return table_listing()
    return None if comment is None else 'comment "' + comment + '"'


def fw4_listing():
    """OpenWrt's firewall table (terse), or None when fw4 is not loaded. Read only."""
    r = platform.run(["nft", "-t", "list", "table", "inet", "fw4"])
    return r.out if r.ok() else None


def table_json(terse=False):
    """Our table as nft's JSON items (terse: without set elements), or None."""
    return _nft_json(["-t"] if terse else [], ["list", "table", FAMILY, TABLE])


def ruleset_json():
    """Every table's objects from `nft -j list ruleset` (a list), or None. Read only."""
    return _nft_json([], ["list", "ruleset"])


def _nft_json(flags, command):
    r = platform.run(["nft"] + flags + ["-j"] + command)
    if not r.ok():
        return None
    import json                 # only status needs it: keeps apply's start-up lean
    try:
        return json.loads(r.out).get("nftables", [])
    except ValueError:
        return None


def module_state(name):
    """'loaded', 'builtin' or 'missing' (or 'unknown' when the kernel gives no list)."""
    try:
        with open("/proc/modules") as f:
            for line in f:
                if line.split(" ", 1)[0] == name:
                    return "loaded"
    except OSError:
        pass
    release = os.uname().release
    try:
        with open("/lib/modules/" + release + "/modules.builtin") as f:
            for line in f:
                if line.strip().endswith("/" + name + ".ko"):
                    return "builtin"
        return "missing"
    except OSError:
        return "unknown"     # no module tree: the helper probe decides


def load_modules(names):
    """modprobe each; returns {name: state}. Failure is not fatal: built-in code needs no load.
    Without a module tree there is nothing modprobe could load: it is not started."""
    states = {}
    tree = os.path.isdir("/lib/modules/" + os.uname().release)
    for name in names:
        if tree and module_state(name) not in ("loaded", "builtin"):
            platform.run(["modprobe", name])
        states[name] = module_state(name)
    return states


def conntrack_text():
    """Every flow, both families, from one call ('' when conntrack is missing, which
    `check` reports). conntrack-tools lists IPv4 and IPv6 when no family is named."""
    r = platform.run(["conntrack", "-L", "-o", "ktimestamp"])
    if not r.ok():
        r = platform.run(["conntrack", "-L"])
    return r.out if r.ok() else ""


def conntrack_delete(flow):
    return platform.run(["conntrack"] + flows.delete_args(flow)).ok()


def _ip_lines(args):
    r = platform.run(["ip", "-o"] + args)
    return r.out.split("\n") if r.ok() else []


def addresses():
    """[(device, family, int, prefix length)] of every address, from one `ip` call."""
    out = []
    for line in _ip_lines(["addr", "show"]):
        words = line.split()
        if len(words) < 4:
            continue
        device = words[1].split("@", 1)[0]
        for i in range(2, len(words) - 1):
            if words[i] in ("inet", "inet6") and "/" in words[i + 1]:
                addr, length = words[i + 1].split("/", 1)
                try:
                    family, n = netaddr.parse_address(addr)
                except ValueError:
                    continue
                out.append((device, family, n, int(length)))
    return out


def network_facts(lan_devices):
    """flows.Network for the LAN devices: prefixes, own addresses, neighbours, each
    asked of `ip` when first needed (a flow cut that meets no VPN flow starts none)."""
    return _LiveNetwork(lan_devices)


class _LiveNetwork(flows.Network):
    def __init__(self, lan_devices):
        self.lan_devices = lan_devices
        self._prefixes = self._local = self._neighbours = None

    def _addresses(self):
        local = {}
        prefixes = []
        for device, family, n, length in addresses():
            local[(family, n)] = True
            if device not in self.lan_devices:
                continue
            if family == 6 and (n >> 118) == 0x3fa:          # fe80::/10 is not a LAN prefix
                continue
            text = netaddr.format_ipv4(n) if family == 4 else netaddr.format_ipv6(n)
            prefixes.append(netaddr.parse_prefix(text + "/" + str(length)))
        self._prefixes, self._local = prefixes, local

    @property
    def lan_prefixes(self):
        if self._prefixes is None:
            self._addresses()
        return self._prefixes

    @property
    def local(self):
        if self._local is None:
            self._addresses()
        return self._local

    @property
    def neighbours(self):
        if self._neighbours is None:
            self._neighbours = neighbours()
        return self._neighbours


def neighbours():
    """{(family, int): mac} of the neighbour table, from one `ip` call."""
    out = {}
    r = platform.run(["ip", "neigh", "show"])
    for line in r.out.split("\n") if r.ok() else []:
        words = line.split()
        if "lladdr" in words:
            try:
                key = netaddr.parse_address(words[0])
                out[key] = netaddr.parse_mac(words[words.index("lladdr") + 1])
            except (ValueError, IndexError):
                continue
    return out
