"""The OpenWrt tier: the real userland kit (see conftest.py). A package, so that its
conftest is `openwrt.conftest` and never shadows tests/conftest.py."""
