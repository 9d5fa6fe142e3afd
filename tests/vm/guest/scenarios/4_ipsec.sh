# Scenario 4 — IPsec on/off with strongSwan (PSK, IKEv2, NAT-T through the masquerade):
# up and pinging when on; no SA when off.
pt_config 1 1 1
check "apply (ipsec on)" pt_apply
charon_start wan server
charon_start lan1 client
nsx lan1 swanctl --initiate --child home --timeout 30 || { router_dump; fail "IKE_SA not established while on"; }
nsx lan1 swanctl --list-sas
nsx lan1 swanctl --list-sas 2>/dev/null | grep -q 'TUNNEL-in-UDP' || fail "CHILD_SA is not UDP-encapsulated (no NAT-T)"
nsx wan swanctl --list-sas 2>/dev/null | grep -q '203\.0\.113\.1\[4500\]' || fail "server does not see the client as 203.0.113.1:4500 (masquerade + NAT-T)"
log "ok: NAT-T through the masquerade (server sees 203.0.113.1[4500], ESP in UDP)"
# the router has no route to 10.2.0.1 (only its two connected nets): a reply proves ESP
check "lan1 pings 10.2.0.1 through ESP" nsx lan1 ping -c 3 -i 0.3 -W 3 10.2.0.1
nsx lan1 swanctl --terminate --ike home --timeout 10 || true
b0=$(pt_counter ipsec blocked)
pt_config 1 1 0
check "apply (ipsec off)" pt_apply
if nsx lan1 swanctl --initiate --child home --timeout 15; then router_dump; fail "IPsec SA established while off"; fi
n=$(ipsec_sas lan1); m=$(ipsec_sas wan)
log "SAs while off: lan1 $n, wan $m"
[ "$n" = 0 ] && [ "$m" = 0 ] || fail "SAs exist while IPsec is off (lan1 $n, wan $m)"
b1=$(pt_counter ipsec blocked)
log "ipsec blocked packets: $b0 -> $b1"
[ "$b1" -gt "$b0" ] || fail "ipsec blocked counter did not rise ($b0 -> $b1)"
