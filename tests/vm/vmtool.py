#!/usr/bin/env python3
"""Build and boot the QEMU test VM (issue 5).

    python3 tests/vm/vmtool.py build            build (or reuse) the cached image
    python3 tests/vm/vmtool.py probe            does KVM really run a guest here?
    python3 tests/vm/vmtool.py run [--ipk F] [--scenarios a,b] [--kit PREFIX]   boot, run

Everything lands under build/vm/ (gitignored):
    build/vm/image-<key>/   vmlinuz, initrd.img, rootfs.img, packages.txt   (cached image)
    build/vm/run/           the 9p share of the last run: ipk, guest scripts, results/, logs
    build/vm/console.log    the guest's serial console of the last run

The image is built from Debian packages only: mmdebstrap, fed with the host's own
apt sources (read from /etc/apt at run time, never written into the repository),
installs Debian's kernel and the tunnel software into a directory; the kernel and
a tiny busybox initramfs (virtio, ext4, 9p modules) are copied out, and the
directory becomes an ext4 image with `mke2fs -d` (no loop mount). The cache key is
a hash of the package list, this file and the apt sources; any change rebuilds.
"""

import argparse
import fcntl
import gzip
import hashlib
import inspect
import io
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("VPN_VM_BUILD") or os.path.join(REPO, "build", "vm")

PACKAGES = [
    "linux-image-amd64", "kmod", "busybox", "mount", "iproute2", "iputils-ping", "procps",
    "nftables", "conntrack", "python3",
    # the only library the OpenWrt kit's programs (ubusd, procd, ubus, uci, jshn, opkg,
    # python3-ubus) need beyond libc: the kit itself comes over a second 9p share
    "libjson-c5",
    "ppp", "pptpd", "pptp-linux", "xl2tpd",
    "strongswan-charon", "strongswan-swanctl", "libstrongswan-standard-plugins",
]

# Kernel module trees nobody here needs: dropping them keeps the image small and
# mke2fs fast. Netfilter, ppp, l2tp, xfrm/esp, crypto, virtio, 9p, veth all stay.
MODULE_EXCLUDES = [
    "drivers/gpu", "drivers/media", "drivers/net/wireless", "drivers/net/ethernet",
    "drivers/infiniband", "drivers/staging", "drivers/scsi", "drivers/usb", "drivers/hid",
    "drivers/input", "drivers/iio", "drivers/bluetooth", "drivers/mtd", "drivers/hwmon",
    "drivers/platform", "drivers/thunderbolt", "drivers/isdn", "drivers/net/can",
    "drivers/net/usb", "drivers/net/dsa", "drivers/ata", "drivers/md", "drivers/nvme",
    "drivers/target", "drivers/mmc", "drivers/spi", "drivers/i2c", "drivers/leds",
    "drivers/watchdog", "drivers/edac", "drivers/pinctrl", "drivers/gpio", "drivers/video",
    "drivers/firewire", "drivers/misc", "drivers/mfd", "drivers/power", "drivers/regulator",
    "drivers/acpi", "sound", "net/wireless", "net/mac80211", "net/bluetooth", "fs/ocfs2",
    "fs/gfs2", "fs/xfs", "fs/btrfs", "fs/nfs", "fs/nfsd", "fs/cifs", "fs/smb", "fs/ceph",
]
DOC_EXCLUDES = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*"]

# Modules the initramfs loads (with their dependencies) to reach the root disk and
# the 9p share. Nothing netfilter-related: the service must load its own helpers.
INITRD_MODULES = ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4", "9pnet_virtio", "9p"]


def log(msg):
    sys.stderr.write("[vm %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


# ---------------------------------------------------------------- apt sources

def host_codename():
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("cannot tell the host's Debian codename from /etc/os-release")


def host_sources(codename):
    """One-line apt sources for `codename` from the host's /etc/apt configuration."""
    lines = []
    paths = []
    if os.path.isfile("/etc/apt/sources.list"):
        paths.append("/etc/apt/sources.list")
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        paths += [os.path.join(d, n) for n in sorted(os.listdir(d))
                  if n.endswith(".list") or n.endswith(".sources")]
    for path in paths:
        with open(path) as f:
            text = f.read()
        if path.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for raw in stanza.splitlines():
                    if raw.startswith("#") or ":" not in raw:
                        continue
                    k, v = raw.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" not in fields.get("types", "").split():
                    continue
                opts = ""
                if fields.get("signed-by"):
                    opts = " [signed-by=%s]" % fields["signed-by"]
                for uri in fields.get("uris", "").split():
                    for suite in fields.get("suites", "").split():
                        if suite == codename or suite.startswith(codename + "-"):
                            lines.append("deb%s %s %s %s" % (opts, uri, suite,
                                                             fields.get("components", "main")))
        else:
            for raw in text.splitlines():
                words = raw.split("#", 1)[0].split()
                if not words or words[0] != "deb":
                    continue
                rest = words[1:]
                opts = []
                if rest and rest[0].startswith("["):
                    while rest and not rest[0].endswith("]"):
                        opts.append(rest.pop(0))
                    opts.append(rest.pop(0))
                if len(rest) >= 2 and (rest[1] == codename or rest[1].startswith(codename + "-")):
                    lines.append(raw.split("#", 1)[0].strip())
    if not lines:
        raise SystemExit("no apt source for %s found in /etc/apt" % codename)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- image build

def image_key(codename, sources):
    # Only what shapes the image counts, so editing the boot/run code reuses the cache.
    h = hashlib.sha256()
    for fn in (host_sources, build_image, make_initrd, _cpio_newc, _module_closure, _in_root):
        h.update(inspect.getsource(fn).encode())
    h.update(repr((codename, sources, PACKAGES, MODULE_EXCLUDES, DOC_EXCLUDES, INITRD_MODULES,
                   INIT)).encode())
    return h.hexdigest()[:16]


def image_dir():
    codename = host_codename()
    sources = host_sources(codename)
    return os.path.join(BUILD, "image-" + image_key(codename, sources)), codename, sources


def need_tools(tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise SystemExit("missing host tools: %s (apt-get install -y qemu-system-x86 mmdebstrap "
                         "e2fsprogs)" % " ".join(missing))


def build_image(force=False):
    out, codename, sources = image_dir()
    if not force and os.path.isfile(os.path.join(out, "done")):
        log("image cached: %s" % os.path.relpath(out, REPO))
        return out
    need_tools(["mmdebstrap", "mke2fs"])
    os.makedirs(BUILD, exist_ok=True)
    t0 = time.time()
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    root = os.path.join(tmp, "root")
    srcfile = os.path.join(tmp, "sources.list")
    with open(srcfile, "w") as f:
        f.write(sources)
    log("building image %s (%s, sources from /etc/apt):\n%s" % (os.path.basename(out), codename,
                                                               sources.rstrip()))
    cmd = ["mmdebstrap", "--mode=root", "--variant=minbase", "--format=directory",
           "--include=" + ",".join(PACKAGES),
           # No initramfs-tools run inside the chroot: the VM boots with our own initramfs.
           "--essential-hook=chroot \"$1\" dpkg-divert --local --rename --add /usr/sbin/update-initramfs"
           " && ln -sf /bin/true \"$1/usr/sbin/update-initramfs\""]
    for pat in DOC_EXCLUDES:
        cmd.append("--dpkgopt=path-exclude=" + pat)
    for sub in MODULE_EXCLUDES:
        cmd.append("--dpkgopt=path-exclude=/lib/modules/*/kernel/%s/*" % sub)
    cmd += [codename, root, srcfile]
    run(cmd)
    log("rootfs done in %.0f s" % (time.time() - t0))

    kver = sorted(os.listdir(os.path.join(root, "lib/modules")))[-1]
    shutil.copy(os.path.join(root, "boot", "vmlinuz-" + kver), os.path.join(tmp, "vmlinuz"))
    make_initrd(root, kver, os.path.join(tmp, "initrd.img"))
    with open(os.path.join(tmp, "packages.txt"), "w") as f:
        subprocess.run(["chroot", root, "dpkg-query", "-W"], stdout=f, check=True)
    with open(os.path.join(root, "etc/hostname"), "w") as f:
        f.write("vmtest\n")
    for d in ("vmtest", "etc/netns"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    size_mb = int(subprocess.run(["du", "-sm", root], capture_output=True, text=True,
                                 check=True).stdout.split()[0])
    size_mb = int(size_mb * 1.25) + 128
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "vmroot", "-E", "root_owner=0:0",
         "-d", root, os.path.join(tmp, "rootfs.img"), "%dM" % size_mb])
    shutil.rmtree(root)
    with open(os.path.join(tmp, "kernel-version"), "w") as f:
        f.write(kver + "\n")
    with open(os.path.join(tmp, "done"), "w") as f:
        f.write("%.0f\n" % (time.time() - t0))
    # Keep only this image.
    for name in os.listdir(BUILD):
        if name.startswith("image-") and os.path.join(BUILD, name) not in (tmp, out):
            shutil.rmtree(os.path.join(BUILD, name), ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    log("image built in %.0f s: %s (kernel %s, rootfs %d MB)" % (time.time() - t0,
                                                                 os.path.relpath(out, REPO),
                                                                 kver, size_mb))
    return out


def _cpio_newc(entries):
    """entries: (name, mode, data|None, link|None) -> bytes of a newc cpio archive."""
    buf = io.BytesIO()
    ino = 1

    def hdr(name, mode, size, nlink=1):
        nonlocal ino
        nb = name.encode() + b"\0"
        h = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(nb), 0))
        ino += 1
        buf.write(h.encode() + nb)
        buf.write(b"\0" * ((4 - buf.tell() % 4) % 4))

    for name, mode, data in entries:
        hdr(name, mode, len(data))
        buf.write(data)
        buf.write(b"\0" * ((4 - buf.tell() % 4) % 4))
    hdr("TRAILER!!!", 0, 0)
    return buf.getvalue()


def _module_closure(root, kver, wanted):
    moddir = os.path.join(root, "lib/modules", kver)
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
    byname = {}
    for path in deps:
        base = os.path.basename(path).split(".ko")[0]
        byname[base] = path
        byname[base.replace("-", "_")] = path
    order = []

    def visit(path):
        if path in order:
            return
        for d in deps[path]:
            visit(d)
        order.append(path)

    for name in wanted:
        if name in byname:
            visit(byname[name])
        else:
            log("initrd: module %s not found (built in?)" % name)
    return moddir, order


INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "initrd: insmod $m failed"; done
echo "VMTEST-INITRD: modules loaded"
if grep -q vmtest.probe=1 /proc/cmdline; then
    echo "VMTEST-PROBE-OK"
    poweroff -f
fi
mount -t ext4 /dev/vda /newroot || { echo "VMTEST-INITRD: cannot mount /dev/vda"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmtest /newroot/vmtest || {
    echo "VMTEST-INITRD: cannot mount the 9p share"; poweroff -f; }
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh /vmtest/guest/init.sh
"""


def _in_root(root, path, depth=0):
    """Host path of `path` inside the tree `root`, following symlinks inside it."""
    parts = [p for p in path.split("/") if p]
    cur = ""
    for i, part in enumerate(parts):
        cand = cur + "/" + part
        host = root + cand
        if os.path.islink(host) and depth < 40:
            target = os.readlink(host)
            if not target.startswith("/"):
                target = cur + "/" + target
            return _in_root(root, target + "/" + "/".join(parts[i + 1:]), depth + 1)
        cur = os.path.normpath(cand)
    return root + cur


def make_initrd(root, kver, dest):
    moddir, order = _module_closure(root, kver, INITRD_MODULES)
    entries = []
    for d in ("bin", "lib", "lib64", "lib/modules", "proc", "sys", "dev", "newroot"):
        entries.append((d, 0o040755, b""))
    # busybox and the libraries it links against, as the rootfs's ldd sees them.
    ldd = subprocess.run(["chroot", root, "ldd", "/bin/busybox"], capture_output=True,
                         text=True).stdout
    libs = re.findall(r"(/\S+) \(0x", ldd)
    with open(os.path.join(root, "bin/busybox"), "rb") as f:
        entries.append(("bin/busybox", 0o100755, f.read()))
    for lib in libs:
        with open(_in_root(root, lib), "rb") as f:
            data = f.read()
        name = lib.lstrip("/")
        parts = name.split("/")
        for i in range(1, len(parts)):
            entries.append(("/".join(parts[:i]), 0o040755, b""))
        entries.append((name, 0o100755, data))
    names = []
    for rel in order:
        with open(os.path.join(moddir, rel), "rb") as f:
            data = f.read()
        if rel.endswith(".xz"):
            data = lzma.decompress(data)
        elif rel.endswith(".zst"):
            raise SystemExit("zstd-compressed modules are not handled")
        base = os.path.basename(rel).split(".ko")[0] + ".ko"
        entries.append(("lib/modules/" + base, 0o100644, data))
        names.append(base)
    entries.append(("modules.order", 0o100644, ("\n".join(names) + "\n").encode()))
    entries.append(("init", 0o100755, INIT.encode()))
    seen = set()
    uniq = []
    for e in entries:
        if e[0] not in seen:
            seen.add(e[0])
            uniq.append(e)
    with open(dest, "wb") as f:
        f.write(gzip.compress(_cpio_newc(uniq), 6))
    log("initrd: %d modules: %s" % (len(names), " ".join(names)))


# ---------------------------------------------------------------- boot

def qemu_cmd(img, accel, share, console, append_extra="", mem=1024, smp=1, kit=None):
    cmd = ["qemu-system-x86_64", "-machine", "q35", "-m", str(mem), "-smp", str(smp),
           "-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
           "-serial", "file:" + console,
           "-kernel", os.path.join(img, "vmlinuz"), "-initrd", os.path.join(img, "initrd.img"),
           "-append", "console=ttyS0 panic=-1 loglevel=4 " + append_extra,
           "-drive", "file=%s,if=virtio,format=raw,snapshot=on" % os.path.join(img, "rootfs.img")]
    if accel == "kvm":
        cmd += ["-accel", "kvm", "-cpu", "host"]
    else:
        cmd += ["-accel", "tcg", "-cpu", "max"]
    if share:
        cmd += ["-virtfs", "local,path=%s,mount_tag=vmtest,security_model=none,id=vmtest" % share]
    if kit:
        # the OpenWrt kit's build, read-only; the guest mounts it at the same path (its
        # programs carry that path as rpath)
        cmd += ["-virtfs", "local,path=%s,mount_tag=owrtkit,security_model=none,id=owrtkit,"
                "readonly=on" % kit]
    return cmd


def boot(cmd, console, timeout, progress=None):
    """Run qemu, bounded by `timeout`; stream console lines starting with a VMTEST
    prefix through `progress`. Returns (rc or None on timeout, seconds)."""
    t0 = time.time()
    open(console, "w").close()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    pos = 0
    rc = None
    partial = ""
    try:
        while True:
            rc = p.poll()
            try:
                with open(console, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos += len(chunk)
            except OSError:
                chunk = b""
            if chunk:
                partial += chunk.decode("utf-8", "replace")
                *done, partial = partial.split("\n")
                for line in done:
                    line = line.rstrip("\r")
                    if progress and line.startswith("VMTEST"):
                        progress(line)
            if rc is not None:
                break
            if time.time() - t0 > timeout:
                log("timeout after %d s: killing qemu (pid %d)" % (timeout, p.pid))
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rc = None
                break
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    out = p.stdout.read().decode("utf-8", "replace")
    if out.strip():
        log("qemu said: " + out.strip()[-2000:])
    return rc, time.time() - t0


def kvm_probe(img, timeout=12):
    """True only when a KVM guest boots our kernel and initramfs to the marker."""
    if os.environ.get("VPN_VM_ACCEL") in ("tcg", "kvm"):
        log("accelerator forced by VPN_VM_ACCEL=%s" % os.environ["VPN_VM_ACCEL"])
        return os.environ["VPN_VM_ACCEL"] == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        log("no usable /dev/kvm: TCG")
        return False
    console = os.path.join(BUILD, "kvm-probe.log")
    rc, secs = boot(qemu_cmd(img, "kvm", None, console, "vmtest.probe=1", mem=256), console,
                    timeout)
    with open(console, errors="replace") as f:
        ok = "VMTEST-PROBE-OK" in f.read()
    log("KVM probe: %s (rc=%s, %.1f s; log build/vm/kvm-probe.log) -> %s"
        % ("guest ran" if ok else "guest did not run", rc, secs, "KVM" if ok else "TCG"))
    return ok


# ---------------------------------------------------------------- a run

def prepare_share(ipk, scenarios, kit_prefix, kit_dir):
    share = os.path.join(BUILD, "run")
    shutil.rmtree(share, ignore_errors=True)
    os.makedirs(os.path.join(share, "results"))
    shutil.copytree(os.path.join(HERE, "guest"), os.path.join(share, "guest"))
    # the real OpenWrt userland for the guest (guest/openwrt.sh): where its build is, and
    # the opkg database of an OpenWrt 24.10 router (the kit's release fixture)
    with open(os.path.join(share, "kit-prefix"), "w") as f:
        f.write(kit_prefix + "\n")
    subprocess.run(["sh", os.path.join(kit_dir, "feeds", "seed-root.sh"), "24.10",
                    os.path.join(share, "opkgroot")], check=True, capture_output=True)
    if ipk:
        shutil.copy(ipk, os.path.join(share, "package.ipk"))
        with open(os.path.join(share, "ipk-name"), "w") as f:
            f.write(os.path.basename(ipk) + "\n")
    with open(os.path.join(share, "scenarios"), "w") as f:
        f.write("\n".join(scenarios) + "\n")
    return share


def parse_results(console):
    results = {}
    with open(console, errors="replace") as f:
        for line in f:
            m = re.match(r"VMTEST-RESULT: (PASS|FAIL) (\S+)(.*)", line.strip())
            if m:
                results[m.group(2)] = (m.group(1), m.group(3).strip())
    return results


def _lock():
    """One VM run (and image build) at a time per build folder: other sessions share the tree."""
    os.makedirs(BUILD, exist_ok=True)
    f = open(os.path.join(BUILD, "lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log("another VM run holds build/vm/lock: waiting (at most 15 min)")
        end = time.time() + 900
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.time() > end:
                    raise SystemExit("build/vm/lock still held after 15 min")
                time.sleep(2)
    return f


def run_vm(ipk, scenarios, kit_prefix, kit_dir, timeout=None, progress=None):
    """KIT_PREFIX: the OpenWrt kit's build (tests/kit.py), KIT_DIR: the kit's sources."""
    lock = _lock()  # noqa: F841 — held until this process ends
    img = build_image()
    need_tools(["qemu-system-x86_64"])
    accel = "kvm" if kvm_probe(img) else "tcg"
    share = prepare_share(ipk, scenarios, kit_prefix, kit_dir)
    console = os.path.join(BUILD, "console.log")
    if timeout is None:
        timeout = int(os.environ.get("VPN_VM_TIMEOUT", "840"))
    cmd = qemu_cmd(img, accel, share, console, smp=int(os.environ.get("VPN_VM_SMP", "2")),
                   append_extra="vmtest.accel=" + accel, kit=kit_prefix)
    log("booting (%s, timeout %d s, console build/vm/console.log)" % (accel, timeout))
    rc, secs = boot(cmd, console, timeout, progress=progress or (lambda l: log("guest: " + l)))
    log("guest finished in %.0f s (rc=%s)" % (secs, rc))
    results = parse_results(console)
    expected = ["install"] + list(scenarios or []) + ["remove"]
    if rc is None or any(v != "PASS" for v, _ in results.values()) or \
            (scenarios and any(n not in results for n in expected)):
        keep = os.path.join(BUILD, "failures", time.strftime("%Y%m%d-%H%M%S"))
        os.makedirs(keep, exist_ok=True)
        shutil.copy(console, keep)
        shutil.copytree(os.path.join(share, "results"), os.path.join(keep, "results"))
        console = os.path.join(keep, "console.log")
        share = keep
        log("failure: console log and guest logs kept in %s" % os.path.relpath(keep, REPO))
    return results, console, share, rc


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--force", action="store_true")
    sub.add_parser("probe")
    r = sub.add_parser("run")
    r.add_argument("--ipk")
    r.add_argument("--scenarios", default="")
    r.add_argument("--kit", default=os.environ.get("VPT_OWRT_PREFIX") or "/tmp/vpt-owrt-kit",
                   help="the OpenWrt kit's build (tests/kit.py builds it)")
    r.add_argument("--kit-dir", default=os.environ.get("VPT_OPENWRT_KIT") or
                   os.path.join(REPO, "..", "shared", "openwrt"), help="the kit's sources")
    a = ap.parse_args(argv)
    if a.cmd == "build":
        build_image(a.force)
    elif a.cmd == "probe":
        print("kvm" if kvm_probe(build_image()) else "tcg")
    else:
        scen = [s for s in a.scenarios.split(",") if s]
        if not os.path.exists(os.path.join(a.kit, ".stamp")):
            sys.exit("no OpenWrt kit build in %s (bash %s/build.sh %s)"
                     % (a.kit, a.kit_dir, a.kit))
        results, console, share, rc = run_vm(a.ipk, scen, a.kit, a.kit_dir)
        for name, (verdict, why) in sorted(results.items()):
            print("%s %s %s" % (verdict, name, why))
        return 0 if results and all(v == "PASS" for v, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
