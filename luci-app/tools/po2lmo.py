#!/usr/bin/env python3
"""Compile a gettext .po file into LuCI's .lmo catalog, as LuCI's po2lmo does.

LuCI looks translations up in /usr/lib/lua/luci/i18n/<domain>.<lang>.lmo.
The SDK builds them with po2lmo (C, part of luci-base/host); this is the same
format in Python so `make ipk` can build the language package without the SDK.

Format (modules/luci-base/src/po2lmo.c, lib/lmo.c in openwrt/luci):
  * the translated strings, each padded with NULs to a multiple of 4 bytes;
  * an index of 16-byte entries sorted by key_id, all fields big-endian:
    key_id  = sfh_hash(msgid), or 0 for the Plural-Forms header value;
    val_id  = plural index + 1 (0 for the header);
    offset  = where the string starts; length = its length without padding;
  * the offset of the index as a big-endian uint32 (the last 4 bytes).
Keys are "msgid", "ctxt\\1msgid", "msgid\\2N" or "ctxt\\1msgid\\2N" (plurals).
An entry whose translation hashes like its key (untranslated copy) is left out.

Usage: po2lmo.py input.po output.lmo
"""

import struct
import sys

MASK = 0xFFFFFFFF


def _signed_char(b):
    return b - 256 if b > 127 else b


def sfh_hash(data, init=None):
    """Paul Hsieh's SuperFastHash exactly as lib/lmo.c computes it (init = len)."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    length = len(data)
    if length <= 0:
        return 0
    h = (length if init is None else init) & MASK
    rem = length & 3
    i = 0
    for _ in range(length >> 2):
        h = (h + (data[i] | data[i + 1] << 8)) & MASK
        tmp = (((data[i + 2] | data[i + 3] << 8) << 11) ^ h) & MASK
        h = ((h << 16) ^ tmp) & MASK
        i += 4
        h = (h + (h >> 11)) & MASK
    if rem == 3:
        h = (h + (data[i] | data[i + 1] << 8)) & MASK
        h ^= (h << 16) & MASK
        h ^= (_signed_char(data[i + 2]) << 18) & MASK
        h = (h + (h >> 11)) & MASK
    elif rem == 2:
        h = (h + (data[i] | data[i + 1] << 8)) & MASK
        h ^= (h << 11) & MASK
        h = (h + (h >> 17)) & MASK
    elif rem == 1:
        h = (h + _signed_char(data[i])) & MASK
        h ^= (h << 10) & MASK
        h = (h + (h >> 1)) & MASK
    h ^= (h << 3) & MASK
    h = (h + (h >> 5)) & MASK
    h ^= (h << 4) & MASK
    h = (h + (h >> 17)) & MASK
    h ^= (h << 25) & MASK
    h = (h + (h >> 6)) & MASK
    return h


def _unquote(line):
    """The text between the first pair of quotes; like po2lmo, only \\" and \\\\ are
    unescaped (other escapes such as \\n stay as written)."""
    start = line.find('"')
    if start < 0:
        return None
    out = []
    i = start + 1
    while i < len(line):
        c = line[i]
        if c == '\\' and i + 1 < len(line):
            nxt = line[i + 1]
            out.append(nxt if nxt in '"\\' else c + nxt)
            i += 2
            continue
        if c == '"':
            break
        out.append(c)
        i += 1
    return ''.join(out)


def parse_po(text):
    """Entries as dicts: ctxt, id, id_plural, strs ({index: text}), fuzzy, obsolete."""
    entries = []
    cur = None
    field = None

    def flush():
        if cur is not None and (cur['id'] is not None or cur['strs']):
            entries.append(cur)

    flags = set()
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith('#,'):
            if cur is not None and cur['strs']:
                flush()
                cur = None
            flags.update(f.strip() for f in line[2:].split(','))
            continue
        if line.startswith('#~'):
            continue
        if not line or line.startswith('#'):
            continue
        if line.startswith('msgctxt '):
            flush()
            cur = {'ctxt': _unquote(line), 'id': None, 'id_plural': None, 'strs': {},
                   'fuzzy': 'fuzzy' in flags}
            flags = set()
            field = ('ctxt',)
        elif line.startswith('msgid '):
            if cur is None or cur['id'] is not None or cur['strs']:
                flush()
                cur = {'ctxt': None, 'id': None, 'id_plural': None, 'strs': {},
                       'fuzzy': 'fuzzy' in flags}
                flags = set()
            cur['id'] = _unquote(line)
            field = ('id',)
        elif line.startswith('msgid_plural '):
            cur['id_plural'] = _unquote(line)
            field = ('id_plural',)
        elif line.startswith('msgstr['):
            n = int(line[7:line.index(']')])
            cur['strs'][n] = _unquote(line)
            field = ('strs', n)
        elif line.startswith('msgstr '):
            cur['strs'][0] = _unquote(line)
            field = ('strs', 0)
        elif line.startswith('"') and cur is not None and field is not None:
            part = _unquote(line)
            if field[0] == 'strs':
                cur['strs'][field[1]] += part
            else:
                cur[field[0]] = (cur[field[0]] or '') + part
    flush()
    return entries


def compile_po(text):
    """The .lmo bytes for a .po text (fuzzy entries are skipped, as gettext does)."""
    data = bytearray()
    index = []

    def add(key_id, val_id, value):
        raw = value.encode('utf-8')
        index.append((key_id, val_id, len(data), len(raw)))
        data.extend(raw)
        data.extend(b'\0' * ((4 - len(raw) % 4) % 4))

    for e in parse_po(text):
        if e['id'] in (None, ''):
            header = e['strs'].get(0) or ''
            for field in header.split('\\n'):
                if field.lower().startswith('plural-forms: '):
                    add(0, 0, field[14:])
                    break
            continue
        if e['fuzzy']:
            continue
        plural_num = max(e['strs']) if e['strs'] else 0
        for i in sorted(e['strs']):
            val = e['strs'][i]
            if not val:
                continue
            key = e['id']
            if e['ctxt'] is not None:
                key = e['ctxt'] + '\1' + key
            if e['id_plural'] is not None:
                key = '%s\2%d' % (key, i)
            key_id = sfh_hash(key)
            if key_id != sfh_hash(val):
                add(key_id, plural_num + 1, val)

    if not data:
        return b''
    index.sort(key=lambda ent: ent[0])
    out = bytes(data)
    for ent in index:
        out += struct.pack('>IIII', *ent)
    return out + struct.pack('>I', len(data))


def read_lmo(blob):
    """{key_id: text} from .lmo bytes (for tests and for dumping a catalog)."""
    (idx_off,) = struct.unpack('>I', blob[-4:])
    count = (len(blob) - idx_off - 4) // 16
    out = {}
    for n in range(count):
        key_id, _val_id, off, length = struct.unpack_from('>IIII', blob, idx_off + 16 * n)
        out[key_id] = blob[off:off + length].decode('utf-8')
    return out


def main(argv):
    if len(argv) != 3:
        sys.stderr.write('Usage: %s input.po output.lmo\n' % argv[0])
        return 1
    with open(argv[1], encoding='utf-8') as f:
        blob = compile_po(f.read())
    if not blob:
        sys.stderr.write('%s: no translated strings\n' % argv[1])
        return 1
    with open(argv[2], 'wb') as f:
        f.write(blob)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
