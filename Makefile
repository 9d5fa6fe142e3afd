# vpn-passthrough — build, test and demonstrate. Run as root on Debian 12.
PYTHON ?= python3
VERSION := $(shell sed -n 's/^VERSION = "\(.*\)"/\1/p' src/vpn_passthrough/__init__.py)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

.PHONY: all deps test demo ipk apk packages luci-stage vm-test bench render clean

all: ipk

deps:
	sh tests/setup.sh

test: deps
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

demo: deps
	$(PYTHON) tests/demo.py

# Packages. ipk (opkg: OpenWrt 23.05, 24.10) carries bytecode for their Python 3.11,
# compiled by $(PYTHON), which must be 3.11. apk (apk v3: OpenWrt 25.12) is built by
# the real apk-tools of the OpenWrt kit (built on first use, ~1 min, then cached).
LUCI_MK := luci-app/luci-app-vpn-passthrough/Makefile
LUCI_VERSION := $(shell sed -n 's/^PKG_VERSION:=//p' $(LUCI_MK))
LUCI_PKGS := luci-app-vpn-passthrough luci-i18n-vpn-passthrough-ja
LUCI_STAGE := build/luci-stage
OPENWRT_KIT ?= $(or $(VPT_OPENWRT_KIT),$(CURDIR)/../shared/openwrt)
OWRT_PREFIX ?= $(or $(VPT_OWRT_PREFIX),/tmp/vpt-owrt-kit)
APK ?= $(OWRT_PREFIX)/bin/apk

packages: ipk apk

luci-stage:
	rm -rf $(LUCI_STAGE) && $(PYTHON) luci-app/tools/stage.py $(LUCI_STAGE) $(LUCI_VERSION)

ipk: luci-stage
	$(PYTHON) package/mkipk.py --version $(VERSION) --out dist
	for pkg in $(LUCI_PKGS); do \
		$(PYTHON) package/mkipk.py luci-app/ipk/$$pkg.json --src $(LUCI_STAGE)/$$pkg \
			--version $(LUCI_VERSION) --out dist || exit 1; \
	done

$(APK):
	bash $(OPENWRT_KIT)/build.sh $(OWRT_PREFIX)

apk: luci-stage $(APK)
	$(PYTHON) package/mkapk.py --version $(VERSION) --apk $(APK) --out dist
	for pkg in $(LUCI_PKGS); do \
		$(PYTHON) package/mkapk.py luci-app/ipk/$$pkg.json --src $(LUCI_STAGE)/$$pkg \
			--version $(LUCI_VERSION) --apk $(APK) --out dist || exit 1; \
	done

vm-test: ipk
	sh tests/vm/run.sh

bench: deps ipk
	$(PYTHON) tests/bench.py

render:
	PYTHONPATH=src $(PYTHON) -m vpn_passthrough --config files/etc/config/vpn-passthrough render

clean:
	rm -rf dist build
