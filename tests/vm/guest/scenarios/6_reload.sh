# Scenario 6 — switching through the settings file and the service's reload path, as the
# init script does it: /etc/init.d/vpn-passthrough start (procd starts `vpn-passthrough
# serve`), edit /etc/config/vpn-passthrough, /etc/init.d/vpn-passthrough reload (what procd
# runs on `uci commit`: reload_service -> `ubus call vpn-passthrough reload`), stop.
# The init script runs through the kit's real /etc/rc.common and procd.sh against its real
# procd and ubusd (guest/openwrt.sh); the service registers with the real python3-ubus.
INIT=/etc/init.d/vpn-passthrough
[ -x $INIT ] || fail "$INIT not installed"
pt_config 1 1 1
# the events the service sends, as `ubus listen` sees them
bg router listen ubus listen vpn-passthrough.changed
sleep 1
check "init script start" nsx router $INIT start
wait_until 30 nsx router ubus list vpn-passthrough || { cat "$VMT/procd.log"; fail "the service did not register on ubus"; }
wait_until 30 nsx router nft list table inet vpn_passthrough || { cat "$VMT/procd.log"; fail "the service did not load its table at start"; }
check "ubus call vpn-passthrough status" nsx router ubus call vpn-passthrough status
pptp_server_start
pptp_up lan1 || { router_dump; fail "PPTP tunnel did not come up after init start"; }
check "lan1 pings through its tunnel" nsx lan1 ping -c 2 -i 0.3 -W 3 -I ppp0 10.0.0.1

effective() { nsx router ubus call vpn-passthrough status | python3 -c '
import json, sys; print(json.load(sys.stdin)["protocols"]["pptp"]["effective"])'; }

pt_config 0 1 1
check "init script reload (pptp off in the settings file)" nsx router $INIT reload
e=$(effective); log "pptp effective after reload: $e"
[ "$e" = off ] || fail "pptp effective is '$e' after reload with pptp off"
sleep 2
nsx lan1 ping -c 4 -i 0.5 -W 1 -I ppp0 10.0.0.1 && { router_dump; fail "tunnel still passes traffic after reload with pptp off"; }
log "ok: tunnel stopped after reload"
pptp_down lan1

pt_config 1 1 1
check "init script reload (pptp on again)" nsx router $INIT reload
e=$(effective); log "pptp effective after reload: $e"
[ "$e" = on ] || fail "pptp effective is '$e' after reload with pptp on"
pptp_up lan2 || { router_dump; fail "PPTP tunnel did not come up after reload with pptp on"; }
check "lan2 pings through its tunnel" nsx lan2 ping -c 2 -i 0.3 -W 3 -I ppp0 10.0.0.1
n=$(grep -c 'vpn-passthrough.changed' "$VMT/listen.log")
log "vpn-passthrough.changed events: $n"
[ "$n" -ge 3 ] || fail "expected >= 3 vpn-passthrough.changed events (start + 2 reloads), saw $n"

check "init script stop" nsx router $INIT stop
if nsx router nft list table inet vpn_passthrough >/dev/null 2>&1; then fail "table still loaded after stop"; fi
log "ok: table removed by stop"
wait_until 10 pt_no_instance || fail "procd still runs the instance after stop"
log "ok: procd dropped the instance"
cat "$VMT/procd.log"
