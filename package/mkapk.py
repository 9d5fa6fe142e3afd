#!/usr/bin/env python3
"""Build an apk v3 package (OpenWrt 25.12 and later) from the same spec as mkipk.py,
with apk-tools' own `apk mkpkg`.

    python3 package/mkapk.py [SPEC.json] [--src DIR] [--out DIR] [--version V]
                             [--apk PATH]

SPEC defaults to package/vpn-passthrough/ipk.json; --version V is the upstream version
(the spec's apk release is appended: V-r1). The apk program is --apk, else $APK, else
`apk` on PATH (the OpenWrt kit's build: ../shared/openwrt, bin/apk).

What OpenWrt's include/package-pack.mk does for apk, done here for one package:
  * files at their installed paths, plus lib/apk/packages/<name>.list (every file),
    <name>.conffiles and <name>.conffiles_static ("path sha256" of each conffile as
    packaged; sysupgrade and OpenWrt's tools read these to find changed conffiles).
    apk itself keeps conffiles by its protected paths (/etc by default): a changed
    /etc file survives `apk del`, and an upgrade installs the new one as .apk-new;
  * the spec's opkg scripts as apk scripts: postinst -> post-install, and post-upgrade
    (PKG_UPGRADE=1 exported first, as opkg does); prerm -> pre-deinstall; postrm ->
    post-deinstall;
  * arch noarch for Architecture all; depends from the spec's "apk": {"depends"} (apk
    has no "a | b" alternatives), else the control Depends without version parts.
No bytecode: the release's Python (3.13 on 25.12) is not the one building here; the
post-install compiles it on the router (package/vpn-passthrough/bytecode.py).
Every file's mtime is SOURCE_DATE_EPOCH when set.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgspec import (PACKAGE_NAME, SpecError, collect, conffiles,  # noqa: E402
                     epoch, main as spec_main, read_version)

SCRIPT_MAP = (("postinst", "post-install"), ("prerm", "pre-deinstall"),
              ("postrm", "post-deinstall"))


def apk_depends(spec, fields):
    apk = spec.get("apk", {})
    if "depends" in apk:
        return " ".join(apk["depends"].split())
    deps = []
    for dep in fields.get("Depends", "").split(","):
        dep = dep.strip()
        if not dep:
            continue
        if "|" in dep:
            raise SpecError("apk has no alternatives (" + dep + "): give \"apk\": {\"depends\"}")
        deps.append(dep.split("(")[0].strip())
    return " ".join(deps)


def version(spec, fields, src):
    upstream = fields.get("Version") or (
        spec.get("version_from") and read_version(os.path.join(src, spec["version_from"])))
    if not upstream:
        raise SpecError("no version: give --version or version_from")
    release = spec.get("apk", {}).get("release") or (
        spec.get("release") and "r" + str(spec["release"]))
    return upstream + ("-" + release if release else "")


def _script(text, upgrade=False):
    body = text.split("\n", 1)[1] if text.startswith("#!") else text
    return "#!/bin/sh\n" + ("export PKG_UPGRADE=1\n" if upgrade else "") + body


def stage(spec, src, root, name, mtime):
    """Lay the files out under root, with OpenWrt's lib/apk/packages/<name>.* files."""
    files = collect(spec, src)
    for dest, (path, mode) in sorted(files.items()):
        target = os.path.join(root, dest.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        os.chmod(target, mode)
    meta = os.path.join(root, "lib", "apk", "packages")
    os.makedirs(meta, exist_ok=True)
    listing = sorted(files)
    with open(os.path.join(meta, name + ".list"), "w") as f:
        f.write("".join(p + "\n" for p in listing))
    confs = conffiles(spec, files)
    if confs:
        with open(os.path.join(meta, name + ".conffiles"), "w") as f:
            f.write("".join(p + "\n" for p in confs))
        with open(os.path.join(meta, name + ".conffiles_static"), "w") as f:
            for p in confs:
                with open(os.path.join(root, p.lstrip("/")), "rb") as c:
                    f.write("%s %s\n" % (p, hashlib.sha256(c.read()).hexdigest()))
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), (mtime, mtime), follow_symlinks=False)
    os.utime(root, (mtime, mtime))


def build(spec, src=".", out=".", overrides=None, apk=None, mtime=None):
    """Write the .apk with apk mkpkg; returns its path."""
    fields = dict(spec.get("control", {}))
    fields.update(overrides or {})
    name = fields.get("Package", "")
    if not PACKAGE_NAME.match(name):
        raise SpecError("package name " + repr(name) + " has characters apk refuses")
    ver = version(spec, fields, src)
    if mtime is None:
        mtime = epoch() or 0
    apk = apk or os.environ.get("APK") or shutil.which("apk")
    if not apk or not os.path.exists(apk):
        raise SpecError("apk-tools v3 not found: give --apk PATH or set APK "
                        "(the OpenWrt kit builds one: ../shared/openwrt/build.sh)")
    work = tempfile.mkdtemp(prefix="mkapk-")
    try:
        root = os.path.join(work, "root")
        os.makedirs(root)
        stage(spec, src, root, name, mtime)
        args = [apk, "mkpkg",
                "--info", "name:" + name,
                "--info", "version:" + ver,
                "--info", "description:" + " ".join(fields.get("Description", "").split()),
                "--info", "arch:" + ("noarch" if fields.get("Architecture") == "all"
                                     else fields.get("Architecture", "noarch")),
                "--info", "license:" + fields.get("License", ""),
                "--info", "origin:" + fields.get("Source", name),
                "--info", "maintainer:" + fields.get("Maintainer", ""),
                "--info", "depends:" + apk_depends(spec, fields)]
        if fields.get("URL"):
            args += ["--info", "url:" + fields["URL"]]
        scripts = spec.get("scripts", {})
        for opkg_name, apk_name in SCRIPT_MAP:
            if opkg_name not in scripts:
                continue
            with open(os.path.join(src, scripts[opkg_name])) as f:
                text = f.read()
            variants = [(apk_name, _script(text))]
            if opkg_name == "postinst":
                variants.append(("post-upgrade", _script(text, upgrade=True)))
            for kind, body in variants:
                path = os.path.join(work, kind)
                with open(path, "w") as f:
                    f.write(body)
                os.chmod(path, 0o755)
                args += ["--script", kind + ":" + path]
        for opkg_name in scripts:
            if opkg_name not in dict(SCRIPT_MAP):
                raise SpecError("no apk script for " + opkg_name)
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "%s-%s.apk" % (name, ver))
        args += ["--files", root, "--output", path]
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(mtime))
        r = subprocess.run(args, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise SpecError("apk mkpkg failed (%d): %s" % (r.returncode, r.stderr.strip()))
        return path
    finally:
        shutil.rmtree(work)


def _apk(value, opts):
    opts["apk"] = value


def main(argv=None):
    return spec_main("mkapk", __doc__.split("\n\n")[1],
                     sys.argv[1:] if argv is None else argv, {"--apk": _apk},
                     lambda spec, src, out, opts: build(spec, src, out, opts["overrides"],
                                                        opts.get("apk")))


if __name__ == "__main__":
    sys.exit(main())
