"""The comment of table inet vpn_passthrough: written by each apply in the same transaction
as the rules, read back from the kernel by status and by the next apply. It holds

    vpn-passthrough DIGEST policy=POLICY since=SECONDS pptp=on l2tp=off ipsec=on

DIGEST: of the rules (an unchanged apply is recognised without state files); POLICY: the
digest without the log rules (a change of logging alone cuts no flows); since: when the
counts last started from zero; then each protocol's effective state.
"""


def _sha256():
    """A SHA-256 object at C speed: CPython's built-in module (3.12+: _sha2, 3.11: _sha256;
    not hashlib, which loads OpenSSL), else MicroPython's hashlib; None on a port
    without it."""
    for name in ("_sha2", "_sha256", "hashlib"):
        try:
            return __import__(name).sha256()
        except (ImportError, AttributeError):
            pass
    return None


def digest(text):
    """64 bits of SHA-256 (the same on CPython and MicroPython); FNV-1a only where no
    SHA-256 exists (a byte-wise loop in Python is slow)."""
    return digest_pieces([text])


def digest_pieces(pieces):
    """digest("".join(pieces)), without the join: megabytes of set elements are hashed
    piece by piece rather than copied."""
    h = _sha256()
    if h is not None:
        for piece in pieces:
            h.update(piece.encode())
        import binascii
        return binascii.hexlify(h.digest()[:8]).decode()
    h = 0xcbf29ce484222325
    for piece in pieces:
        for b in piece.encode():
            h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def line(full, policy, since, states):
    """The comment's line in the table block (STATES: ruleset.summary's words)."""
    return ('comment "vpn-passthrough ' + full + " policy=" + policy + " since="
            + str(int(since)) + " " + states + '"')


def _comment_words(listing):
    # within the first lines: slicing first spares splitting megabytes of set elements
    for line in listing[:8192].split("\n")[:10]:
        line = line.strip()
        if line.startswith('comment "vpn-passthrough '):
            return line[len('comment "'):-1].split()
    return []


def read_comment(listing):
    """(digest, {protocol: effective}) from `nft list table` output (or its comment line)."""
    words = _comment_words(listing)
    states = {}
    for w in words[2:]:
        if "=" in w:
            k, v = w.split("=", 1)
            if k not in ("policy", "since"):
                states[k] = v
    return (words[1] if len(words) > 1 else None), states


def read_policy(listing):
    """The policy digest (the digest without the log rules), or None."""
    for w in _comment_words(listing)[2:]:
        if w.startswith("policy="):
            return w[len("policy="):]
    return None


def read_since(listing):
    """When the counters last started from zero (seconds since the epoch), or 0."""
    for w in _comment_words(listing)[2:]:
        if w.startswith("since=") and w[len("since="):].isdigit():
            return int(w[len("since="):])
    return 0
