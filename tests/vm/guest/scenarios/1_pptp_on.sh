# Scenario 1 — PPTP on: lan1 and lan2 bring up real PPTP tunnels (pptp-linux + pppd) to one
# pptpd at the same time and ping through both; conntrack shows helper=pptp and distinct
# GRE keys; nf_conntrack_pptp and nf_nat_pptp were loaded by the service, not the test.
# (main.sh unloads them after the install step, whose service had loaded them)
for m in nf_conntrack_pptp nf_nat_pptp; do
    mod_loaded $m && fail "$m already loaded before apply"
done
log "helper modules not loaded before apply"
pt_config 1 1 1
check "vpn-passthrough apply" pt_apply
check "nf_conntrack_pptp loaded by the service" mod_loaded nf_conntrack_pptp
check "nf_nat_pptp loaded by the service" mod_loaded nf_nat_pptp
pt status --json
pptp_server_start
pptp_up lan1 & p1=$!
pptp_up lan2 & p2=$!
wait $p1 || { router_dump; fail "lan1 PPTP tunnel did not come up"; }
wait $p2 || { router_dump; fail "lan2 PPTP tunnel did not come up"; }
log "both tunnels up: lan1 $(nsx lan1 ip -4 -o addr show dev ppp0 | awk '{print $4}'), lan2 $(nsx lan2 ip -4 -o addr show dev ppp0 | awk '{print $4}')"
check "lan1 pings through its tunnel" nsx lan1 ping -c 3 -i 0.3 -W 3 -I ppp0 10.0.0.1
check "lan2 pings through its tunnel" nsx lan2 ping -c 3 -i 0.3 -W 3 -I ppp0 10.0.0.1
check "lan1 tunnel still up after lan2's" pptp_has_addr lan1
nsx router conntrack -L >"$VMT/ct.txt" 2>&1
sed 's/^/  ct: /' "$VMT/ct.txt"
n=$(grep 'dport=1723' "$VMT/ct.txt" | grep -c 'helper=pptp')
[ "$n" -ge 2 ] || fail "conntrack: $n control connections with helper=pptp (want 2)"
log "ok: $n control connections with helper=pptp"
# nf_nat_pptp gives each client's call a distinct key on the WAN side: the server's GRE
# packets (reply direction, dstkey) must be told apart although both come from one address.
gre=$(grep -c '^gre' "$VMT/ct.txt")
keys=$(grep '^gre' "$VMT/ct.txt" | sed -n 's/.*dstkey=\(0x[0-9a-f]*\).*/\1/p' | sort -u | wc -l)
[ "$gre" -ge 2 ] || fail "conntrack: $gre GRE flows (want 2)"
[ "$keys" -ge 2 ] || fail "conntrack: GRE reply keys not distinct ($keys distinct of $gre flows)"
log "ok: $gre GRE flows with $keys distinct reply keys"
