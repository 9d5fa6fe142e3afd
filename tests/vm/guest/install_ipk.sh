#!/bin/sh
# Install an .ipk the way opkg does it on a router; the VM has no opkg, so this
# script does opkg's steps itself (opkg's pkg_install / pkg_run_script):
#   1. open the outer archive (gzip'd tar in current OpenWrt, ar in old ipkg) and
#      check debian-binary is "2.0";
#   2. unpack control.tar.gz; run `preinst install` if present;
#   3. unpack data.tar.gz to / (PKG_ROOT), remember the file list in
#      /usr/lib/opkg/info/<pkg>.list, keep the control files there too;
#   4. record the package in /usr/lib/opkg/status;
#   5. run `postinst configure` with PKG_ROOT=/ (IPKG_INSTROOT unset: a live router).
# OpenWrt's postinst usually sources /lib/functions.sh (base-files); the VM is not
# OpenWrt, so a postinst that checks for it exits 0 there, exactly as it would in
# a root without base-files. Output: one line per step; exit 1 on any failure.
set -eu
ipk=$1
root=${PKG_ROOT:-/}
work=$(mktemp -d /tmp/ipk.XXXXXX)
say() { echo "install_ipk: $*"; }

if tar -tzf "$ipk" >/dev/null 2>&1; then
    tar -xzf "$ipk" -C "$work"
    say "outer archive: gzip'd tar"
else
    (cd "$work" && busybox ar x "$ipk")
    say "outer archive: ar (old ipkg)"
fi
for f in debian-binary control.tar.gz data.tar.gz; do
    [ -f "$work/$f" ] || { say "missing $f in $ipk"; exit 1; }
done
[ "$(cat "$work/debian-binary")" = "2.0" ] || { say "debian-binary is not 2.0"; exit 1; }
mkdir "$work/control"
tar -xzf "$work/control.tar.gz" -C "$work/control"
pkg=$(sed -n 's/^Package: *//p' "$work/control/control")
ver=$(sed -n 's/^Version: *//p' "$work/control/control")
arch=$(sed -n 's/^Architecture: *//p' "$work/control/control")
[ -n "$pkg" ] || { say "control has no Package:"; exit 1; }
say "package $pkg $ver ($arch)"
info=$root/usr/lib/opkg/info
mkdir -p "$info"
export PKG_ROOT=$root
unset IPKG_INSTROOT || true

if [ -f "$work/control/preinst" ]; then
    say "running preinst install"
    sh "$work/control/preinst" install
fi
tar -tzf "$work/data.tar.gz" | sed -e 's#^\./#/#' -e '/^\/*$/d' >"$info/$pkg.list"
tar -xzf "$work/data.tar.gz" -C "$root" --no-same-owner --keep-directory-symlink
say "data: $(wc -l <"$info/$pkg.list") entries unpacked to $root"
for f in "$work"/control/*; do
    cp "$f" "$info/$pkg.$(basename "$f")"
done
{
    echo "Package: $pkg"
    echo "Version: $ver"
    echo "Status: install user installed"
    echo "Architecture: $arch"
    [ -f "$work/control/conffiles" ] && { echo "Conffiles:"; sed 's/^/ /' "$work/control/conffiles"; }
    echo "Installed-Time: $(date +%s)"
    echo
} >>"$root/usr/lib/opkg/status"
if [ -f "$work/control/postinst" ]; then
    say "running postinst configure"
    sh "$work/control/postinst" configure
fi
rm -rf "$work"
say "installed $pkg"
