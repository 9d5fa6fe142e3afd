# The REAL OpenWrt userland of the kit (../shared/openwrt, built by tests/kit.py) in the
# guest: ubusd, procd, ubus, uci, jshn, jsonfilter, validate_data, opkg, python3-ubus and
# OpenWrt's shell libraries (/etc/rc.common, /lib/functions.sh, procd.sh). The build comes
# read-only over the 9p share `owrtkit` and is mounted at the host's path (its programs
# carry that path as rpath); it needs only libc and libjson-c from the image.
# Sourced (POSIX sh) by main.sh (kit_install, once) and lib.sh (kit_up, every step).

KIT=$(cat /vmtest/kit-prefix 2>/dev/null)

# kit_install: mount the build, put OpenWrt's files where a router has them
kit_install() {
    [ -n "$KIT" ] || { echo "VMTEST: no kit-prefix on the share" >/dev/console; return 1; }
    mkdir -p "$KIT"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro owrtkit "$KIT" || return 1
    B=$KIT/base-files
    install -m 0755 "$B/etc/rc.common" /etc/rc.common
    mkdir -p /lib/functions /lib/config /usr/share/libubox /etc/rc.d /etc/init.d
    install -m 0644 "$B/lib/functions.sh" /lib/functions.sh
    for f in "$B"/lib/functions/*.sh; do install -m 0644 "$f" /lib/functions/; done
    for f in "$B"/lib/config/*.sh; do install -m 0644 "$f" /lib/config/; done
    cp -a "$KIT/share/libubox/." /usr/share/libubox/
    # where OpenWrt has them (/bin = /usr/bin, /sbin = /usr/sbin here)
    for b in ubus jshn jsonfilter opkg; do ln -sf "$KIT/bin/$b" "/usr/bin/$b"; done
    ln -sf "$KIT/bin/uci" /usr/sbin/uci
    for b in ubusd procd validate_data; do ln -sf "$KIT/sbin/$b" "/usr/sbin/$b"; done
    ln -sf "$KIT"/venv/lib/python3.11/site-packages/ubus.cpython-*.so /usr/lib/python3/dist-packages/
    # OpenWrt's /bin/sh is busybox ash; procd.sh needs it (let, &>, fd 1000: dash cannot)
    ln -sf busybox /bin/sh
    # opkg: an OpenWrt root's configuration and the installed packages of a 24.10 router
    printf '%s\n' "dest root /" "dest ram /tmp" "lists_dir ext /var/opkg-lists" \
        "option overlay_root /overlay" "arch all 1" "arch noarch 1" "arch x86_64 10" \
        >/etc/opkg.conf
    mkdir -p /usr/lib/opkg /var/opkg-lists
    cp -a /vmtest/opkgroot/usr/lib/opkg/. /usr/lib/opkg/
}

# kit_up: ubusd and procd in the router's namespaces (net + its private /run), so procd's
# instances (the service) run there; they end with the step's topology
kit_up() {
    nsx router mkdir -p /var/run/ubus
    bg router ubusd ubusd -s /var/run/ubus/ubus.sock
    wait_until 20 nsx router test -S /var/run/ubus/ubus.sock || fail "ubusd did not start"
    # not PID 1: procd serves `service` and `system` on ubus (-S: log to stdout)
    bg router procd procd -s /var/run/ubus/ubus.sock -S
    wait_until 20 nsx router ubus list service || fail "procd did not register on ubus"
    log "ubusd and procd up in the router namespace"
}

# pt_no_instance: procd runs no instance of the service (it lists one until its process
# has exited after SIGTERM)
pt_no_instance() {
    ! nsx router ubus call service list '{"name":"vpn-passthrough"}' | grep -q '"pid"'
}
