"""The .ipk read back the way opkg reads it, and installed into an offline image root.

opkg itself is not available here; the reader below does what opkg does with the
file: gunzip + untar the outer archive, take debian-binary, control.tar.gz (control,
conffiles, maintainer scripts) and data.tar.gz (the files, with their modes/owners).
"""

import ast
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MKIPK = os.path.join(ROOT, "package", "mkipk.py")
SPEC = os.path.join(ROOT, "package", "vpn-passthrough", "ipk.json")
SRC = os.path.join(ROOT, "src", "vpn_passthrough")
EPOCH = "1700000000"

sys.path.insert(0, os.path.join(ROOT, "package"))
import mkipk  # noqa: E402

# openwrt/packages lang/python/python3/files/python3-package-*.mk: stdlib modules that are
# NOT in python3-light, each with the package that ships it.
NOT_IN_LIGHT = {
    "asyncio": "python3-asyncio", "cgi": "python3-cgi", "cgitb": "python3-cgitb",
    "ctypes": "python3-ctypes", "dbm": "python3-dbm", "decimal": "python3-decimal",
    "distutils": "python3-distutils", "email": "python3-email", "lib2to3": "python3-lib2to3",
    "logging": "python3-logging", "lzma": "python3-lzma",
    "multiprocessing": "python3-multiprocessing", "curses": "python3-ncurses",
    "ssl": "python3-openssl", "hashlib": "python3-openssl", "pydoc": "python3-pydoc",
    "readline": "python3-readline", "sqlite3": "python3-sqlite3",
    "unittest": "python3-unittest", "urllib": "python3-urllib", "uuid": "python3-uuid",
    "xml": "python3-xml", "venv": "python3-venv", "webbrowser": "python3-webbrowser",
    "unicodedata": "python3-codecs", "ensurepip": None, "idlelib": None, "tkinter": None,
    "turtledemo": None,
}
# modules that are not the standard library: the package that provides each on OpenWrt
THIRD_PARTY = {"ubus": "python3-ubus"}


def build(out, epoch=EPOCH, spec=SPEC, src=ROOT, extra=()):
    env = dict(os.environ, SOURCE_DATE_EPOCH=epoch)
    r = subprocess.run([sys.executable, MKIPK, spec, "--src", src, "--out", str(out)]
                       + list(extra), capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def read_ipk(path):
    """What opkg sees: {member: bytes}, control fields, conffiles, tar members."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:2] == b"\x1f\x8b", "outer archive must be gzip'd tar"
    outer = tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz")
    members = outer.getmembers()
    names = [m.name for m in members]
    blobs = dict((m.name, outer.extractfile(m).read()) for m in members)
    control_tar = tarfile.open(fileobj=io.BytesIO(blobs["./control.tar.gz"]), mode="r:gz")
    data_raw = gzip.decompress(blobs["./data.tar.gz"])
    data_tar = tarfile.open(fileobj=io.BytesIO(data_raw), mode="r:")
    control = control_tar.extractfile("./control").read().decode()
    return {"names": names, "outer": members, "blobs": blobs, "control_tar": control_tar,
            "control": control, "fields": parse_control(control), "data_tar": data_tar,
            "data_raw": data_raw}


def parse_control(text):
    fields, last = {}, None
    for line in text.split("\n"):
        if not line:
            continue
        if line[0] == " ":
            fields[last] += "\n" + line[1:]
        else:
            name, _, value = line.partition(":")
            last = name
            fields[name] = value.strip()
    return fields


@pytest.fixture(scope="module")
def ipk(tmp_path_factory):
    path = build(tmp_path_factory.mktemp("dist"))
    return path, read_ipk(path)


def version():
    return mkipk.read_version(os.path.join(SRC, "__init__.py"))


def test_file_name_and_layers(ipk):
    path, pkg = ipk
    assert os.path.basename(path) == "vpn-passthrough_%s_all.ipk" % version()
    assert pkg["names"] == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
    assert pkg["blobs"]["./debian-binary"] == b"2.0\n"
    for m in pkg["outer"]:
        assert (m.uid, m.gid) == (0, 0) and m.isfile()
        assert m.mtime == int(EPOCH)


def test_control_fields(ipk):
    _, pkg = ipk
    f = pkg["fields"]
    for name in ("Package", "Version", "Depends", "Source", "SourceName", "License", "Section",
                 "Architecture", "Installed-Size", "Maintainer", "Description"):
        assert f.get(name), name + " missing or empty"
    assert f["Package"] == "vpn-passthrough"
    assert f["Version"] == version()
    assert f["Architecture"] == "all"
    assert int(f["Installed-Size"]) == len(pkg["data_raw"])
    depends = [d.strip() for d in f["Depends"].split(",")]
    for needed in ("python3-light", "python3-ubus", "nftables-json", "conntrack",
                   "kmod-nf-nathelper-pptp"):
        assert needed in depends
    assert not re.search(r"^[A-Za-z-]+:[ \t]*$", pkg["control"], re.M), "empty field line"


def test_depends_cover_every_import():
    """Each module src/ imports is in python3-light or has its package in Depends."""
    depends = [d.strip() for d in json.load(open(SPEC))["control"]["Depends"].split(",")]
    own = set(n[:-3] for n in os.listdir(SRC) if n.endswith(".py"))
    for name in sorted(os.listdir(SRC)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(SRC, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top in own:
                    continue
                if top in THIRD_PARTY:
                    assert THIRD_PARTY[top] in depends, (name, top)
                    continue
                assert top in sys.stdlib_module_names, (name, top, "unknown module")
                if top in NOT_IN_LIGHT:
                    assert NOT_IN_LIGHT[top] in depends, \
                        "%s imports %s, not in python3-light: add %s" % (name, top,
                                                                          NOT_IN_LIGHT[top])


def test_conffiles_and_scripts(ipk):
    _, pkg = ipk
    ct = pkg["control_tar"]
    names = sorted(m.name for m in ct.getmembers())
    # (tarfile drops the "/" that ends a directory's stored name: "./" reads as ".")
    assert names == [".", "./conffiles", "./control", "./postinst", "./prerm"]
    assert ct.extractfile("./conffiles").read() == b"/etc/config/vpn-passthrough\n"
    for m in ct.getmembers():
        assert (m.uid, m.gid) == (0, 0)
        if m.name in ("./postinst", "./prerm"):
            assert m.mode == 0o755
            assert ct.extractfile(m).read().startswith(b"#!/bin/sh\n")
        elif m.isfile():
            assert m.mode == 0o644


def test_data_files_modes_owners(ipk):
    _, pkg = ipk
    members = dict((m.name, m) for m in pkg["data_tar"].getmembers())
    expected = {"./usr/sbin/vpn-passthrough": 0o755, "./etc/init.d/vpn-passthrough": 0o755,
                "./etc/config/vpn-passthrough": 0o600}
    for name in os.listdir(SRC):
        if name.endswith(".py"):
            expected["./usr/lib/vpn-passthrough/vpn_passthrough/" + name] = 0o644
    files = dict((n, m) for n, m in members.items() if m.isfile())
    assert sorted(files) == sorted(expected)
    for name, mode in expected.items():
        assert files[name].mode == mode, name
    for m in members.values():
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
        if m.isdir():
            assert m.mode == 0o755
    # contents are the sources
    src = pkg["data_tar"].extractfile("./usr/lib/vpn-passthrough/vpn_passthrough/service.py")
    assert src.read() == open(os.path.join(SRC, "service.py"), "rb").read()
    assert "./etc/config/vpn-passthrough" in [
        "." + line for line in
        pkg["control_tar"].extractfile("./conffiles").read().decode().split()]


def test_reproducible(tmp_path):
    a = build(tmp_path / "a")
    b = build(tmp_path / "b")
    assert open(a, "rb").read() == open(b, "rb").read()
    # a copy of the tree with other mtimes gives the same bytes for the same epoch
    copy = tmp_path / "tree"
    for sub in ("src", "files", "package"):
        shutil.copytree(os.path.join(ROOT, sub), copy / sub,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for dirpath, _, names in os.walk(copy):
        for n in names:
            os.utime(os.path.join(dirpath, n), (1234567890, 1234567890))
    c = build(tmp_path / "c", src=str(copy))
    assert open(a, "rb").read() == open(c, "rb").read()
    d = build(tmp_path / "d", epoch="1700000001")
    assert open(a, "rb").read() != open(d, "rb").read()


def test_generic_spec_for_other_packages(tmp_path):
    """A LuCI-style package: a tree, one executable in it, no Depends, no scripts."""
    tree = tmp_path / "app" / "root"
    (tree / "usr" / "share" / "luci" / "menu.d").mkdir(parents=True)
    (tree / "usr" / "share" / "luci" / "menu.d" / "x.json").write_text("{}\n")
    (tree / "etc" / "uci-defaults").mkdir(parents=True)
    (tree / "etc" / "uci-defaults" / "40_x").write_text("#!/bin/sh\nexit 0\n")
    (tree / "usr" / "share" / "__pycache__").mkdir()
    (tree / "usr" / "share" / "__pycache__" / "junk.pyc").write_text("")
    spec = {"control": {"Package": "luci-app-x", "Version": "1.0-r1", "Depends": "",
                        "Architecture": "all", "Description": "x\n\nmore"},
            "files": [["app/root/", "/", "0644"],
                      ["app/root/etc/uci-defaults/40_x", "/etc/uci-defaults/40_x", "0755"]]}
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    pkg = read_ipk(build(tmp_path / "out", spec=str(spec_path), src=str(tmp_path)))
    assert "Depends" not in pkg["fields"]
    assert "Depends:" not in pkg["control"]
    assert pkg["fields"]["Description"] == "x\n.\nmore"
    files = dict((m.name, m.mode) for m in pkg["data_tar"].getmembers() if m.isfile())
    assert files == {"./usr/share/luci/menu.d/x.json": 0o644, "./etc/uci-defaults/40_x": 0o755}
    names = [m.name for m in pkg["control_tar"].getmembers()]
    assert "./conffiles" not in names and "./postinst" not in names


def test_spec_errors(tmp_path):
    base = json.load(open(SPEC))
    bad = dict(base, conffiles=["/etc/config/other"])
    with pytest.raises(mkipk.SpecError, match="conffile"):
        mkipk.build(bad, ROOT, str(tmp_path), mtime=0)
    bad = dict(base, control=dict(base["control"], Package="Bad Name"))
    with pytest.raises(mkipk.SpecError, match="package name"):
        mkipk.build(bad, ROOT, str(tmp_path), mtime=0)
    bad = dict(base, files=[["nothing/*.py", "/usr/lib/", "0644"]])
    with pytest.raises(mkipk.SpecError, match="nothing matches"):
        mkipk.build(bad, ROOT, str(tmp_path), mtime=0)


# --- installed into an offline image root -------------------------------------------

def install(pkg, root):
    """Unpack data.tar.gz into root as opkg does (modes kept)."""
    for m in pkg["data_tar"].getmembers():
        target = os.path.join(root, m.name)
        if m.isdir():
            os.makedirs(target, exist_ok=True)
            os.chmod(target, m.mode)
        else:
            with open(target, "wb") as f:
                f.write(pkg["data_tar"].extractfile(m).read())
            os.chmod(target, m.mode)


def script(pkg, name, tmp_path):
    path = tmp_path / name
    path.write_bytes(pkg["control_tar"].extractfile("./" + name).read())
    path.chmod(0o755)
    return str(path)


def shell():
    return shutil.which("busybox") and [shutil.which("busybox"), "sh"] or ["/bin/sh"]


def host_traces():
    found = []
    for d in ("/etc/rc.d", "/etc/init.d"):
        if os.path.isdir(d):
            found += [os.path.join(d, n) for n in os.listdir(d) if "vpn-passthrough" in n]
    return found


def test_offline_install_postinst_and_prerm(ipk, tmp_path):
    _, pkg = ipk
    root = tmp_path / "rootfs"
    root.mkdir()
    install(pkg, str(root))
    before = host_traces()
    env = {"PATH": os.environ["PATH"], "IPKG_INSTROOT": str(root)}
    r = subprocess.run(shell() + [script(pkg, "postinst", tmp_path)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    link = root / "etc" / "rc.d" / "S21vpn-passthrough"
    assert os.readlink(link) == "../init.d/vpn-passthrough"
    assert os.path.isfile(root / "etc" / "rc.d" / os.readlink(link))
    assert host_traces() == before, "postinst touched the build machine"
    # the installed layout runs: the wrapper's PYTHONPATH and python3 -m vpn_passthrough
    lib = str(root / "usr" / "lib" / "vpn-passthrough")
    r = subprocess.run([sys.executable, "-c", "import vpn_passthrough.cli, "
                        "vpn_passthrough.ubus_api, vpn_passthrough.diagnose"],
                       env={"PYTHONPATH": lib, "PATH": os.environ["PATH"]},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(shell() + [script(pkg, "prerm", tmp_path)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not os.path.lexists(link)
    assert host_traces() == before


def test_live_postinst_and_prerm_call_the_init_script(ipk, tmp_path):
    """Without IPKG_INSTROOT, in a private mount namespace whose /etc/init.d is a temp dir
    holding a recording stand-in for the init script (the host's /etc is never touched)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (private mount namespace)")
    _, pkg = ipk
    initd = tmp_path / "initd"
    initd.mkdir()
    log = tmp_path / "calls"
    fake = initd / "vpn-passthrough"
    fake.write_text('#!/bin/sh\necho "$1" >>%s\n[ "$1" != enabled ] || [ -n "$ENABLED" ]\n'
                    % log)
    fake.chmod(0o755)
    target = "/etc/init.d"
    if not os.path.isdir(target):
        pytest.skip("no /etc/init.d to mount over")

    def run(name, **env):
        e = {"PATH": os.environ["PATH"]}
        e.update(env)
        cmd = 'mount --bind "%s" %s && exec %s "%s"' % (initd, target, " ".join(shell()),
                                                      script(pkg, name, tmp_path))
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                           env=e, capture_output=True, text=True)
        if r.returncode != 0 and "mount" in r.stderr:
            pytest.skip("cannot bind-mount in a private mount namespace: " + r.stderr)
        assert r.returncode == 0, r.stderr
        calls = log.read_text().split() if log.exists() else []
        if log.exists():
            log.unlink()
        return calls

    assert run("postinst", ENABLED="1") == ["enable", "enabled", "restart"]
    assert run("postinst") == ["enable", "enabled"]              # user disabled it: no start
    assert run("postinst", PKG_UPGRADE="1", ENABLED="1") == ["enabled", "restart"]
    assert run("prerm") == ["stop", "disable"]
    assert run("prerm", PKG_UPGRADE="1") == ["stop"]
    assert run("postinst", IPKG_NO_SCRIPT="1") == []


# --- the feed Makefile installs the same files ---------------------------------------

# STAND-INS for the buildroot's rules.mk and include/package.mk (test only): just the
# install macros and a BuildPackage that runs Build/Prepare and the install section.
FAKE_RULES_MK = """\
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
"""
FAKE_PACKAGE_MK = """\
PKG_BUILD_DIR:=$(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
define BuildPackage
$(eval $(Package/$(1)))
$(info VERSION=$(PKG_VERSION))
$(info DEPENDS=$(DEPENDS))
$(info PKGARCH=$(PKGARCH))
$(info CONFFILES=$(strip $(Package/$(1)/conffiles)))
all:
	$(Build/Prepare)
	$(Build/Compile)
	$(call Package/$(1)/install,$(DESTDIR))
endef
"""


def test_feed_makefile_installs_what_the_ipk_holds(ipk, tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    _, pkg = ipk
    top = tmp_path / "top"
    (top / "include").mkdir(parents=True)
    (top / "rules.mk").write_text(FAKE_RULES_MK)
    (top / "include" / "package.mk").write_text(FAKE_PACKAGE_MK)
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "package", "vpn-passthrough"),
                        "TOPDIR=%s" % top, "INCLUDE_DIR=%s" % (top / "include"),
                        "BUILD_DIR=%s" % (tmp_path / "build"), "DESTDIR=%s" % dest],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    info = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert info["VERSION"] == version()
    assert info["PKGARCH"] == "all"
    assert info["CONFFILES"] == "/etc/config/vpn-passthrough"
    feed_deps = [d.lstrip("+") for d in info["DEPENDS"].split()]
    assert feed_deps == [d.strip() for d in pkg["fields"]["Depends"].split(",")]
    installed = {}
    for dirpath, _, names in os.walk(dest):
        for n in names:
            path = os.path.join(dirpath, n)
            installed["./" + os.path.relpath(path, dest)] = os.stat(path).st_mode & 0o7777
    in_ipk = dict((m.name, m.mode) for m in pkg["data_tar"].getmembers() if m.isfile())
    assert installed == in_ipk


def test_make_ipk_invocation(tmp_path):
    """The top-level Makefile's `make ipk`: default spec, --version from __init__.py."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    r = subprocess.run([sys.executable, MKIPK, "--version", version(), "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert os.path.basename(r.stdout.strip()) == "vpn-passthrough_%s_all.ipk" % version()
    assert read_ipk(r.stdout.strip())["fields"]["Version"] == version()
    r = subprocess.run([sys.executable, MKIPK, "--bogus"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 2 and "usage" not in r.stdout


@pytest.mark.parametrize("name, must_have", [
    ("luci-app-vpn-passthrough",
     ["./www/luci-static/resources/view/vpn-passthrough/overview.js",
      "./usr/share/luci/menu.d/luci-app-vpn-passthrough.json",
      "./usr/share/rpcd/acl.d/luci-app-vpn-passthrough.json"]),
    ("luci-i18n-vpn-passthrough-ja",
     ["./usr/lib/lua/luci/i18n/vpn-passthrough.ja.lmo",
      "./etc/uci-defaults/luci-i18n-vpn-passthrough-ja"]),
])
def test_luci_packages_as_make_ipk_builds_them(tmp_path, name, must_have):
    """The same recipe as the Makefile: stage with luci-app/tools/stage.py, then mkipk."""
    stage = tmp_path / "stage"
    subprocess.run([sys.executable, os.path.join(ROOT, "luci-app", "tools", "stage.py"),
                    str(stage), version()], check=True, cwd=ROOT)
    path = build(tmp_path / "dist", spec=os.path.join(ROOT, "luci-app", "ipk", name + ".json"),
                 src=str(stage / name), extra=["--version", version()])
    assert os.path.basename(path) == "%s_%s_all.ipk" % (name, version())
    pkg = read_ipk(path)
    assert pkg["names"] == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
    assert pkg["fields"]["Package"] == name and pkg["fields"]["Architecture"] == "all"
    members = dict((m.name, m) for m in pkg["data_tar"].getmembers())
    for f in must_have:
        assert f in members and members[f].uid == 0 and members[f].gid == 0
    scripts = dict((m.name, m.mode) for m in pkg["control_tar"].getmembers())
    assert scripts["./postinst"] & 0o111 and scripts["./postrm"] & 0o111


# Commands the service starts, and the OpenWrt package that provides each. `ip` is the
# virtual package that ip-tiny and ip-full provide; modprobe is ubox's kmodloader, in
# every image (base), so it needs no Depends entry; so is the ubus CLI (package ubus, which
# procd and netifd need).
COMMANDS = {"nft": "nftables-json", "conntrack": "conntrack", "ip": "ip", "modprobe": None,
            "ubus": None}


def test_depends_cover_every_command_the_service_runs():
    depends = [d.strip() for d in json.load(open(SPEC))["control"]["Depends"].split(",")]
    used = set()
    for name in os.listdir(SRC):
        if name.endswith(".py"):
            with open(os.path.join(SRC, name)) as f:
                used.update(re.findall(r'platform\.run\(\["([a-z0-9-]+)"', f.read()))
    assert used, "found no platform.run calls: the scan is broken"
    for cmd in sorted(used):
        assert cmd in COMMANDS, "unknown command %s: which OpenWrt package provides it?" % cmd
        if COMMANDS[cmd]:
            assert COMMANDS[cmd] in depends, (cmd, depends)
