"""Memory of the master's other children, read from Linux /proc (no psutil)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal

from ._exceptions import SettingError

__all__ = ["MemoryGuard", "children_of", "parse_size", "resident_bytes"]

logger = logging.getLogger("workerman.file_monitor")

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_size(value: int | str | None) -> int:
    """Bytes from ``512M``, ``1.5G``, ``800MiB``, ``"1048576"`` or an int (0 and None:
    no limit). Units are binary (K = 1024), as in PHP's memory_limit.

    Raises:
        SettingError: a value that is not a size.
    """
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SettingError(f"memory limit must be bytes or a size like '512M', not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise SettingError(f"memory limit must not be negative, got {value}")
        return value
    found = _SIZE.match(value)
    if found is None:
        raise SettingError(f"memory limit {value!r} is not a size like '512M' or '1G'")
    number, unit = found.groups()
    return int(float(number) * _UNITS[unit.upper()])


def children_of(parent: int) -> list[int]:
    """Pids of the live (not zombie) children of ``parent``, from /proc/<pid>/stat."""
    found: list[int] = []
    try:
        entries = list(os.scandir("/proc"))
    except OSError:  # no /proc: not Linux
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as file:
                stat = file.read()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and fields[0] != b"Z" and int(fields[1]) == parent:
            found.append(int(entry.name))
    return sorted(found)


def resident_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as file:
            return int(file.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"


class MemoryGuard:
    """Reloads the master's children whose RSS passed ``limit``: first gracefully (a
    process that finishes its connections, then the master forks a fresh one), then, if it
    is still over after ``grace`` seconds, with a plain reload that closes its connections.
    A worker with ``reloadable=False`` only gets ``on_worker_reload``; it is logged once
    and left running.
    """

    def __init__(self, limit: int, grace: float) -> None:
        self.limit = limit
        self.grace = grace
        self.reloads = 0
        self._asked: dict[int, tuple[float, bool]] = {}  # pid -> (when, escalated)

    def check(self, master: int, now: float) -> None:
        own = os.getpid()
        alive = [pid for pid in children_of(master) if pid != own]
        for pid in list(self._asked):
            if pid not in alive:
                del self._asked[pid]
        for pid in alive:
            rss = resident_bytes(pid)
            if rss is not None and rss > self.limit:
                self._over(pid, rss, now)

    def _over(self, pid: int, rss: int, now: float) -> None:
        asked = self._asked.get(pid)
        if asked is None:
            logger.warning(
                "worker process %d uses %s, over the memory limit of %s: reloading it",
                pid,
                _mib(rss),
                _mib(self.limit),
            )
            self._signal(pid, signal.SIGUSR2)
            self._asked[pid] = (now, False)
            self.reloads += 1
        elif not asked[1] and now - asked[0] >= self.grace:
            logger.warning(
                "worker process %d still uses %s after %.0fs: reloading it without waiting"
                " for its connections (a worker with reloadable=False keeps running)",
                pid,
                _mib(rss),
                self.grace,
            )
            self._signal(pid, signal.SIGUSR1)
            self._asked[pid] = (asked[0], True)

    @staticmethod
    def _signal(pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
