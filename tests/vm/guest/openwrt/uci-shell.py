"""Print shell assignments for one /etc/config file, like OpenWrt's config_load fills
CONFIG_* variables (VM stand-in for rc.common; not the product's parser)."""
import shlex
import sys

sections = []
cur = None
n = 0
out = []
with open((sys.argv[1] if "/" in sys.argv[1] else "/etc/config/" + sys.argv[1])) as f:
    for raw in f:
        words = shlex.split(raw, comments=True)
        if not words:
            continue
        if words[0] == "config":
            name = words[2] if len(words) > 2 else "cfg%02d" % n
            n += 1
            cur = name.replace("-", "_")
            sections.append(cur)
            out.append("CONFIG_%s_TYPE=%s" % (cur, shlex.quote(words[1])))
        elif words[0] == "option" and cur and len(words) > 2:
            out.append("CONFIG_%s_%s=%s" % (cur, words[1], shlex.quote(words[2])))
        elif words[0] == "list" and cur and len(words) > 2:
            out.append('CONFIG_%s_%s="${CONFIG_%s_%s:+$CONFIG_%s_%s }"%s'
                       % (cur, words[1], cur, words[1], cur, words[1], shlex.quote(words[2])))
print("\n".join(["CONFIG_SECTIONS=" + shlex.quote(" ".join(sections))] + out))
