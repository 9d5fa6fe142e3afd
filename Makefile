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
	$(PYTHON) -m pytest -q -rs -p no:cacheprovider tests

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

# BENCH_ARGS="--quick --only apply,compile" for a reduced run (it writes nothing)
bench: deps ipk
	$(PYTHON) tests/bench.py $(BENCH_ARGS)

# The shipped settings resolved as on a default OpenWrt (zone lan: network lan on
# br-lan; zone wan: networks wan and wan6 on eth1): the zones are read from firewall
# and network next to the settings file, which a checkout does not have.
RENDER_DIR := build/render
render:
	mkdir -p $(RENDER_DIR)
	cp files/etc/config/vpn-passthrough $(RENDER_DIR)/
	printf "config zone\n\toption name 'lan'\n\tlist network 'lan'\n\nconfig zone\n\toption name 'wan'\n\tlist network 'wan'\n\tlist network 'wan6'\n" > $(RENDER_DIR)/firewall
	printf "config interface 'lan'\n\toption device 'br-lan'\n\nconfig interface 'wan'\n\toption device 'eth1'\n\nconfig interface 'wan6'\n\toption device 'eth1'\n" > $(RENDER_DIR)/network
	PYTHONPATH=src $(PYTHON) -m vpn_passthrough --config $(RENDER_DIR)/vpn-passthrough render

clean:
	rm -rf dist build
