"""End-to-end check in a QEMU VM (issue 5): real PPTP, L2TP and IPsec tunnels through a
router namespace running the installed package. One VM boot runs every scenario; each
scenario is one test here, PASS/FAIL as reported by the guest.

Skipped unless VPN_VM=1 (the default `pytest tests/` run stays fast). Run it with
`make vm-test` or `tests/vm/run.sh`. Environment:
  VPN_VM=1              enable
  VPN_IPK=path          the .ipk to install (default: newest dist/vpn-passthrough_*_all.ipk,
                        else a hand-made one from the working tree, see make_test_ipk.py)
  VPN_VM_SCENARIOS=a,b  subset (names of tests/vm/guest/scenarios/*.sh without .sh)
  VPN_VM_ACCEL=tcg|kvm  skip the KVM probe;  VPN_VM_TIMEOUT=seconds (guest, default 840)
Logs: build/vm/console.log (serial console), build/vm/run/results/<scenario>.log; after a
failure both are kept in build/vm/failures/<time>/.
"""

import glob
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vmtool  # noqa: E402
import make_test_ipk  # noqa: E402

ENABLED = os.environ.get("VPN_VM") == "1"
SCENARIOS = sorted(os.path.basename(p)[:-3]
                   for p in glob.glob(os.path.join(HERE, "guest", "scenarios", "*.sh")))
if os.environ.get("VPN_VM_SCENARIOS"):
    SCENARIOS = [s for s in os.environ["VPN_VM_SCENARIOS"].split(",") if s]

pytestmark = pytest.mark.skipif(
    not ENABLED, reason="QEMU end-to-end test: set VPN_VM=1 (or run `make vm-test`)")


def _ipk():
    if os.environ.get("VPN_IPK"):
        return os.path.abspath(os.environ["VPN_IPK"])
    found = sorted(glob.glob(os.path.join(vmtool.REPO, "dist", "vpn-passthrough_*_all.ipk")),
                   key=os.path.getmtime)
    if found:
        return found[-1]
    vmtool.log("no dist/vpn-passthrough_*_all.ipk: using a hand-made ipk of the working tree")
    return make_test_ipk.build(os.path.join(vmtool.BUILD, "vpn-passthrough_0-vmtest_all.ipk"))


@pytest.fixture(scope="session")
def vm_run():
    import kit      # tests/kit.py: the guest runs the real OpenWrt userland of this build
    prefix = kit.prefix()
    ipk = _ipk()
    vmtool.log("package: %s" % os.path.relpath(ipk, vmtool.REPO))
    results, console, share, rc = vmtool.run_vm(ipk, SCENARIOS, prefix, kit.KIT)
    return results, console, share, rc


def _verdict(vm_run, name):
    results, console, share, rc = vm_run
    if name not in results:
        pytest.fail("no result for %s from the guest (qemu rc=%s; console kept at %s)"
                    % (name, rc, console))
    verdict, why = results[name]
    if verdict != "PASS":
        log = os.path.join(share, "results", name + ".log")
        tail = ""
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                tail = "".join(f.readlines()[-40:])
        pytest.fail("%s: %s\n(console: %s, log: %s)\n%s" % (name, why, console, log, tail))


def test_install(vm_run):
    _verdict(vm_run, "install")


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(vm_run, name):
    _verdict(vm_run, name)


def test_remove(vm_run):
    _verdict(vm_run, "remove")
