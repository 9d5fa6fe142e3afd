#!/usr/bin/env python3
"""Collect the translatable strings of a LuCI app into a .pot, as LuCI's
build/i18n-scan.pl does for this app's kinds of files:

  * `_('…')` / `_("…")` / `` _(`…`) `` in htdocs/**/*.js (JS string literals);
  * "title" in root/usr/share/luci/menu.d/*.json;
  * "description" in root/usr/share/rpcd/acl.d/*.json.

Whitespace runs collapse to one space (LuCI looks translations up that way).
Strings containing printf placeholders are flagged c-format so that
`msgfmt --check` verifies each translation keeps them.

Usage: i18n_scan.py APPDIR > po/templates/DOMAIN.pot
"""

import json
import os
import re
import sys

_CALL = re.compile(r'(?<![\w$.])_\(\s*')
_FORMAT = re.compile(r'%(?:\d+\$)?[-+ #0]*\d*(?:\.\d+)?[sdifxXoecu%]')


def canon(s):
    return ' '.join(s.split())


def _js_string(src, i):
    """(value, end) for the JS string literal starting at src[i], or None."""
    quote = src[i]
    if quote not in '\'"`':
        return None
    out = []
    j = i + 1
    while j < len(src):
        c = src[j]
        if c == '\\':
            n = src[j + 1]
            simple = {'n': '\n', 't': '\t', 'r': '\r', 'b': '\b', 'f': '\f', 'v': '\v', '0': '\0'}
            if n in simple:
                out.append(simple[n])
                j += 2
            elif n == 'u':
                if src[j + 2] == '{':
                    end = src.index('}', j)
                    out.append(chr(int(src[j + 3:end], 16)))
                    j = end + 1
                else:
                    out.append(chr(int(src[j + 2:j + 6], 16)))
                    j += 6
            elif n == 'x':
                out.append(chr(int(src[j + 2:j + 4], 16)))
                j += 4
            elif n == '\n':
                j += 2
            else:
                out.append(n)
                j += 2
            continue
        if c == quote:
            return ''.join(out), j + 1
        if quote == '`' and c == '$' and src[j + 1:j + 2] == '{':
            return None
        out.append(c)
        j += 1
    return None


def scan_js(path, text):
    """[(string, line)] for every _() call whose first argument is a literal
    (literals joined with + are concatenated, as i18n-scan.pl does)."""
    found = []
    for m in _CALL.finditer(text):
        i = m.end()
        parts = []
        while True:
            lit = _js_string(text, i) if i < len(text) else None
            if lit is None:
                break
            parts.append(lit[0])
            k = lit[1]
            while k < len(text) and text[k] in ' \t\r\n':
                k += 1
            if k < len(text) and text[k] == '+':
                k += 1
                while k < len(text) and text[k] in ' \t\r\n':
                    k += 1
                i = k
                continue
            break
        if parts:
            s = canon(''.join(parts))
            if s:
                found.append((s, text.count('\n', 0, m.start()) + 1))
    return found


def scan_app(appdir):
    """{msgid: [reference, …]} for the app rooted at appdir."""
    strings = {}

    def add(s, ref):
        s = canon(s)
        if s:
            strings.setdefault(s, []).append(ref)

    htdocs = os.path.join(appdir, 'htdocs')
    for root, _dirs, files in os.walk(htdocs):
        for name in sorted(files):
            if name.endswith('.js'):
                path = os.path.join(root, name)
                with open(path, encoding='utf-8') as f:
                    text = f.read()
                rel = os.path.relpath(path, appdir)
                for s, line in scan_js(path, text):
                    add(s, '%s:%d' % (rel, line))

    for sub, key in (('root/usr/share/luci/menu.d', 'title'),
                     ('root/usr/share/rpcd/acl.d', 'description')):
        d = os.path.join(appdir, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith('.json'):
                continue
            path = os.path.join(d, name)
            with open(path, encoding='utf-8') as f:
                doc = json.load(f)
            rel = os.path.relpath(path, appdir)
            for entry in doc.values():
                if isinstance(entry, dict) and isinstance(entry.get(key), str):
                    add(entry[key], rel)
    return strings


def po_quote(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n').replace('\t', '\\t')


def render_pot(strings):
    out = ['msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8"', '']
    for s in sorted(strings):
        for ref in strings[s]:
            out.append('#: ' + ref)
        if _FORMAT.search(s.replace('%%', '')):
            out.append('#, c-format')
        out.append('msgid ' + po_quote(s))
        out.append('msgstr ""')
        out.append('')
    return '\n'.join(out)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('Usage: %s APPDIR\n' % argv[0])
        return 2
    sys.stdout.write(render_pot(scan_app(argv[1])))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
