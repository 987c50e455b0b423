"""Where change notifications do not arrive: file systems whose changes come from another
machine or kernel (network shares, VM and container shares, FUSE), read from Linux's
/proc/self/mountinfo. A watch there has to poll."""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["NO_EVENTS_FILESYSTEMS", "filesystem_of", "needs_polling", "parse_mountinfo"]

#: file system types on which inotify misses changes made elsewhere; any ``fuse.*`` too.
NO_EVENTS_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",  # WSL2's /mnt/c, QEMU shares
        "drvfs",  # WSL
        "virtiofs",
        "vboxsf",  # VirtualBox shared folders
        "vmhgfs",  # VMware
        "prl_fs",  # Parallels
        "afs",
        "ceph",
        "glusterfs",
        "fuse",
        "fuseblk",
    }
)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mountinfo(text: str) -> list[tuple[str, str]]:
    """(mount point, file system type) of each line of a mountinfo file."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        mounts.append((_unescape(fields[4]), right.split()[0]))
    return mounts


def filesystem_of(path: str, mounts: Iterable[tuple[str, str]]) -> str:
    """The type of the file system ``path`` lives on: the longest mount point above it
    (the last one mounted wins when two share a point)."""
    path = os.path.realpath(path)
    best, kind = "", ""
    for point, fstype in mounts:
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fstype
    return kind


def needs_polling(paths: Iterable[str], mountinfo: str | None = None) -> str | None:
    """The first path (with its file system) on which notifications do not arrive, as
    ``"/srv/app (nfs4)"``; None when every path can be watched by notification."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as file:
                mountinfo = file.read()
        except OSError:  # not Linux: FSEvents and kqueue see local changes
            return None
    mounts = parse_mountinfo(mountinfo)
    for path in paths:
        kind = filesystem_of(path, mounts)
        if kind in NO_EVENTS_FILESYSTEMS or kind.startswith("fuse."):
            return f"{path} ({kind})"
    return None
