"""Fixtures of the OpenWrt tier: the kit's REAL userland (ubusd, procd, rpcd, uhttpd + LuCI,
uci, fw4, opkg) with the package installed into its root the way a user does it. The router
itself, its namespaces and `serving()`, the one way to start it with the service, are in
tests/openwrt/router.py.

    owrt_root   a started userland in a network namespace of its own, with the router's
                LAN and WAN (veth pairs to namespaces of their own); no package
    owrt        the same with `make ipk`'s vpn-passthrough and luci-app-vpn-passthrough
                installed by the root's own opkg (their postinst enables and starts the
                service through procd); the service answers on ubus when it is handed out
    ipks        {package name: path of the .ipk in dist/} (`make ipk`, once per session)

Both userland fixtures are per module (one userland at a time per kit prefix; a start costs
about 2 s, an install about 3 s). A test that changes the package's settings puts them back
with `owrt.reset_settings()`. The kit is located and built by tests/kit.py: without it the
tier is skipped (one line in the summary says so), with VPT_REQUIRE_KIT=1 it fails.

The router's kernel is the namespace's (host nft and conntrack); netifd does not run: the
zones' devices come from /etc/config/network, which names the devices made here. The
network and firewall configs are written at every start (OpenWrt's default zones).
"""

import os
import subprocess

import pytest

import kit
from openwrt.router import ROOT, Router, serving


@pytest.fixture(scope="session")
def ipks():
    """`make ipk` once: {package: path} of the packages in dist/."""
    kit.prefix()                        # no kit: skip before building anything
    r = subprocess.run(["make", "-s", "ipk"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    dist = os.path.join(ROOT, "dist")
    out = {}
    for name in os.listdir(dist):
        if name.endswith(".ipk"):
            out[name.split("_")[0]] = os.path.join(dist, name)
    return out


@pytest.fixture(scope="module")
def owrt_root():
    router = Router().up()
    try:
        yield router
    finally:
        router.down()


@pytest.fixture(scope="module")
def owrt(ipks):
    """The userland with vpn-passthrough + its LuCI app installed by opkg and running."""
    with serving(ipks) as router:
        yield router
