"""LuCI app: views parse as LuCI loads them, menu and ACL agree with the views,
translations are complete and compile to LuCI's .lmo format."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
APP = os.path.join(ROOT, 'luci-app', 'luci-app-vpn-passthrough')
TOOLS = os.path.join(ROOT, 'luci-app', 'tools')
RESOURCES = os.path.join(APP, 'htdocs', 'luci-static', 'resources')
VIEWS = os.path.join(RESOURCES, 'view')
MENU_DIR = os.path.join(APP, 'root', 'usr', 'share', 'luci', 'menu.d')
ACL_FILE = os.path.join(APP, 'root', 'usr', 'share', 'rpcd', 'acl.d', 'luci-app-vpn-passthrough.json')
POT = os.path.join(APP, 'po', 'templates', 'vpn-passthrough.pot')

sys.path.insert(0, TOOLS)
import i18n_scan  # noqa: E402
import po2lmo  # noqa: E402

# Classes luci-base provides to views through 'require …'.
LUCI_CLASSES = {'baseclass', 'dom', 'form', 'fs', 'network', 'poll', 'request', 'rpc', 'uci', 'ui',
                'validation', 'view', 'firewall', 'tools.widgets', 'tools.views'}


def view_files():
    files = sorted(glob.glob(os.path.join(VIEWS, '**', '*.js'), recursive=True))
    assert files, 'no views under ' + VIEWS
    return files


def js_files():
    """The views and the app's own modules (resources/vpn-passthrough/*.js)."""
    return sorted(glob.glob(os.path.join(RESOURCES, '**', '*.js'), recursive=True))


def own_modules():
    """'vpn-passthrough.status' etc.: what LuCI's require resolves to files of this app."""
    out = set()
    for path in js_files():
        rel = os.path.relpath(path, RESOURCES)[:-3]
        if not rel.startswith('view' + os.sep):
            out.add(rel.replace(os.sep, '.'))
    return out


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.skip('%s is not installed (tests/luci/setup.sh installs it)' % tool)
    return path


def parse_views(paths):
    node = need('node')
    out = subprocess.run([node, os.path.join(HERE, 'parse_views.js')] + paths,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def rpc_calls(source):
    """(object, method) of every rpc.declare in a view."""
    calls = set()
    for body in re.findall(r'rpc\.declare\(\s*\{(.*?)\}\s*\)', source, re.S):
        obj = re.search(r"object\s*:\s*'([^']+)'", body)
        meth = re.search(r"method\s*:\s*'([^']+)'", body)
        assert obj and meth, 'rpc.declare without a literal object/method: ' + body
        calls.add((obj.group(1), meth.group(1)))
    return calls


def acl():
    with open(ACL_FILE, encoding='utf-8') as f:
        return json.load(f)


def po_entries(path):
    with open(path, encoding='utf-8') as f:
        return po2lmo.parse_po(f.read())


# ---- views ----

def test_views_compile_as_function_bodies_like_luci_loads_them():
    result = parse_views(js_files())
    assert len(result) >= 4
    for path, r in result.items():
        assert r['error'] is None, '%s: %s' % (path, r['error'])
        assert set(r['requires']) <= LUCI_CLASSES | own_modules(), '%s requires %s' % (path, r['requires'])
    overview = result[os.path.join(VIEWS, 'vpn-passthrough', 'overview.js')]
    assert {'view', 'form', 'vpn-passthrough.status'} <= set(overview['requires'])


def test_modules_are_written_the_way_luci_apps_are():
    # Issue 16: the idioms of luci-app-example / -pbr / -banip.
    for path in js_files():
        src = read(path)
        name = os.path.relpath(path, RESOURCES)
        assert len(src.splitlines()) <= 300, name + ' is over 300 lines'
        if re.search(r'\bdom\.', src):
            assert "'require dom';" in src, name + ' uses dom without requiring it'
        assert 'L.dom' not in src, name
        assert 'window.location.reload' not in src, name
        assert not re.search(r"E\('style'|'style'\s*:|\.style\.cssText", src), name + ' has inline CSS'
        assert not re.search(r'\.catch\(function\([^)]*\)\s*\{\s*return', src), \
            name + ': a hand-written catch wrapper where L.resolveDefault is the idiom'
    overview = read(os.path.join(VIEWS, 'vpn-passthrough', 'overview.js'))
    assert re.search(r"new form\.Map\('vpn-passthrough',\s*_\('VPN Passthrough'\),\s*_\(", overview)
    assert "E('h2'" not in overview
    # the three protocol switches come from one loop, not three copies
    assert overview.count("o.ucioption = 'enabled'") == 1


def _ids_in(src, table):
    body = src[src.index('var %s = {' % table):]
    body = body[:body.index('\n};')]
    return set(re.findall(r'^\t(\w+): \{', body, re.M))


def test_every_check_finding_is_translated_by_id():
    # Ids from the service (src/) and from README's table: the page must know each.
    ids = set(re.findall(r'_finding\(\s*"(\w+)"', read(os.path.join(ROOT, 'src', 'vpn_passthrough', 'diagnose.py'))))
    ids |= {'nft_missing', 'conntrack_missing'}   # built as tool + "_missing"
    readme = read(os.path.join(ROOT, 'README.md'))
    table = readme[readme.index('### What `check` reports'):]
    table = table[:table.index('\n#', 5)]
    ids |= set(re.findall(r'^\| `(\w+)` \|', table, re.M))
    known = _ids_in(read(os.path.join(RESOURCES, 'vpn-passthrough', 'messages.js')), 'FINDINGS')
    assert ids - known == set(), 'findings the page shows in English: %s' % sorted(ids - known)


def test_every_diagnose_verdict_is_translated_by_id():
    # The service's stable verdict ids (src/vpn_passthrough/verdicts.py).
    src = read(os.path.join(ROOT, 'src', 'vpn_passthrough', 'verdicts.py'))
    table = src[src.index('SEVERITY = {'):]
    wanted = set(re.findall(r'"(\w+)":', table[:table.index('}')]))
    assert {'blocked_switch', 'unanswered', 'ok'} <= wanted
    known = _ids_in(read(os.path.join(RESOURCES, 'vpn-passthrough', 'messages.js')), 'VERDICTS')
    assert wanted - known == set(), 'verdicts the page shows in English: %s' % sorted(wanted - known)
    assert known - wanted == set(), 'translations of verdicts the service never gives: %s' % sorted(known - wanted)


def test_the_parser_does_catch_a_broken_view(tmp_path):
    broken = tmp_path / 'broken.js'
    with open(view_files()[0], encoding='utf-8') as f:
        broken.write_text(f.read().replace('return view.extend({', 'return view.extend({{', 1))
    result = parse_views([str(broken)])
    assert result[str(broken)]['error'], 'a syntax error went unnoticed'


# ---- menu and ACL ----

def test_menu_entry_under_network_points_at_an_existing_view_and_is_gated_by_the_acl():
    menus = glob.glob(os.path.join(MENU_DIR, '*.json'))
    assert menus
    acl_names = set(acl())
    seen = 0
    for path in menus:
        with open(path, encoding='utf-8') as f:
            doc = json.load(f)
        for url, entry in doc.items():
            action = entry.get('action', {})
            if action.get('type') != 'view':
                continue
            seen += 1
            assert url.startswith('admin/network/'), url
            view = os.path.join(VIEWS, action['path'] + '.js')
            assert os.path.isfile(view), '%s: view %s does not exist' % (url, view)
            assert set(entry['depends']['acl']) <= acl_names and entry['depends']['acl'], url
    assert seen == 1


def test_acl_names_exactly_the_methods_the_views_call():
    called = set()
    for path in js_files():
        with open(path, encoding='utf-8') as f:
            called |= rpc_calls(f.read())
    doc = acl()
    assert list(doc) == ['luci-app-vpn-passthrough']
    grant = doc['luci-app-vpn-passthrough']
    granted = set()
    for kind in ('read', 'write'):
        assert set(grant[kind]) <= {'ubus', 'uci'}, '%s grants %s' % (kind, sorted(grant[kind]))
        for obj, methods in grant[kind].get('ubus', {}).items():
            granted |= {(obj, m) for m in methods}
    assert granted == called, 'ACL %s vs calls %s' % (sorted(granted), sorted(called))


def test_acl_splits_read_and_write_as_the_issue_says():
    grant = acl()['luci-app-vpn-passthrough']
    assert grant['read']['ubus'] == {
        'luci.vpn-passthrough': ['status', 'clients', 'sessions', 'check', 'diagnose'],
        'luci-rpc': ['getHostHints']}
    assert grant['write']['ubus'] == {'luci.vpn-passthrough': ['set', 'reload', 'reset_counters']}
    assert grant['read']['uci'] == ['vpn-passthrough']
    assert grant['write']['uci'] == ['vpn-passthrough']


def test_views_call_the_luci_object_not_the_plain_one():
    # docs/DESIGN.md: `luci.vpn-passthrough` declares ubus_rpc_session, which rpcd adds.
    for path in js_files():
        with open(path, encoding='utf-8') as f:
            objects = {o for o, _m in rpc_calls(f.read())}
        assert 'vpn-passthrough' not in objects


# ---- translations ----

def test_every_po_passes_msgfmt_check():
    msgfmt = need('msgfmt')
    pos = glob.glob(os.path.join(APP, 'po', '*', '*.po'))
    assert pos
    for po in pos:
        r = subprocess.run([msgfmt, '--check', '-o', os.devnull, po],
                           capture_output=True, text=True)
        assert r.returncode == 0, '%s: %s' % (po, r.stderr)


def test_pot_holds_exactly_the_strings_the_app_uses():
    used = set(i18n_scan.scan_app(APP))
    in_pot = {e['id'] for e in po_entries(POT) if e['id']}
    assert used - in_pot == set(), 'missing from the .pot: %s' % sorted(used - in_pot)
    assert in_pot - used == set(), 'stale in the .pot: %s' % sorted(in_pot - used)


def test_japanese_is_complete_without_fuzzy_or_untranslated_entries():
    ja = os.path.join(APP, 'po', 'ja', 'vpn-passthrough.po')
    with open(ja, encoding='utf-8') as f:
        text = f.read()
    assert '#, fuzzy' not in text and not re.search(r'^#,.*\bfuzzy\b', text, re.M)
    assert not re.search(r'^#~', text, re.M), 'obsolete entries'
    entries = {e['id']: e for e in po2lmo.parse_po(text) if e['id']}
    pot_ids = {e['id'] for e in po_entries(POT) if e['id']}
    assert pot_ids - set(entries) == set(), 'not in ja: %s' % sorted(pot_ids - set(entries))
    assert set(entries) - pot_ids == set(), 'ja has stale entries: %s' % sorted(set(entries) - pot_ids)
    for msgid, e in entries.items():
        msgstr = e['strs'].get(0, '')
        assert msgstr, 'untranslated: %r' % msgid
        assert not e['fuzzy'], 'fuzzy: %r' % msgid
        placeholders = re.findall(r'%[sd]', msgid)
        assert re.findall(r'%[sd]', msgstr) == placeholders, 'placeholders differ: %r' % msgid
        if re.search(r'[A-Za-z]{4}', msgid) and msgid not in ('%s (%s)',):
            assert re.search(r'[\u3040-\u30ff\u4e00-\u9fff]', msgstr), 'no Japanese in %r -> %r' % (msgid, msgstr)


def test_sfh_hash_matches_luci_values():
    # Values from lib/lmo.c's sfh_hash compiled in C.
    assert po2lmo.sfh_hash('a') == 0x115ea782
    assert po2lmo.sfh_hash('abc') == 0xd2be198a
    assert po2lmo.sfh_hash('VPN Passthrough') == 0xd7963562
    assert po2lmo.sfh_hash('日本語') == 0xaa84dbd6


def test_japanese_lmo_answers_every_lookup_like_luci(tmp_path):
    ja = os.path.join(APP, 'po', 'ja', 'vpn-passthrough.po')
    out = tmp_path / 'vpn-passthrough.ja.lmo'
    subprocess.run([sys.executable, os.path.join(TOOLS, 'po2lmo.py'), ja, str(out)], check=True)
    blob = out.read_bytes()
    assert len(blob) % 4 == 0
    table = po2lmo.read_lmo(blob)
    assert table[0] == 'nplurals=1; plural=0;'
    keys = sorted(table)
    assert keys == sorted(set(keys))
    for e in po_entries(ja):
        if not e['id']:
            continue
        msgstr = e['strs'][0]
        # LuCI hashes the whitespace-normalised msgid at lookup time.
        found = table.get(po2lmo.sfh_hash(' '.join(e['id'].split())))
        if msgstr == e['id']:
            assert found is None
        else:
            assert found == msgstr, e['id']
