#!/bin/sh
# PID 1 of the test VM (exec'd by the initramfs after switch_root; lives on the 9p
# share so editing it needs no image rebuild). Sets up the basics, runs main.sh,
# powers off. Every line starting with VMTEST goes to the console, which the host
# reads; results are `VMTEST-RESULT: PASS|FAIL <scenario> <reason>`.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm /run/lock
mount -t devpts -o ptmxmode=666,gid=5,mode=620 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
hostname vmtest
echo "VMTEST: guest up: kernel $(uname -r), $(cut -d' ' -f1 /proc/uptime) s since boot"
sh /vmtest/guest/main.sh </dev/null
echo "VMTEST: guest done after $(cut -d' ' -f1 /proc/uptime) s"
sync
busybox poweroff -f
echo o >/proc/sysrq-trigger
sleep 5
