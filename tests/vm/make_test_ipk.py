#!/usr/bin/env python3
"""A hand-made .ipk of the working tree, for the VM test when `make ipk` has not run.

    python3 tests/vm/make_test_ipk.py [OUT.ipk]      (default build/vm/vpn-passthrough_0-vmtest_all.ipk)

Same layout as the real package (docs/DESIGN.md "Paths on the router"): an outer
gzip'd tar with ./debian-binary, ./control.tar.gz, ./data.tar.gz. It exists to
exercise the VM's opkg-style installer; `make vm-test` uses dist/*.ipk.
"""

import glob
import gzip
import io
import os
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

WRAPPER = b"""#!/bin/sh
PYTHONPATH=/usr/lib/vpn-passthrough exec python3 -m vpn_passthrough "$@"
"""

POSTINST = b"""#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
"""


def _tar_gz(members):
    """members: [(name, mode, bytes|None)] (None = directory) -> bytes of a .tar.gz"""
    raw = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, mode, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = now
            info.uname = info.gname = "root"
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def build(out):
    data = []
    dirs = set()

    def add(path, mode, content):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "./" + "/".join(parts[:i]) + "/"
            if d not in dirs:
                dirs.add(d)
                data.append((d, 0o755, None))
        data.append(("./" + path.strip("/"), mode, content))

    for py in sorted(glob.glob(os.path.join(REPO, "src/vpn_passthrough/*.py"))):
        add("usr/lib/vpn-passthrough/vpn_passthrough/" + os.path.basename(py), 0o644, _read(py))
    files = os.path.join(REPO, "files")
    sbin = os.path.join(files, "usr/sbin/vpn-passthrough")
    add("usr/sbin/vpn-passthrough", 0o755, _read(sbin) if os.path.isfile(sbin) else WRAPPER)
    init = os.path.join(files, "etc/init.d/vpn-passthrough")
    if os.path.isfile(init):
        add("etc/init.d/vpn-passthrough", 0o755, _read(init))
    conf = os.path.join(files, "etc/config/vpn-passthrough")
    if os.path.isfile(conf):
        add("etc/config/vpn-passthrough", 0o644, _read(conf))
    control = (b"Package: vpn-passthrough\nVersion: 0-vmtest\nArchitecture: all\n"
               b"Depends: python3-light, nftables, kmod-nf-nathelper-pptp\n"
               b"Description: hand-made test package (tests/vm/make_test_ipk.py)\n")
    ctl = [("./", 0o755, None), ("./control", 0o644, control),
           ("./conffiles", 0o644, b"/etc/config/vpn-passthrough\n"),
           ("./postinst", 0o755, POSTINST)]
    outer = [("./debian-binary", 0o644, b"2.0\n"),
             ("./control.tar.gz", 0o644, _tar_gz(ctl)),
             ("./data.tar.gz", 0o644, _tar_gz([("./", 0o755, None)] + data))]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(_tar_gz(outer))
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else
                os.path.join(REPO, "build/vm/vpn-passthrough_0-vmtest_all.ipk")))
