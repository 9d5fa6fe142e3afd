# The pure core's memory under MicroPython (or CPython): run by tests/micropython/runner.py
# with the repository root as working directory. Parses the shipped settings (plus explicit
# devices), builds the plan, renders the ruleset; prints heap use and VmRSS as JSON.
# With the argument-free bare variant (BARE = True below replaced by the bench) it only
# reports the interpreter's own figures.
import gc
import sys

BARE = False


def vmrss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def heap():
    gc.collect()
    try:
        return gc.mem_alloc()       # MicroPython
    except AttributeError:
        return -1


out = {"impl": sys.implementation.name, "heap_before": heap()}
if not BARE:
    from vpn_passthrough import plan, ruleset, settings
    with open("files/etc/config/vpn-passthrough") as f:
        text = f.read()
    text = text.replace("\tlist wan_zone 'wan'\n",
                        "\tlist wan_zone 'wan'\n\tlist lan_device 'br-lan'\n"
                        "\tlist wan_device 'wan0'\n")
    s = settings.parse(text, "vpn-passthrough")
    p = plan.build(s, s.lan_devices, s.wan_devices, {"pptp": True})
    rules = ruleset.render(p)
    out["ruleset_bytes"] = len(rules)
    del rules, p, s, text
out["heap_after"] = heap()
out["vmrss_kb"] = vmrss()
print("MPYCORE " + repr(out).replace("'", '"').replace("True", "true").replace("False", "false"))
