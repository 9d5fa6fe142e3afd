"""What changes the system: apply, set, stop, flush, reset_counters.

Order of an apply: read and validate everything first, then load modules and
probe helpers, then render, then one `nft -f`. Any error before the nft call
changes nothing; nft itself is atomic. The counters of the table being replaced
are carried into the new one (only reset_counters zeroes them). After the new
rules are live, fw4's include is rewritten from the same text (the table comes
back with every fw4 start, restart and reload), then the flows the rules now
block are cut from conntrack.
"""

import gc
import os
import time

from . import counts
from . import flows
from . import fw4include
from . import kernel
from . import netaddr
from . import plan as planner
from . import platform
from . import ruleset
from . import settings as schema
from . import tablecomment
from . import uci
from .settings import SettingsError, PROTOCOLS

SET_KEYS = ("enabled", "log", "ipv6") + PROTOCOLS


class ApplyError(Exception):
    """The kernel refused a change; `field` names what was being applied."""

    def __init__(self, message, field="nft"):
        super().__init__(message)
        self.field = field


def helper_error(name):
    return (name + ": the kernel has no '" + name + "' conntrack helper; install "
            + planner.KMOD_PACKAGE + " (older releases: " + planner.KMOD_PACKAGE_OLD
            + "). " + name + " passes without call-ID translation (one client per server).")


def helper_errors(p):
    return [helper_error(x.name) for x in p.protocols if x.helper == "missing"]


def apply(svc, reset=False):
    """Make the kernel match the settings. Returns {changed, flushed, errors}.
    With reset, the table is loaded even if unchanged, its counters from zero."""
    with platform.Lock():
        # Thousands of client objects live until the apply returns and hold no
        # cycles: reference counting frees them all, the cyclic collector would
        # only walk them again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return _apply(svc, reset)
        finally:
            if collecting:
                gc.enable()


def _apply(svc, reset):
    s = svc.settings()
    if not s.enabled:
        changed = kernel.applied_listing() is not None   # netlink: no nft, no elements
        stop()
        return {"changed": changed, "flushed": 0, "errors": []}
    # Helpers are assumed present (no `nft -c` probe): the kernel refuses the
    # transaction if one is missing, and only then is it probed.
    p = svc.plan(probe=False, s=s)
    text = ruleset.render(p, svc.config_path)
    listing = kernel.applied_listing() or ""
    live_digest, states = tablecomment.read_comment(listing)
    if not reset and live_digest is not None:
        if "degraded" in states.values():   # live without a helper: compare like with like
            p = svc.plan(s=s)
            text = ruleset.render(p, svc.config_path)
        if live_digest == tablecomment.read_comment(text)[0]:
            # e.g. the table of an older version, or a link someone removed
            if not kernel.include_present() or kernel.include_linked() is False:
                _include(_live_text(svc, p, listing))
            return {"changed": False, "flushed": 0, "errors": helper_errors(p)}
    carried, since = None, int(time.time())
    if live_digest is not None and not reset:
        carried = counts.read(kernel.table_json())
        since = tablecomment.read_since(listing) or since
    text = ruleset.render(p, svc.config_path, carried, since)
    try:
        kernel.nft_apply(text)
    except kernel.KernelError as e:
        p2 = svc.plan(s=s) if p.helpers() else p
        if not helper_errors(p2):
            raise ApplyError(str(e))
        p, text = p2, ruleset.render(p2, svc.config_path, carried, since)
        try:
            kernel.nft_apply(text)
        except kernel.KernelError as e2:
            raise ApplyError(str(e2))
    _include(text)
    # Flows to cut exist only if the table was absent or its policy was another:
    # under an unchanged policy a blocked flow never got past its first packet.
    policy_changed = tablecomment.read_policy(listing) != tablecomment.read_policy(text)
    flushed = cut_blocked(p) if policy_changed and planner.blocks_any(p) else 0
    return {"changed": True, "flushed": flushed, "errors": helper_errors(p)}


def _include(text):
    """fw4's include of the table just loaded; a failure to write it does not undo the
    apply (the rules are live): `check` reports it (fw4_include_missing)."""
    try:
        kernel.install_include(fw4include.render(text))
    except OSError:
        pass


def _live_text(svc, p, listing):
    """The live table's text with its current counts, for an include that is missing."""
    return ruleset.render(p, svc.config_path, counts.read(kernel.table_json()),
                          tablecomment.read_since(listing))


def reset_counters(svc):
    """Zero every blocked/passed counter (the table is loaded again, counts from zero)."""
    return apply(svc, reset=True)


def cut_blocked(p, only=None):
    """Delete forwarded flows the plan now blocks (or every flow of `only`)."""
    if platform.which("conntrack") is None:
        return 0
    network = kernel.network_facts(p.lan_devices)
    blocker = None              # indexed at the first flow that needs a verdict
    cut = 0
    for flow in flows.parse(kernel.conntrack_text()):
        name = flows.protocol(flow)
        if name is None or (only is not None and name != only):
            continue
        ends = flows.lan_client(flow, network)
        if ends is None:
            continue
        if only is None:
            key = netaddr.parse_address(ends[0])    # lan_client parsed it already
            blocker = blocker or planner.Blocker(p)
            if not blocker.blocks(name, key[0], key[1], network.neighbours.get(key)):
                continue
        if kernel.conntrack_delete(flow):
            cut += 1
    return cut


def flush(svc, name):
    if name not in PROTOCOLS:
        raise SettingsError("protocol", "'" + name[:20] + "': " + schema.UNKNOWN_PROTOCOL)
    return cut_blocked(svc.plan(probe=False, load=False), only=name)


def stop():
    """Remove the table, and fw4's include of it (fw4 must not bring it back)."""
    kernel.remove_include()
    try:
        kernel.nft_delete_table()
    except kernel.KernelError as e:
        raise ApplyError(str(e))


def set_switches(svc, values):
    """Change switches in the settings file (validated first), then apply."""
    if not isinstance(values, dict) or not values:
        raise SettingsError("values", "expects a table such as {\"pptp\": false}")
    sections = svc.sections()
    for key in values:
        if key not in SET_KEYS:
            raise SettingsError("values." + str(key)[:20],
                                "unknown switch (known: " + ", ".join(SET_KEYS) + ")")
        flag = _flag(values[key], "values." + key)
        if key in PROTOCOLS:
            section = _section(sections, "protocol", key)
        else:
            section = _section(sections, "globals", "globals")
        section.set("enabled" if key in PROTOCOLS else key, flag)
    schema.from_sections(sections)          # refuse to write an invalid file
    _write_atomic(svc.config_path, uci.dump(sections))
    return apply(svc)


def _flag(value, where):
    if value is not True and value is not False:
        try:
            value = schema.parse_bool(str(value) if value.__class__ is int else value)
        except ValueError:
            raise SettingsError(where, "must be true or false")
    return "1" if value else "0"


def _section(sections, stype, name):
    for s in sections:
        if s.type == stype and s.name == name:
            return s
    s = uci.Section(stype, name, len([x for x in sections if x.type == stype]), 0)
    sections.append(s)
    return s


def _write_atomic(path, text):
    """Write next to the file and rename: a reader sees the old or the new file."""
    tmp = path + ".vpn-passthrough-new"
    try:
        mode = os.stat(path).st_mode & 0o777     # keep the conffile's 0600
    except OSError:
        mode = 0o600
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.rename(tmp, path)
