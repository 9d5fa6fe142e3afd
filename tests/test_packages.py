"""The packages, installed by the real package managers of each OpenWrt release.

ipk (OpenWrt 23.05, 24.10): the kit's opkg (openwrt/opkg-lede) installs them without
any --force option into roots seeded from ../shared/openwrt/feeds; apk (25.12): the
kit's apk-tools v3 builds them (`apk mkpkg`) and installs / removes them. The
dependencies are checked against each release's fixture: every command the service
starts and every Python module it loads (its whole import closure) comes from a
package the release has and the package depends on. The installed package runs from
the bytecode it carries: a CLI call compiles nothing and writes nothing.
"""

import ast
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

import kit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "package")
MKIPK = os.path.join(PACKAGE, "mkipk.py")
MKAPK = os.path.join(PACKAGE, "mkapk.py")
SPEC = os.path.join(PACKAGE, "vpn-passthrough", "ipk.json")
SRC = os.path.join(ROOT, "src", "vpn_passthrough")
STAGE = os.path.join(ROOT, "luci-app", "tools", "stage.py")
LUCI_JSON = os.path.join(ROOT, "luci-app", "ipk")
LUCI_MK = os.path.join(ROOT, "luci-app", "luci-app-vpn-passthrough", "Makefile")
INIT = os.path.join(ROOT, "files", "etc", "init.d", "vpn-passthrough")
EPOCH = "1700000000"
LIB = "/usr/lib/vpn-passthrough"
CONF = "/etc/config/vpn-passthrough"
LUCI = ("luci-app-vpn-passthrough", "luci-i18n-vpn-passthrough-ja")
OPKG_RELEASES = ("23.05", "24.10")

sys.path.insert(0, PACKAGE)
import mkipk  # noqa: E402


def upstream_version():
    return mkipk.read_version(os.path.join(SRC, "__init__.py"))


def luci_version():
    with open(LUCI_MK) as f:
        return re.search(r"^PKG_VERSION:=(\S+)$", f.read(), re.M).group(1)


def spec():
    with open(SPEC) as f:
        return json.load(f)


def depends_clauses(text):
    """opkg Depends -> [[alternative, ...], ...] (version constraints dropped)."""
    out = []
    for clause in text.split(","):
        alts = [a.split("(")[0].strip() for a in clause.split("|")]
        if any(alts):
            out.append(alts)
    return out


# --- building ------------------------------------------------------------------------

def run_builder(script, out, spec_path=SPEC, src=ROOT, extra=(), epoch=EPOCH):
    env = dict(os.environ, SOURCE_DATE_EPOCH=epoch)
    r = subprocess.run([sys.executable, script, spec_path, "--src", src, "--out", str(out)]
                       + list(extra), capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def luci_stage(tmp_path_factory):
    stage = tmp_path_factory.mktemp("luci-stage")
    subprocess.run([sys.executable, STAGE, str(stage), luci_version()], check=True,
                   capture_output=True)
    return stage


@pytest.fixture(scope="module")
def ipks(tmp_path_factory, luci_stage):
    """What `make ipk` builds: {package name: path}."""
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the ipk carries Python 3.11 bytecode: build it with Python 3.11")
    out = tmp_path_factory.mktemp("ipk")
    paths = {"vpn-passthrough": run_builder(MKIPK, out, extra=["--version",
                                                               upstream_version()])}
    for name in LUCI:
        paths[name] = run_builder(MKIPK, out, os.path.join(LUCI_JSON, name + ".json"),
                                  str(luci_stage / name), ["--version", luci_version()])
    return paths


@pytest.fixture(scope="module")
def apks(tmp_path_factory, luci_stage):
    """What `make apk` builds, with the kit's apk mkpkg: {package name: path}."""
    apk = kit.tool("apk")
    out = tmp_path_factory.mktemp("apk")
    paths = {"vpn-passthrough": run_builder(MKAPK, out, extra=[
        "--version", upstream_version(), "--apk", apk])}
    for name in LUCI:
        paths[name] = run_builder(MKAPK, out, os.path.join(LUCI_JSON, name + ".json"),
                                  str(luci_stage / name),
                                  ["--version", luci_version(), "--apk", apk])
    return paths


def read_ipk(path):
    """The three members opkg reads, and the control fields."""
    with open(path, "rb") as f:
        outer = tarfile.open(fileobj=io.BytesIO(f.read()), mode="r:gz")
    blobs = dict((m.name, outer.extractfile(m).read()) for m in outer.getmembers())
    control_tar = tarfile.open(fileobj=io.BytesIO(blobs["./control.tar.gz"]), mode="r:gz")
    data_raw = gzip.decompress(blobs["./data.tar.gz"])
    control = control_tar.extractfile("./control").read().decode()
    fields, last = {}, None
    for line in control.split("\n"):
        if line.startswith(" "):
            fields[last] += "\n" + line[1:]
        elif line:
            last, _, value = line.partition(":")
            fields[last] = value.strip()
    return {"names": [m.name for m in outer.getmembers()], "outer": outer.getmembers(),
            "blobs": blobs, "control_tar": control_tar, "control": control,
            "fields": fields, "data_raw": data_raw,
            "data_tar": tarfile.open(fileobj=io.BytesIO(data_raw), mode="r:")}


# --- package content -----------------------------------------------------------------

def test_ipk_layers_and_control(ipks):
    path = ipks["vpn-passthrough"]
    pkg = read_ipk(path)
    assert os.path.basename(path) == "vpn-passthrough_%s-1_all.ipk" % upstream_version()
    assert pkg["names"] == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
    assert pkg["blobs"]["./debian-binary"] == b"2.0\n"
    for m in pkg["outer"]:
        assert (m.uid, m.gid, m.mtime) == (0, 0, int(EPOCH))
    f = pkg["fields"]
    assert f["Package"] == "vpn-passthrough" and f["Architecture"] == "all"
    assert f["Version"] == upstream_version() + "-1"
    assert re.match(r"^[^<>]+ <[^@<>\s]+@[^@<>\s]+\.[a-z]+>$", f["Maintainer"]), f["Maintainer"]
    assert f["License"] == "GPL-2.0-only"
    assert int(f["Installed-Size"]) == len(pkg["data_raw"])
    assert ["kmod-nf-nathelper-pptp", "kmod-nf-nathelper-extra"] in \
        depends_clauses(f["Depends"])
    assert not re.search(r"^[A-Za-z-]+:[ \t]*$", pkg["control"], re.M), "empty field line"
    ct = pkg["control_tar"]
    assert sorted(m.name for m in ct.getmembers()) == \
        [".", "./conffiles", "./control", "./postinst", "./prerm"]
    assert ct.extractfile("./conffiles").read() == (CONF + "\n").encode()
    for m in ct.getmembers():
        if m.name in ("./postinst", "./prerm"):
            assert m.mode == 0o755


def test_ipk_files_and_bytecode(ipks):
    pkg = read_ipk(ipks["vpn-passthrough"])
    files = dict((m.name[1:], m) for m in pkg["data_tar"].getmembers() if m.isfile())
    expected = {"/usr/sbin/vpn-passthrough": 0o755, "/etc/init.d/vpn-passthrough": 0o755,
                CONF: 0o600, "/usr/share/vpn-passthrough/bytecode.py": 0o644}
    for name in os.listdir(SRC):
        if name.endswith(".py"):
            expected[LIB + "/vpn_passthrough/" + name] = 0o644
            expected["%s/vpn_passthrough/__pycache__/%s.cpython-311.pyc" % (LIB, name[:-3])] \
                = 0o644
    assert dict((n, m.mode) for n, m in files.items()) == expected
    for m in pkg["data_tar"].getmembers():
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
    # checked-hash bytecode (PEP 552: flags 0b11) of exactly the shipped source
    import importlib.util
    for name in os.listdir(SRC):
        if not name.endswith(".py"):
            continue
        pyc = pkg["data_tar"].extractfile(
            ".%s/vpn_passthrough/__pycache__/%s.cpython-311.pyc" % (LIB, name[:-3])).read()
        with open(os.path.join(SRC, name), "rb") as f:
            source = f.read()
        assert pyc[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(pyc[4:8], "little") == 0b11
        assert pyc[8:16] == importlib.util.source_hash(source)


def test_ipk_reproducible(tmp_path):
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the ipk carries Python 3.11 bytecode: build it with Python 3.11")
    a = run_builder(MKIPK, tmp_path / "a")
    b = run_builder(MKIPK, tmp_path / "b")
    assert open(a, "rb").read() == open(b, "rb").read()
    copy = tmp_path / "tree"
    for sub in ("src", "files", "package"):
        shutil.copytree(os.path.join(ROOT, sub), copy / sub,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for dirpath, _, names in os.walk(copy):
        for n in names:
            os.utime(os.path.join(dirpath, n), (1234567890, 1234567890))
    c = run_builder(MKIPK, tmp_path / "c", spec_path=str(copy / "package" / "vpn-passthrough"
                                                         / "ipk.json"), src=str(copy))
    assert open(a, "rb").read() == open(c, "rb").read()
    d = run_builder(MKIPK, tmp_path / "d", epoch="1700000001")
    assert open(a, "rb").read() != open(d, "rb").read()


def test_mkipk_refuses_bytecode_for_another_python(tmp_path):
    s = spec()
    s["bytecode"] = dict(s["bytecode"], python="3.13")
    with pytest.raises(mkipk.SpecError, match="3.13"):
        mkipk.build(s, ROOT, str(tmp_path), mtime=0)
    bad = dict(spec(), conffiles=["/etc/config/other"])
    with pytest.raises(mkipk.SpecError, match="conffile"):
        mkipk.build(bad, ROOT, str(tmp_path), mtime=0)


def test_luci_packages_versions_and_licenses(ipks, apks):
    for name in LUCI:
        f = read_ipk(ipks[name])["fields"]
        assert f["Version"] == luci_version() + "-1", name
        assert f["License"] == "GPL-2.0-only" and "@" in f["Maintainer"], name
        assert os.path.basename(apks[name]) == "%s-%s-r1.apk" % (name, luci_version())
    with open(LUCI_MK) as f:
        mk = f.read()
    for var in ("PKG_VERSION", "PKG_RELEASE", "PKG_LICENSE", "PKG_MAINTAINER"):
        assert re.search(r"^%s:=\S" % var, mk, re.M), var


def adb(path):
    r = subprocess.run([kit.tool("apk"), "adbdump", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_apk_metadata_and_scripts(apks):
    dump = adb(apks["vpn-passthrough"])
    assert "name: vpn-passthrough\n" in dump and "version: %s-r1\n" % upstream_version() in dump
    assert "arch: noarch" in dump and "license: GPL-2.0-only" in dump
    assert re.search(r"maintainer: .+ <\S+@\S+>", dump)
    deps = re.search(r"depends: # \d+ items\n((?:\s+- .*\n)+)", dump).group(1).split()
    assert "kmod-nf-nathelper-pptp" in deps and "kmod-nf-nathelper-extra" not in deps
    for script in ("post-install", "post-upgrade", "pre-deinstall"):
        assert script + ": |" in dump, script
    assert "export PKG_UPGRADE=1" in dump.split("post-upgrade: |")[1]
    # no bytecode for the wrong Python in the apk: compiled on the router (3.13)
    assert ".pyc" not in dump
    for name in ("vpn-passthrough.list", "vpn-passthrough.conffiles",
                 "vpn-passthrough.conffiles_static"):
        assert "- name: " + name in dump, name


# --- dependencies against the release fixtures ---------------------------------------

def fixture_names(release):
    """{name or provided name} of every package the release fixture knows."""
    names = set()
    with open(kit.fixture(release, "packages.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.split("\t")
            names.add(cols[0])
            if cols[2] != "-":
                names.update(p.strip() for p in cols[2].split(","))
    return names


def release_depends(release):
    s = spec()
    if release in OPKG_RELEASES:
        return depends_clauses(s["control"]["Depends"])
    return [[d] for d in s["apk"]["depends"].split()]


# Commands the service and its init script start, and the OpenWrt package of each.
# modprobe is ubox's kmodloader, in every OpenWrt image (ubox is not in the fixtures and
# nothing depends on it); the kmod packages also load their modules at boot (AUTOLOAD).
COMMANDS = {"nft": "nftables-json", "conntrack": "conntrack", "ip": "ip", "ubus": "ubus",
            "modprobe": None}
# the init script's other commands: busybox (logger) and base-files shell libraries
SHELL_BUILTIN = {"logger", "procd_open_instance", "procd_set_param", "procd_close_instance",
                 "config_load", "config_get", "config_foreach", "uci_load_validate",
                 "procd_add_reload_trigger", "procd_add_reload_interface_trigger",
                 "procd_add_validation", "start", "echo"}


def commands_started():
    used = set()
    for name in os.listdir(SRC):
        if name.endswith(".py"):
            with open(os.path.join(SRC, name)) as f:
                used.update(re.findall(r'platform\.run\(\s*\[\s*"([a-z0-9_-]+)"', f.read()))
    with open(INIT) as f:
        init = f.read()
    # the first word of each simple command of the init script, less its own functions,
    # rc.common's / procd.sh's / functions.sh's, shell keywords and "$VAR" commands
    own = set(re.findall(r"^([a-z_]+)\(\)", init, re.M))
    keywords = {"if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while",
                "case", "esac", "return", "local", "exit", "}", "{"}
    for line in init.split("\n"):
        line = line.split("#", 1)[0] if not line.startswith("#!") else ""
        for part in re.split(r";|&&|\|\||\||\$\(|`", line):
            words = [w for w in part.split() if not re.match(r"^[A-Za-z_]+=", w)]
            if not words or re.match(r"^[a-z_]+\(\)", words[0]):
                continue
            cmd = words[0]
            if cmd in keywords or cmd in own or cmd in SHELL_BUILTIN or \
                    not re.match(r"^[a-z][a-z0-9_-]*$", cmd):
                continue
            used.add(cmd)
    return used


def test_every_started_command_is_a_dependency():
    used = commands_started()
    assert {"nft", "conntrack", "ip", "ubus"} <= used, used
    for release in OPKG_RELEASES + ("25.12",):
        deps = release_depends(release)
        known = fixture_names(release)
        for cmd in sorted(used):
            assert cmd in COMMANDS, "%s started: which OpenWrt package provides it?" % cmd
            pkg = COMMANDS[cmd]
            if pkg is None:
                continue
            assert [pkg] in deps or any(pkg in c for c in deps), (release, cmd, pkg)
            assert pkg in known, "%s: %s not in the %s fixture" % (cmd, pkg, release)


def test_every_dependency_exists_in_its_release():
    for release in OPKG_RELEASES + ("25.12",):
        known = fixture_names(release)
        for clause in release_depends(release):
            assert any(alt in known for alt in clause), (release, clause)


# Stdlib parts that OpenWrt splits out of python3-light (openwrt/packages
# lang/python/python3/files/python3-package-*.mk: each file's Py3BasePackage list moves
# those paths from python3-light into the named package), by top-level module name,
# extension modules (lib-dynload/*.so) included. Everything else in the standard library
# is python3-light's (its filespec: all of /usr/lib/python3.X minus these, the test
# suites, idlelib, tkinter, turtledemo, ensurepip), or python3-base's: the interpreter's
# built-in modules and the few files it needs to start (PYTHON3_BASE_LIB_FILES).
SPLIT = {
    "asyncio": "python3-asyncio", "_asyncio": "python3-asyncio",
    "cgi": "python3-cgi", "cgitb": "python3-cgitb",
    "_codecs_cn": "python3-codecs", "_codecs_hk": "python3-codecs",
    "_codecs_iso2022": "python3-codecs", "_codecs_jp": "python3-codecs",
    "_codecs_kr": "python3-codecs", "_codecs_tw": "python3-codecs",
    "unicodedata": "python3-codecs",
    "ctypes": "python3-ctypes", "_ctypes": "python3-ctypes",
    "dbm": "python3-dbm", "_dbm": "python3-dbm", "_gdbm": "python3-dbm",
    "decimal": "python3-decimal", "_decimal": "python3-decimal",
    "distutils": "python3-distutils", "email": "python3-email",
    "lib2to3": "python3-lib2to3", "logging": "python3-logging",
    "lzma": "python3-lzma", "_lzma": "python3-lzma",
    "multiprocessing": "python3-multiprocessing", "_multiprocessing":
    "python3-multiprocessing", "_posixshmem": "python3-multiprocessing",
    "curses": "python3-ncurses", "_curses": "python3-ncurses",
    "_curses_panel": "python3-ncurses",
    "ssl": "python3-openssl", "_ssl": "python3-openssl", "_hashlib": "python3-openssl",
    "pydoc": "python3-pydoc", "pydoc_data": "python3-pydoc",
    "readline": "python3-readline", "sqlite3": "python3-sqlite3",
    "_sqlite3": "python3-sqlite3", "unittest": "python3-unittest",
    "urllib": "python3-urllib", "uuid": "python3-uuid", "_uuid": "python3-uuid",
    "xml": "python3-xml", "pyexpat": "python3-xml", "_elementtree": "python3-xml",
    "xmlrpc": "python3-xml", "venv": "python3-venv", "webbrowser": "python3-webbrowser",
    "ensurepip": None, "idlelib": None, "tkinter": None, "turtledemo": None, "test": None,
}
BASE_FILES = {"encodings", "_collections_abc", "_sitebuiltins", "_sysconfigdata", "_weakrefset",
              "abc", "codecs", "genericpath", "io", "os", "posixpath", "site", "sysconfig",
              "stat"}
THIRD_PARTY = {"ubus": "python3-ubus"}
# python3-light's own DEPENDS (lang/python/python3/Makefile: +python3-base ...)
PULLED_BY_LIGHT = {"python3-base"}


def package_of(module):
    top = module.split(".")[0]
    if top in THIRD_PARTY:
        return THIRD_PARTY[top]
    if top in SPLIT:
        assert SPLIT[top], "%s is in no OpenWrt package" % module
        return SPLIT[top]
    if top in sys.builtin_module_names or top in BASE_FILES or top.startswith("_frozen") \
            or top == "__main__":
        return "python3-base"
    assert top in sys.stdlib_module_names, "%s: not the standard library: which package?" % top
    return "python3-light"


def imported_names():
    """Every module named in an import statement of the package (function-level and
    conditional ones too) and of the bytecode compiler the post-install runs."""
    names = set()
    paths = [os.path.join(SRC, n) for n in os.listdir(SRC) if n.endswith(".py")]
    paths.append(os.path.join(PACKAGE, "vpn-passthrough", "bytecode.py"))
    for path in paths:
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module)
    return sorted(n for n in names if n.split(".")[0] != "vpn_passthrough")


def import_closure():
    """The modules a fresh interpreter holds after importing every module of the
    package and every module they name: the whole closure, interpreter start included."""
    own = sorted("vpn_passthrough." + n[:-3] for n in os.listdir(SRC)
                 if n.endswith(".py") and n != "__main__.py")
    # -S, then site imported without running it: the router's interpreter imports site,
    # but this machine's site-packages (.pth hooks) are no part of the package's closure
    outside = ["site"] + [n for n in imported_names() if n.split(".")[0] not in THIRD_PARTY]
    code = ("import importlib, sys\n"
            "for name in %r:\n    importlib.import_module(name)\n"
            "sys.stdout.write('\\n'.join(sorted(sys.modules)))\n" % (own + outside))
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.path.dirname(SRC)))
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split()) | set(n for n in imported_names()
                                       if n.split(".")[0] in THIRD_PARTY)


def test_every_module_of_the_import_closure_is_a_dependency():
    closure = import_closure()
    assert {"vpn_passthrough.cli", "select", "py_compile", "ubus"} <= closure
    needed = {}
    for module in sorted(closure):
        if module.split(".")[0] == "vpn_passthrough":
            continue
        needed.setdefault(package_of(module), []).append(module)
    assert set(needed) <= {"python3-base", "python3-light", "python3-ubus"}, needed
    for release in OPKG_RELEASES + ("25.12",):
        deps = [alt for clause in release_depends(release) for alt in clause]
        known = fixture_names(release)
        for pkg, modules in sorted(needed.items()):
            assert pkg in deps or (pkg in PULLED_BY_LIGHT and "python3-light" in deps), \
                "%s: %s needs %s" % (release, modules[:5], pkg)
            assert pkg in known, "%s: %s not in the fixture" % (release, pkg)


def test_package_of_knows_the_split_modules():
    # controls: the table decides, so a module moving out of python3-light is caught
    assert package_of("logging.handlers") == "python3-logging"
    assert package_of("urllib.request") == "python3-urllib"
    assert package_of("_ssl") == "python3-openssl"
    assert package_of("select") == "python3-light"
    assert package_of("sys") == "python3-base"


# --- opkg: 23.05 and 24.10 -----------------------------------------------------------

def opkg_root(tmp_path, release, name="root"):
    return kit.seed_root(release, str(tmp_path / name))


def installed_opkg(root):
    with open(os.path.join(root, "usr/lib/opkg/status")) as f:
        return re.findall(r"^Package: (\S+)", f.read(), re.M)


def offline(root):
    """An install into an image root, as OpenWrt's image build runs the package manager."""
    return {"IPKG_INSTROOT": os.path.abspath(root)}


@pytest.mark.parametrize("release", OPKG_RELEASES)
def test_opkg_installs_all_three_without_force(ipks, tmp_path, release):
    root = opkg_root(tmp_path, release)
    r = kit.opkg(root, "--force-postinstall", "install", ipks["vpn-passthrough"],
                 ipks[LUCI[0]], ipks[LUCI[1]], env=offline(root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    for name in ("vpn-passthrough",) + LUCI:
        assert name in installed_opkg(root)
    for path in ("/usr/sbin/vpn-passthrough", LIB + "/vpn_passthrough/__main__.py",
                 LIB + "/vpn_passthrough/__pycache__/cli.cpython-311.pyc", CONF,
                 "/www/luci-static/resources/view/vpn-passthrough/overview.js",
                 "/usr/lib/lua/luci/i18n/vpn-passthrough.ja.lmo"):
        assert os.path.isfile(root + path), path
    # the offline postinst: enabled in the image, bytecode left to the first boot
    assert os.readlink(root + "/etc/rc.d/S21vpn-passthrough") == "../init.d/vpn-passthrough"
    assert os.path.isfile(root + "/etc/uci-defaults/90-vpn-passthrough-bytecode")


def test_opkg_pptp_only_root_accepts_the_alternative(ipks, tmp_path):
    root = opkg_root(tmp_path, "24.10")
    status = os.path.join(root, "usr/lib/opkg/status")
    with open(status) as f:
        text = f.read()
    assert "Package: kmod-nf-nathelper-extra\n" in text
    with open(status, "w") as f:
        f.write(text.replace("Package: kmod-nf-nathelper-extra\n",
                             "Package: kmod-nf-nathelper-pptp\n"))
    os.rename(os.path.join(root, "usr/lib/opkg/info/kmod-nf-nathelper-extra.list"),
              os.path.join(root, "usr/lib/opkg/info/kmod-nf-nathelper-pptp.list"))
    r = kit.opkg(root, "install", ipks["vpn-passthrough"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "vpn-passthrough" in installed_opkg(root)


def test_opkg_refuses_without_a_pptp_helper_package(ipks, tmp_path):
    """Control: the Depends are really resolved (a root with neither kmod refuses)."""
    root = opkg_root(tmp_path, "24.10")
    status = os.path.join(root, "usr/lib/opkg/status")
    with open(status) as f:
        blocks = f.read().split("\n\n")
    with open(status, "w") as f:
        f.write("\n\n".join(b for b in blocks if "Package: kmod-nf-nathelper-extra\n"
                            not in b + "\n"))
    os.unlink(os.path.join(root, "usr/lib/opkg/info/kmod-nf-nathelper-extra.list"))
    r = kit.opkg(root, "install", ipks["vpn-passthrough"])
    assert r.returncode != 0
    assert "kmod-nf-nathelper" in r.stdout + r.stderr
    assert "vpn-passthrough" not in installed_opkg(root)


def test_opkg_no_script_and_offline_remove(ipks, tmp_path):
    root = opkg_root(tmp_path, "24.10")
    r = kit.opkg(root, "--force-postinstall", "install", ipks["vpn-passthrough"],
                 env=dict(offline(root), IPKG_NO_SCRIPT="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.lexists(root + "/etc/rc.d/S21vpn-passthrough")
    assert not os.path.exists(root + "/etc/uci-defaults/90-vpn-passthrough-bytecode")
    # with scripts: enabled; then the user changes the config; remove keeps that change
    kit.opkg(root, "remove", "vpn-passthrough")
    r = kit.opkg(root, "--force-postinstall", "install", ipks["vpn-passthrough"],
                 env=offline(root))
    assert r.returncode == 0 and os.path.lexists(root + "/etc/rc.d/S21vpn-passthrough")
    with open(root + CONF, "a") as f:
        f.write("# changed by the user\n")
    # (opkg runs no prerm in an offline root; the live prerm is tested below)
    r = kit.opkg(root, "remove", "vpn-passthrough", env=offline(root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "vpn-passthrough" not in installed_opkg(root)
    leftover = [os.path.join(d, n) for d, _, ns in os.walk(root + "/usr") for n in ns
                if "vpn" in os.path.join(d, n) and "/opkg/" not in d]
    assert leftover == []
    with open(root + CONF) as f:
        assert "# changed by the user" in f.read()


def test_opkg_upgrade_keeps_a_changed_conffile(ipks, tmp_path):
    root = opkg_root(tmp_path, "24.10")
    assert kit.opkg(root, "install", ipks["vpn-passthrough"]).returncode == 0
    with open(root + CONF, "a") as f:
        f.write("# changed by the user\n")
    newer = run_builder(MKIPK, tmp_path / "newer", extra=["--version", "0.1.1"])
    r = kit.opkg(root, "install", newer)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(root, "usr/lib/opkg/status")) as f:
        assert "Version: 0.1.1-1" in f.read()
    with open(root + CONF) as f:
        assert "# changed by the user" in f.read()


# --- bytecode: the installed package runs compiled, writing nothing ------------------

def snapshot(root):
    out = {}
    for dirpath, dirnames, names in os.walk(root):
        for n in dirnames + names:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def test_installed_cli_runs_from_bytecode_writing_nothing(ipks, tmp_path):
    assert sys.version_info[:2] == (3, 11)      # the release's Python (23.05, 24.10)
    root = opkg_root(tmp_path, "24.10")
    r = kit.opkg(root, "install", ipks["vpn-passthrough"])
    assert r.returncode == 0, r.stdout + r.stderr
    conf = root + "/etc/config"
    with open(conf + "/firewall", "w") as f:
        f.write("config zone\n\toption name 'lan'\n\tlist network 'lan'\n\n"
                "config zone\n\toption name 'wan'\n\tlist network 'wan'\n")
    with open(conf + "/network", "w") as f:
        f.write("config interface 'lan'\n\toption device 'br-lan'\n\n"
                "config interface 'wan'\n\toption device 'eth1'\n")
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PYTHON"))
    env["PYTHONPATH"] = root + LIB
    before = snapshot(root)
    pkg_dir = root + LIB + "/vpn_passthrough"
    modules = sorted(n[:-3] for n in os.listdir(pkg_dir) if n.endswith(".py"))
    calls = [["-m", "vpn_passthrough", "--config", conf + "/vpn-passthrough", "render"],
             ["-c", "import " + ", ".join("vpn_passthrough." + m for m in modules
                                          if m != "__main__")]]
    for args in calls:
        r = subprocess.run([sys.executable, "-v"] + args, capture_output=True, text=True,
                           env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        if "render" in args:
            assert "table inet vpn_passthrough" in r.stdout
        loaded = re.findall(r"^# code object from '?(%s/[^' ]+)'?$" % re.escape(pkg_dir),
                            r.stderr, re.M)
        from_source = re.findall(r"^# .*%s/\S+\.py\b.*$" % re.escape(pkg_dir), r.stderr,
                                 re.M)
        assert loaded, r.stderr[-2000:]
        assert all(p.endswith(".cpython-311.pyc") for p in loaded), loaded
        assert not [line for line in from_source if "matches" not in line], from_source
        assert "# wrote " not in r.stderr and "could not" not in r.stderr
    # the second call loaded every module, each from its .pyc
    names = set(os.path.basename(p).split(".")[0] for p in loaded)
    assert names >= set(modules) - {"__main__"}, set(modules) - names
    assert snapshot(root) == before, "the CLI call wrote into the installed root"


def test_install_time_bytecode_compiler(tmp_path):
    """What the post-install runs where the package has no bytecode for the router's
    Python (the apk on 25.12): compiles what is missing or stale, then nothing."""
    pkg = tmp_path / "vpn_passthrough"
    shutil.copytree(SRC, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    tool = [sys.executable, os.path.join(PACKAGE, "vpn-passthrough", "bytecode.py"), str(pkg)]
    r = subprocess.run(tool, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    n = len([x for x in os.listdir(SRC) if x.endswith(".py")])
    assert len(r.stdout.splitlines()) == n
    r = subprocess.run(tool, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == ""              # all valid: nothing to do
    with open(pkg / "zones.py", "a") as f:
        f.write("\n# changed\n")
    r = subprocess.run(tool, capture_output=True, text=True)
    assert r.stdout.split() == ["compiled", str(pkg / "__pycache__" /
                                                "zones.cpython-311.pyc")]
    # what it writes is what the ipk carries: the same checked-hash header (the code
    # differs only in the file name it records, where the module lay when compiled)
    path = mkipk.build(spec(), ROOT, str(tmp_path / "ipk"), mtime=0)
    data = read_ipk(path)["data_tar"]
    shipped = data.extractfile(".%s/vpn_passthrough/__pycache__/cli.cpython-311.pyc" % LIB)
    assert shipped.read()[:16] == (pkg / "__pycache__" / "cli.cpython-311.pyc").read_bytes()[:16]


# --- apk: 25.12 ----------------------------------------------------------------------

def apk_root(tmp_path, name="root"):
    return kit.seed_root("25.12", str(tmp_path / name))


def installed_apk(root):
    with open(os.path.join(root, "lib/apk/db/installed")) as f:
        return re.findall(r"^P:(\S+)", f.read(), re.M)


def test_apk_installs_all_three_and_removes_cleanly(apks, tmp_path):
    root = apk_root(tmp_path)
    with open(os.path.join(root, "lib/apk/db/installed")) as f:
        before_pkgs = sorted(re.findall(r"^P:(\S+)", f.read(), re.M))
    r = kit.apk(root, "add", "--allow-untrusted", apks["vpn-passthrough"], apks[LUCI[0]],
                apks[LUCI[1]], env=offline(root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "post-install" in r.stdout
    for name in ("vpn-passthrough",) + LUCI:
        assert name in installed_apk(root)
    assert sorted(set(installed_apk(root)) - set(LUCI) - {"vpn-passthrough"}) == before_pkgs
    for path in ("/usr/sbin/vpn-passthrough", LIB + "/vpn_passthrough/__main__.py", CONF,
                 "/lib/apk/packages/vpn-passthrough.list",
                 "/www/luci-static/resources/view/vpn-passthrough/overview.js",
                 "/usr/lib/lua/luci/i18n/vpn-passthrough.ja.lmo"):
        assert os.path.isfile(root + path), path
    assert oct(os.stat(root + CONF).st_mode & 0o777) == oct(0o600)
    assert os.access(root + "/etc/init.d/vpn-passthrough", os.X_OK)
    with open(root + "/lib/apk/packages/vpn-passthrough.conffiles") as f:
        assert f.read() == CONF + "\n"
    with open(root + "/lib/apk/packages/vpn-passthrough.conffiles_static") as f, \
            open(root + CONF, "rb") as c:
        assert f.read() == "%s %s\n" % (CONF, hashlib.sha256(c.read()).hexdigest())
    assert os.readlink(root + "/etc/rc.d/S21vpn-passthrough") == "../init.d/vpn-passthrough"
    assert os.path.isfile(root + "/etc/uci-defaults/90-vpn-passthrough-bytecode")

    r = kit.apk(root, "del", "vpn-passthrough", *LUCI, env=offline(root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pre-deinstall" in r.stdout
    assert sorted(installed_apk(root)) == before_pkgs
    left = sorted(os.path.join(d, n)[len(root):] for d, ds, ns in os.walk(root)
                  for n in ds + ns if "vpn" in n or "luci" in os.path.join(d, n)[len(root):])
    assert left == [], left              # unchanged conffile, rc.d link, bytecode job: gone


def test_apk_upgrade_and_removal_keep_a_changed_conffile(apks, tmp_path):
    root = apk_root(tmp_path)
    assert kit.apk(root, "add", "--allow-untrusted", apks["vpn-passthrough"],
                   env=offline(root)).returncode == 0
    with open(root + CONF, "a") as f:
        f.write("# changed by the user\n")
    newer = run_builder(MKAPK, tmp_path / "newer", extra=["--version", "0.1.1",
                                                          "--apk", kit.tool("apk")])
    r = kit.apk(root, "add", "--allow-untrusted", newer, env=offline(root))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "post-upgrade" in r.stdout
    with open(os.path.join(root, "lib/apk/db/installed")) as f:
        assert "V:0.1.1-r1" in f.read()
    with open(root + CONF) as f:
        assert "# changed by the user" in f.read()
    assert os.path.isfile(root + CONF + ".apk-new")      # the package's, beside it
    r = kit.apk(root, "del", "vpn-passthrough", env=offline(root))
    assert r.returncode == 0, r.stdout + r.stderr
    with open(root + CONF) as f:
        assert "# changed by the user" in f.read()
    assert not os.path.exists(root + LIB)


def test_apk_no_script(apks, tmp_path):
    root = apk_root(tmp_path)
    r = kit.apk(root, "add", "--allow-untrusted", apks["vpn-passthrough"],
                env=dict(offline(root), IPKG_NO_SCRIPT="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.lexists(root + "/etc/rc.d/S21vpn-passthrough")


def test_apk_refuses_without_the_pptp_helper_package(apks, tmp_path):
    """Control: apk resolves the depends (25.12 without kmod-nf-nathelper-pptp refuses)."""
    root = apk_root(tmp_path)
    db = os.path.join(root, "lib/apk/db/installed")
    with open(db) as f:
        blocks = f.read().split("\n\n")
    with open(db, "w") as f:
        f.write("\n\n".join(b for b in blocks if "P:kmod-nf-nathelper-pptp\n" not in b + "\n"
                            and "P:kmod-nf-nathelper-extra\n" not in b + "\n"))
    world = os.path.join(root, "etc/apk/world")
    with open(world) as f:
        names = [n for n in f.read().split() if not n.startswith("kmod-nf-nathelper-")]
    with open(world, "w") as f:
        f.write("\n".join(names) + "\n")
    r = kit.apk(root, "add", "--allow-untrusted", apks["vpn-passthrough"], env=offline(root))
    assert r.returncode != 0
    assert "kmod-nf-nathelper-pptp" in r.stdout + r.stderr
    assert "vpn-passthrough" not in installed_apk(root)


# --- maintainer scripts on a live router ---------------------------------------------

def script_text(name):
    with open(os.path.join(PACKAGE, "vpn-passthrough", name)) as f:
        return f.read()


def test_live_postinst_and_prerm_call_the_init_script(tmp_path):
    """Without IPKG_INSTROOT, in a private mount namespace whose /etc/init.d is a temp dir
    holding a recording stand-in for the init script (the host's /etc is never touched)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or not os.path.isdir("/etc/init.d"):
        pytest.skip("needs root, unshare and /etc/init.d (private mount namespace)")
    initd = tmp_path / "initd"
    initd.mkdir()
    log = tmp_path / "calls"
    fake = initd / "vpn-passthrough"
    fake.write_text('#!/bin/sh\necho "$1" >>%s\n[ "$1" != enabled ] || [ -n "$ENABLED" ]\n'
                    % log)
    fake.chmod(0o755)
    for name in ("postinst", "prerm"):
        (tmp_path / name).write_text(script_text(name))
    sh = [shutil.which("busybox"), "sh"] if shutil.which("busybox") else ["/bin/sh"]

    def run(name, **env):
        e = {"PATH": os.environ["PATH"]}
        e.update(env)
        cmd = 'mount --bind "%s" /etc/init.d && exec %s "%s"' % (initd, " ".join(sh),
                                                               tmp_path / name)
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                           env=e, capture_output=True, text=True)
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
    assert run("prerm", IPKG_NO_SCRIPT="1") == []


def test_shipped_shell_is_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make deps installs it)")
    paths = [os.path.join(PACKAGE, "vpn-passthrough", n) for n in ("postinst", "prerm")]
    r = subprocess.run(["shellcheck", "-s", "sh"] + paths, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


# --- the install command named by check's fixes --------------------------------------

def test_fix_texts_name_the_release_install_command(tmp_path, monkeypatch):
    from vpn_passthrough import pkgmgr
    monkeypatch.setattr(pkgmgr, "APK", str(tmp_path / "apk"))
    assert pkgmgr.install("conntrack") == "opkg install conntrack"
    assert pkgmgr.pptp_kmod() == "kmod-nf-nathelper-extra"          # 23.05 / 24.10
    (tmp_path / "apk").write_text("")
    assert pkgmgr.install("conntrack", "nftables-json") == "apk add conntrack nftables-json"
    assert pkgmgr.pptp_kmod() == "kmod-nf-nathelper-pptp"           # 25.12
    # no other module spells an install command itself
    for name in os.listdir(SRC):
        if name.endswith(".py") and name != "pkgmgr.py":
            with open(os.path.join(SRC, name)) as f:
                text = f.read()
            assert "opkg install" not in text and "apk add" not in text, name


def test_check_fixes_follow_the_package_manager(tmp_path, monkeypatch):
    from vpn_passthrough import diagnose, pkgmgr, platform
    monkeypatch.setattr(platform, "which", lambda name: None)

    class NoSettings:
        def settings(self):
            from vpn_passthrough.settings import SettingsError
            raise SettingsError("vpn-passthrough.globals.enabled", "test")

    monkeypatch.setattr(pkgmgr, "APK", str(tmp_path / "apk"))
    fixes = dict((f["id"], f["fix"]) for f in diagnose.findings(NoSettings()))
    assert fixes["nft_missing"] == "opkg install nftables-json"
    assert fixes["conntrack_missing"] == "opkg install conntrack"
    (tmp_path / "apk").write_text("")
    fixes = dict((f["id"], f["fix"]) for f in diagnose.findings(NoSettings()))
    assert fixes["nft_missing"] == "apk add nftables-json"
    assert fixes["conntrack_missing"] == "apk add conntrack"


# --- the SDK feed Makefile builds the same package -----------------------------------

# STAND-INS for the buildroot's rules.mk and include/package.mk (test only): the install
# macros and a BuildPackage that runs Build/Prepare, Build/Compile and the install section.
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
$(info VERSION=$(PKG_VERSION)-$(PKG_RELEASE))
$(info DEPENDS=$(DEPENDS))
$(info PKGARCH=$(PKGARCH))
$(info MAINTAINER=$(PKG_MAINTAINER))
$(info BUILD_DEPENDS=$(PKG_BUILD_DEPENDS))
$(info CONFFILES=$(strip $(Package/$(1)/conffiles)))
all:
	$(Build/Prepare)
	$(Build/Compile)
	$(call Package/$(1)/install,$(DESTDIR))
endef
"""


def test_feed_makefile_installs_what_the_ipk_holds(ipks, tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    top = tmp_path / "top"
    (top / "include").mkdir(parents=True)
    (top / "rules.mk").write_text(FAKE_RULES_MK)
    (top / "include" / "package.mk").write_text(FAKE_PACKAGE_MK)
    hostpkg = tmp_path / "hostpkg"
    (hostpkg / "bin").mkdir(parents=True)
    (hostpkg / "bin" / "python3").symlink_to(sys.executable)   # python3/host: 3.11 here
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "-s", "-C", os.path.join(PACKAGE, "vpn-passthrough"),
                        "TOPDIR=%s" % top, "INCLUDE_DIR=%s" % (top / "include"),
                        "BUILD_DIR=%s" % (tmp_path / "build"), "DESTDIR=%s" % dest,
                        "STAGING_DIR_HOSTPKG=%s" % hostpkg],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    info = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    pkg = read_ipk(ipks["vpn-passthrough"])
    assert info["VERSION"] == pkg["fields"]["Version"]
    assert info["MAINTAINER"] == pkg["fields"]["Maintainer"]
    assert info["PKGARCH"] == "all" and info["BUILD_DEPENDS"] == "python3/host"
    assert info["CONFFILES"] == CONF
    # +USE_APK:a / +!USE_APK:b: b for opkg releases, a for apk ones
    opkg_deps, apk_deps = [], []
    for dep in info["DEPENDS"].split():
        dep = dep.lstrip("+")
        if dep.startswith("USE_APK:"):
            apk_deps.append(dep.split(":", 1)[1])
        elif dep.startswith("!USE_APK:"):
            opkg_deps.append(dep.split(":", 1)[1])
        else:
            opkg_deps.append(dep)
            apk_deps.append(dep)
    ipk_clauses = depends_clauses(pkg["fields"]["Depends"])
    assert len(opkg_deps) == len(ipk_clauses)
    assert all(d in c for d, c in zip(opkg_deps, ipk_clauses)), (opkg_deps, ipk_clauses)
    assert apk_deps == spec()["apk"]["depends"].split()
    installed = {}
    for dirpath, _, names in os.walk(dest):
        for n in names:
            path = os.path.join(dirpath, n)
            with open(path, "rb") as f:
                installed["./" + os.path.relpath(path, dest)] = \
                    (os.stat(path).st_mode & 0o7777, f.read())
    in_ipk = dict((m.name, (m.mode, pkg["data_tar"].extractfile(m).read()))
                  for m in pkg["data_tar"].getmembers() if m.isfile())
    assert sorted(installed) == sorted(in_ipk)
    assert installed == in_ipk            # same modes, same bytes (bytecode included)


# --- live: the real opkg / apk inside the kit's running OpenWrt userland --------------

def wait_for(check, timeout=20.0):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("fmt", ["ipk", "apk"])
def test_live_install_starts_and_removal_stops_the_service(request, tmp_path, fmt):
    """On a running userland (procd, ubusd; the service's nftables in a network namespace
    of this test's own): the package manager's scripts enable and start the service,
    which loads its table; removal stops it (table gone) and leaves no file behind.
    The userland's Python is this machine's 3.11: the apk's post-install compiles for it."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("needs root, ip and nft (network namespace)")
    import userland
    path = request.getfixturevalue(fmt + "s")["vpn-passthrough"]
    netns = "pkg-vpt-%d" % os.getpid()
    u = userland.Userland(netns, port=os.environ.get("VPT_OWRT_HTTP_PORT"))
    try:
        u.start()
        shutil.copy(path, os.path.join(u.run_dir, os.path.basename(path)))
        inside = "/run/" + os.path.basename(path)
        if fmt == "ipk":
            install, remove = ["opkg", "install", inside], ["opkg", "remove", "vpn-passthrough"]
        else:
            # the kit's root lives on tmpfs, which apk takes for a diskless system that
            # would lose the package at reboot; a router's overlay root is permanent
            install = ["apk", "add", "--allow-untrusted", "--no-network",
                       "--force-non-repository", inside]
            remove = ["apk", "del", "--no-network", "vpn-passthrough"]
        r = u.exec(install, check=False, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert u.exec(["test", "-L", "/etc/rc.d/S21vpn-passthrough"], check=False).returncode == 0

        def table():
            return subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "inet",
                                   "vpn_passthrough"], capture_output=True).returncode == 0
        assert wait_for(table), "no table inet vpn_passthrough after the install\n" + u.logs()
        listing = u.ubus(["call", "service", "list", '{"name":"vpn-passthrough"}']).stdout
        assert '"running": true' in listing
        pyc = u.exec(["ls", LIB + "/vpn_passthrough/__pycache__"]).stdout.split()
        modules = [n for n in os.listdir(SRC) if n.endswith(".py")]
        assert sorted(pyc) == sorted(n[:-3] + ".cpython-311.pyc" for n in modules)

        r = u.exec(remove, check=False, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert wait_for(lambda: not table(), 10), "table still loaded after removal"
        left = u.exec(["find", LIB, "/usr/share/vpn-passthrough", "/etc/rc.d", "-type", "f",
                       "-o", "-type", "l"], check=False).stdout.split()
        assert [p for p in left if "vpn" in p] == []
    finally:
        u.stop()
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
