"""Addresses, prefixes, MACs and interface names, checked by hand.

MicroPython has no `ipaddress` and its `re` lacks counted repetition, so the
parsing is written out. Every function either returns a normalized value or
raises ValueError with a short reason.
"""

HEX = "0123456789abcdef"
# The spellings of a MAC byte, looked up whole: "00".."ff".
HEX_PAIRS = {}
for _i in range(256):
    HEX_PAIRS["%02x" % _i] = _i
# The exact spellings of an IPv4 octet, looked up whole: "0".."255" (no leading
# zeros, signs or spaces).
OCTETS = {}
for _i in range(256):
    OCTETS[str(_i)] = _i


def parse_ipv4(text):
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError("not an IPv4 address")
    try:
        return ((OCTETS[parts[0]] << 24) | (OCTETS[parts[1]] << 16)
                | (OCTETS[parts[2]] << 8) | OCTETS[parts[3]])
    except KeyError:
        pass
    for p in parts:         # refused: say why
        if not p or len(p) > 3 or not p.isdigit():
            break
        if len(p) > 1 and p[0] == "0":
            raise ValueError("leading zero in IPv4 address")
        if int(p) > 255:
            raise ValueError("IPv4 octet above 255")
    raise ValueError("not an IPv4 address")


def _hex16(group):
    if not group or len(group) > 4:
        raise ValueError("not an IPv6 address")
    for c in group.lower():
        if c not in HEX:
            raise ValueError("not an IPv6 address")
    return int(group, 16)


def parse_ipv6(text):
    if text.count("::") > 1 or ":::" in text:
        raise ValueError("not an IPv6 address")
    tail = []
    if "." in text:                       # embedded IPv4, e.g. ::ffff:1.2.3.4
        cut = text.rfind(":")
        v4 = parse_ipv4(text[cut + 1:])
        text = text[:cut + 1] + "0:0"
        tail = [v4 >> 16, v4 & 0xffff]
    if "::" in text:
        head, rest = text.split("::")
        left = [_hex16(g) for g in head.split(":")] if head else []
        right = [_hex16(g) for g in rest.split(":")] if rest else []
        missing = 8 - len(left) - len(right)
        if missing < 1:
            raise ValueError("not an IPv6 address")
        groups = left + [0] * missing + right
    else:
        groups = [_hex16(g) for g in text.split(":")]
        if len(groups) != 8:
            raise ValueError("not an IPv6 address")
    if tail:
        groups = groups[:6] + tail
    n = 0
    for g in groups:
        n = (n << 16) | g
    return n


def format_ipv4(n):
    return ".".join([str((n >> s) & 255) for s in (24, 16, 8, 0)])


def format_ipv6(n):
    groups = [(n >> (112 - 16 * i)) & 0xffff for i in range(8)]
    # RFC 5952: compress the longest run (>1) of zero groups, the first on a tie
    best, best_len, i = -1, 1, 0
    while i < 8:
        if groups[i] == 0:
            j = i
            while j < 8 and groups[j] == 0:
                j += 1
            if j - i > best_len:
                best, best_len = i, j - i
            i = j
        else:
            i += 1
    words = ["%x" % g for g in groups]
    if best < 0:
        return ":".join(words)
    return ":".join(words[:best]) + "::" + ":".join(words[best + best_len:])


class Prefix:
    """An address or prefix: family 4 or 6, network int, prefix length."""
    __slots__ = ("family", "network", "length", "text")     # thousands of them: no dicts

    def __init__(self, family, network, length, text=None):
        self.family = family
        self.network = network
        self.length = length
        self.text = text            # the canonical spelling, when the input was it

    def bits(self):
        return 32 if self.family == 4 else 128

    def first(self):
        return self.network

    def last(self):
        return self.network | ((1 << (self.bits() - self.length)) - 1)

    def contains(self, family, n):
        return family == self.family and self.first() <= n <= self.last()

    def overlaps(self, other):
        return (self.family == other.family and self.first() <= other.last()
                and other.first() <= self.last())

    def __str__(self):
        if self.text is not None:
            return self.text
        text = format_ipv4(self.network) if self.family == 4 else format_ipv6(self.network)
        if self.length != self.bits():
            text += "/" + str(self.length)
        return text


def parse_address(text):
    """(family, int) of a plain address."""
    if ":" in text:
        return 6, parse_ipv6(text)
    return 4, parse_ipv4(text)


def parse_prefix(text):
    """'192.168.1.0/24', '192.168.1.23', 'fd00::/64' -> Prefix (host bits cleared)."""
    if not text or len(text) > 64:
        raise ValueError("not an IP address or prefix")
    if "/" not in text and ":" not in text:
        return Prefix(4, parse_ipv4(text), 32, text)    # the common case: one IPv4 host
    addr, length = text, None
    if "/" in text:
        addr, length_text = text.split("/", 1)
        if not length_text.isdigit() or len(length_text) > 3:
            raise ValueError("bad prefix length")
        length = int(length_text)
    family, n = parse_address(addr)
    bits = 32 if family == 4 else 128
    if length is None:
        length = bits
    if length > bits:
        raise ValueError("prefix length above " + str(bits))
    if length == 0:
        raise ValueError("a /0 prefix would match every client")
    host = (1 << (bits - length)) - 1
    return Prefix(family, n & ~host & ((1 << bits) - 1), length)


def parse_mac(text):
    """'AA-bb-cc-dd-ee-ff' or 'aa:bb:cc:dd:ee:ff' -> 'aa:bb:cc:dd:ee:ff'."""
    mac = text.lower()
    sep = ":" if ":" in mac else "-"
    parts = mac.split(sep)
    if len(parts) != 6:
        raise ValueError("not a MAC address")
    for p in parts:
        if p not in HEX_PAIRS:
            raise ValueError("not a MAC address")
    return mac if sep == ":" else ":".join(parts)


IFNAME_MAX = 15  # Linux IFNAMSIZ - 1


def check_ifname(text):
    """Linux interface names as they may reach nft inside double quotes."""
    if not text:
        raise ValueError("empty device name")
    for c in text:
        ok = (("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")
              or c in "_-.@+")
        if not ok:
            raise ValueError("device name may hold only letters, digits and _ - . @ +")
    if len(text) > IFNAME_MAX:
        raise ValueError("device name longer than 15 characters")
    if text in (".", ".."):
        raise ValueError("not a device name")
    return text


def check_zone(text):
    """fw4 zone names: letters, digits, '_' and '-'."""
    if not text:
        raise ValueError("empty zone name")
    if len(text) > 32:
        raise ValueError("zone name longer than 32 characters")
    for c in text:
        if not ((("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")
                 or c in "_-")):
            raise ValueError("zone name may hold only letters, digits, _ and -")
    return text
