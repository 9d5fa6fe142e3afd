# Scenario 3 — L2TP on/off with xl2tpd (LNS on wan, LAC on lan2).
pt_config 1 1 1
check "apply (l2tp on)" pt_apply
l2tp_server_start
l2tp_up lan2 || { router_dump; fail "L2TP tunnel did not come up while on"; }
check "lan2 pings through L2TP" nsx lan2 ping -c 3 -i 0.3 -W 3 10.1.0.1
b0=$(pt_counter l2tp blocked)
pt_config 1 0 1
check "apply (l2tp off)" pt_apply
sleep 1
nsx lan2 ping -c 3 -i 0.3 -W 1 10.1.0.1 && { router_dump; fail "running L2TP tunnel still passes traffic after switching off"; }
log "ok: running L2TP tunnel stopped passing traffic"
l2tp_down lan2
if l2tp_up lan1 10; then router_dump; fail "a new L2TP tunnel came up while L2TP is off"; fi
log "ok: new L2TP tunnel from lan1 failed"
l2tp_down lan1
b1=$(pt_counter l2tp blocked)
log "l2tp blocked packets: $b0 -> $b1"
[ "$b1" -gt "$b0" ] || fail "l2tp blocked counter did not rise ($b0 -> $b1)"
pt_config 1 1 1
check "apply (l2tp on again)" pt_apply
l2tp_up lan1 || { router_dump; fail "L2TP tunnel did not come up after switching on again"; }
check "lan1 pings through L2TP" nsx lan1 ping -c 2 -i 0.3 -W 3 10.1.0.1
