"""Restarting the whole application in place, for changes a reload cannot pick up: the
start file, or modules the master imported before forking.

The monitor (a child of the master) leaves a note naming the master's pid and asks the
master to stop (SIGINT, a plain stop). When the master's interpreter exits, a handler it
registered while the monitor was being set up finds the note and executes the same
command line again: the same pid, terminal and process group in the foreground (Ctrl+C
still stops it), a fresh daemon under ``-d``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import tempfile

__all__ = ["arm", "request_restart"]

logger = logging.getLogger("workerman.file_monitor")
_armed = False


def _note(master: int) -> str:
    return os.path.join(tempfile.gettempdir(), f"workerman-file-monitor.{master}.restart")


def arm() -> None:
    """In the master, before it runs: restart at exit when the monitor asked for it."""
    global _armed
    if not _armed:
        _armed = True
        atexit.register(_restart_if_asked)


def request_restart(master: int) -> None:
    """In the monitor: have ``master`` stop, and then start again."""
    with open(_note(master), "w") as file:
        file.write("restart\n")
    os.kill(master, signal.SIGINT)


def _restart_if_asked() -> None:
    note = _note(os.getpid())
    try:
        os.unlink(note)
    except FileNotFoundError:
        return
    argv = [sys.executable, *sys.orig_argv[1:]]
    logger.info("restarting: %s", " ".join(argv))
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.execv(sys.executable, argv)
