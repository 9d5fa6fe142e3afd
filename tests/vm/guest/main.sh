#!/bin/sh
# Runs in the VM as PID 1's child: install the package, then every scenario in its own
# fresh topology. Logs: /vmtest/results/<scenario>.log (on the host: build/vm/run/results/).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
G=/vmtest/guest
R=/vmtest/results
. $G/lib.sh
mkdir -p "$R" "$VMT"

# Modules the tunnels themselves need in every namespace (pppd opens /dev/ppp). Nothing
# from netfilter: the service must load nf_conntrack_pptp / nf_nat_pptp itself.
for m in veth bridge ppp_generic ppp_async ppp_synctty l2tp_ppp; do
    modprobe "$m" 2>/dev/null || echo "VMTEST: (modprobe $m failed)"
done
# OpenWrt's view of the router's interfaces, for the service's zone lookup.
mkdir -p /etc/config
cat >/etc/config/network <<'EOF'
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config device
	option name 'br-lan'
	option type 'bridge'
	list ports 'lan1p'
	list ports 'lan2p'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'

config interface 'wan'
	option device 'eth1'
	option proto 'static'
	option ipaddr '203.0.113.1'
	option netmask '255.255.255.0'
EOF
cat >/etc/config/firewall <<'EOF'
config defaults
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'

config zone
	option name 'lan'
	list network 'lan'
	option input 'ACCEPT'
	option output 'ACCEPT'
	option forward 'ACCEPT'

config zone
	option name 'wan'
	list network 'wan'
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'
	option masq '1'
	option mtu_fix '1'

config forwarding
	option src 'lan'
	option dest 'wan'
EOF
# Debian's /etc/ppp/options asks for things a pty link does not want (auth, modem, crtscts).
echo lock >/etc/ppp/options
# pptpd's pppd authenticates the clients with CHAP (no MPPE: not what is under test)
printf '%s\n' '"vpnuser" "pptpd" "vpnpass" *' >/etc/ppp/chap-secrets
chmod 600 /etc/ppp/chap-secrets
progress "guest prepared"

# What every OpenWrt router has before any package is installed: the kit's real userland
# (rc.common + procd.sh, ubus, procd, uci, opkg, python3-ubus; guest/openwrt.sh).
kit_install || { echo "VMTEST-RESULT: FAIL install the OpenWrt kit could not be set up" >/dev/console; exit 0; }
progress "OpenWrt userland from the kit: $KIT"

# run_step NAME FILE : fresh topology, source FILE in a subshell with a time limit, one
# VMTEST-RESULT line; on failure the step's logs go to the console too.
run_step() {
    s=$1
    progress "$s: start"
    rm -rf "$VMT"; mkdir -p "$VMT"
    t0=$(date +%s)
    timeout -s KILL "${VMTEST_SCENARIO_TIMEOUT:-150}" sh -c ". $G/lib.sh; set -u; topology_up && . $2" \
        >"$R/$s.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then
        echo "VMTEST-RESULT: PASS $s (${secs} s)" >/dev/console
    else
        why=$(cat "$VMT/fail-reason" 2>/dev/null)
        [ $rc -eq 137 ] && why="timed out${why:+ after: $why}"
        {
            echo "VMTEST: ---- log of $s (exit $rc)"
            tail -n 40 "$R/$s.log" | sed 's/^/VMTEST:   /'
            for f in "$VMT"/*.log; do
                [ -f "$f" ] || continue
                echo "VMTEST: ---- $(basename "$f")"
                tail -n 25 "$f" | sed 's/^/VMTEST:   /'
            done
        } >/dev/console
        cp "$VMT"/*.log "$R/" 2>/dev/null
        echo "VMTEST-RESULT: FAIL $s ${why:-exit $rc} (${secs} s)" >/dev/console
    fi
    (. $G/lib.sh; topology_down) >>"$R/$s.log" 2>&1
    return $rc
}

[ -f /vmtest/package.ipk ] || { echo "VMTEST-RESULT: FAIL install no package.ipk on the share" >/dev/console; exit 0; }
run_step install $G/steps/install.sh
# The install started the service (postinst), which loaded the PPTP helpers. With its
# namespace gone nothing references them: unload, so scenario 1 sees the service load them.
rmmod nf_nat_pptp nf_conntrack_pptp 2>/dev/null
for m in nf_nat_pptp nf_conntrack_pptp; do
    [ -d /sys/module/$m ] && progress "note: $m still loaded after the install step"
done

SCEN=$(grep -v '^$' /vmtest/scenarios 2>/dev/null)
[ -n "$SCEN" ] || SCEN=$(cd $G/scenarios && ls *.sh | sed 's/\.sh$//')
for s in $SCEN; do
    run_step "$s" "$G/scenarios/$s.sh"
done
run_step remove $G/steps/remove.sh
