# Remove the package the way opkg does: prerm remove (the package's own: stops the
# service, which removes its table, and disables it), delete the files of
# /usr/lib/opkg/info/<pkg>.list (conffiles kept only if changed), postrm remove.
INIT=/etc/init.d/vpn-passthrough
check "init script start" nsx router $INIT start
wait_until 40 nsx router nft list table inet vpn_passthrough || fail "service did not load its table"
nsx router sh /vmtest/guest/remove_ipk.sh vpn-passthrough || fail "remove_ipk.sh failed"
if nsx router nft list table inet vpn_passthrough >/dev/null 2>&1; then fail "table still loaded after removal"; fi
log "ok: table removed"
[ -e /usr/sbin/vpn-passthrough ] && fail "/usr/sbin/vpn-passthrough still there"
ls /etc/rc.d/S*vpn-passthrough >/dev/null 2>&1 && fail "rc.d link still there"
log "ok: files and rc.d link gone"
