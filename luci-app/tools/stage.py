#!/usr/bin/env python3
"""Lay out the two LuCI packages for an ipk builder, as luci.mk would install them.

    stage.py OUTDIR VERSION

writes, for PKG in luci-app-vpn-passthrough and luci-i18n-vpn-passthrough-ja:
    OUTDIR/PKG/data/…         the files, at their paths on the router
    OUTDIR/PKG/control/control, postinst, postrm (postinst/postrm mode 0755)

luci-app-vpn-passthrough (Architecture: all; Depends: luci-base, vpn-passthrough)
    /www/luci-static/resources/view/vpn-passthrough/overview.js
    /usr/share/luci/menu.d/luci-app-vpn-passthrough.json
    /usr/share/rpcd/acl.d/luci-app-vpn-passthrough.json
luci-i18n-vpn-passthrough-ja (Architecture: all; Depends: luci-app-vpn-passthrough)
    /usr/lib/lua/luci/i18n/vpn-passthrough.ja.lmo   (po/ja compiled by po2lmo.py)
    /etc/uci-defaults/luci-i18n-vpn-passthrough-ja  (offers Japanese in LuCI's language list)

The postinst scripts do what luci.mk's do: drop LuCI's menu/module caches and
send rpcd SIGHUP so it reads the new ACL file; nothing when installing into an
image (IPKG_INSTROOT set).
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import po2lmo  # noqa: E402

APP_NAME = 'luci-app-vpn-passthrough'
DOMAIN = 'vpn-passthrough'
APP = os.path.join(os.path.dirname(HERE), APP_NAME)
LANG_TITLES = {'ja': '日本語 (Japanese)'}

# opkg and apk (post-install / post-deinstall) alike; IPKG_NO_SCRIPT=1: nothing
SCRIPT_HEAD = '#!/bin/sh\n[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n'
CACHE_FLUSH = '''\
\trm -f /tmp/luci-indexcache.* /tmp/luci-indexcache
\trm -rf /tmp/luci-modulecache/
\tkillall -HUP rpcd 2>/dev/null
'''


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(path, mode)


def _control(dest, fields, postinst, postrm):
    lines = ['%s: %s' % kv for kv in fields]
    _write(os.path.join(dest, 'control', 'control'), '\n'.join(lines) + '\n')
    _write(os.path.join(dest, 'control', 'postinst'), postinst, 0o755)
    _write(os.path.join(dest, 'control', 'postrm'), postrm, 0o755)


def stage_app(out, version):
    dest = os.path.join(out, APP_NAME)
    data = os.path.join(dest, 'data')
    for src_root, prefix in ((os.path.join(APP, 'htdocs'), 'www'), (os.path.join(APP, 'root'), '')):
        for root, _dirs, files in os.walk(src_root):
            for name in files:
                src = os.path.join(root, name)
                dst = os.path.join(data, prefix, os.path.relpath(src, src_root))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(src, dst)
                os.chmod(dst, 0o644)
    _control(dest, [
        ('Package', APP_NAME), ('Version', version), ('Depends', 'luci-base, vpn-passthrough'),
        ('Section', 'luci'), ('Architecture', 'all'),
        ('Description', 'LuCI page for VPN passthrough: PPTP, L2TP and IPsec switches, '
                        'per-client policy and live VPN sessions'),
    ], SCRIPT_HEAD + '[ -n "${IPKG_INSTROOT}" ] || {\n' + CACHE_FLUSH + '}\nexit 0\n',
        SCRIPT_HEAD + '[ -n "${IPKG_INSTROOT}" ] || {\n' + CACHE_FLUSH + '}\nexit 0\n')
    return dest


def stage_lang(out, version, lang):
    pkg = 'luci-i18n-%s-%s' % (DOMAIN, lang)
    dest = os.path.join(out, pkg)
    data = os.path.join(dest, 'data')
    with open(os.path.join(APP, 'po', lang, DOMAIN + '.po'), encoding='utf-8') as f:
        blob = po2lmo.compile_po(f.read())
    lmo = os.path.join(data, 'usr/lib/lua/luci/i18n', '%s.%s.lmo' % (DOMAIN, lang))
    os.makedirs(os.path.dirname(lmo), exist_ok=True)
    with open(lmo, 'wb') as f:
        f.write(blob)
    os.chmod(lmo, 0o644)
    defaults = os.path.join(data, 'etc/uci-defaults', pkg)
    _write(defaults, "uci set luci.languages.%s='%s'; uci commit luci\n"
           % (lang.replace('-', '_'), LANG_TITLES.get(lang, lang)))
    _control(dest, [
        ('Package', pkg), ('Version', version), ('Depends', APP_NAME),
        ('Section', 'luci'), ('Architecture', 'all'),
        ('Description', 'Translation for %s - %s' % (APP_NAME, LANG_TITLES.get(lang, lang))),
    ], SCRIPT_HEAD + '[ -n "${IPKG_INSTROOT}" ] || {\n'
       '\t# shellcheck disable=SC1091  # written by this package, run once here\n'
       '\t(. /etc/uci-defaults/%s) && rm -f /etc/uci-defaults/%s\n' % (pkg, pkg)
       + CACHE_FLUSH + '}\nexit 0\n',
       SCRIPT_HEAD + '[ -n "${IPKG_INSTROOT}" ] || {\n' + CACHE_FLUSH + '}\nexit 0\n')
    return dest


def languages():
    po_dir = os.path.join(APP, 'po')
    return sorted(d for d in os.listdir(po_dir)
                  if d != 'templates' and os.path.isfile(os.path.join(po_dir, d, DOMAIN + '.po')))


def main(argv):
    if len(argv) != 3:
        sys.stderr.write('Usage: %s OUTDIR VERSION\n' % argv[0])
        return 2
    out, version = argv[1], argv[2]
    for pkg in os.listdir(out) if os.path.isdir(out) else []:
        if pkg == APP_NAME or pkg.startswith('luci-i18n-%s-' % DOMAIN):
            shutil.rmtree(os.path.join(out, pkg))
    print(stage_app(out, version))
    for lang in languages():
        print(stage_lang(out, version, lang))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
