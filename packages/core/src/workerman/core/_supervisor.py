"""The master process: forks ``count`` processes per worker, replaces the dead, and turns
signals into stop, graceful stop, rolling reload, status and connections, as Workerman does.

The master runs no event loop. Its signal handlers do nothing but wake it: the C-level
handler writes each signal number into a pipe (``signal.set_wakeup_fd``), and the main
loop reads that pipe, so every signal is handled in order, in one place, outside any
handler. Child exits arrive the same way (SIGCHLD) and are reaped with ``waitpid``.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import platform
import select
import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._callbacks import report
from ._loop import create_loop
from ._process import (
    CONNECTIONS,
    GRACEFUL_RELOAD,
    GRACEFUL_STOP,
    RELOAD,
    STATUS,
    STOP_SIGNALS,
    ChildProcess,
)
from ._runtime import Paths, package_version, remove_files, set_title
from ._status import write_json

if TYPE_CHECKING:
    from ._worker import Worker

logger = logging.getLogger("workerman.core")

MASTER_SIGNALS = (
    *STOP_SIGNALS,
    GRACEFUL_STOP,
    RELOAD,
    GRACEFUL_RELOAD,
    STATUS,
    CONNECTIONS,
    signal.SIGCHLD,
)
_HEALTHY_AFTER = 1.0  # a process that lived this long did not crash on start
_BACKOFF_MAX = 10.0

_RUNNING, _RELOADING, _SHUTDOWN = "running", "reloading", "shutdown"


def _ignore(_signum: int, _frame: Any) -> None:
    """A Python-level handler, so the wakeup pipe gets the signal number."""


class Supervisor:
    def __init__(
        self, worker_class: type[Worker], workers: Sequence[Worker], paths: Paths, daemon: bool
    ) -> None:
        self.worker_class = worker_class
        self.workers = list(workers)
        self.paths = paths
        self.daemon = daemon
        self.state = _RUNNING
        self.graceful = False
        self.reload_graceful = False
        self.reload_queued: bool | None = None  # a reload asked for during one: graceful?
        self.pids: dict[int, tuple[int, int]] = {}  # pid -> (worker index, slot)
        self.started: dict[int, float] = {}
        self.failures: dict[tuple[int, int], int] = {}
        self.exits: list[dict[str, int]] = [{} for _ in self.workers]
        self.to_restart: list[int] = []
        self.kill_at: dict[int, float] = {}
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.timer_seq = 0
        self.start_time = time.time()
        self.wakeup_r = self.wakeup_w = -1
        self.lock_fd = -1

    # -- the loop -----------------------------------------------------------------------

    def run(self, lock_fd: int) -> int:
        self.lock_fd = lock_fd
        set_title(f"workerman: master process  start_file={self.paths.start_file}")
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)
        for signum in MASTER_SIGNALS:
            signal.signal(signum, _ignore)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        for index, worker in enumerate(self.workers):
            for slot in range(max(1, worker.count)):
                self.spawn(index, slot)
        while self.state != _SHUTDOWN or self.pids:
            self.reap()
            self.run_timers()
            if self.state == _SHUTDOWN and not self.pids:
                break
            timeout = 1.0
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - time.monotonic()))
            with contextlib.suppress(InterruptedError):
                select.select([self.wakeup_r], [], [], timeout)
            self.handle_signals()
        self.finish()
        return 0

    def handle_signals(self) -> None:
        try:
            received = os.read(self.wakeup_r, 4096)
        except BlockingIOError:
            return
        for signum in received:
            if signum in STOP_SIGNALS:
                self.stop(graceful=False)
            elif signum == GRACEFUL_STOP:
                self.stop(graceful=True)
            elif signum == RELOAD:
                self.reload(graceful=False)
            elif signum == GRACEFUL_RELOAD:
                self.reload(graceful=True)
            elif signum == STATUS:
                self.write_status()
            elif signum == CONNECTIONS:
                pids: dict[str, dict[str, str]] = {str(pid): {} for pid in self.pids}
                write_json(self.paths.connections_file, {"processes": pids})
                self.forward(CONNECTIONS)

    def later(self, delay: float, action: Callable[[], None]) -> None:
        self.timer_seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.timer_seq, action))

    def run_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, action = heapq.heappop(self.timers)
            action()
        for pid, deadline in list(self.kill_at.items()):
            if deadline <= now:
                del self.kill_at[pid]
                if pid in self.pids:
                    logger.warning("worker process %d did not stop in time; killing it", pid)
                    self.signal(pid, signal.SIGKILL)

    # -- processes -------------------------------------------------------------------

    def spawn(self, index: int, slot: int) -> None:
        if self.state == _SHUTDOWN:
            return
        worker = self.workers[index]
        pid = os.fork()
        if pid == 0:
            self.become_child(worker, slot)
        self.pids[pid] = (index, slot)
        self.started[pid] = time.monotonic()

    def become_child(self, worker: Worker, slot: int) -> None:
        """In the forked child: drop the master's signal plumbing and files, then run."""
        signal.set_wakeup_fd(-1)
        for signum in MASTER_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        for fd in (self.wakeup_r, self.wakeup_w, self.lock_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for other in self.workers:
            if other is not worker:
                other._close_inherited()
        if worker.reuse_port:
            worker._close_inherited()  # each process binds its own socket
        ChildProcess(worker, slot, self.paths).run()

    def reap(self) -> None:
        while self.pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.pids:
                self.exited(pid, os.waitstatus_to_exitcode(status))

    def exited(self, pid: int, code: int) -> None:
        index, slot = self.pids.pop(pid)
        worker = self.workers[index]
        lived = time.monotonic() - self.started.pop(pid, 0.0)
        self.kill_at.pop(pid, None)
        expected = self.state == _SHUTDOWN or pid in self.to_restart
        if code != 0 and not (expected and code in (-signal.SIGINT, -signal.SIGKILL)):
            logger.warning("worker[%s:%d] exit with status %d", worker.name, pid, code)
        self.hook("on_worker_exit", worker, code, pid)
        self.exits[index][str(code)] = self.exits[index].get(str(code), 0) + 1
        if self.state == _SHUTDOWN:
            return
        reloading = pid in self.to_restart
        key = (index, slot)
        if reloading or lived >= _HEALTHY_AFTER or code == 0:
            self.failures[key] = 0
            self.spawn(index, slot)
        else:
            failures = self.failures.get(key, 0) + 1
            self.failures[key] = failures
            delay = 0.0 if failures == 1 else min(0.05 * 2**failures, _BACKOFF_MAX)
            if delay:
                logger.warning(
                    "worker[%s] slot %d keeps exiting on start; next try in %.1fs",
                    worker.name,
                    slot,
                    delay,
                )
                self.later(delay, lambda: self.spawn(index, slot))
            else:
                self.spawn(index, slot)
        if reloading:
            self.to_restart.remove(pid)
            self.reload_next()

    def hook(self, name: str, *args: Any) -> None:
        """Run a master callback of the Worker class; what it raises is logged."""
        callback = getattr(self.worker_class, name)
        if callback is not None:
            try:
                callback(*args)
            except Exception as exc:
                report(name, exc)

    def signal(self, pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    def forward(self, signum: int) -> None:
        for pid in list(self.pids):
            self.signal(pid, signum)

    # -- commands ----------------------------------------------------------------------

    def stop(self, graceful: bool) -> None:
        if self.state == _SHUTDOWN:
            if self.graceful and not graceful:  # escalate a graceful stop
                self.graceful = False
                self.forward(signal.SIGINT)
                self.schedule_kill(list(self.pids))
            return
        self.state = _SHUTDOWN
        self.graceful = graceful
        self.timers.clear()  # pending respawns
        for worker in self.workers:
            # The master's copy of the listening socket would keep queueing connections
            # that no process will ever accept; closing it stops accepting at once.
            worker.unlisten()
        logger.info(
            "workerman[%s] %s", self.paths.name, "stopping gracefully" if graceful else "stopping"
        )
        self.forward(GRACEFUL_STOP if graceful else signal.SIGINT)
        if not graceful:
            self.schedule_kill(list(self.pids))

    def schedule_kill(self, pids: list[int]) -> None:
        deadline = time.monotonic() + self.worker_class.stop_timeout
        for pid in pids:
            self.kill_at[pid] = deadline

    def reload(self, graceful: bool) -> None:
        if self.state == _RELOADING:
            # Processes restarted so far may have loaded code older than this request
            # (a file monitor saving twice): run it once this reload is done.
            self.reload_queued = graceful
            return
        if self.state != _RUNNING:
            return
        self.state = _RELOADING
        self.reload_graceful = graceful
        logger.info("workerman[%s] reloading%s", self.paths.name, " gracefully" if graceful else "")
        self.hook("on_master_reload")
        signum = GRACEFUL_RELOAD if graceful else RELOAD
        self.to_restart = []
        for pid, (index, _slot) in sorted(self.pids.items(), key=lambda kv: kv[1]):
            if self.workers[index].reloadable:
                self.to_restart.append(pid)
            else:
                self.signal(pid, signum)  # it runs on_worker_reload and goes on
        self.reload_next()

    def reload_next(self) -> None:
        if self.state != _RELOADING:
            return
        if not self.to_restart:
            self.state = _RUNNING
            logger.info("workerman[%s] reload done", self.paths.name)
            queued, self.reload_queued = self.reload_queued, None
            if queued is not None:
                self.reload(graceful=queued)
            return
        pid = self.to_restart[0]
        self.signal(pid, GRACEFUL_RELOAD if self.reload_graceful else RELOAD)
        if not self.reload_graceful:
            self.schedule_kill([pid])

    def write_status(self) -> None:
        write_json(self.paths.status_file, self.snapshot())
        self.forward(STATUS)

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": package_version(),
            "python": platform.python_version(),
            "event_loop": create_loop(self.worker_class.event_loop).name,
            "start_time": self.start_time,
            "load": list(os.getloadavg()),
            "daemon": self.daemon,
            "master_pid": os.getpid(),
            "workers": [
                {"name": w.name, "listen": w.socket_name or "none", "exits": self.exits[i]}
                for i, w in enumerate(self.workers)
            ],
            "processes": {
                str(pid): {
                    "name": self.workers[index].name,
                    "listen": self.workers[index].socket_name or "none",
                }
                for pid, (index, _slot) in self.pids.items()
            },
        }

    def finish(self) -> None:
        signal.set_wakeup_fd(-1)
        for worker in self.workers:
            worker.unlisten()
        self.hook("on_master_stop")
        remove_files(self.paths)
        logger.info("workerman[%s] stopped", self.paths.name)
