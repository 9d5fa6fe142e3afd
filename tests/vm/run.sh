#!/bin/sh
# The full end-to-end check (issue 5): build/reuse the VM image, boot it under QEMU,
# install the .ipk, run every scenario, one pytest result per scenario.
# Usage: tests/vm/run.sh [pytest args]   (see tests/vm/test_vm.py for VPN_* variables)
cd "$(dirname "$0")/../.." || exit 1
[ "$(id -u)" = 0 ] || { echo "vm-test: must run as root (mmdebstrap --mode=root, qemu)" >&2; exit 1; }
sh tests/vm/setup.sh || exit 1
VPN_VM=1 exec python3 -m pytest -v -s -p no:cacheprovider tests/vm/test_vm.py "$@"
