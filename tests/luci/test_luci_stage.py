"""luci-app/tools/stage.py lays out the two LuCI packages with the files luci.mk
would install, ready for the ipk builder."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STAGE = os.path.join(ROOT, 'luci-app', 'tools', 'stage.py')


def files(top):
    return sorted(os.path.relpath(os.path.join(r, n), top) for r, _d, ns in os.walk(top) for n in ns)


def test_stage_lays_out_both_packages(tmp_path):
    subprocess.run([sys.executable, STAGE, str(tmp_path), '1.2.3-1'], check=True, capture_output=True)
    app = tmp_path / 'luci-app-vpn-passthrough'
    ja = tmp_path / 'luci-i18n-vpn-passthrough-ja'
    assert sorted(os.listdir(tmp_path)) == [app.name, ja.name]
    assert files(app / 'data') == [
        'usr/share/luci/menu.d/luci-app-vpn-passthrough.json',
        'usr/share/rpcd/acl.d/luci-app-vpn-passthrough.json',
        'www/luci-static/resources/view/vpn-passthrough/overview.js',
        'www/luci-static/resources/vpn-passthrough/diagnose.js',
        'www/luci-static/resources/vpn-passthrough/messages.js',
        'www/luci-static/resources/vpn-passthrough/status.js',
        'www/luci-static/resources/vpn-passthrough/table.js',
    ]
    assert files(ja / 'data') == [
        'etc/uci-defaults/luci-i18n-vpn-passthrough-ja',
        'usr/lib/lua/luci/i18n/vpn-passthrough.ja.lmo',
    ]
    control = (app / 'control' / 'control').read_text()
    assert 'Package: luci-app-vpn-passthrough\n' in control
    assert 'Version: 1.2.3-1\n' in control and 'Architecture: all\n' in control
    assert 'Depends: luci-base, vpn-passthrough\n' in control
    assert 'Depends: luci-app-vpn-passthrough\n' in (ja / 'control' / 'control').read_text()
    for pkg in (app, ja):
        for script in ('postinst', 'postrm'):
            path = pkg / 'control' / script
            assert os.access(path, os.X_OK)
            subprocess.run(['sh', '-n', str(path)], check=True)
            assert 'killall -HUP rpcd' in path.read_text()
