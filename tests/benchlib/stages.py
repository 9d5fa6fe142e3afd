"""Where the Python time of one apply goes, stage by stage, in-process (no kernel):
uci parse, settings validation, plan, ruleset body, digest. Run by tests/bench.py.

    python3 stages.py SRC CONFIG [REPEATS]   ->  JSON {stage: median seconds}
"""

import gc
import json
import sys
import time


def main(argv):
    src, config = argv[0], argv[1]
    repeats = int(argv[2]) if len(argv) > 2 else 3
    gc.disable()        # as Service.apply does for the length of an apply
    sys.path.insert(0, src)
    from vpn_passthrough import plan, ruleset, settings, uci
    with open(config) as f:
        text = f.read()
    runs = {"uci parse": [], "settings": [], "plan": [], "ruleset body": [], "digest": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        sections = uci.parse(text, config)
        t1 = time.perf_counter()
        s = settings.from_sections(sections)
        t2 = time.perf_counter()
        p = plan.build(s, s.lan_devices, s.wan_devices, {"pptp": True})
        t3 = time.perf_counter()
        lines = ruleset._body(p)
        "\n".join(lines)
        t4 = time.perf_counter()
        ruleset.digests(p, lines)
        t5 = time.perf_counter()
        for key, dt in zip(runs, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            runs[key].append(dt)
    out = {}
    for key, values in runs.items():
        values.sort()
        out[key] = values[len(values) // 2]
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
