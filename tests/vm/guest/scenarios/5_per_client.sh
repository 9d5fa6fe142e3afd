# Scenario 5 — per client: lan1 blocked for PPTP while lan2's tunnel comes up.
pt_config 1 1 1 "config client
	option name 'lan1'
	option ip '192.168.1.10'
	option action 'block'
	list protocol 'pptp'"
check "apply (pptp on, lan1 blocked)" pt_apply
pptp_server_start
pptp_up lan2 || { router_dump; fail "lan2 PPTP tunnel did not come up"; }
check "lan2 pings through its tunnel" nsx lan2 ping -c 2 -i 0.3 -W 3 -I ppp0 10.0.0.1
if pptp_up lan1 10; then router_dump; fail "lan1 PPTP tunnel came up although lan1 is blocked"; fi
log "ok: lan1 blocked"
check "lan2 tunnel still passes traffic" nsx lan2 ping -c 2 -i 0.3 -W 3 -I ppp0 10.0.0.1
pt clients --json | python3 -c '
import json, sys
page = json.load(sys.stdin)
c = page.get("clients") or []
print("clients:", c)
assert c and c[0]["blocked"]["packets"] > 0, "client rule blocked no packets"
' || fail "the client page shows no packets blocked by the lan1 rule"
