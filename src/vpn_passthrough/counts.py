"""The table's counters, read from `nft -j list table`, and carried into the next one.

An apply replaces the table; the counters it had are written into the new one
with their values, so a switch or a client edit never zeroes them. Only
reset_counters starts them again from zero.
"""

from . import netaddr


class Carried:
    """named: {counter name: (packets, bytes)}; elements: {set name: {element: (p, b)}},
    the element spelled as ruleset.py writes it; helpers: {helper name: True};
    clients: {label: {set name: (p, b)}}."""

    def __init__(self):
        self.named = {}
        self.elements = {}
        self.helpers = {}
        self.clients = {}


def _key(value):
    """An element as ruleset.py spells it: a MAC, an address, or address/length."""
    if isinstance(value, dict) and "prefix" in value:
        p = value["prefix"]
        value = str(p.get("addr")) + "/" + str(p.get("len"))
    if not isinstance(value, str):
        return None
    if value.count(":") == 5 and "." not in value and len(value) == 17:
        try:
            return netaddr.parse_mac(value)
        except ValueError:
            pass
    try:
        return str(netaddr.parse_prefix(value))
    except ValueError:
        return None


def read(items):
    """Carried from the decoded items of `nft -j list table` (None: no table)."""
    c = Carried()
    for item in items or []:
        if "counter" in item:
            x = item["counter"]
            c.named[x.get("name")] = (x.get("packets", 0), x.get("bytes", 0))
        elif "ct helper" in item:
            c.helpers[item["ct helper"].get("name")] = True
        elif "set" in item:
            name = item["set"].get("name")
            for e in item["set"].get("elem", []) or []:
                elem = e.get("elem") if isinstance(e, dict) else None
                if not isinstance(elem, dict):
                    continue
                counter = elem.get("counter") or {}
                value = (counter.get("packets", 0), counter.get("bytes", 0))
                key = _key(elem.get("val"))
                if key is not None and value != (0, 0):
                    c.elements.setdefault(name, {})[key] = value
                label = elem.get("comment")
                if label is not None:
                    per = c.clients.setdefault(label, {})
                    old = per.get(name, (0, 0))
                    per[name] = (old[0] + value[0], old[1] + value[1])
    return c
