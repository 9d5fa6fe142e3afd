# Install the .ipk on the router with the kit's real opkg (its database: an OpenWrt 24.10
# router's installed packages), the control scripts running in the router namespace. The
# package's postinst enables and (re)starts the service through /etc/rc.common and the
# real procd: afterwards procd lists the instance, the service runs with the shipped
# /etc/config/vpn-passthrough, its table is loaded, and it loaded the PPTP helper modules.
for m in nf_conntrack_pptp nf_nat_pptp; do
    mod_loaded $m && fail "$m loaded before the package was installed"
done
log "PPTP helper modules not loaded before the install"
log "ipk: $(cat /vmtest/ipk-name)"
nsx router opkg install /vmtest/package.ipk || fail "opkg install failed"
grep -q '^Package: vpn-passthrough$' /usr/lib/opkg/status || fail "opkg's status lacks vpn-passthrough"
for f in /usr/sbin/vpn-passthrough /etc/init.d/vpn-passthrough /etc/config/vpn-passthrough \
         /usr/lib/vpn-passthrough/vpn_passthrough/__main__.py; do
    [ -e "$f" ] || fail "$f missing after install"
done
log "ok: installed by opkg, files in place"
ls /etc/rc.d/ | sed 's/^/  rc.d: /'
ls /etc/rc.d/S*vpn-passthrough >/dev/null 2>&1 || fail "postinst did not enable the service (/etc/rc.d/S??vpn-passthrough)"
log "ok: enabled"
wait_until 40 nsx router nft list table inet vpn_passthrough || {
    cat "$VMT/procd.log"; fail "no table inet vpn_passthrough after postinst"; }
log "ok: table loaded by the service postinst started"
nsx router ubus call service list '{"name":"vpn-passthrough"}' | tee "$VMT/service.json"
grep -q '"running": true' "$VMT/service.json" || fail "procd does not list a running instance"
log "ok: procd runs the instance"
wait_until 20 nsx router ubus call vpn-passthrough status || fail "ubus call vpn-passthrough status failed"
nsx router ubus call vpn-passthrough status
for m in nf_conntrack_pptp nf_nat_pptp; do
    mod_loaded $m || fail "$m not loaded by the service"
done
log "ok: the service loaded nf_conntrack_pptp and nf_nat_pptp"
cat "$VMT/procd.log"
