"""`check`: what stands between the settings and working passthrough, each with a fix."""

import os

from . import kernel
from . import plan as planner
from . import pkgmgr
from . import platform
from . import uci
from .settings import SettingsError


def _finding(fid, severity, message, fix):
    return {"id": fid, "severity": severity, "message": message, "fix": fix}


def findings(service):
    out = []
    for tool, package, why in (
            ("nft", "nftables-json", "rules cannot be loaded"),
            ("conntrack", "conntrack", "running tunnels are not cut when a switch goes off, "
             "and sessions cannot be listed")):
        if platform.which(tool) is None:
            out.append(_finding(tool + "_missing", "error" if tool == "nft" else "warning",
                                "'" + tool + "' is not installed: " + why + ".",
                                pkgmgr.install(package)))
    try:
        import ubus  # noqa: F401  (python3-ubus: the resident service needs it)
    except ImportError:
        out.append(_finding("ubus_missing", "warning",
                            "python3-ubus is not installed: the ubus object and LuCI page "
                            "are unavailable.", pkgmgr.install("python3-ubus")))
    try:
        s = service.settings()
    except SettingsError as e:
        out.append(_finding("settings_invalid", "error", str(e),
                            "correct the option named above, then: vpn-passthrough apply"))
        return out
    if not s.enabled:
        out.append(_finding("disabled", "info", "vpn-passthrough is disabled: nothing is "
                            "blocked and no helper is assigned.",
                            "uci set vpn-passthrough.globals.enabled=1; uci commit vpn-passthrough"))
        return out
    if platform.which("nft") is not None:
        listing = kernel.table_listing()
        if listing is None:
            out.append(_finding("not_applied", "error", "table inet vpn_passthrough is not "
                                "loaded.", "/etc/init.d/vpn-passthrough restart"))
        pptp_wanted = s.protocols["pptp"] or any(
            [c.action == "allow" and "pptp" in c.protocols for c in s.clients])
        if pptp_wanted:
            states = dict([(m, kernel.module_state(m)) for m in planner.MODULES["pptp"]])
            if not kernel.helper_available("pptp", "tcp"):
                out.append(_finding("pptp_helper_missing", "error",
                                    "the kernel has no pptp conntrack helper: PPTP passes "
                                    "without call-ID translation.",
                                    pkgmgr.install(pkgmgr.pptp_kmod())))
            elif states.get("nf_nat_pptp") == "missing":
                out.append(_finding("pptp_nat_missing", "error",
                                    "nf_nat_pptp is not loaded: two LAN clients cannot reach "
                                    "one PPTP server at once.",
                                    pkgmgr.install(pkgmgr.pptp_kmod())
                                    + "; modprobe nf_nat_pptp"))
            elif listing is not None and "ct helper pptp" not in listing:
                out.append(_finding("pptp_helper_not_assigned", "error",
                                    "the kernel has the pptp helper now, but the loaded rules "
                                    "do not assign it (applied while it was missing).",
                                    "vpn-passthrough apply"))
        fw4 = kernel.fw4_listing()
        if fw4 is None:
            out.append(_finding("fw4_missing", "info", "fw4 (table inet fw4) is not loaded: "
                                "nothing but this package filters forwarded traffic, and "
                                "nothing masquerades LAN clients.",
                                "/etc/init.d/firewall restart"))
        elif not s.protocols["pptp"] and 'ct helper set "pptp"' in fw4:
            out.append(_finding("fw4_assigns_pptp", "warning",
                                "fw4's loaded rules assign the pptp helper while PPTP "
                                "passthrough is off: PPTP stays blocked, but the helper "
                                "module stays in use.",
                                "uci set firewall.@defaults[0].auto_helper=0 or remove 'pptp' "
                                "from the zones' helper lists; fw4 reload"))
    out.extend(_firewall(service, s))
    if _sysctl("net/netfilter/nf_conntrack_acct") == "0":
        out.append(_finding("acct_off", "info", "conntrack accounting is off: sessions show "
                            "no byte or packet counts.",
                            "sysctl -w net.netfilter.nf_conntrack_acct=1"))
    return out


def _sysctl(name):
    try:
        with open("/proc/sys/" + name) as f:
            return f.read().strip()
    except OSError:
        return None


def _firewall(service, s):
    """fw4 settings that interact with ours."""
    out = []
    path = os.path.join(service.config_dir, "firewall")
    try:
        with open(path) as f:
            sections = uci.parse(f.read(), path)
    except (OSError, uci.UciError):
        return out
    for sec in sections:
        if sec.type == "defaults" and sec.get("flow_offloading") == "1":
            out.append(_finding("flow_offloading", "info",
                                "fw4 flow offloading is on: established L2TP and IPsec NAT-T "
                                "flows bypass the forward chain, so their passed counters "
                                "stop counting (blocking and cutting still work).",
                                "uci set firewall.@defaults[0].flow_offloading=0 if exact "
                                "counters matter"))
        if sec.type == "zone":
            helpers = sec.get("helper") or []
            if not isinstance(helpers, list):
                helpers = helpers.split()
            if "pptp" in helpers and not s.protocols["pptp"]:
                out.append(_finding("fw4_pptp_helper", "warning",
                                    "fw4 zone '" + str(sec.get("name")) + "' assigns the pptp "
                                    "helper while PPTP passthrough is off; PPTP stays blocked "
                                    "but the helper module stays in use.",
                                    "uci del_list firewall." + sec.label() + ".helper=pptp; "
                                    "uci commit firewall"))
    return out
