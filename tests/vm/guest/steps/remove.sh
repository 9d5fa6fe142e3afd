# Remove the package with the kit's real opkg: its prerm stops the service (through
# rc.common and procd; the table goes) and disables it, opkg deletes the files.
INIT=/etc/init.d/vpn-passthrough
check "init script start" nsx router $INIT start
wait_until 40 nsx router nft list table inet vpn_passthrough || fail "service did not load its table"
nsx router opkg remove vpn-passthrough || fail "opkg remove failed"
if nsx router nft list table inet vpn_passthrough >/dev/null 2>&1; then fail "table still loaded after removal"; fi
log "ok: table removed"
wait_until 10 pt_no_instance || fail "procd still runs the instance after removal"
[ -e /usr/sbin/vpn-passthrough ] && fail "/usr/sbin/vpn-passthrough still there"
ls /etc/rc.d/S*vpn-passthrough >/dev/null 2>&1 && fail "rc.d link still there"
grep -q '^Package: vpn-passthrough$' /usr/lib/opkg/status && fail "opkg's status still lists vpn-passthrough"
log "ok: files, rc.d link and status entry gone"
