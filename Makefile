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

bench: deps ipk
	$(PYTHON) tests/bench.py

render:
	PYTHONPATH=src $(PYTHON) -m vpn_passthrough --config files/etc/config/vpn-passthrough render

clean:
	rm -rf dist build
