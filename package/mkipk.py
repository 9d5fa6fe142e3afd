#!/usr/bin/env python3
"""Build an .ipk for opkg without the OpenWrt SDK (Python standard library only).

    python3 package/mkipk.py [SPEC.json] [--src DIR] [--out DIR] [--version V]
                             [--set Field=value ...]

SPEC defaults to package/vpn-passthrough/ipk.json; --version V is --set Version=V (the
upstream version: the spec's "release" is appended, giving V-release).

The layout is the one OpenWrt's scripts/ipkg-build writes and opkg reads: a gzip'd
tar holding ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz; GNU tar
members owned by 0:0 with numeric owners, names sorted, every mtime set to
SOURCE_DATE_EPOCH and gzip headers without name or time, so the same inputs and
the same SOURCE_DATE_EPOCH give the same bytes.

SPEC (JSON; paths relative to --src, default the current directory):

    {
      "control": {"Package": "...", "Version": "...", "Depends": "a, b", ...,
                  "Description": "first line\\nmore lines"},
      "version_from": "src/pkg/__init__.py",      (optional: VERSION = "x.y.z")
      "release": "1",                             (optional: Version becomes x.y.z-1)
      "files": [["src/pkg/*.py", "/usr/lib/app/pkg/", "0644"],   (glob -> directory)
                ["files/usr/sbin/app", "/usr/sbin/app", "0755"],  (one file)
                ["htdocs/", "/www/", "0644"]],                   (a tree, recursively)
      "conffiles": ["/etc/config/app"],
      "scripts": {"postinst": "package/app/postinst", "prerm": "package/app/prerm"},
      "bytecode": {"python": "3.11", "under": "/usr/lib/app/"}     (optional)
    }

"bytecode": every installed .py under "under" is compiled by this interpreter, which
must be that Python version (bytecode is version-specific), to
<dir>/__pycache__/<name>.cpython-311.pyc, as a checked-hash pyc (PEP 552): Python
checks it against the source's hash, not its mtime, so it stays valid whatever mtime
the package manager gives the .py, and a .py edited on the router is never run from
stale bytecode. The sources stay in the package beside it.

Later "files" entries win over earlier ones for the same installed path (so a tree
can be installed 0644 and one executable in it then 0755). Empty control fields are
left out: opkg crashes on an empty "Depends:" line. Installed-Size is the size of
the uncompressed data.tar, as ipkg-build computes it.
"""

import gzip
import importlib.util
import io
import os
import py_compile
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgspec import (PACKAGE_NAME, SpecError, collect,  # noqa: E402
                     conffiles as spec_conffiles, epoch, main as spec_main,
                     read_version)

FIELD_ORDER = ("Package", "Version", "Depends", "Provides", "Conflicts", "Source",
               "SourceName", "License", "LicenseFiles", "Section", "URL", "Maintainer",
               "Architecture", "Installed-Size", "Description")
SCRIPTS = ("preinst", "postinst", "prerm", "postrm")
def compile_bytecode(files, spec):
    """{install path: (source, mode)} plus one checked-hash .pyc per .py under
    spec["under"], compiled by this interpreter (which must be spec["python"])."""
    want = str(spec.get("python", ""))
    have = "%d.%d" % sys.version_info[:2]
    if want != have:
        raise SpecError("bytecode for Python %s needs that interpreter; this is %s (%s)"
                        % (want, have, sys.executable))
    under = spec.get("under", "/")
    tmp = tempfile.mkdtemp(prefix="mkipk-pyc-")
    out = dict(files)
    for dest in sorted(files):
        if not (dest.startswith(under) and dest.endswith(".py")):
            continue
        cache = importlib.util.cache_from_source(dest)    # <dir>/__pycache__/<n>.cpython-XY.pyc
        target = os.path.join(tmp, cache.lstrip("/"))
        # dfile: tracebacks name the file where it lies on the router
        py_compile.compile(files[dest][0], cfile=target, dfile=dest, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        with open(target, "rb") as f:
            out[cache] = (f.read(), 0o644)
        os.unlink(target)
    _rmtree_empty(tmp)
    if len(out) == len(files):
        raise SpecError("bytecode: no .py installed under " + under)
    return out


def _rmtree_empty(top):
    for dirpath, _, _ in sorted(os.walk(top), reverse=True):
        os.rmdir(dirpath)


def _info(name, mtime, mode, size=0, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""        # --numeric-owner, as ipkg-build
    return info


def make_tar(entries, mtime):
    """entries: {"./path": (bytes or None for a directory, mode)} -> uncompressed tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(entries):
            data, mode = entries[name]
            if data is None:
                tar.addfile(_info(name, mtime, mode, kind=tarfile.DIRTYPE))
            else:
                tar.addfile(_info(name, mtime, mode, len(data)), io.BytesIO(data))
    return buf.getvalue()


def gz(data):
    """gzip -n: no file name, no time stamp in the header."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    return buf.getvalue()


def data_entries(files):
    entries = {"./": (None, 0o755)}
    for dest in files:
        parts = dest.strip("/").split("/")
        for i in range(1, len(parts)):
            entries["./" + "/".join(parts[:i]) + "/"] = (None, 0o755)
        source, mode = files[dest]
        if isinstance(source, bytes):       # made here (bytecode), not read from the tree
            entries["./" + "/".join(parts)] = (source, mode)
            continue
        with open(source, "rb") as f:
            entries["./" + "/".join(parts)] = (f.read(), mode)
    return entries


def control_text(fields):
    lines = []
    names = [n for n in FIELD_ORDER if n in fields] + \
        [n for n in fields if n not in FIELD_ORDER]
    for name in names:
        value = str(fields[name]).strip()
        if not value:
            continue        # never an empty field line ("Depends:" crashes opkg)
        if name == "Description":
            first, _, rest = value.partition("\n")
            lines.append(name + ": " + first.strip())
            for line in rest.split("\n") if rest else []:
                lines.append(" " + (line.strip() or "."))
        else:
            if "\n" in value:
                raise SpecError("control field " + name + " must be one line")
            lines.append(name + ": " + value)
    return "\n".join(lines) + "\n"


def build(spec, src=".", out=".", overrides=None, mtime=None):
    """Write the .ipk; returns its path."""
    fields = dict(spec.get("control", {}))
    if spec.get("version_from") and not fields.get("Version"):
        fields["Version"] = read_version(os.path.join(src, spec["version_from"]))
    fields.update(overrides or {})
    if spec.get("release") and fields.get("Version"):
        # upstream version + package release, as the buildroot's PKG_VERSION-PKG_RELEASE
        fields["Version"] = "%s-%s" % (fields["Version"], spec["release"])
    for required in ("Package", "Version", "Architecture", "Description"):
        if not str(fields.get(required, "")).strip():
            raise SpecError("control field " + required + " is missing")
    if not PACKAGE_NAME.match(fields["Package"]):
        raise SpecError("package name " + repr(fields["Package"]) + " has characters opkg refuses")
    if mtime is None:
        mtime = epoch()
    files = collect(spec, src)
    if mtime is None:   # no SOURCE_DATE_EPOCH: the newest input, still the same for the same tree
        mtime = int(max(os.stat(p).st_mtime for p, _ in files.values()
                        if not isinstance(p, bytes)))
    if spec.get("bytecode"):
        files = compile_bytecode(files, spec["bytecode"])

    data_tar = make_tar(data_entries(files), mtime)
    fields["Installed-Size"] = str(len(data_tar))

    control = {"./": (None, 0o755), "./control": (control_text(fields).encode(), 0o644)}
    conffiles = spec_conffiles(spec, files)
    if conffiles:
        control["./conffiles"] = (("\n".join(sorted(conffiles)) + "\n").encode(), 0o644)
    for name, path in sorted(spec.get("scripts", {}).items()):
        if name not in SCRIPTS:
            raise SpecError("unknown maintainer script " + name + " (known: "
                            + ", ".join(SCRIPTS) + ")")
        with open(os.path.join(src, path), "rb") as f:
            control["./" + name] = (f.read(), 0o755)

    outer = {"./debian-binary": (b"2.0\n", 0o644),
             "./data.tar.gz": (gz(data_tar), 0o644),
             "./control.tar.gz": (gz(make_tar(control, mtime)), 0o644)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        # ipkg-build's order: debian-binary, data, control
        for name in ("./debian-binary", "./data.tar.gz", "./control.tar.gz"):
            data, mode = outer[name]
            tar.addfile(_info(name, mtime, mode, len(data)), io.BytesIO(data))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "%s_%s_%s.ipk" % (fields["Package"], fields["Version"],
                                               fields["Architecture"]))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gz(buf.getvalue()))
    os.rename(tmp, path)
    return path


def _set(value, opts):
    name, sep, v = value.partition("=")
    if not sep:
        sys.stderr.write("mkipk: --set expects Field=value\n")
        return False
    opts["overrides"][name] = v


def main(argv=None):
    return spec_main("mkipk", __doc__.split("\n\n")[1],
                     sys.argv[1:] if argv is None else argv, {"--set": _set},
                     lambda spec, src, out, opts: build(spec, src, out, opts["overrides"]))


if __name__ == "__main__":
    sys.exit(main())
