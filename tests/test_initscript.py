"""files/etc/init.d/vpn-passthrough: parsed by busybox ash, clean under shellcheck, and its
procd calls checked.

OpenWrt's shell library (rc.common, functions.sh config_*, procd.sh procd_*, validate_data)
does not exist here: the STUBS below, defined in this test only, record each call on stdout,
and a small fixed set of uci sections stands in for /etc/config/{vpn-passthrough,firewall}.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INIT = os.path.join(ROOT, "files", "etc", "init.d", "vpn-passthrough")
WRAPPER = os.path.join(ROOT, "files", "usr", "sbin", "vpn-passthrough")
MAINTAINER = [os.path.join(ROOT, "package", "vpn-passthrough", n) for n in ("postinst", "prerm")]

# Test-only stand-ins for OpenWrt's shell functions. Each appends "CALL name args..." to
# $TRACE (a file: the script sends some output to /dev/null).
STUBS = r'''
trace() { echo "CALL $*" >>"$TRACE"; }
procd_open_instance() { trace procd_open_instance "$@"; }
procd_close_instance() { trace procd_close_instance "$@"; }
procd_set_param() { trace procd_set_param "$@"; }
procd_add_reload_trigger() { trace procd_add_reload_trigger "$@"; }
procd_add_reload_interface_trigger() { trace procd_add_reload_interface_trigger "$@"; }
procd_add_validation() { trace procd_add_validation "$@"; "$@"; }
logger() { trace logger "$@"; }
start() { trace start "$@"; }
ubus() { trace ubus "$@"; return "${UBUS_RC:-0}"; }
uci() {
	trace uci "$@"
	case "$3" in
	vpn-passthrough.globals.lan_zone) [ -n "$LAN_ZONE" ] && echo "$LAN_ZONE" ;;
	vpn-passthrough.globals.wan_zone) [ -n "$WAN_ZONE" ] && echo "$WAN_ZONE" ;;
	esac
	return 0
}
uci_load_validate() {
	trace uci_load_validate "$1" "$2" "$3" "$4"
	_r=0
	[ -n "$3" ] && case " $INVALID " in *" $3 "*) _r=1 ;; esac
	[ -n "$4" ] && "$4" "$3" "$_r"
	return $_r
}
# uci stand-in: vpn-passthrough has globals + 3 protocols + 1 client; firewall has 3 zones
config_load() { _pkg="$1"; trace config_load "$1"; }
config_foreach() {
	_fn="$1"; _type="$2"; shift 2
	case "$_pkg.$_type" in
	vpn-passthrough.globals) _secs="globals" ;;
	vpn-passthrough.protocol) _secs="pptp l2tp ipsec" ;;
	vpn-passthrough.client) _secs="cfg0a1b2c" ;;
	firewall.zone) _secs="cfg02 cfg03 cfg04" ;;
	*) _secs="" ;;
	esac
	for _s in $_secs; do "$_fn" "$_s" "$@"; done
}
config_get() {
	_v=""
	case "$_pkg.$2.$3" in
	vpn-passthrough.globals.lan_zone) _v="$LAN_ZONE" ;;
	vpn-passthrough.globals.wan_zone) _v="$WAN_ZONE" ;;
	firewall.cfg02.name) _v=lan ;;
	firewall.cfg02.network) _v=lan ;;
	firewall.cfg03.name) _v=wan ;;
	firewall.cfg03.network) _v="wan wan6" ;;
	firewall.cfg04.name) _v=guest ;;
	firewall.cfg04.network) _v=guest ;;
	esac
	eval "$1=\"\${_v:-\$4}\""
}
'''


def run_init(body, env=None):
    """Source the init script after the stubs (as rc.common would), run body, get CALL lines."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (make deps installs busybox-static)")
    fd, trace = tempfile.mkstemp(prefix="vpt-init-trace-")
    os.close(fd)
    try:
        script = STUBS + ". " + INIT + "\n" + body + "\n"
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRACE": trace}
        e.update(env or {})
        r = subprocess.run([busybox, "ash", "-c", script], capture_output=True, text=True,
                           env=e)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(trace) as f:
            lines = f.read().splitlines()
    finally:
        os.unlink(trace)
    return [line[5:] for line in lines if line.startswith("CALL ")], r


def test_ash_parses_it():
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    for path in [INIT, WRAPPER] + MAINTAINER:
        r = subprocess.run([busybox, "ash", "-n", path], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make deps installs it)")
    r = subprocess.run(["shellcheck", "-s", "sh", INIT, WRAPPER] + MAINTAINER,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_header_procd_and_order():
    text = open(INIT).read()
    assert text.startswith("#!/bin/sh /etc/rc.common\n")
    assert re.search(r"^USE_PROCD=1$", text, re.M)
    start = int(re.search(r"^START=(\d+)$", text, re.M).group(1))
    assert start > 19, "must start after the firewall (START=19)"
    assert os.access(INIT, os.X_OK) and os.access(WRAPPER, os.X_OK)


def test_wrapper_runs_the_package_from_its_lib_dir():
    text = open(WRAPPER).read()
    assert text.startswith("#!/bin/sh\n")
    assert 'PYTHONPATH=/usr/lib/vpn-passthrough exec python3 -m vpn_passthrough "$@"' in text


def test_start_service_runs_the_resident_service_with_respawn():
    calls, _ = run_init("start_service")
    assert "procd_open_instance" in calls
    assert "procd_set_param command /usr/sbin/vpn-passthrough serve" in calls
    assert "procd_set_param respawn" in calls
    assert calls.index("procd_open_instance") < calls.index(
        "procd_set_param command /usr/sbin/vpn-passthrough serve") < calls.index(
        "procd_close_instance")
    # the fixed sections are validated here (clients by the service, once), without
    # config_load of our file (minutes in ash at thousands of clients); valid: no log
    validated = [c.split()[2:4] for c in calls if c.startswith("uci_load_validate")]
    assert validated == [["globals", "globals"], ["protocol", "pptp"], ["protocol", "l2tp"],
                         ["protocol", "ipsec"]]
    assert "config_load vpn-passthrough" not in calls
    assert not [c for c in calls if c.startswith("logger")]


def test_invalid_section_is_logged_but_the_service_still_starts():
    calls, _ = run_init("start_service", {"INVALID": "l2tp"})
    logs = [c for c in calls if c.startswith("logger")]
    assert len(logs) == 1 and "vpn-passthrough.l2tp" in logs[0]
    assert "procd_set_param command /usr/sbin/vpn-passthrough serve" in calls


def test_triggers_reload_on_config_firewall_network_and_zone_interfaces():
    calls, _ = run_init("service_triggers")
    assert "procd_add_reload_trigger vpn-passthrough firewall network" in calls
    ifaces = [c.split()[1] for c in calls if c.startswith("procd_add_reload_interface_trigger")]
    assert ifaces == ["lan", "wan", "wan6"]          # zones lan + wan; not guest
    assert "config_load vpn-passthrough" not in calls
    assert "procd_add_validation validate_sections" in calls
    # procd's validation data: each section type described once (empty section name)
    described = [c.split()[1:3] for c in calls
                 if c.startswith("uci_load_validate") and len(c.split()) == 3]
    assert described == [["vpn-passthrough", "globals"], ["vpn-passthrough", "protocol"],
                         ["vpn-passthrough", "client"]]


def test_triggers_follow_configured_zones():
    calls, _ = run_init("service_triggers", {"LAN_ZONE": "guest", "WAN_ZONE": "wan"})
    ifaces = [c.split()[1] for c in calls if c.startswith("procd_add_reload_interface_trigger")]
    assert ifaces == ["wan", "wan6", "guest"]


def test_reload_asks_the_running_service_then_renews_triggers_or_starts_it():
    # `start` on a running instance: procd keeps it, takes the new triggers
    calls, _ = run_init("reload_service")
    assert calls == ["ubus -t 60 call vpn-passthrough reload", "start"]
    calls, _ = run_init("reload_service", {"UBUS_RC": "4"})
    assert calls == ["ubus -t 60 call vpn-passthrough reload", "start"]


def test_stop_removes_the_table(tmp_path):
    prog = tmp_path / "vpn-passthrough"
    prog.write_text("#!/bin/sh\necho \"CALL prog $*\" >>\"$TRACE\"\n")
    prog.chmod(0o755)
    calls, _ = run_init('PROG="%s"; stop_service' % prog)
    assert calls == ["prog stop"]
