"""The real LuCI view rendered by headless Chromium in a harness page whose LuCI
classes are stand-ins (tests/luci/harness/luci-standins.js) and whose ubus
replies are canned (tests/luci/fixtures/). Screenshots go to build/artifacts/
(override with LUCI_ARTIFACT_DIR); they are artifacts, not committed."""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
APP = os.path.join(ROOT, 'luci-app', 'luci-app-vpn-passthrough')
TOOLS = os.path.join(ROOT, 'luci-app', 'tools')
ARTIFACTS = os.environ.get('LUCI_ARTIFACT_DIR') or os.path.join(ROOT, 'build', 'artifacts')
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')

sys.path.insert(0, TOOLS)
import po2lmo  # noqa: E402


def _missing():
    if not shutil.which('node'):
        return 'node is not installed'
    if not os.access(CHROMIUM, os.X_OK):
        return '%s is not installed (apt-get install chromium)' % CHROMIUM
    if not os.path.isdir(os.path.join(HERE, 'node_modules', 'playwright-core')):
        return 'playwright-core is not installed (npm ci in tests/luci)'
    return None


@pytest.fixture(scope='module')
def seen(tmp_path_factory):
    reason = _missing()
    if reason:
        print('SKIP luci browser tests: ' + reason + ' - run tests/luci/setup.sh', file=sys.stderr)
        pytest.skip(reason + ' - run tests/luci/setup.sh')
    lmo_dir = tmp_path_factory.mktemp('lmo')
    with open(os.path.join(APP, 'po', 'ja', 'vpn-passthrough.po'), encoding='utf-8') as f:
        (lmo_dir / 'vpn-passthrough.ja.lmo').write_bytes(po2lmo.compile_po(f.read()))
    env = dict(os.environ, CHROMIUM=CHROMIUM)
    r = subprocess.run(['node', os.path.join(HERE, 'browser_check.js'), APP, str(lmo_dir), ARTIFACTS],
                       capture_output=True, text=True, timeout=180, cwd=HERE, env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result['fatal'] is None, result['fatal']
    return result


def test_page_renders_without_console_errors(seen):
    assert seen['renderError'] is None
    assert seen['pageErrors'] == []
    assert seen['console'] == []
    assert seen['failedRequests'] == []


def test_live_panel_shows_effective_state_findings_and_clients(seen):
    assert seen['protocolStates'] == {'pptp': 'Passing', 'l2tp': 'Passing', 'ipsec': 'Blocked'}
    assert len(seen['findings']) == 1
    assert 'Fix:' in seen['findings'][0] and 'flow_offloading=0' in seen['findings'][0]


def test_sessions_table_shows_the_canned_sessions(seen):
    rows = seen['sessionRows']
    assert [r[0] for r in rows] == ['PPTP', 'IPsec', 'L2TP']
    assert rows[0][1:3] == ['192.168.1.10:40000', '203.0.113.5:1723 (TCP)']
    assert rows[1][1:3] == ['192.168.1.40:4500', '198.51.100.7:4500 (UDP)']
    assert rows[2][1:3] == ['[fd00:1::40]:1701', '[2001:db8::7]:1701 (UDP)']
    assert rows[2][4:6] == ['-', '-']  # age/accounting null when conntrack lacks them


def test_poll_refreshes_the_sessions_table(seen):
    assert seen['pollEntries'] == [5]
    assert [r[1] for r in seen['sessionRowsAfterPoll']] == ['192.168.1.77:41000']


def test_flipping_pptp_off_stages_exactly_that_uci_change(seen):
    assert seen['pptpCheckedBefore'] is True
    assert seen['uciChangesAfterSave'] == ['vpn-passthrough.pptp.enabled=0']


def test_save_and_apply_uses_luci_standard_apply(seen):
    assert seen['applied'] == {'n': 1, 'checked': True}
    # no private apply path: Save & Apply itself calls neither set nor reload
    calls = seen['rpcCalls']
    assert calls.count('luci.vpn-passthrough.reload') == 1  # the "Apply rules again" button
    assert 'luci.vpn-passthrough.set' not in calls


def test_client_table_offers_known_hosts(seen):
    assert seen['clientRows'] == 2
    assert 'aa:bb:cc:dd:ee:ff' in seen['macChoices'] and '192.168.1.40' in seen['macChoices']


def test_every_call_was_allowed_by_the_acl(seen):
    assert not [n for n in seen['rpcDenied'] if 'Permission denied' in n]


def test_japanese_catalog_from_the_lmo_translates_the_page(seen):
    assert seen['jaRenderError'] is None
    assert seen['jaTitle'] == 'VPNパススルー'
    for english in ('Live status', 'Active VPN sessions', 'PPTP passthrough', 'Per-client policy'):
        assert english not in seen['jaText']
    assert '接続中のVPNセッション' in seen['jaText']


def test_screenshots_are_saved(seen):
    for name in ('luci.png', 'luci-ja.png'):
        path = os.path.join(ARTIFACTS, name)
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
        assert os.path.getsize(path) > 20000


def test_service_down_is_reported_and_the_form_still_works(seen):
    assert seen['downRenderError'] is None
    assert 'The vpn-passthrough service does not answer' in seen['downLive']
    assert seen['downForm'] == 1
