import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import itertools
import shutil
import subprocess

import pytest

_counter = itertools.count()


def root_and_tools(*tools):
    """A reason to skip, or None when we are root and the tools exist."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and nft)"
    for t in tools:
        if shutil.which(t) is None and not os.path.exists("/usr/sbin/" + t):
            return t + " is not installed (make deps installs it)"
    return None


@pytest.fixture
def netns():
    """A throwaway network namespace: nft runs against the real kernel, never the host's tables."""
    reason = root_and_tools("ip", "nft")
    if reason:
        pytest.skip(reason)
    name = "vpt-t%d-%d" % (os.getpid(), next(_counter))
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name])


@pytest.fixture(scope="module")
def ubusd():
    """A real ubusd of the kit's own, for one test module."""
    import realubus
    daemon = realubus.Ubusd()
    yield daemon
    daemon.stop()


def all_protocols_on(lan, wan):
    """Settings text: the service enabled, log off, IPv6 on, every protocol on, between
    LAN device LAN and WAN device WAN."""
    return ("config globals 'globals'\n\toption enabled '1'\n\toption log '0'\n"
            "\toption ipv6 '1'\n\tlist lan_device '%s'\n\tlist wan_device '%s'\n"
            % (lan, wan)
            + "".join("\nconfig protocol '%s'\n\toption enabled '1'\n" % p
                      for p in ("pptp", "l2tp", "ipsec")))


def in_ns(ns, argv, stdin=None):
    return subprocess.run(["ip", "netns", "exec", ns] + argv, input=stdin,
                          capture_output=True, text=True)


def pytest_terminal_summary(terminalreporter):
    """One plain line when the OpenWrt tier (tests/openwrt, the real userland kit) was
    skipped because the kit is missing or did not build (VPT_REQUIRE_KIT=1 fails instead)."""
    kit = sys.modules.get("kit")
    if kit is not None and "error" in kit._built:
        terminalreporter.write_line("OpenWrt tier SKIPPED: " + kit._built["error"])
