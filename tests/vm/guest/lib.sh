# Shared helpers for the guest scenarios (sourced; POSIX sh).
#
# Topology (all inside the VM, nothing leaves it — the VM has no network card):
#
#   lan1 (eth0 192.168.1.10) ─┐
#                             ├─ br-lan 192.168.1.1 ┐
#   lan2 (eth0 192.168.1.20) ─┘      [router]       ├ eth1 203.0.113.1 ── wan (eth0 203.0.113.5,
#                                                   ┘  masquerade           lo 10.2.0.1)
#
# The router runs the installed vpn-passthrough with /etc/config/vpn-passthrough, under
# the kit's real ubusd and procd (guest/openwrt.sh), beside a stand-in for fw4 (table
# inet fw4: masquerade out of eth1). wan has no route to
# 192.168.1.0/24: replies only reach the clients through the router's NAT.
#
# Every namespace gets a "holder" process in its own mount namespace with a private
# tmpfs on /run (pptp-linux's /var/run/pptp control socket, charon's pid file and vici
# socket, pppd's pid files would otherwise collide). `nsx NS cmd…` runs a command in
# that namespace's network + mount namespaces.

VMT=/tmp/vmt
. /vmtest/guest/openwrt.sh
PT_CONFIG=/etc/config/vpn-passthrough
NSES="router lan1 lan2 wan"
SERVER=203.0.113.5

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
progress() { echo "VMTEST: $*" >/dev/console; log "$*"; }
fail() { log "FAIL: $*"; echo "$*" >"$VMT/fail-reason"; exit 1; }
check() { # check "description" cmd… : run, log, fail with the description
    desc=$1; shift
    if "$@"; then log "ok: $desc"; else fail "$desc"; fi
}

holder_pid() { cat "$VMT/holder.$1"; }
nsx() { ns=$1; shift; nsenter -t "$(holder_pid "$ns")" -m -n -- "$@"; }

# bg NS NAME cmd… : start a daemon in NS, output to $VMT/NAME.log, pid in $VMT/NAME.pid
bg() {
    ns=$1; name=$2; shift 2
    nsenter -t "$(holder_pid "$ns")" -m -n -- "$@" >"$VMT/$name.log" 2>&1 &
    echo $! >"$VMT/$name.pid"
    echo "$name" >>"$VMT/daemons"
}
bg_stop() {
    name=$1
    [ -f "$VMT/$name.pid" ] || return 0
    pid=$(cat "$VMT/$name.pid")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 10 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$VMT/$name.pid"
}

# wait_until SECONDS cmd… : poll every 0.5 s; status 0 as soon as cmd succeeds
wait_until() {
    limit=$1; shift
    end=$(( $(date +%s) + limit ))
    while :; do
        "$@" >/dev/null 2>&1; rc=$?
        [ $rc -eq 0 ] && return 0
        [ $rc -eq 99 ] && return 1
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.5
    done
}

mod_loaded() { [ -d "/sys/module/$1" ]; }

topology_up() {
    mkdir -p "$VMT"
    : >"$VMT/daemons"
    for ns in $NSES; do
        ip netns add "$ns"
        ip netns exec "$ns" unshare -m --propagation private sh -c \
            'mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/lock /run/pptp /run/xl2tpd &&
             ip link set lo up && touch "$0" && exec sleep 100000' "$VMT/ready.$ns" &
        echo $! >"$VMT/holder.$ns"
    done
    i=0
    for ns in $NSES; do
        while [ ! -e "$VMT/ready.$ns" ]; do
            i=$((i + 1)); [ $i -lt 200 ] || fail "holder for $ns did not start"; sleep 0.1
        done
    done
    log "namespaces and holders up"
    ip link add eth0 netns lan1 type veth peer name lan1p netns router
    ip link add eth0 netns lan2 type veth peer name lan2p netns router
    ip link add eth0 netns wan type veth peer name eth1 netns router
    nsx router sh -e -c '
        ip link add br-lan type bridge
        ip link set lan1p master br-lan; ip link set lan2p master br-lan
        for d in lan1p lan2p br-lan eth1; do ip link set "$d" up; done
        ip addr add 192.168.1.1/24 dev br-lan
        ip addr add 203.0.113.1/24 dev eth1
        sysctl -qw net.ipv4.ip_forward=1
        nft -f - <<EOF
table inet fw4 {
	comment "stand-in for OpenWrt fw4: masquerade LAN -> WAN"
	chain srcnat {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" masquerade
	}
}
EOF'
    for c in lan1:10 lan2:20; do
        ns=${c%:*}
        nsx "$ns" sh -e -c "ip link set eth0 up; ip addr add 192.168.1.${c#*:}/24 dev eth0;
                           ip route add default via 192.168.1.1"
    done
    nsx wan sh -e -c 'ip link set eth0 up; ip addr add 203.0.113.5/24 dev eth0
                      ip addr add 10.2.0.1/32 dev lo'
    log "addresses set"
    wait_until 10 nsx lan1 ping -c1 -W1 203.0.113.5 || fail "lan1 cannot reach wan through the router"
    wait_until 10 nsx lan2 ping -c1 -W1 203.0.113.5 || fail "lan2 cannot reach wan through the router"
    if nsx wan ip route get 192.168.1.10 >/dev/null 2>&1; then fail "wan has a route to the LAN"; fi
    log "topology up"
    kit_up
}

topology_down() {
    # Everything started in a namespace dies with SIGKILL: no step needs a graceful end here.
    for ns in $NSES; do
        [ -f "$VMT/holder.$ns" ] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        kill -9 "$(holder_pid "$ns")" 2>/dev/null
    done
    for ns in $NSES; do
        [ -f "$VMT/holder.$ns" ] || continue
        rm -f "$VMT/holder.$ns" "$VMT/ready.$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------- the product

# pt_config PPTP L2TP IPSEC [extra uci text] : write /etc/config/vpn-passthrough
# (zones come from /etc/config/firewall + network, as on a router)
pt_config() {
    cat >"$PT_CONFIG" <<EOF
config globals 'globals'
	option enabled '1'
	option log '0'
	option ipv6 '1'
	list lan_zone 'lan'
	list wan_zone 'wan'

config protocol 'pptp'
	option enabled '$1'

config protocol 'l2tp'
	option enabled '$2'

config protocol 'ipsec'
	option enabled '$3'
EOF
    [ -z "${4:-}" ] || printf '\n%s\n' "$4" >>"$PT_CONFIG"
    log "settings: pptp=$1 l2tp=$2 ipsec=$3${4:+ + client rules}"
}

pt() { nsx router vpn-passthrough --config "$PT_CONFIG" "$@"; }

pt_apply() {
    log "vpn-passthrough apply"
    pt apply; rc=$?
    [ $rc -eq 0 ] || { log "apply exit $rc"; pt status 2>&1 | sed 's/^/  status: /'; return 1; }
}

# pt_counter PROTO blocked|passed : packets from `status --json`
pt_counter() {
    pt status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["protocols"][sys.argv[1]][sys.argv[2]]["packets"])' "$1" "$2"
}

router_dump() {
    log "---- router state"
    nsx router nft list ruleset 2>&1 | sed 's/^/  nft: /'
    nsx router conntrack -L 2>&1 | sed 's/^/  ct: /'
    pt status 2>&1 | sed 's/^/  status: /'
    lsmod | grep -E 'pptp|gre|l2tp|esp|nf_' | sed 's/^/  lsmod: /'
}

# ---------------------------------------------------------------- PPTP

pptp_server_start() {
    cat >"$VMT/pptpd.conf" <<EOF
option $VMT/pptpd-options
localip 10.0.0.1
remoteip 10.0.0.100-199
EOF
    cat >"$VMT/pptpd-options" <<EOF
name pptpd
refuse-pap
refuse-eap
refuse-mschap
refuse-mschap-v2
require-chap
nobsdcomp
nodeflate
novj
novjccomp
noccp
nodefaultroute
lcp-echo-interval 0
EOF
    bg wan pptpd pptpd -f -c "$VMT/pptpd.conf" -p /run/pptpd.pid
    wait_until 10 nsx wan sh -c 'ss -ltn | grep -q ":1723 "' || fail "pptpd did not listen"
}

# pptp_up NS : start a PPTP client in NS (pptp-linux under pppd); status 0 once ppp0 has an address
pptp_up() {
    ns=$1; tmo=${2:-30}
    bg "$ns" "pptp-$ns" pppd nodetach pty "pptp $SERVER --nolaunchpppd" \
        name vpnuser password vpnpass remotename pptpd noauth \
        refuse-pap refuse-eap refuse-mschap refuse-mschap-v2 \
        nobsdcomp nodeflate novj novjccomp noccp nodefaultroute ipparam "$ns" \
        lcp-echo-interval 0 maxfail 1 logfd 1
    wait_until "$tmo" alive_and pptp-"$ns" pptp_has_addr "$ns"
}
# alive_and NAME cmd… : cmd succeeds; fails for good (returns 99: stops wait_until) once the
# daemon NAME has exited
alive_and() {
    name=$1; shift
    "$@" && return 0
    kill -0 "$(cat "$VMT/$name.pid" 2>/dev/null)" 2>/dev/null || { log "$name exited"; return 99; }
    return 1
}
pptp_has_addr() { nsx "$1" ip -4 -o addr show dev ppp0 | grep -q 'inet 10\.0\.0\.'; }
pptp_down() { bg_stop "pptp-$1"; }

# ---------------------------------------------------------------- L2TP

l2tp_server_start() {
    cat >"$VMT/xl2tpd-lns.conf" <<EOF
[global]
port = 1701
[lns default]
ip range = 10.1.0.100-10.1.0.199
local ip = 10.1.0.1
require authentication = no
name = lns
pppoptfile = $VMT/ppp-lns-options
length bit = yes
EOF
    printf '%s\n' noauth "name lns" nobsdcomp nodeflate novj novjccomp noccp nodefaultroute \
        "lcp-echo-interval 0" >"$VMT/ppp-lns-options"
    bg wan xl2tpd-lns xl2tpd -D -c "$VMT/xl2tpd-lns.conf" -p /run/xl2tpd.pid -C /run/xl2tpd/l2tp-control
    wait_until 10 nsx wan sh -c 'ss -lun | grep -q ":1701 "' || fail "xl2tpd (LNS) did not listen"
}

l2tp_up() {
    ns=$1; tmo=${2:-30}
    cat >"$VMT/xl2tpd-lac-$ns.conf" <<EOF
[global]
port = 1701
[lac vpn]
lns = $SERVER
require authentication = no
name = lac-$ns
pppoptfile = $VMT/ppp-lac-options
autodial = yes
redial = no
length bit = yes
EOF
    printf '%s\n' noauth "name lac" nobsdcomp nodeflate novj novjccomp noccp nodefaultroute \
        "lcp-echo-interval 0" "maxfail 1" >"$VMT/ppp-lac-options"
    bg "$ns" "l2tp-$ns" xl2tpd -D -c "$VMT/xl2tpd-lac-$ns.conf" -p /run/xl2tpd.pid \
        -C /run/xl2tpd/l2tp-control
    wait_until "$tmo" alive_and l2tp-"$ns" l2tp_has_addr "$ns"
}
l2tp_has_addr() { nsx "$1" ip -4 -o addr show | grep -q 'inet 10\.1\.0\.'; }
l2tp_down() { bg_stop "l2tp-$1"; }

# ---------------------------------------------------------------- IPsec (strongSwan, IKEv2, PSK)

ipsec_conf() { # ipsec_conf NS ROLE : strongswan.conf + swanctl.conf under $VMT/ipsec-NS
    d=$VMT/ipsec-$1; mkdir -p "$d"
    cat >"$d/strongswan.conf" <<EOF
charon {
	load_modular = yes
	install_virtual_ip = yes
	retransmit_tries = 3
	retransmit_timeout = 2.0
	retransmit_base = 1.4
	filelog {
		file {
			path = $VMT/charon-$1.log
			default = 1
			ike = 2
			flush_line = yes
		}
	}
	plugins {
		include /etc/strongswan.d/charon/*.conf
	}
}
EOF
    if [ "$2" = server ]; then
        cat >"$d/swanctl.conf" <<EOF
connections {
	rw {
		version = 2
		local_addrs = $SERVER
		pools = vpool
		proposals = aes128-sha256-modp2048
		local { auth = psk
			id = server }
		remote { auth = psk
			id = client }
		children { net { local_ts = 10.2.0.1/32
				esp_proposals = aes128-sha256-modp2048 } }
	}
}
pools { vpool { addrs = 10.3.0.0/24 } }
secrets { ike-1 { id-1 = server
		id-2 = client
		secret = "vmtest-psk-0123456789abcdef" } }
EOF
    else
        cat >"$d/swanctl.conf" <<EOF
connections {
	home {
		version = 2
		remote_addrs = $SERVER
		vips = 0.0.0.0
		proposals = aes128-sha256-modp2048
		local { auth = psk
			id = client }
		remote { auth = psk
			id = server }
		children { home { remote_ts = 10.2.0.1/32
				esp_proposals = aes128-sha256-modp2048 } }
	}
}
secrets { ike-1 { id-1 = server
		id-2 = client
		secret = "vmtest-psk-0123456789abcdef" } }
EOF
    fi
}

charon_start() { # charon_start NS server|client
    ipsec_conf "$1" "$2"
    bg "$1" "charon-$1" env STRONGSWAN_CONF="$VMT/ipsec-$1/strongswan.conf" /usr/lib/ipsec/charon
    wait_until 15 nsx "$1" test -S /run/charon.vici || fail "charon in $1 did not start"
    nsx "$1" swanctl --load-all --file "$VMT/ipsec-$1/swanctl.conf" || fail "swanctl --load-all in $1"
}
ipsec_sas() { nsx "$1" swanctl --list-sas 2>/dev/null | grep -c 'ESTABLISHED\|INSTALLED' || true; }
