"""The resident service as it idles after serving ubus calls, for the memory benchmark.

    PYTHONPATH=<tests/standins>:<src> python3 serve_idle.py CONFIG CALLS

Runs the real `vpn-passthrough serve` code path (cli.main -> ubus_api.serve) with the
python3-ubus STAND-IN from tests/standins (no ubusd here). Its loop() is wrapped: the
first time the service enters it, CALLS rounds of calls are delivered through the
stand-in (status, sessions, check, reload, set on `vpn-passthrough`; status on
`luci.vpn-passthrough`), every reply is checked, then "idle <pid>" is printed and the
process sleeps (as ubus.loop() would) until SIGTERM, while the benchmark reads VmRSS.
"""

import signal
import sys
import time

import ubus

from vpn_passthrough import cli

_real_loop = ubus.loop


def loop(timeout=-1):
    rounds = int(sys.argv[2])
    for i in range(rounds):
        ubus.standin_queue("vpn-passthrough", "status", {})
        ubus.standin_queue("vpn-passthrough", "sessions", {})
        ubus.standin_queue("vpn-passthrough", "check", {})
        ubus.standin_queue("vpn-passthrough", "set", {"values": {"log": i % 2 == 0}})
        ubus.standin_queue("vpn-passthrough", "reload", {})
        ubus.standin_queue("luci.vpn-passthrough", "status", {"ubus_rpc_session": "x" * 32})
    _real_loop(timeout)
    replies = ubus.standin_loop_replies()
    bad = [(o, m, s) for o, m, s, r in replies if s != 0 or not r]
    if bad or len(replies) != 6 * rounds:
        sys.stderr.write("serve_idle: calls failed: %r\n" % (bad,))
        sys.exit(1)
    sys.stdout.write("idle %d %d\n" % (len(replies), len(ubus.standin_events())))
    sys.stdout.flush()
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    while not stop:
        time.sleep(3600)


ubus.loop = loop
sys.exit(cli.main(["--config", sys.argv[1], "serve"]))
