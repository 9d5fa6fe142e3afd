#!/bin/sh
# Remove an installed package the way opkg does (opkg_remove_pkg): run `prerm remove`,
# delete the files listed in /usr/lib/opkg/info/<pkg>.list (conffiles are kept: opkg keeps
# those the user changed, and the scenarios changed it), run `postrm remove`, drop the
# info files and the status entry.
set -eu
pkg=$1
root=${PKG_ROOT:-/}
info=$root/usr/lib/opkg/info
say() { echo "remove_ipk: $*"; }
[ -f "$info/$pkg.list" ] || { say "$pkg is not installed"; exit 1; }
export PKG_ROOT=$root
unset IPKG_INSTROOT || true
if [ -f "$info/$pkg.prerm" ]; then say "running prerm remove"; sh "$info/$pkg.prerm" remove; fi
conff=""
[ -f "$info/$pkg.conffiles" ] && conff=$(cat "$info/$pkg.conffiles")
n=0
# files first, then directories deepest first (only when empty)
while read -r f; do
    p=$root${f#/}
    [ -d "$p" ] && [ ! -L "$p" ] && continue
    case " $(echo $conff) " in *" $f "*) say "keeping conffile $f"; continue ;; esac
    rm -f "$p" && n=$((n + 1))
done <"$info/$pkg.list"
sort -r "$info/$pkg.list" | while read -r f; do
    p=$root${f#/}
    [ -d "$p" ] && [ ! -L "$p" ] && rmdir "$p" 2>/dev/null || true
done
say "$n files removed"
if [ -f "$info/$pkg.postrm" ]; then say "running postrm remove"; sh "$info/$pkg.postrm" remove; fi
rm -f "$info/$pkg".*
st=$root/usr/lib/opkg/status
[ -f "$st" ] && awk -v p="$pkg" 'BEGIN { RS = ""; ORS = "\n\n" } $0 !~ "^Package: " p "\n" { print }' \
    "$st" >"$st.new" && mv "$st.new" "$st"
say "removed $pkg"
