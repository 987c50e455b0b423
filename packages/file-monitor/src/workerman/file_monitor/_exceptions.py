"""The errors of workerman.file_monitor: one base class, a family per kind of fault."""

from __future__ import annotations

from workerman.core import WorkermanError

__all__ = ["FileMonitorError", "SettingError"]


class FileMonitorError(WorkermanError):
    """Base class of everything this package raises."""


class SettingError(FileMonitorError, ValueError):
    """A setting the monitor cannot use: a path that does not exist, a memory limit it
    cannot read, a negative interval. Raised when the monitor is created."""
