# Scenario 2 — PPTP off: a tunnel that was up stops passing traffic within seconds of the
# switch; a new tunnel fails; the blocked counters rose.
pt_config 1 1 1
check "apply (pptp on)" pt_apply
pptp_server_start
pptp_up lan1 || { router_dump; fail "lan1 PPTP tunnel did not come up while on"; }
check "lan1 pings through its tunnel while on" nsx lan1 ping -c 2 -i 0.3 -W 3 -I ppp0 10.0.0.1
b0=$(pt_counter pptp blocked)
pt_config 0 1 1
check "apply (pptp off)" pt_apply
# within seconds: two seconds after the switch, no ping gets through any more
sleep 2
nsx lan1 ping -c 4 -i 0.5 -W 1 -I ppp0 10.0.0.1 && { router_dump; fail "running tunnel still passes traffic 2 s after switching off"; }
log "ok: running tunnel stopped passing traffic"
pptp_down lan1
if pptp_up lan2 10; then router_dump; fail "a new PPTP tunnel came up while PPTP is off"; fi
log "ok: new tunnel from lan2 failed"
b1=$(pt_counter pptp blocked)
log "pptp blocked packets: $b0 -> $b1"
[ "$b1" -gt "$b0" ] || fail "blocked counter did not rise ($b0 -> $b1)"
