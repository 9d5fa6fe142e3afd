"""The package spec both builders read (mkipk.py for opkg, mkapk.py for apk): the
spec's fields, the files it installs, its version and the shared command line.
The spec format is described in mkipk.py's docstring."""

import glob
import json
import os
import re
import sys

PACKAGE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")      # what ipkg-build and apk accept
DEFAULT_SPEC = os.path.join("package", "vpn-passthrough", "ipk.json")


class SpecError(Exception):
    pass


def epoch():
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SpecError("SOURCE_DATE_EPOCH must be an integer, not " + repr(value))


def read_version(path):
    with open(path) as f:
        m = re.search(r'^VERSION\s*=\s*["\']([^"\']+)["\']', f.read(), re.M)
    if not m:
        raise SpecError(path + ": no VERSION = \"...\" line")
    return m.group(1)


def collect(spec, src):
    """{install path: (source path, mode)} from the spec's "files" list."""
    out = {}
    for entry in spec.get("files", []):
        if len(entry) != 3:
            raise SpecError("files entry must be [source, install path, mode]: " + repr(entry))
        source, dest, mode = entry
        mode = int(mode, 8)
        if not dest.startswith("/"):
            raise SpecError("install path must be absolute: " + dest)
        full = os.path.join(src, source)
        if source.endswith("/"):
            if not os.path.isdir(full):
                raise SpecError("no directory " + full)
            for dirpath, dirnames, filenames in os.walk(full):
                dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
                for name in sorted(filenames):
                    if _ignored(name):
                        continue
                    path = os.path.join(dirpath, name)
                    rel = os.path.relpath(path, full).replace(os.sep, "/")
                    out[dest.rstrip("/") + "/" + rel] = (path, mode)
        elif any(c in source for c in "*?["):
            matches = sorted(p for p in glob.glob(full) if os.path.isfile(p))
            if not matches:
                raise SpecError("nothing matches " + full)
            if not dest.endswith("/"):
                raise SpecError("a glob installs into a directory (end it with /): " + dest)
            for path in matches:
                out[dest + os.path.basename(path)] = (path, mode)
        else:
            if not os.path.isfile(full):
                raise SpecError("no file " + full)
            out[dest + os.path.basename(full) if dest.endswith("/") else dest] = (full, mode)
    if not out:
        raise SpecError("the package installs no files")
    return out


def _ignored(name):
    return name in ("__pycache__", ".git") or name.endswith((".pyc", ".pyo", "~"))


def conffiles(spec, files):
    """The spec's conffiles, each of which the package must install."""
    paths = spec.get("conffiles", [])
    for path in paths:
        if path not in files:
            raise SpecError("conffile " + path + " is not installed by the package")
    return paths


def main(prog, usage, argv, options, build):
    """The builders' shared command line: [SPEC.json] --src DIR --out DIR --version V
    plus options ({"--name": handler(value, opts)}); build(spec, src, out, opts) makes
    the package and returns its path. opts starts as {"overrides": {}}."""
    argv = list(argv)
    src, out, spec_path = ".", ".", None
    opts = {"overrides": {}}
    while argv:
        arg = argv.pop(0)
        if (arg in ("--src", "--out", "--version") or arg in options) and argv:
            value = argv.pop(0)
            if arg == "--src":
                src = value
            elif arg == "--out":
                out = value
            elif arg == "--version":
                opts["overrides"]["Version"] = value
            elif options[arg](value, opts) is False:
                return 2
        elif spec_path is None and not arg.startswith("-"):
            spec_path = arg
        else:
            sys.stderr.write(usage + "\n")
            return 2
    if spec_path is None:
        spec_path = os.path.join(src, DEFAULT_SPEC)
    try:
        with open(spec_path) as f:
            spec = json.load(f)
        print(build(spec, src, out, opts))
    except (OSError, ValueError, SpecError) as e:
        sys.stderr.write(prog + ": " + str(e) + "\n")
        return 1
    return 0
