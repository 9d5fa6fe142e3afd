# vpn-passthrough — build, test and demonstrate. Run as root on Debian 12.
PYTHON ?= python3
VERSION := $(shell sed -n 's/^VERSION = "\(.*\)"/\1/p' src/vpn_passthrough/__init__.py)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

.PHONY: all deps test demo ipk vm-test bench render clean

all: ipk

deps:
	sh tests/setup.sh

test: deps
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

demo: deps
	$(PYTHON) tests/demo.py

LUCI_STAGE := build/luci-stage
ipk:
	$(PYTHON) package/mkipk.py --version $(VERSION) --out dist
	rm -rf $(LUCI_STAGE) && $(PYTHON) luci-app/tools/stage.py $(LUCI_STAGE) $(VERSION)
	for pkg in luci-app-vpn-passthrough luci-i18n-vpn-passthrough-ja; do \
		$(PYTHON) package/mkipk.py luci-app/ipk/$$pkg.json --src $(LUCI_STAGE)/$$pkg \
			--version $(VERSION) --out dist || exit 1; \
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
