#!/bin/sh
# Refresh po/templates/vpn-passthrough.pot from the app's sources and merge it
# into every po/<lang>/vpn-passthrough.po (new strings arrive untranslated;
# tests/luci fails until they are translated). Needs python3 and gettext.
set -eu
cd "$(dirname "$0")/.."
app=luci-app-vpn-passthrough
pot=$app/po/templates/vpn-passthrough.pot
python3 tools/i18n_scan.py "$app" > "$pot.new"
mv "$pot.new" "$pot"
for po in "$app"/po/*/vpn-passthrough.po; do
	case "$po" in */templates/*) continue ;; esac
	msgmerge --quiet --update --backup=none --no-fuzzy-matching --no-wrap "$po" "$pot"
done
