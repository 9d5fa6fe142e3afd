# Install the .ipk on the router the way opkg does (install_ipk.sh says which steps), with
# the control scripts running in the router namespace. The package's postinst enables and
# (re)starts the service through /etc/init.d (procd / ubus stand-ins): afterwards the
# service must be running with the shipped /etc/config/vpn-passthrough and its table loaded,
# and it must have loaded the PPTP helper modules itself.
for m in nf_conntrack_pptp nf_nat_pptp; do
    mod_loaded $m && fail "$m loaded before the package was installed"
done
log "PPTP helper modules not loaded before the install"
log "ipk: $(cat /vmtest/ipk-name)"
nsx router sh /vmtest/guest/install_ipk.sh /vmtest/package.ipk || fail "install_ipk.sh failed"
for f in /usr/sbin/vpn-passthrough /etc/init.d/vpn-passthrough /etc/config/vpn-passthrough \
         /usr/lib/vpn-passthrough/vpn_passthrough/__main__.py; do
    [ -e "$f" ] || fail "$f missing after install"
done
log "ok: files in place"
ls /etc/rc.d/ | sed 's/^/  rc.d: /'
ls /etc/rc.d/S*vpn-passthrough >/dev/null 2>&1 || fail "postinst did not enable the service (/etc/rc.d/S??vpn-passthrough)"
log "ok: enabled"
wait_until 40 nsx router nft list table inet vpn_passthrough || {
    nsx router cat /run/procd-vpn-passthrough.log; fail "no table inet vpn_passthrough after postinst"; }
log "ok: table loaded by the service postinst started"
wait_until 20 nsx router ubus call vpn-passthrough status || fail "ubus call vpn-passthrough status failed"
nsx router ubus call vpn-passthrough status
for m in nf_conntrack_pptp nf_nat_pptp; do
    mod_loaded $m || fail "$m not loaded by the service"
done
log "ok: the service loaded nf_conntrack_pptp and nf_nat_pptp"
nsx router cat /run/procd-vpn-passthrough.log
