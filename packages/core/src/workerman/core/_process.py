"""A worker process: what a forked child runs, and the signals it answers.

SIGINT, SIGTERM, SIGHUP, SIGTSTP stop; SIGQUIT stops gracefully (no new connections,
open ones finish); SIGUSR1 reloads and SIGUSR2 reloads gracefully (``on_worker_reload``,
then a reloadable worker stops and the master forks a fresh one); SIGIOT writes a status
snapshot and SIGIO the connection list, for the `status` and `connections` commands.

A process tells the master through a pipe when it serves (it listens and its
``on_worker_start`` returned) or that it failed to start (``on_worker_start`` raised: it
then exits with :data:`EXIT_START_FAILED` instead of running without its setup).
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ._loop import EventLoop, create_loop, current_loop_or_none, invoke
from ._runtime import Paths, set_title
from ._status import connection_rows, process_snapshot, write_json

if TYPE_CHECKING:
    from ._worker import Worker

logger = logging.getLogger("workerman.core")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP)
GRACEFUL_STOP = signal.SIGQUIT
RELOAD = signal.SIGUSR1
GRACEFUL_RELOAD = signal.SIGUSR2
STATUS = signal.SIGIOT
CONNECTIONS = signal.SIGIO
EXIT_ERROR = 250  # a worker process that failed to start or crashed in its loop
EXIT_START_FAILED = 251  # on_worker_start raised
_MESSAGE_MAX = 1000  # bytes of an error told to the master (one pipe write stays atomic)


def tell_master(fd: int, kind: str, text: str = "") -> None:
    """One line on the master's pipe: ``kind`` ("ready", "failed"), the pid, ``text``."""
    if fd < 0:
        return
    line = f"{kind} {os.getpid()} {' '.join(text.split())}".rstrip()
    data = line.encode(errors="replace")[:_MESSAGE_MAX] + b"\n"
    try:
        os.write(fd, data)
    except OSError as exc:  # the master is gone: nothing to tell
        logger.debug("could not tell the master %r: %s", kind, exc)


def switch_user(worker: Worker) -> None:
    """Run as ``worker.user`` / ``worker.group`` when started as root."""
    if not worker.user:
        return
    if os.getuid() != 0:
        if pwd.getpwuid(os.getuid()).pw_name != worker.user:
            logger.warning(
                "worker %r: cannot switch to user %r: the master does not run as root",
                worker.name,
                worker.user,
            )
        return
    entry = pwd.getpwnam(worker.user)
    gid = grp.getgrnam(worker.group).gr_gid if worker.group else entry.pw_gid
    os.setgid(gid)
    os.initgroups(worker.user, gid)
    os.setuid(entry.pw_uid)


def status_path(base: os.PathLike[str] | str, pid: int) -> Any:
    path = Path(base)
    return path.with_name(f"{path.name}.{pid}")


class ChildProcess:
    """Runs one worker in this (forked) process until a stop signal, then exits."""

    def __init__(self, worker: Worker, slot: int, paths: Paths, report_fd: int = -1) -> None:
        self.worker = worker
        self.slot = slot
        self.paths = paths
        self.report_fd = report_fd
        self.start_failed = False
        self.loop: EventLoop = create_loop(type(worker).event_loop)

    def run(self) -> NoReturn:
        worker = self.worker
        worker.id = self.slot
        code = 0
        try:
            set_title(f"workerman: worker process  {worker.name} {worker.socket_name}".rstrip())
            switch_user(worker)
            self.loop.run(self._main)
            if self.start_failed:
                code = EXIT_START_FAILED
        except SystemExit as exc:  # sys.exit(n) in a callback: exit with n
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code:
                logger.error("worker %r process exits with status %d", worker.name, code)
        except BaseException as exc:
            logger.critical("worker %r process exits: %r", worker.name, exc, exc_info=exc)
            tell_master(self.report_fd, "failed", f"{type(exc).__name__}: {exc}")
            code = EXIT_ERROR
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)

    async def _main(self) -> None:
        loop = self.loop
        for signum in STOP_SIGNALS:
            loop.on_signal(signum, lambda _s: self.stop(graceful=False))
        loop.on_signal(GRACEFUL_STOP, lambda _s: self.stop(graceful=True))
        loop.on_signal(RELOAD, lambda _s: self.reload(graceful=False))
        loop.on_signal(GRACEFUL_RELOAD, lambda _s: self.reload(graceful=True))
        loop.on_signal(STATUS, lambda _s: self.write_status())
        loop.on_signal(CONNECTIONS, lambda _s: self.write_connections())
        worker = self.worker
        type(worker)._running = [worker]
        try:
            await worker._start(strict=True)
        except Exception as exc:  # logged and counted by _start
            self.start_failed = True
            tell_master(
                self.report_fd, "failed", f"on_worker_start raised {type(exc).__name__}: {exc}"
            )
            worker.unlisten()
            loop.stop()
            return
        tell_master(self.report_fd, "ready")

    def stop(self, graceful: bool) -> None:
        type(self.worker).stop_all(graceful=graceful)

    def reload(self, graceful: bool) -> None:
        worker = self.worker
        if worker.on_worker_reload is not None:
            invoke(worker.on_worker_reload, (worker,), lambda: f"on_worker_reload of {worker!r}")
        if worker.reloadable:
            loop = current_loop_or_none()
            if loop is not None:  # the master keeps the socket: the queue is the next one's
                loop._handing_over = True
            self.stop(graceful)

    def write_status(self) -> None:
        write_json(status_path(self.paths.status_file, os.getpid()), process_snapshot(self.worker))

    def write_connections(self) -> None:
        write_json(
            status_path(self.paths.connections_file, os.getpid()), connection_rows(self.worker)
        )
