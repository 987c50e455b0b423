"""The master process: forks ``count`` processes per worker, replaces the dead, and turns
signals into stop, graceful stop, rolling reload, status and connections, as Workerman does.

The master runs no event loop. Its signal handlers do nothing but wake it: the C-level
handler writes each signal number into a pipe (``signal.set_wakeup_fd``), and the main
loop reads that pipe, so every signal is handled in order, in one place, outside any
handler. Child exits arrive the same way (SIGCHLD) and are reaped with ``waitpid``.
Children say on a second pipe when they serve or failed to start; a process that never
served and exits is restarted with a growing delay, and a reload waits for each
replacement to serve before it stops the next old process (a replacement that fails
ends the reload, and the old processes left keep serving). What the command line needs
(files, timeouts, how the last reload went) is kept in the state file.
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
from ._runtime import Paths, package_version, remove_files, set_title, write_state
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
_BACKOFF_MAX = 10.0
_KILL_MARGIN = 1.0  # past a process's own deadlines, before the master kills it

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
        self.reload_asked = 0  # reload requests received
        self.reload_round: dict[str, Any] | None = None  # the round under way
        self.reload_last: dict[str, Any] | None = None  # the last round finished
        self.replacing = 0  # pid of the replacement a reload waits for (0: none)
        self.pids: dict[int, tuple[int, int]] = {}  # pid -> (worker index, slot)
        self.ready: set[int] = set()  # pids that serve
        self.start_errors: dict[int, str] = {}  # pid -> why it failed to start
        self.failures: dict[tuple[int, int], int] = {}
        self.exits: list[dict[str, int]] = [{} for _ in self.workers]
        self.to_restart: list[int] = []
        self.kill_at: dict[int, float] = {}
        self.timers: list[tuple[float, int, Callable[[], object]]] = []
        self.timer_seq = 0
        self.start_time = time.time()
        self.wakeup_r = self.wakeup_w = -1
        self.report_r = self.report_w = -1
        self.reports = b""
        self.lock_fd = -1

    # -- the loop -----------------------------------------------------------------------

    def run(self, lock_fd: int) -> int:
        self.lock_fd = lock_fd
        set_title(f"workerman: master process  start_file={self.paths.start_file}")
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.report_r, self.report_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.write_state()
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)
        for signum in MASTER_SIGNALS:
            signal.signal(signum, _ignore)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        for index, worker in enumerate(self.workers):
            for slot in range(max(1, worker.count)):
                self.spawn(index, slot)
        while self.state != _SHUTDOWN or self.pids:
            self.read_reports()  # before reaping: a process said it served, then exited
            self.reap()
            self.run_timers()
            if self.state == _SHUTDOWN and not self.pids:
                break
            timeout = 1.0
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - time.monotonic()))
            with contextlib.suppress(InterruptedError):
                select.select([self.wakeup_r, self.report_r], [], [], timeout)
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

    def later(self, delay: float, action: Callable[[], object]) -> None:
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

    def read_reports(self) -> None:
        """What processes said on the report pipe: "ready <pid>" or "failed <pid> <why>"."""
        while True:
            try:
                chunk = os.read(self.report_r, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.reports += chunk
        *lines, self.reports = self.reports.split(b"\n")
        for line in lines:
            kind, _, rest = line.decode(errors="replace").partition(" ")
            pid_text, _, text = rest.partition(" ")
            if not pid_text.isdigit() or int(pid_text) not in self.pids:
                continue
            pid = int(pid_text)
            if kind == "ready":
                self.serving(pid)
            elif kind == "failed":
                index, slot = self.pids[pid]
                self.start_errors[pid] = text
                logger.error(
                    "worker[%s:%d] slot %d failed to start: %s",
                    self.workers[index].name,
                    pid,
                    slot,
                    text,
                )

    def serving(self, pid: int) -> None:
        self.ready.add(pid)
        self.failures[self.pids[pid]] = 0
        if pid == self.replacing:
            self.replacing = 0
            assert self.reload_round is not None
            self.reload_round["replaced"] += 1
            self.reload_next()

    # -- processes -------------------------------------------------------------------

    def spawn(self, index: int, slot: int) -> int:
        if self.state == _SHUTDOWN:
            return 0
        worker = self.workers[index]
        pid = os.fork()
        if pid == 0:
            self.become_child(worker, slot)
        self.pids[pid] = (index, slot)
        return pid

    def become_child(self, worker: Worker, slot: int) -> None:
        """In the forked child: drop the master's signal plumbing and files, then run."""
        signal.set_wakeup_fd(-1)
        for signum in MASTER_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        for fd in (self.wakeup_r, self.wakeup_w, self.report_r, self.lock_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for other in self.workers:
            if other is not worker:
                other._close_inherited()
        if worker.reuse_port:
            worker._close_inherited()  # each process binds its own socket
        ChildProcess(worker, slot, self.paths, self.report_w).run()

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
        served = pid in self.ready
        self.ready.discard(pid)
        error = self.start_errors.pop(pid, "")
        self.kill_at.pop(pid, None)
        expected = self.state == _SHUTDOWN or pid in self.to_restart
        if code != 0 and not (expected and code in (-signal.SIGINT, -signal.SIGKILL)):
            logger.warning("worker[%s:%d] exit with status %d", worker.name, pid, code)
        self.hook("on_worker_exit", worker, code, pid)
        self.exits[index][str(code)] = self.exits[index].get(str(code), 0) + 1
        if self.state == _SHUTDOWN:
            return
        key = (index, slot)
        if pid == self.replacing:  # a reload's replacement died before it served
            self.replacing = 0
            why = error or f"exited with status {code} before it served"
            self.reload_failed(f"worker[{worker.name}] slot {slot}: {why}")
        if served or pid in self.to_restart:
            self.failures[key] = 0
            new = self.spawn(index, slot)
        else:
            new = 0
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
        if pid in self.to_restart:
            current = self.to_restart[0] == pid
            self.to_restart.remove(pid)
            if current and new:  # the next old process stops once this one serves
                self.replacing = new
                timeout = self.worker_class.start_timeout
                self.later(timeout, lambda: self.start_overdue(new, timeout))

    def start_overdue(self, pid: int, timeout: float) -> None:
        if pid == self.replacing:
            self.replacing = 0
            index, slot = self.pids[pid]
            name = self.workers[index].name
            self.reload_failed(
                f"worker[{name}] slot {slot}: did not start serving within {timeout:g}s"
                " (Worker.start_timeout)"
            )

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
                self.kill_at.clear()
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
        self.schedule_kill(list(self.pids), graceful)
        self.write_state()

    def schedule_kill(self, pids: list[int], graceful: bool = False) -> None:
        """Kill ``pids`` if they are still there once their own deadlines are past: a
        plain stop's ``stop_timeout``, a graceful one's ``graceful_stop_timeout`` on top."""
        settings = self.worker_class
        wait = settings.stop_timeout + (settings.graceful_stop_timeout if graceful else 0)
        deadline = time.monotonic() + wait + _KILL_MARGIN
        for pid in pids:
            self.kill_at[pid] = min(deadline, self.kill_at.get(pid, deadline))

    def reload(self, graceful: bool) -> None:
        if self.state == _SHUTDOWN:
            return
        self.reload_asked += 1
        if self.state == _RELOADING:
            # Processes restarted so far may have loaded code older than this request
            # (a file monitor saving twice): run it once this reload is done.
            if self.reload_queued is None:
                logger.info("workerman[%s] reload queued behind the one under way", self.name)
            self.reload_queued = graceful
            self.write_state()
            return
        self.begin_reload(graceful)

    def begin_reload(self, graceful: bool) -> None:
        self.state = _RELOADING
        self.reload_graceful = graceful
        logger.info("workerman[%s] reloading%s", self.name, " gracefully" if graceful else "")
        self.hook("on_master_reload")
        signum = GRACEFUL_RELOAD if graceful else RELOAD
        self.to_restart = []
        for pid, (index, _slot) in sorted(self.pids.items(), key=lambda kv: kv[1]):
            if self.workers[index].reloadable:
                self.to_restart.append(pid)
            else:
                self.signal(pid, signum)  # it runs on_worker_reload and goes on
        self.reload_round = {
            "covers": self.reload_asked,
            "graceful": graceful,
            "total": len(self.to_restart),
            "replaced": 0,
            "started": time.time(),
        }
        self.reload_next()

    def reload_next(self) -> None:
        if self.state != _RELOADING or self.replacing:
            return
        if not self.to_restart:
            assert self.reload_round is not None
            replaced = self.reload_round["replaced"]
            self.reload_finished(True, f"{replaced} processes replaced")
            return
        pid = self.to_restart[0]
        self.signal(pid, GRACEFUL_RELOAD if self.reload_graceful else RELOAD)
        self.schedule_kill([pid], self.reload_graceful)
        self.write_state()

    def reload_failed(self, why: str) -> None:
        """Stop rolling: the old processes not yet restarted keep serving."""
        if self.state != _RELOADING:
            return
        kept = len(self.to_restart)
        self.to_restart = []
        self.reload_finished(False, f"{why}; {kept} old processes left serving")

    def reload_finished(self, ok: bool, message: str) -> None:
        assert self.reload_round is not None
        done, self.reload_round = self.reload_round, None
        done.update(ok=ok, message=message, took=round(time.time() - done["started"], 3))
        self.reload_last = done
        self.state = _RUNNING
        if ok:
            logger.info("workerman[%s] reload done: %s", self.name, message)
        else:
            logger.error("workerman[%s] reload failed: %s", self.name, message)
        queued, self.reload_queued = self.reload_queued, None
        if queued is not None:
            self.begin_reload(queued)
        else:
            self.write_state()

    @property
    def name(self) -> str:
        return self.paths.name

    def write_state(self) -> None:
        """What the command line reads: files, timeouts, and how reloads went."""
        settings = self.worker_class
        log = self.paths.log_file
        write_state(
            self.paths,
            {
                "master_pid": os.getpid(),
                "start_file": self.paths.start_file,
                "status_file": str(self.paths.status_file),
                "connections_file": str(self.paths.connections_file),
                "log_file": str(log) if log is not None else "",
                "stop_timeout": settings.stop_timeout,
                "graceful_stop_timeout": settings.graceful_stop_timeout,
                "start_timeout": settings.start_timeout,
                "state": self.state,
                "reload": {
                    "asked": self.reload_asked,
                    "running": self.reload_round,
                    "queued": self.reload_queued is not None,
                    "last": self.reload_last,
                },
            },
        )

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
                    "serving": pid in self.ready,
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
