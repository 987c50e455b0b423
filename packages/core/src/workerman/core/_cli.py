"""``python app.py <command>``: start, stop, restart, reload, status, connections.

Every command but start talks to the running master through its pid file, its signals and
the state file it keeps, so those also work without importing the app (``python -m
workerman.core stop app.py``), for an app that no longer imports.
"""

from __future__ import annotations

import getpass
import os
import platform
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, NoReturn

from ._exceptions import ServerError
from ._extensions import describe
from ._loop import create_loop
from ._process import CONNECTIONS, GRACEFUL_RELOAD, GRACEFUL_STOP, RELOAD, STATUS
from ._runtime import (
    Paths,
    acquire_lock,
    daemonize,
    fd_locked,
    open_lock,
    package_version,
    paths_for,
    paths_from_state,
    read_master_pid,
    read_state,
    remove_files,
    setup_logging,
    write_pid,
)
from ._status import format_connections, format_status, read_json, remove_matching
from ._supervisor import Supervisor
from ._worker import Worker, takes_command_line

FLAGS = {
    "start": {"-d", "--reload"},
    "stop": {"-g"},
    "restart": {"-d", "-g", "--reload"},
    "reload": {"-g"},
    "status": {"-d"},
    "connections": set(),
}

USAGE = """\
usage: python {prog} <command> [flag]

commands:
  start          start every worker in the foreground (Ctrl+C stops); -d: as a daemon;
                 --reload: reload the workers when their code changes
  stop           stop; -g: gracefully, letting open connections finish
  restart        stop, then start; -d: as a daemon; -g: stop gracefully; --reload: as for start
  reload         restart the worker processes one at a time and wait until the new ones
                 serve (exit 0) or one fails to start (exit 1); -g: gracefully
  status         show the status of every process; -d: refresh every second
  connections    list the connections of every process
"""

_ANSWER_TIMEOUT = 1.0  # a process that has not answered by then is shown busy
_STOP_MARGIN = 3.0  # past the master's own deadlines, before `stop` gives up

#: ``--reload`` calls the first entry point of this group (by name) with the Worker class
#: before anything binds; workerman-file-monitor provides one.
RELOADER_GROUP = "workerman.reloaders"


@dataclass(frozen=True)
class Timeouts:
    """The running master's deadlines (from its state file; else the Worker class's)."""

    stop: float
    graceful: float

    @classmethod
    def of(cls, paths: Paths, worker_class: type[Worker]) -> Timeouts:
        state = read_state(paths) or {}
        return cls(
            float(state.get("stop_timeout", worker_class.stop_timeout)),
            float(state.get("graceful_stop_timeout", worker_class.graceful_stop_timeout)),
        )


@dataclass(frozen=True)
class Command:
    verb: str
    daemon: bool = False
    graceful: bool = False
    reload_on_change: bool = False


def _prog() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "app.py"


def _again(command: str) -> str:
    """The command line that runs ``command`` on this app: the same interpreter and start
    file as now (a venv's python, ``python3.12``, ...)."""
    start = sys.argv[0] if sys.argv and sys.argv[0] else "app.py"
    return f"{shlex.quote(sys.executable)} {shlex.quote(start)} {command}"


def _usage_error(message: str) -> SystemExit:
    prog = _prog()
    print(f"{prog}: {message}\n" + USAGE.format(prog=prog), file=sys.stderr, end="")
    return SystemExit(2)


def parse_command(argv: Sequence[str]) -> Command:
    """The command and its flags; anything unknown exits with status 2 and the usage."""
    if not argv:
        raise _usage_error("a command is required")
    if argv[0] in ("-h", "--help", "help"):
        prog = _prog()
        print(USAGE.format(prog=prog), end="")
        raise SystemExit(0)
    verb, *flags = argv
    if verb not in FLAGS:
        raise _usage_error(f"unknown command {verb!r}")
    for flag in flags:
        if flag not in FLAGS[verb]:
            raise _usage_error(f"unexpected argument {flag!r} for {verb!r}")
    return Command(
        verb, daemon="-d" in flags, graceful="-g" in flags, reload_on_change="--reload" in flags
    )


def _fail(message: str, code: int = 1) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(code)


def main(worker_class: type[Worker], argv: Sequence[str]) -> NoReturn:
    command = parse_command(argv)
    paths = paths_for(worker_class)
    tag = f"workerman[{paths.name}]"
    master = read_master_pid(paths)
    if command.verb == "start" and master:
        _fail(f"{tag} already running (master pid {master})")
    if command.verb not in ("start", "restart"):
        control(command, paths, master, Timeouts.of(paths, worker_class))
    if command.verb == "restart" and master:
        code = stop(paths, master, command.graceful, Timeouts.of(paths, worker_class))
        if code:
            raise SystemExit(code)
    if command.reload_on_change:
        install_reloader(worker_class)
    start(worker_class, paths, daemon=command.daemon or worker_class.daemonize)


def control(command: Command, paths: Paths, master: int, timeouts: Timeouts) -> NoReturn:
    """stop, reload, status, connections: the commands that only talk to the master."""
    if not master:
        _fail(f"workerman[{paths.name}] not running")
    paths = paths_from_state(paths)
    if command.verb == "stop":
        raise SystemExit(stop(paths, master, command.graceful, timeouts))
    if command.verb == "reload":
        raise SystemExit(reload(paths, master, command.graceful))
    if command.verb == "status":
        show_status(paths, master, refresh=command.daemon)
    show_connections(paths, master)


def install_reloader(worker_class: type[Worker]) -> None:
    """``--reload``: hand the Worker class to the installed reloader (the first entry point
    of :data:`RELOADER_GROUP`), which adds the workers that watch the code; exits 1 when
    none is installed or it fails."""
    found = sorted(entry_points(group=RELOADER_GROUP), key=lambda ep: ep.name)
    if not found:
        _fail("workerman: --reload needs a reloader: pip install workerman-file-monitor")
    try:
        found[0].load()(worker_class)
    except Exception as exc:
        _fail(f"workerman: the reloader {found[0].value!r} failed: {exc}")


def start(worker_class: type[Worker], paths: Paths, daemon: bool) -> NoReturn:
    tag = f"workerman[{paths.name}]"
    lock = acquire_lock(paths)
    if lock is None:
        _fail(f"{tag} already running")
    workers = list(worker_class.workers)
    if not workers:
        remove_files(paths)  # (the lock file this start made)
        _fail(f"{tag}: no worker to run; create a Worker before run_all()")
    try:
        for worker in workers:
            worker.bind()  # before forking: a port in use fails here, once
    except ServerError as exc:
        remove_files(paths)
        _fail(f"workerman: {exc}")
    for worker in workers:
        if worker.reuse_port:
            worker._close_inherited()  # each process binds its own
    try:
        loop_name = create_loop(worker_class.event_loop).name
        print_startup(workers, loop_name, daemon)
        setup_logging(paths, worker_class.log_file_max_size, to_stderr=not daemon)
        report = daemonize(worker_class.stdout_file) if daemon else None
        worker_class.daemonize = daemon
        write_pid(paths)
        if report is not None:
            report.write(b"0")
            report.close()
        code = Supervisor(worker_class, workers, paths, daemon).run(lock)
    except KeyboardInterrupt:  # Ctrl+C before the master took over its signals
        remove_files(paths)
        print(f"{tag} stopped", flush=True)
        raise SystemExit(130) from None
    raise SystemExit(code)


def stop(paths: Paths, master: int, graceful: bool, timeouts: Timeouts) -> int:
    tag = f"workerman[{paths.name}]"
    print(f"{tag} {'stopping gracefully' if graceful else 'stopping'} ...", flush=True)
    # The lock goes with the master, even while it is a zombie; the master removes the
    # file before it exits, so hold it open to see the moment the lock is let go.
    lock = open_lock(paths)
    os.kill(master, GRACEFUL_STOP if graceful else signal.SIGINT)
    wait = timeouts.stop + (timeouts.graceful if graceful else 0) + _STOP_MARGIN
    deadline = time.monotonic() + wait
    try:
        while lock >= 0 and fd_locked(lock):
            if time.monotonic() > deadline:
                print(f"{tag} stop failed: the master (pid {master}) is still running", flush=True)
                return 1
            time.sleep(0.02)
    finally:
        if lock >= 0:
            os.close(lock)
    print(f"{tag} stop success", flush=True)
    return 0


def reload(paths: Paths, master: int, graceful: bool) -> int:
    """Ask for a reload, then wait for the round that covers it: 0 when every process
    it restarted serves again, 1 when one failed to start (the message says why)."""
    tag = f"workerman[{paths.name}]"
    kind = " gracefully" if graceful else ""
    state = read_state(paths)
    if state is None:  # a master that keeps no state: it can only be asked
        os.kill(master, GRACEFUL_RELOAD if graceful else RELOAD)
        print(f"{tag} reloading{kind}")
        return 0
    if state.get("state") == "shutdown":
        _fail(f"{tag} is stopping; not reloading")
    asked = state["reload"]["asked"]
    busy = state["reload"]["running"] is not None
    os.kill(master, GRACEFUL_RELOAD if graceful else RELOAD)
    if busy:
        print(f"{tag} a reload is under way; this one{kind} runs when it is done", flush=True)
    else:
        print(f"{tag} reloading{kind} ...", flush=True)
    try:
        while True:
            state = read_state(paths)
            if state is None or state.get("state") == "shutdown":
                print(f"{tag} reload failed: the server stopped", file=sys.stderr)
                return 1
            last = state["reload"]["last"]
            if last is not None and last["covers"] > asked:
                if last["ok"]:
                    print(f"{tag} reload done: {last['message']} in {last['took']:g}s")
                    return 0
                print(f"{tag} reload failed: {last['message']}", file=sys.stderr)
                return 1
            time.sleep(0.02)
    except KeyboardInterrupt:
        print(f"\n{tag} no longer waiting; the reload goes on", file=sys.stderr)
        return 130


def _collect(paths_base: Any, master: int, signum: int) -> tuple[Any, dict[int, Any]]:
    """Ask the master (which asks every process) for snapshots; wait for the answers."""
    remove_matching(paths_base)
    sent = time.monotonic()
    os.kill(master, signum)
    summary = None
    answers: dict[int, Any] = {}
    while time.monotonic() - sent < _ANSWER_TIMEOUT:
        if summary is None:
            summary = read_json(paths_base)
        if summary is not None:
            for pid in summary["processes"]:
                if int(pid) not in answers:
                    answer = read_json(paths_base.with_name(f"{paths_base.name}.{pid}"))
                    if answer is not None:
                        answers[int(pid)] = answer
            if len(answers) == len(summary["processes"]):
                break
        time.sleep(0.01)
    if summary is None:
        _fail(f"workerman[{os.path.basename(str(paths_base))}]: the master did not answer")
    return summary, answers


def show_status(paths: Paths, master: int, refresh: bool) -> NoReturn:
    if refresh:  # until Ctrl+C, even where it was started with SIGINT ignored (`cmd &`)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _, first = _collect(paths.status_file, master, STATUS)
        time.sleep(0.5)
        while True:
            summary, second = _collect(paths.status_file, master, STATUS)
            if refresh:
                print("\033[H\033[2J", end="")
            print(format_status(summary, first, second), end="", flush=True)
            if not refresh:
                break
            print("\nPress Ctrl+C to quit.", flush=True)
            first = second
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        remove_matching(paths.status_file)
    raise SystemExit(0)


def show_connections(paths: Paths, master: int) -> NoReturn:
    try:
        _, answers = _collect(paths.connections_file, master, CONNECTIONS)
    finally:
        remove_matching(paths.connections_file)
    rows = [row for answer in answers.values() for row in answer]
    print(format_connections(rows), end="", flush=True)
    raise SystemExit(0)


def print_startup(workers: Sequence[Worker], loop_name: str, daemon: bool) -> None:
    user = getpass.getuser()
    rows = [("transport", "user", "worker", "listen", "processes")]
    rows += [
        (w.transport, w.user or user, w.name, w.socket_name or "none", str(w.count))
        for w in workers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(
        f"workerman {package_version()}  Python {platform.python_version()}  event loop {loop_name}"
        f"  {describe()}"  # compiled or pure
    )
    for row in rows:
        print(line.format(*row).rstrip())
    if daemon:
        print(f'started in DAEMON mode; "{_again("stop")}" stops it.', flush=True)
    else:
        print("running in the foreground; press Ctrl+C to stop.", flush=True)


takes_command_line(main)
