"""vpn-passthrough: PPTP, L2TP and IPsec passthrough switches for OpenWrt routers."""

VERSION = "0.1.0"
