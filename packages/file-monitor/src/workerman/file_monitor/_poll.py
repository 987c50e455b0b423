"""Polling: where change notifications do not arrive, compare each watched file's
modification time (to the nanosecond), size and inode with the previous scan.

watchfiles' own poller compares modification times to the second, so two saves of a
file of the same size within one second look like one; this one does not.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from ._filter import PathFilter

__all__ = ["Poller"]

Signature = tuple[int, int, int]  # (mtime_ns, size, inode)
ADDED, MODIFIED, DELETED = 1, 2, 3  # watchfiles' Change values


class Poller:
    """Scans the files a :class:`PathFilter` wants; :meth:`changes` reports what differs
    from the scan before, as watchfiles' ``(change, path)`` pairs."""

    def __init__(self, path_filter: PathFilter) -> None:
        self.filter = path_filter
        self.files = self.scan()

    def scan(self) -> dict[str, Signature]:
        found: dict[str, Signature] = {}
        for root in self.filter.roots:
            if os.path.isdir(root):
                self._scan_folder(root, found)
            elif self.filter.wanted_name(os.path.basename(root)):
                self._add(root, found)
        return found

    def _scan_folder(self, folder: str, found: dict[str, Signature]) -> None:
        for entry in _entries(folder):
            try:
                if entry.is_dir(follow_symlinks=False):  # no loops through links
                    if entry.name not in self.filter.ignore_dirs:
                        self._scan_folder(entry.path, found)
                elif self.filter.wanted_name(entry.name):
                    info = entry.stat()
                    if stat.S_ISREG(info.st_mode):
                        found[entry.path] = (info.st_mtime_ns, info.st_size, info.st_ino)
            except OSError:  # gone between the listing and the stat
                continue

    @staticmethod
    def _add(path: str, found: dict[str, Signature]) -> None:
        try:
            info = os.stat(path)
        except OSError:
            return
        found[path] = (info.st_mtime_ns, info.st_size, info.st_ino)

    def close(self) -> None:
        """Nothing to release (the same shape as a notification watcher)."""
        self.files = {}

    def changes(self) -> set[tuple[int, str]]:
        """Scan again; what was added, modified or deleted since the last scan."""
        before, after = self.files, self.scan()
        self.files = after
        found = {(DELETED, path) for path in before.keys() - after.keys()}
        for path, signature in after.items():
            old = before.get(path)
            if old is None:
                found.add((ADDED, path))
            elif old != signature:
                found.add((MODIFIED, path))
        return found


def _entries(folder: str) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as listing:
            yield from listing
    except OSError:  # unreadable or gone
        return
