"""Where a running server keeps its files, and the process plumbing around them:
pid file, the lock that keeps one master per start file, daemonizing, logging."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import logging.handlers
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, TYPE_CHECKING

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
    log_file: Path
    status_file: Path
    connections_file: Path

    @property
    def name(self) -> str:
        return os.path.basename(self.start_file)


def start_file() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "") or "workerman"
    return os.path.abspath(path)


def paths_for(worker_class: type[Worker]) -> Paths:
    """The files for this start file; each defaults to the temp dir, named after it."""
    start = start_file()
    prefix = start.strip("/").replace("/", "_")
    base = Path(tempfile.gettempdir())
    pid = Path(worker_class.pid_file or base / f"workerman.{prefix}.pid")
    status = Path(worker_class.status_file or base / f"workerman.{prefix}.status")
    log = Path(worker_class.log_file or base / f"workerman.{prefix}.log")
    return Paths(
        start_file=start,
        pid_file=pid,
        lock_file=pid.with_name(pid.name + ".lock"),
        log_file=log,
        status_file=status,
        connections_file=status.with_name(status.name + ".connections"),
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
    try:
        fd = os.open(paths.lock_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def acquire_lock(paths: Paths) -> int | None:
    """Hold the start file's lock for the life of the master; None if another holds it."""
    paths.lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.set_inheritable(fd, False)
    return fd


def write_pid(paths: Paths) -> None:
    paths.pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.pid_file.with_name(paths.pid_file.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(paths.pid_file)


def remove_files(paths: Paths) -> None:
    """Remove the pid file. The lock file stays: its lock is released when the master
    exits, which is the moment `stop` waits for."""
    with contextlib.suppress(OSError):
        paths.pid_file.unlink()


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
