"""Where a running server keeps its files, and the process plumbing around them:
pid file, the lock that keeps one master per start file, the state file the master
keeps for the command line, daemonizing, logging."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import logging.handlers
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._worker import Worker

logger = logging.getLogger("workerman.core")

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"


@dataclass(frozen=True)
class Paths:
    """The files of one start file's server."""

    start_file: str
    pid_file: Path
    lock_file: Path
    log_file: Path | None  # None: log to stderr only
    status_file: Path
    connections_file: Path

    @property
    def state_file(self) -> Path:
        """What the master tells the command line: its files, its timeouts, and how the
        last reload went (see :func:`read_state`)."""
        return self.pid_file.with_name(self.pid_file.name + ".state")

    @property
    def name(self) -> str:
        return os.path.basename(self.start_file)


def start_file() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "") or "workerman"
    return os.path.abspath(path)


def paths_for(worker_class: type[Worker]) -> Paths:
    """The files for this start file (see :func:`default_paths` for where they go)."""
    return default_paths(
        start_file(), worker_class.pid_file, worker_class.status_file, worker_class.log_file
    )


def default_paths(
    start: str, pid_file: str = "", status_file: str = "", log_file: str | None = ""
) -> Paths:
    """The files of the server started from ``start``; empty settings take the defaults
    (``log_file=None``: no log file).

    The pid, lock, state and status files live while the server runs and go with it: they
    default to the temp dir, named after the start file's path. The log is the record of
    what happened and stays: it defaults to ``<start file>.workerman.log`` beside the
    start file (as Workerman keeps ``workerman.log`` in the project), or the temp dir
    when that directory is not writable."""
    start = os.path.abspath(start)
    prefix = start.strip("/").replace("/", "_")
    base = Path(tempfile.gettempdir())
    pid = Path(pid_file or base / f"workerman.{prefix}.pid")
    status = Path(status_file or base / f"workerman.{prefix}.status")
    log = None if log_file is None else Path(log_file or default_log_file(start))
    return Paths(
        start_file=start,
        pid_file=pid,
        lock_file=pid.with_name(pid.name + ".lock"),
        log_file=log,
        status_file=status,
        connections_file=status.with_name(status.name + ".connections"),
    )


def default_log_file(start: str) -> Path:
    """``app.workerman.log`` beside ``app.py``; in the temp dir when that is not writable
    (or the start is no file: ``python -c``)."""
    beside = Path(start)
    if beside.is_file() and os.access(beside.parent, os.W_OK):
        return beside.with_name(f"{beside.stem}.workerman.log")
    prefix = start.strip("/").replace("/", "_")
    return Path(tempfile.gettempdir()) / f"workerman.{prefix}.log"


def write_state(paths: Paths, state: dict[str, Any]) -> None:
    """The master's state file, written whole (a reader never sees half of it)."""
    tmp = paths.state_file.with_name(f".{paths.state_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(paths.state_file)


def read_state(paths: Paths) -> dict[str, Any] | None:
    """What the running master last wrote: ``status_file``, ``connections_file``,
    ``log_file``, ``stop_timeout``, ``graceful_stop_timeout`` and ``reload`` (``asked``:
    reload requests received; ``last``: the last finished round, with the number of
    requests it ``covers``, ``ok`` and a ``message``; ``running``: a round under way)."""
    try:
        state = json.loads(paths.state_file.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def paths_from_state(paths: Paths) -> Paths:
    """``paths`` with the files the running master says it uses (so a command line
    that did not import the app, or imported a changed one, finds them)."""
    state = read_state(paths)
    if state is None:
        return paths
    log = state.get("log_file")
    return Paths(
        start_file=paths.start_file,
        pid_file=paths.pid_file,
        lock_file=paths.lock_file,
        log_file=Path(log) if log else None,
        status_file=Path(state.get("status_file") or paths.status_file),
        connections_file=Path(state.get("connections_file") or paths.connections_file),
    )


def read_master_pid(paths: Paths) -> int:
    """The pid of the running master for this start file, or 0."""
    try:
        pid = int(paths.pid_file.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0
    if pid <= 0 or pid == os.getpid():
        return 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return 0
    except PermissionError:
        return pid  # alive, owned by someone else
    return pid if is_locked(paths) else 0


def is_locked(paths: Paths) -> bool:
    fd = open_lock(paths)
    if fd < 0:
        return False
    try:
        return fd_locked(fd)
    finally:
        os.close(fd)


def open_lock(paths: Paths) -> int:
    """The lock file opened for :func:`fd_locked`, or -1 when there is none. Kept open, it
    still tells when the master exits after the master removed the file."""
    try:
        return os.open(paths.lock_file, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def fd_locked(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def acquire_lock(paths: Paths) -> int | None:
    """Hold the start file's lock for the life of the master; None if another holds it."""
    paths.lock_file.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:  # a master that stopped may have removed the file we locked: lock anew
            same = os.stat(paths.lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.set_inheritable(fd, False)
            return fd
        os.close(fd)


def write_pid(paths: Paths) -> None:
    paths.pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.pid_file.with_name(paths.pid_file.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(paths.pid_file)


def remove_files(paths: Paths) -> None:
    """Remove the pid, state and lock files (the lock is held until the master exits:
    `stop` waits on the lock file it opened before it asked)."""
    for path in (paths.pid_file, paths.state_file, paths.lock_file):
        with contextlib.suppress(OSError):
            path.unlink()


def setup_logging(paths: Paths, max_bytes: int, to_stderr: bool) -> None:
    """Log to the size-capped log file (one backup kept), and to stderr in the foreground."""
    root = logging.getLogger()
    ours = logging.getLogger("workerman.core")
    if root.handlers and not getattr(setup_logging, "installed", False):
        return  # the application configured logging itself
    setup_logging.installed = True  # type: ignore[attr-defined]
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(_FORMAT)
    if paths.log_file is not None:
        paths.log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            paths.log_file, maxBytes=max_bytes, backupCount=1
        )
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(formatter)
        root.addHandler(stream)
    root.setLevel(logging.INFO)
    ours.setLevel(logging.INFO)


def daemonize(stdout_file: str) -> IO[bytes]:
    """Detach into the background (fork, setsid, fork). The original process blocks until
    the daemon reports through the returned pipe, then exits with the status it reports.

    Returns the write end of that pipe, for the daemon to report on.
    """
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            report = pipe.read()
        status = int(report or b"1")
        os._exit(status)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.umask(0o022)
    redirect_stdio(stdout_file)
    return os.fdopen(write_end, "wb", buffering=0)


def redirect_stdio(stdout_file: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    Path(stdout_file).parent.mkdir(parents=True, exist_ok=True)
    out = os.open(stdout_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    # Every process of the daemon appends to this file: one write per whole line keeps
    # their lines from interleaving (unbuffered mode would write text and newline apart).
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True, write_through=False)  # type: ignore[union-attr]


def package_version() -> str:
    try:
        return version("workerman-core")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def set_title(title: str) -> None:
    """Set the process title when setproctitle is installed (the `proctitle` extra)."""
    try:
        from setproctitle import setproctitle
    except ImportError:
        return
    setproctitle(title)
