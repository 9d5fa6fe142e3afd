"""nfnetlink.table_comment against the real kernel, in a throwaway namespace, compared
with what nft itself lists; and apply's fallback to nft when netlink cannot be asked."""

import json
import os
import subprocess
import sys

from conftest import in_ns

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

ASK = """
import json, sys
sys.path.insert(0, %r)
from vpn_passthrough import nfnetlink
out = {}
for family, name in (("inet", "t1"), ("inet", "t2"), ("inet", "absent"), ("ip", "t1")):
    out[family + " " + name] = nfnetlink.table_comment(family, name)
print(json.dumps(out))
""" % SRC

COMMENT = 'vpn-passthrough 0123456789abcdef policy=fedcba9876543210 pptp=on l2tp=off ipsec=on'


def test_table_comment_matches_nft(netns):
    rules = ('table inet t1 {\n\tcomment "%s"\n}\ntable inet t2 {\n}\n'
             'table ip t1 {\n\tcomment "%s"\n}\n' % (COMMENT, "x" * 120))
    assert in_ns(netns, ["nft", "-f", "-"], rules).returncode == 0
    r = in_ns(netns, [sys.executable, "-c", ASK])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got == {"inet t1": COMMENT, "inet t2": "", "inet absent": None, "ip t1": "x" * 120}
    listed = in_ns(netns, ["nft", "list", "table", "inet", "t1"]).stdout
    assert 'comment "' + got["inet t1"] + '"' in listed


FALLBACK = """
import sys
sys.path.insert(0, %r)
from vpn_passthrough import kernel, nfnetlink, tablecomment
def refused(*a, **k):
    raise OSError(1, "netlink refused (test)")
nfnetlink.table_comment = refused
print(tablecomment.read_comment(kernel.applied_listing() or "")[0])
""" % SRC


def test_apply_reads_the_digest_from_nft_when_netlink_fails(netns, tmp_path):
    config = tmp_path / "vpn-passthrough"
    config.write_text("config globals 'globals'\n\tlist lan_device 'br-lan'\n"
                      "\tlist wan_device 'wan0'\n")
    env = dict(os.environ, PYTHONPATH=SRC)
    rendered = subprocess.run([sys.executable, "-m", "vpn_passthrough", "--config", str(config),
                               "render"], env=env, capture_output=True, text=True).stdout
    assert in_ns(netns, ["nft", "-f", "-"], rendered).returncode == 0
    r = in_ns(netns, [sys.executable, "-c", FALLBACK])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [rendered.split('comment "vpn-passthrough ')[1].split()[0]]
