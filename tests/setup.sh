#!/bin/sh
# Installs what `make test` and `make demo` need on a fresh Debian 12, as root.
# Idempotent: quick when everything is already there.
set -eu
cd "$(dirname "$0")/.."

need_apt=""
for pair in nft:nftables conntrack:conntrack ip:iproute2 busybox:busybox-static \
            shellcheck:shellcheck msgfmt:gettext tcpdump:tcpdump; do
	tool=${pair%%:*}
	pkg=${pair#*:}
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ] && [ ! -x "/bin/$tool" ]; then
		need_apt="$need_apt $pkg"
	fi
done
if [ -n "$need_apt" ]; then
	echo "setup: apt-get install$need_apt"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi

if ! python3 -c 'import pytest, hypothesis' 2>/dev/null; then
	echo "setup: pip install pytest hypothesis"
	python3 -m pip install -q pytest hypothesis
fi

for extra in tests/luci/setup.sh tests/micropython/setup.sh; do
	if [ -f "$extra" ]; then
		sh "$extra"
	fi
done
