"""netifd's run-time view of the interfaces, as fw4 reads it (`network.interface dump`).

Asked through the `ubus` command, the same for the CLI and the resident service
(python3-ubus cannot call out from inside one of its own method handlers).
"""

from . import platform


def interface_dump():
    """The decoded dump, or None where netifd (or ubus) is not running."""
    if platform.which("ubus") is None:
        return None
    r = platform.run(["ubus", "-t", "5", "call", "network.interface", "dump"], timeout=10)
    if not r.ok():
        return None
    import json                 # only here and in status: keeps a bare apply lean
    try:
        data = json.loads(r.out)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("interface"), list):
        return None
    return data
