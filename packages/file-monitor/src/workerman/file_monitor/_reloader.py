"""``python app.py start --reload``: the core calls :func:`install` (entry point group
``workerman.reloaders``) with the Worker class before anything binds."""

from __future__ import annotations

from workerman.core import Worker

from ._monitor import FileMonitor

__all__ = ["install"]


def install(_worker_class: type[Worker]) -> None:
    """Turn on the monitors the application made, even under ``-d``; or, when it made
    none, add one watching the start file's folder."""
    if FileMonitor.instances:
        for monitor in FileMonitor.instances:
            monitor.in_daemon = True
        return
    FileMonitor(in_daemon=True)
