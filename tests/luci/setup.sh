#!/bin/sh
# Installs what tests/luci needs on Debian 12, as root; safe to run again.
#   chromium            headless browser for the view test (Debian's, /usr/bin/chromium)
#   fonts-noto-cjk      so the Japanese screenshot shows Japanese, not boxes
#   gettext             msgfmt --check on the .po files
#   nodejs, npm         only if missing (this machine kind ships node 20; Debian 12's is 18,
#                       older than playwright-core's minimum of 20)
#   playwright-core     from package-lock.json into tests/luci/node_modules; it drives
#                       /usr/bin/chromium and downloads no browser
set -eu
cd "$(dirname "$0")"

pkgs=""
[ -x /usr/bin/chromium ] || pkgs="$pkgs chromium"
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || pkgs="$pkgs fonts-noto-cjk"
command -v msgfmt >/dev/null 2>&1 || pkgs="$pkgs gettext"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"

if [ -n "$pkgs" ]; then
	apt-get update
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
	echo "tests/luci/setup.sh: node $major is older than 20, which playwright-core needs;" \
	     "the browser test will fail" >&2
fi

# npm ci only when the installed playwright-core is not the locked one.
want=$(node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch (e) { "" }')
if [ "$want" != "$have" ]; then
	npm ci --no-audit --no-fund
fi
