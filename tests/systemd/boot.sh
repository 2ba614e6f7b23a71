#!/bin/bash
# boot.sh ROOT CONSOLE [SRC] - run by tests/integ/90-systemd.sh inside
# `unshare --pid --mount --net --uts --ipc --cgroup --fork`: build a root
# for Debian's systemd and exec it as PID 1 of the new PID namespace.
#
#   ROOT/upper, ROOT/work  on a tmpfs mounted here (this namespace only)
#   ROOT/root              overlay: the machine's / below, writes above,
#                          made the root with pivot_root
#
# In it: fresh /proc, sysfs, a cgroup2 hierarchy of our own cgroup
# namespace, tmpfs on /run, /tmp and the journal directories, the host's
# /dev, and masks (symlinks to /dev/null) for the units that cannot work
# or are not wanted in a container.  Every mount lives in this mount
# namespace and goes with it.
set -eu
R=$1
CONSOLE=$2	# systemd's own output (a file outside the new root)
SRC=${3:-}	# the source tree, which `make install` runs from inside
mount --make-rprivate /
mount -t tmpfs -o mode=0755 coapd-sdtest "$R"
mkdir -p "$R/upper" "$R/work" "$R/root"
mount -t overlay overlay \
    -o "lowerdir=/,upperdir=$R/upper,workdir=$R/work" "$R/root"
M=$R/root
mount -t proc proc "$M/proc"
mount --rbind /dev "$M/dev"
mount -t sysfs sysfs "$M/sys"
mount -t cgroup2 cgroup2 "$M/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tmpfs "$M/run"
mount -t tmpfs -o mode=1777 tmpfs "$M/tmp"
mount -t tmpfs -o mode=1777 tmpfs "$M/var/tmp"
# A source tree under one of those (a CI clone in /tmp) stays visible.
case $SRC in
/tmp/*|/var/tmp/*|/run/*)
	mkdir -p "$M$SRC"
	mount --bind "$SRC" "$M$SRC" ;;
esac
# The machine's own journal files are not ours to read or append to.
mkdir -p "$M/var/log/journal"
mount -t tmpfs -o mode=2755 tmpfs "$M/var/log/journal"
# A state directory of our own (StateDirectory= starts empty).
rm -rf "$M/var/lib/private/coapd" "$M/var/lib/coapd"
ip link set lo up
for u in getty@tty1.service console-getty.service serial-getty@.service \
    systemd-udevd.service systemd-udev-trigger.service \
    systemd-udev-settle.service systemd-udevd-control.socket \
    systemd-udevd-kernel.socket systemd-timesyncd.service \
    systemd-pstore.service systemd-logind.service e2scrub_reap.service \
    postgresql.service remote-fs.target apt-daily.timer \
    apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
    fstrim.timer man-db.timer cron.service ssh.service \
    systemd-networkd.service systemd-resolved.service \
    systemd-networkd-wait-online.service; do
	ln -sf /dev/null "$M/etc/systemd/system/$u"
done
# Not the machine's coapd, if one is installed: the test installs its own.
rm -f "$M/etc/systemd/system/multi-user.target.wants/coapd.service"
# systemd logs to the journal inside (journalctl there shows "Watchdog
# timeout" and the like).  pivot_root, not a bare chroot: systemd's credential and namespace code
# moves mounts and relies on / being a real, shared mount root.
exec 3>"$CONSOLE"
mkdir -p "$M/run/oldroot"
cd "$M"
pivot_root . run/oldroot
umount -l /run/oldroot
rmdir /run/oldroot
mount --make-rshared /
export container=coapd-test
exec chroot . /lib/systemd/systemd --log-target=journal --show-status=no \
    </dev/null >&3 2>&3 3>&-
