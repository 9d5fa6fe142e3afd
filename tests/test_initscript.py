"""files/etc/init.d/vpn-passthrough and the package's shell scripts: parsed by busybox ash,
clean under shellcheck, the header rc.common reads.

What the script does is tested against the real rc.common, procd.sh, procd, rpcd and
validate_data of the OpenWrt kit: tests/openwrt/test_procd_real.py.
"""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INIT = os.path.join(ROOT, "files", "etc", "init.d", "vpn-passthrough")
WRAPPER = os.path.join(ROOT, "files", "usr", "sbin", "vpn-passthrough")
MAINTAINER = [os.path.join(ROOT, "package", "vpn-passthrough", n) for n in ("postinst", "prerm")]

def test_ash_parses_it():
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    for path in [INIT, WRAPPER] + MAINTAINER:
        r = subprocess.run([busybox, "ash", "-n", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make deps installs it)")
    r = subprocess.run(["shellcheck", "-s", "sh", INIT, WRAPPER] + MAINTAINER,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_header_procd_and_order():
    text = open(INIT).read()
    assert text.startswith("#!/bin/sh /etc/rc.common\n")
    assert re.search(r"^USE_PROCD=1$", text, re.M)
    start = int(re.search(r"^START=(\d+)$", text, re.M).group(1))
    assert start > 19, "must start after the firewall (START=19)"
    assert os.access(INIT, os.X_OK) and os.access(WRAPPER, os.X_OK)


def test_wrapper_runs_the_package_from_its_lib_dir():
    text = open(WRAPPER).read()
    assert text.startswith("#!/bin/sh\n")
    assert 'PYTHONPATH=/usr/lib/vpn-passthrough exec python3 -m vpn_passthrough "$@"' in text
