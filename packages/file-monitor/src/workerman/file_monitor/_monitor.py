"""FileMonitor: a process of its own that watches the code and reloads the workers
through the master, the way Workerman's and webman's monitor processes do.

It runs as a worker with no address (count 1, ``reloadable=False``), forked by the master
like any other. A batch of changes goes: ``on_change`` hook, then every changed Python
file is compiled (a file that does not compile holds every reload back until it does),
then changes to code the master itself imported before forking are reported as needing
a restart, and whatever is left asks the master for a rolling reload (SIGUSR1, or SIGUSR2
when graceful). Reloadable workers restart one process at a time; the others, such as a
gateway holding client connections, keep running.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import anyio
from watchfiles._rust_notify import RustNotify  # watchfiles' documented Rust backend

from workerman.core import Worker, current_loop, register_status

from ._change import Change, from_watchfiles
from ._check import SyntaxProblem, check_source
from ._exceptions import SettingError
from ._filter import PathFilter
from ._memory import MemoryGuard, parse_size
from ._mounts import needs_polling
from ._poll import Poller
from ._restart import arm, request_restart

__all__ = ["DEFAULT_EXTENSIONS", "FileMonitor"]

logger = logging.getLogger("workerman.file_monitor")

_IDLE_MS = 5000  # a quiet watch returns this often, so a stop is never missed

#: what counts as code unless ``extensions`` says otherwise (``.json`` and ``.txt`` are
#: left out: applications write those at run time, and would reload themselves).
DEFAULT_EXTENSIONS: tuple[str, ...] = (
    ".py",
    ".html",
    ".htm",
    ".toml",
    ".ini",
    ".yaml",
    ".yml",
    ".env",
)

OnChange = Callable[[list[Change]], Any]


def _start_file() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "")
    return os.path.realpath(path) if path else ""


def _positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise SettingError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _describe(changes: list[Change]) -> str:
    shown = ", ".join(f"{c.path} ({c.kind})" for c in changes[:3])
    return shown + (f" and {len(changes) - 3} more" if len(changes) > 3 else "")


class FileMonitor:
    """Watch code and reload the workers when it changes; optionally cap their memory.

    Create it before ``Worker.run_all()``; it adds a worker of its own (``monitor.worker``)
    that the master forks like the others. ``python app.py start --reload`` creates one
    watching the start file's folder, with no code change.

    Args:
        paths: folders or files to watch (default: the start file's folder). Relative
            paths are taken from the current directory when the monitor is created.
        extensions: file name endings that count as code (default
            :data:`DEFAULT_EXTENSIONS`); an empty sequence counts every file.
        ignore_dirs: more directory names to skip (caches, VCS folders, ``.venv`` and
            ``node_modules`` are always skipped).
        ignore_patterns: more regular expressions of file names to skip (editors'
            swap, backup and temporary files are always skipped).
        debounce: seconds of quiet that end a batch of changes (an editor's save is
            several file operations; a ``git checkout`` is many).
        max_delay: seconds a batch may grow before it is handled anyway, however busy
            the files are.
        polling: True polls, False uses notifications (inotify, FSEvents, kqueue); None
            (default) uses notifications except on file systems where they do not
            arrive (NFS, SMB, FUSE, VM shares, WSL drives) or when inotify watches run
            short.
        poll_interval: seconds between polls, when polling (each poll stats every
            watched file: about 3% of a core for 5,000 files at the default 1 s).
        graceful: False (default): a reload closes each process's connections (queued
            data is sent first) before the master forks its replacement; True: each
            process finishes its connections first. An idle keep-alive connection (a
            browser) holds a graceful reload for as long as the client keeps it.
        check_syntax: compile changed ``.py`` files and skip the reload while one fails.
        restart: when code the master loaded before forking changes (the start file,
            modules it imported at top level), restart the whole application in place
            (the master stops, then runs the same command line again) instead of only
            logging that a restart is needed. Every connection closes, those of
            ``reloadable=False`` workers too; if the new code fails to start, the
            application stays down.
        in_daemon: watch under ``start -d`` too (off by default in daemon mode, as in
            Workerman; ``--reload`` turns it on).
        max_files: warn once when more files than this are watched.
        memory_limit: reload a worker process whose resident memory passes this
            (bytes, or ``"512M"``, ``"1G"``); None: no limit. Checked under ``-d`` too.
        memory_interval: seconds between memory checks.
        memory_grace: seconds a process over the limit gets to finish its connections
            before it is reloaded without waiting for them.
        on_change: ``on_change(changes)``, plain or async, called in the monitor process
            with each batch (a list of :class:`Change`) before anything else; return
            ``False`` to skip the reload for that batch (after rebuilding assets, say).
        name: the worker's name, shown by ``status``.

    Raises:
        SettingError: a path that does not exist or a setting out of range.
    """

    #: every monitor created in this process (``--reload`` turns these on rather than
    #: adding another).
    instances: ClassVar[list[FileMonitor]] = []

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
        *,
        extensions: Iterable[str] = DEFAULT_EXTENSIONS,
        ignore_dirs: Iterable[str] = (),
        ignore_patterns: Iterable[str] = (),
        debounce: float = 0.05,
        max_delay: float = 1.0,
        polling: bool | None = None,
        poll_interval: float = 1.0,
        graceful: bool = False,
        check_syntax: bool = True,
        restart: bool = False,
        in_daemon: bool = False,
        max_files: int = 1000,
        memory_limit: int | str | None = None,
        memory_interval: float = 10.0,
        memory_grace: float = 10.0,
        on_change: OnChange | None = None,
        name: str = "FileMonitor",
    ) -> None:
        if paths is None:
            start = _start_file()
            paths = [os.path.dirname(start) if start else os.getcwd()]
        elif isinstance(paths, str | os.PathLike):
            paths = [paths]
        self.paths = [os.path.realpath(os.fspath(path)) for path in paths]
        missing = [path for path in self.paths if not os.path.exists(path)]
        if missing:
            raise SettingError(f"cannot watch what does not exist: {', '.join(missing)}")
        if not self.paths:
            raise SettingError("no path to watch")
        self.extensions = tuple(extensions)
        if any(not isinstance(ext, str) or not ext for ext in self.extensions):
            raise SettingError(f"extensions must be non-empty strings, got {self.extensions!r}")
        self.filter = PathFilter(self.paths, self.extensions, ignore_dirs, ignore_patterns)
        self.debounce = _positive("debounce", debounce)
        self.max_delay = max(_positive("max_delay", max_delay), self.debounce)
        self.polling = polling
        self.poll_interval = _positive("poll_interval", poll_interval)
        self.graceful = graceful
        self.check_syntax = check_syntax
        self.restart = restart
        if restart:
            arm()
        self.in_daemon = in_daemon
        if max_files < 0:
            raise SettingError(f"max_files must not be negative, got {max_files}")
        self.max_files = max_files
        self.memory_limit = parse_size(memory_limit)
        self.memory_interval = _positive("memory_interval", memory_interval)
        self.memory_grace = _positive("memory_grace", memory_grace)
        self.on_change = on_change
        #: the worker that runs the monitor (count 1, not reloadable)
        self.worker = Worker(name=name)
        self.worker.reloadable = False
        self.worker.on_worker_start = self._on_worker_start
        self.worker.on_worker_stop = self._on_worker_stop
        #: how the files are watched once running: "notify" or "polling"
        self.mode = ""
        self.watched_files = 0
        self.batches = self.reloads = self.skipped = 0
        self._master = 0
        self._created_in = os.getpid()  # the master forks the monitor from this process
        self._bound: frozenset[str] = frozenset()
        self._broken: dict[str, SyntaxProblem] = {}
        self._pending = False
        self._guard = MemoryGuard(self.memory_limit, self.memory_grace)
        self._stop: anyio.Event | None = None
        self._unregister: Callable[[], None] = lambda: None
        self._stopped = False
        FileMonitor.instances.append(self)

    def __repr__(self) -> str:
        return f"<FileMonitor {self.paths!r}>"

    # -- in the monitor process ---------------------------------------------------------

    def report(self) -> Mapping[str, object]:
        """Counters of this monitor process; ``status`` shows them on the monitor's row
        as ``file_monitor: mode=notify watched_files=... reloads=...``."""
        return {
            "mode": self.mode or "off",
            "watched_files": self.watched_files,
            "batches": self.batches,
            "reloads": self.reloads,
            "skipped": self.skipped,
            "broken": len(self._broken),
            "memory_reloads": self._guard.reloads,
        }

    def _on_worker_start(self, _worker: Worker) -> None:
        if os.getpid() == self._created_in:
            # Not forked by a master (a worker run with serve()): nobody to reload; the
            # parent is whatever started this process, and must never get our signals.
            logger.warning("file monitor runs outside a master: on_change only, no reloads")
        else:
            self._master = os.getppid()
        # What the master imported before forking is what this process inherited.
        self._bound = frozenset(
            {_start_file()}
            | {
                os.path.realpath(file)
                for module in list(sys.modules.values())
                if isinstance(file := getattr(module, "__file__", None), str)
            }
        )
        self._unregister = register_status("file_monitor", self.report)
        loop = current_loop()
        if self.memory_limit and self._master:
            loop.repeat(self.memory_interval, self._check_memory)
        if _daemon_mode() and not self.in_daemon:
            logger.info(
                "file monitor is off in daemon mode (FileMonitor(in_daemon=True) or"
                " start -d --reload turn it on)"
            )
            return
        loop.spawn(self._watch)

    def _on_worker_stop(self, _worker: Worker) -> None:
        self._stopped = True
        self._unregister()
        if self._stop is not None:
            self._stop.set()

    def _check_memory(self) -> None:
        if self._master_here():
            self._guard.check(self._master, time.monotonic())

    def _choose_polling(self) -> bool:
        if self.polling is not None:
            return self.polling
        if os.environ.get("WATCHFILES_FORCE_POLLING"):
            return True
        where = needs_polling(self.paths)
        if where is not None:
            logger.info("%s does not deliver change notifications: polling", where)
            return True
        limit = _inotify_watch_limit()
        folders = self.filter.folders() if limit else 0
        if limit and folders > limit:
            logger.warning(
                "inotify watches run short: %d folders to watch, fs.inotify.max_user_watches"
                " is %d; polling instead (raise it with sysctl)",
                folders,
                limit,
            )
            return True
        return False

    async def _watch(self) -> None:
        self._stop = anyio.Event()
        if self._stopped:
            return
        # Walking a large tree takes a while: not on the loop, which answers status.
        self.watched_files = await anyio.to_thread.run_sync(
            lambda: sum(1 for _ in self.filter.walk())
        )
        if self.max_files and self.watched_files > self.max_files:
            logger.warning(
                "watching %d files, more than max_files=%d: narrow paths or extensions,"
                " or raise max_files",
                self.watched_files,
                self.max_files,
            )
        polling = await anyio.to_thread.run_sync(self._choose_polling)
        while not self._stopped:
            try:
                # The watches (or the poller's first scan) are in place once this returns:
                # only then is "watching" logged, and a save after it is always seen.
                watcher = await anyio.to_thread.run_sync(self._open, polling)
                with contextlib.closing(watcher):
                    self.mode = "polling" if polling else "notify"
                    logger.info(
                        "file monitor watching %d files in %s (%s)",
                        self.watched_files,
                        ", ".join(self.paths),
                        f"polling every {self.poll_interval:g}s" if polling else "notifications",
                    )
                    await self._serve(watcher)
                return
            except Exception as exc:
                if polling or "watch limit" not in str(exc):
                    self.mode = "failed"
                    logger.error("file monitor stopped watching: %s: %s", type(exc).__name__, exc)
                    return
                logger.warning(
                    "inotify watches ran short (%s; fs.inotify.max_user_watches is %s):"
                    " polling instead (raise it with sysctl)",
                    exc,
                    _inotify_watch_limit() or "unknown",
                )
                polling = True

    def _open(self, polling: bool) -> RustNotify | Poller:
        if polling:
            return Poller(self.filter)
        return RustNotify(self.paths, False, False, 0, True, True)

    async def _serve(self, watcher: RustNotify | Poller) -> None:
        if isinstance(watcher, Poller):
            await self._poll(watcher)
            return
        assert self._stop is not None
        step = max(1, int(self.debounce * 1000))
        most = max(step, int(self.max_delay * 1000))
        while True:
            raw = await anyio.to_thread.run_sync(watcher.watch, most, step, _IDLE_MS, self._stop)
            if raw == "stop":
                return
            if isinstance(raw, set):
                await self._handle(from_watchfiles(c for c in raw if self.filter(c[0], c[1])))

    async def _poll(self, poller: Poller) -> None:
        assert self._stop is not None
        while True:
            with anyio.move_on_after(self.poll_interval):
                await self._stop.wait()
            if self._stopped:
                return
            found = await anyio.to_thread.run_sync(poller.changes)
            if not found:
                continue
            gathering = time.monotonic() + self.max_delay
            while time.monotonic() < gathering:  # the same debounce as notifications get
                await anyio.sleep(self.debounce)
                more = await anyio.to_thread.run_sync(poller.changes)
                if not more:
                    break
                found |= more
            await self._handle(from_watchfiles(found))

    async def _handle(self, changes: list[Change]) -> None:
        if not changes:
            return
        self.batches += 1
        logger.info("changed: %s", _describe(changes))
        if self.on_change is not None and await self._call_on_change(changes) is False:
            return
        if self.check_syntax:
            self._check(changes)
        if self._broken:
            self.skipped += 1
            self._pending = True
            return
        bound = [c for c in changes if os.path.realpath(c.path) in self._bound]
        if bound and self.restart:
            self._restart(bound)
            return
        for change in bound:
            logger.warning(
                "%s was loaded by the master before the workers started, so a reload cannot"
                " pick it up: restart the application (python %s restart) to run it",
                change.path,
                os.path.basename(_start_file()) or "app.py",
            )
        if len(bound) < len(changes) or self._pending:
            self._pending = False
            self._reload()

    async def _call_on_change(self, changes: list[Change]) -> object:
        assert self.on_change is not None
        try:
            result = self.on_change(list(changes))
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            logger.error("on_change raised %s: %s", type(exc).__name__, exc, exc_info=exc)
            return None
        return result

    def _check(self, changes: list[Change]) -> None:
        for change in changes:
            if not change.path.endswith(".py"):
                continue
            problem = check_source(change.path)
            if problem is None:
                if self._broken.pop(change.path, None) is not None:
                    fixed = "compiles again" if os.path.exists(change.path) else "is gone"
                    logger.info("%s %s", change.path, fixed)
            else:
                self._broken[change.path] = problem
                logger.error("%s; not reloading until it compiles", problem)

    def _master_here(self) -> bool:
        if not self._master:
            return False
        if os.getppid() != self._master:
            logger.warning("file monitor: the master (pid %d) is gone", self._master)
            return False
        return True

    def _restart(self, bound: list[Change]) -> None:
        if not self._master_here():
            return
        logger.warning(
            "%s was loaded by the master before the workers started: restarting the application",
            _describe(bound),
        )
        request_restart(self._master)

    def _reload(self) -> None:
        if not self._master_here():
            return
        self.reloads += 1
        logger.info("file monitor: reloading the workers%s", " gracefully" if self.graceful else "")
        os.kill(self._master, signal.SIGUSR2 if self.graceful else signal.SIGUSR1)


def _daemon_mode() -> bool:
    """``start -d`` sets ``daemonize`` on the class whose ``run_all()`` ran."""
    return Worker.daemonize or any(cls.daemonize for cls in Worker.__subclasses__())


def _inotify_watch_limit() -> int:
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 0
