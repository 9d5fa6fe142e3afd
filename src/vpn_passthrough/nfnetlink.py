"""One question asked of nf_tables over netlink: the comment of a table.

Every apply asks whether the live table already holds the rules it would load
(the digest in the table comment). Asking the kernel directly spares starting
`nft` for it.
Read only: nothing here changes the kernel (changes go through `nft -f`).
Netlink is host byte order, hence struct's "=" (routers may be big-endian).
"""

import struct

import _socket      # the C module: `socket` itself would import enum and selectors

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_NEWTABLE = 0
NFT_MSG_GETTABLE = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NFTA_TABLE_NAME = 1
NFTA_TABLE_USERDATA = 6
NLA_TYPE_MASK = 0x3fff
UDATA_TABLE_COMMENT = 0         # libnftnl's NFTNL_UDATA_TABLE_COMMENT
FAMILIES = {"inet": 1, "ip": 2, "ip6": 10}
ENOENT = 2


def message(kind, flags, family, payload=b"", seq=1, res_id=0):
    """A netlink message: nlmsghdr (host order), nfgenmsg (res_id in network order)."""
    body = struct.pack("=BB", family, 0) + struct.pack("!H", res_id) + payload
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def _attr(kind, payload):
    pad = b"\0" * (-len(payload) % 4)
    return struct.pack("=HH", 4 + len(payload), kind) + payload + pad


def _attrs(data):
    """{type: payload} of netlink attributes."""
    out = {}
    off = 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            break
        out[kind & NLA_TYPE_MASK] = data[off + 4:off + length]
        off += (length + 3) & ~3
    return out


def _comment(userdata):
    """The comment among libnftnl's type-length-value user data, or ''."""
    off = 0
    while off + 2 <= len(userdata):
        kind, length = userdata[off], userdata[off + 1]
        if kind == UDATA_TABLE_COMMENT:
            return userdata[off + 2:off + 2 + length].rstrip(b"\0").decode("utf-8", "replace")
        off += 2 + length
    return ""


def table_comment(family, name, timeout=2.0):
    """The comment of table `family name`: '' if it has none, None if there is no
    such table. Raises OSError (or ValueError on an answer it cannot read) when
    the kernel cannot be asked this way; the caller then asks nft."""
    request = message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST,
                      FAMILIES[family], _attr(NFTA_TABLE_NAME, name.encode() + b"\0"))
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.settimeout(timeout)
        sock.sendto(request, (0, 0))
        answer = sock.recv(65536)
    finally:
        sock.close()
    if len(answer) < 20:
        raise ValueError("short netlink answer")
    length, answer_kind = struct.unpack_from("=IH", answer, 0)
    if answer_kind == NLMSG_ERROR:
        error = -struct.unpack_from("=i", answer, 16)[0]
        if error == ENOENT:
            return None
        raise OSError(error, "nf_tables refused GETTABLE")
    if answer_kind != (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE:
        raise ValueError("unexpected netlink answer type %d" % answer_kind)
    attrs = _attrs(answer[20:length])                   # after nlmsghdr and nfgenmsg
    if attrs.get(NFTA_TABLE_NAME, b"").rstrip(b"\0") != name.encode():
        raise ValueError("netlink answered for another table")
    return _comment(attrs.get(NFTA_TABLE_USERDATA, b""))
