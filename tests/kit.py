"""The real OpenWrt userland kit (../shared/openwrt): where it is, and its build, cached.

VPT_OPENWRT_KIT   the kit's folder (default: ../shared/openwrt beside this checkout)
VPT_OWRT_PREFIX   where build.sh builds it, under /tmp (default /tmp/vpt-owrt-kit); the build
                  is skipped by the kit's own stamp, so only the first run pays for it
VPT_REQUIRE_KIT=1 a missing kit fails the tests instead of skipping them (.ci/run sets it)
"""

import fcntl
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIT = os.path.abspath(os.environ.get("VPT_OPENWRT_KIT")
                      or os.path.join(ROOT, "..", "shared", "openwrt"))
PREFIX = os.environ.get("VPT_OWRT_PREFIX") or "/tmp/vpt-owrt-kit"
BUILD_LOG = PREFIX + ".build.log"

_built = {}


def missing_reason():
    """Why the kit cannot be used here, or None."""
    if not os.path.isfile(os.path.join(KIT, "build.sh")):
        return "OpenWrt kit not found at %s (set VPT_OPENWRT_KIT)" % KIT
    if os.geteuid() != 0:
        return "the OpenWrt kit needs root"
    return None


def unavailable(reason):
    """Skip with the reason, or fail when the kit is required (CI)."""
    if os.environ.get("VPT_REQUIRE_KIT") == "1":
        pytest.fail("OpenWrt kit required but unavailable: " + reason, pytrace=False)
    pytest.skip(reason)


def prefix():
    """The kit built into PREFIX (built once, under a lock); skips or fails when impossible."""
    if "error" in _built:
        unavailable(_built["error"])
    if "prefix" in _built:
        return _built["prefix"]
    reason = missing_reason()
    if reason is None:
        with open(PREFIX + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with open(BUILD_LOG, "a") as log:
                r = subprocess.run(["bash", os.path.join(KIT, "build.sh"), PREFIX],
                                   stdout=log, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                reason = "the OpenWrt kit's build failed (see %s)" % BUILD_LOG
    if reason is not None:
        _built["error"] = reason
        unavailable(reason)
    _built["prefix"] = PREFIX
    return PREFIX


def tool(name):
    """Absolute path of one of the kit's programs (opkg, apk, ubus, uci, ...)."""
    base = prefix()
    for sub in ("bin", "sbin", "usr/bin", "usr/sbin"):
        path = os.path.join(base, sub, name)
        if os.path.exists(path):
            return path
    pytest.fail("the kit has no %s in %s" % (name, base), pytrace=False)


def seed_root(release, root):
    """An offline root that looks like an installed OpenWrt release to opkg or apk."""
    subprocess.run(["sh", os.path.join(KIT, "feeds", "seed-root.sh"), release, root],
                   check=True, capture_output=True)
    return root


def opkg(root, *args, env=None):
    """The kit's real opkg on an offline root (absolute -o/-f/-t paths: opkg chdir()s).
    env: extra variables (IPKG_INSTROOT, IPKG_NO_SCRIPT, as OpenWrt's image build sets)."""
    root = os.path.abspath(root)
    e = dict(os.environ, **(env or {}))
    return subprocess.run([tool("opkg"), "-o", root, "-f", root + "/etc/opkg.conf",
                           "-t", root + "/tmp"] + list(args),
                          capture_output=True, text=True, env=e)


def apk(root, *args, env=None):
    """The kit's real apk v3 on an offline root, offline (no network, no cache); the
    scripts run on the build machine with its environment (--preserve-env,
    --force-no-chroot), as OpenWrt's image build runs them, with IPKG_INSTROOT from env."""
    e = dict(os.environ, **(env or {}))
    cmd = [tool("apk"), "--root", os.path.abspath(root), "--no-network", "--no-cache",
           "--preserve-env", "--force-no-chroot"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=e)


def fixture(release, name):
    """Path of one file of a release fixture (feeds/openwrt-RELEASE/NAME)."""
    return os.path.join(KIT, "feeds", "openwrt-" + release, name)
