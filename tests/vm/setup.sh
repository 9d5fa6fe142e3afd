#!/bin/sh
# Host tools for the VM test, from the machine's own apt configuration.
set -eu
missing=""
command -v qemu-system-x86_64 >/dev/null || missing="$missing qemu-system-x86"
command -v mmdebstrap >/dev/null || missing="$missing mmdebstrap"
command -v mke2fs >/dev/null || missing="$missing e2fsprogs"
[ -e /usr/share/seabios/bios-256k.bin ] || missing="$missing seabios"
[ -z "$missing" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "vm-test: need root to install:$missing" >&2; exit 1; }
echo "vm-test: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends $missing >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
