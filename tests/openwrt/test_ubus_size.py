"""Every ubus reply and event stays small at 10,000 clients and thousands of flows, through the
kit's REAL ubusd and python3-ubus, and the service is still on the bus afterwards.

ubusd disconnects a client that sends a message over 1 MiB (UBUS_MAX_MSGLEN): a status that
listed every client made the call time out and the service vanish. The contract (api.md):
each reply and the event vpn-passthrough.changed <= 64 KiB, whatever the numbers.
"""

import json
import os
import subprocess
import time

import pytest

from openwrt.router import serving
from openwrt.uci_configs import ZONES_FIREWALL, ZONES_NETWORK

LIMIT = 64 * 1024
CLIENTS = 10000
FLOWS = 2000
SESSION = {"ubus_rpc_session": "0" * 32}


def settings(n):
    text = ["config globals 'globals'\n\tlist lan_zone 'lan'\n\tlist wan_zone 'wan'\n",
            "config protocol 'l2tp'\n\toption enabled '0'\n"]
    for i in range(n):
        # long names and several hosts each: the largest client a page may carry
        text.append("config client\n\toption name '%s'\n\toption action '%s'\n"
                    "\tlist ip '10.%d.%d.1'\n\tlist ip 'fd00:%x::1/128'\n"
                    "\tlist mac '02:00:00:%02x:%02x:01'\n"
                    % (("client %05d " % i).ljust(64, "x"), "block" if i % 2 else "allow",
                       i // 256, i % 256, i, i // 256, i % 256))
    return "".join(text)


@pytest.fixture(scope="module")
def router(ipks):
    with serving(ipks, settings(CLIENTS), ZONES_NETWORK, ZONES_FIREWALL.format(wan_extra=""),
                 before=lambda r: r.firewall_init(), timeout=120) as r:
        try:
            r.firewall("start")
            yield r
        finally:
            r.service("stop")


def ubus_call(router, obj, method, args=None):
    """(reply text, decoded) through the kit's ubus CLI: the real client and ubusd."""
    r = router.ubus(["-t", "60", "call", obj, method, json.dumps(args or {})], timeout=70)
    return r.stdout, json.loads(r.stdout)


def pid(router):
    listing = router.call("service", "list", {"name": "vpn-passthrough"})
    return listing["vpn-passthrough"]["instances"]["instance1"]["pid"]


def test_every_method_answers_under_the_limit(router):
    started = pid(router)
    # thousands of LAN flows in conntrack (UDP 1701, from LAN addresses to the server)
    inserted = 0
    for i in range(FLOWS):
        inserted += subprocess.run(
            ["ip", "netns", "exec", router.netns, "conntrack", "-I", "-p", "udp",
             "-s", "192.168.1.%d" % (2 + i % 250), "-d", "192.0.2.2", "--sport",
             str(10000 + i), "--dport", "1701", "-t", "600"],
            capture_output=True).returncode == 0
    assert inserted > FLOWS * 0.9, inserted
    for obj, extra in (("vpn-passthrough", {}), ("luci.vpn-passthrough", SESSION)):
        text, st = ubus_call(router, obj, "status", extra)
        assert len(text) <= LIMIT, len(text)
        assert st["clients"] == {"total": CLIENTS, "blocking": CLIENTS // 2,
                                 "allowing": CLIENTS // 2}
        assert st["applied"] is True and st["protocols"]["l2tp"]["effective"] == "off"

        text, page = ubus_call(router, obj, "clients", dict(extra, offset=0, limit=100))
        assert len(text) <= LIMIT, len(text)
        assert page["total"] == CLIENTS and 50 <= len(page["clients"]) <= 100
        assert page["clients"][0]["hosts"] == ["02:00:00:00:00:01", "10.0.0.1", "fd00::1"]
        text, page = ubus_call(router, obj, "clients", dict(extra, offset=CLIENTS - 10,
                                                            limit=100))
        assert [c["name"][:12] for c in page["clients"]][0] == "client %05d" % (CLIENTS - 10)
        assert len(page["clients"]) == 10

        listed = subprocess.run(["ip", "netns", "exec", router.netns, "conntrack", "-L", "-p",
                                 "udp", "--dport", "1701"], capture_output=True,
                                text=True).stdout.count("dport=1701 ")
        text, sessions = ubus_call(router, obj, "sessions", extra)
        assert len(text) <= LIMIT, len(text)
        assert listed > FLOWS * 0.9, listed
        assert abs(sessions["total"] - listed) <= 10, (sessions["total"], listed)
        assert sessions["counts"]["l2tp"] == sessions["total"]
        assert sessions["truncated"] is True and len(sessions["flows"]) <= 100

        text, _ = ubus_call(router, obj, "check", extra)
        assert len(text) <= LIMIT
    # an apply and its event: `ubus listen` is the real subscriber
    listen = subprocess.Popen(
        [os.path.join(router.prefix, "bin", "ubus"), "-s",
         os.path.join(router.run_dir, "ubus", "ubus.sock"), "listen", "vpn-passthrough.changed"],
        stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    text, reply = ubus_call(router, "vpn-passthrough", "set", {"values": {"l2tp": True}})
    assert reply["ok"] is True and len(text) <= LIMIT
    text, reply = ubus_call(router, "vpn-passthrough", "reset_counters")
    assert reply["ok"] is True and len(text) <= LIMIT
    time.sleep(1.0)
    listen.terminate()
    events = [line for line in listen.communicate(timeout=10)[0].split("\n") if line.strip()]
    assert len(events) == 2, events
    for line in events:
        assert len(line) <= LIMIT
        assert json.loads(line)["vpn-passthrough.changed"]["clients"]["total"] == CLIENTS
    # still registered, still the same process
    assert router.ubus(["list", "vpn-passthrough"]).returncode == 0
    assert pid(router) == started
