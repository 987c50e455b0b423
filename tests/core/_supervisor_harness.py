"""Helpers for the supervisor tests: app scripts in tmp_path, clients, and the ``server``
fixture that stops whatever a test started (and kills what is left) even when it failed."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

DRIVERS = [None, "asyncio", "trio"]  # None: the default driver (uvloop when installed)

HEADER = """\
import os
import signal
import sys
import time
from pathlib import Path

from workerman.core import Timer, Worker

HERE = Path({here!r})
PORT = {port}
PORT2 = {port2}
Worker.pid_file = str(HERE / "app.pid")
Worker.log_file = str(HERE / "app.log")
Worker.status_file = str({status_file!r})
Worker.stdout_file = str(HERE / "stdout.log")
Worker.event_loop = {driver!r}


def note(name, line):
    with open(HERE / name, "a") as f:
        f.write(line + "\\n")


def answer(worker):
    # "<worker.id> <pid> <uid>"; "sleep" blocks the process 3 s (after replying);
    # "block" blocks it until the file "release" exists (at most 60 s);
    # "spin" makes it loop for ever, ignoring SIGINT.
    def on_message(connection, message):
        if message == "sleep":
            Timer.add(0.05, time.sleep, 3, persistent=False)
        elif message == "block":
            Timer.add(0.05, block_until_released, persistent=False)
        elif message == "spin":
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            Timer.add(0.05, spin, persistent=False)
        connection.send(f"{{worker.id}} {{os.getpid()}} {{os.getuid()}}")

    worker.on_message = on_message
    return worker


def block_until_released():
    deadline = time.monotonic() + 60
    while not (HERE / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def spin():
    while True:
        time.sleep(0.05)


def exited(worker, code, pid):
    # called in the master: the last field is the pid of the process that calls it
    note("exits", f"{{worker.name}} {{pid}} {{code}} {{time.monotonic()}} {{os.getpid()}}")


Worker.on_worker_exit = exited
"""

SIMPLE = """
answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=COUNT))
Worker.run_all()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 10, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed by the server (got {data!r})")
        data += chunk
    return data.decode().rstrip("\n")


class Client:
    """One connection kept open; ``ask`` sends a line and returns the reply's fields."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.local_port = self.sock.getsockname()[1]

    def ask(self, message: str = "hi") -> tuple[int, int, int]:
        self.sock.sendall(message.encode() + b"\n")
        worker_id, pid, uid = read_line(self.sock).split()
        return int(worker_id), int(pid), int(uid)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ask(port: int, message: str = "hi") -> tuple[int, int, int]:
    """A fresh connection: (worker.id, pid, uid) of the process that answered."""
    with Client(port) as client:
        return client.ask(message)


def ask_or_none(port: int) -> tuple[int, int, int] | None:
    try:
        return ask(port)
    except ConnectionRefusedError:
        return None


def answers_from(port: int, want: int, timeout: float = 15) -> dict[int, int]:
    """Connect again and again until ``want`` different processes answered: pid -> id."""
    seen: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < want:
        assert time.monotonic() < deadline, f"only {len(seen)} of {want} processes answered"
        worker_id, pid, _ = ask(port)
        seen[pid] = worker_id
    return seen


class Server:
    def __init__(self, tmp_path: Path, body: str, driver: str | None, status_dir: Path) -> None:
        self.dir = tmp_path
        self.port = free_port()
        self.port2 = free_port()
        self.app = tmp_path / "app.py"
        header = HEADER.format(
            here=str(tmp_path),
            port=self.port,
            port2=self.port2,
            status_file=str(status_dir / "app.status"),
            driver=driver,
        )
        self.app.write_text(header + textwrap.dedent(body))
        self.pid_file = tmp_path / "app.pid"
        self.known: dict[int, psutil.Process] = {}  # every process we saw: to clean up

    # -- the command line -------------------------------------------------------------

    def command(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(self.app), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.dir,
        )

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(self.app), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.dir,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            **kwargs,
        )
        self.remember(proc.pid)
        return proc

    def start(self, children: int = 0) -> subprocess.CompletedProcess[str]:
        """``start -d``; then waits until the master has ``children`` children."""
        result = self.command("start", "-d")
        assert result.returncode == 0, result.stdout + result.stderr
        self.remember(self.master())
        if children:
            self.wait_children(children)
        return result

    def stop(self, *flags: str) -> subprocess.CompletedProcess[str]:
        result = self.command("stop", *flags)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "stop success" in result.stdout
        return result

    def status(self) -> str:
        result = self.command("status")
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    # -- processes ---------------------------------------------------------------------

    def master(self) -> int:
        return int(self.pid_file.read_text())

    def remember(self, pid: int) -> None:
        if pid not in self.known:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.known[pid] = psutil.Process(pid)

    def children(self, name: str = "") -> list[int]:
        """Pids of the master's live children (of worker ``name``, by process title)."""
        try:
            children = psutil.Process(self.master()).children()
        except (psutil.NoSuchProcess, OSError, ValueError):
            return []
        pids = []
        for child in children:
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                title = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            self.remember(child.pid)
            if f" {name} " in f" {title} ":
                pids.append(child.pid)
        return sorted(pids)

    def wait_children(self, count: int, name: str = "", timeout: float = 10) -> list[int]:
        """Wait for ``count`` children (of worker ``name``) that have set their process
        title: a child counted before it names itself would be missed by name."""

        def named() -> list[int] | None:
            pids = self.children(name)
            if len(pids) != count or len(self.children("worker process")) != len(self.children()):
                return None
            return pids

        return wait_until(named, timeout, f"{count} children {name}")

    def lines(self, name: str) -> list[str]:
        try:
            return (self.dir / name).read_text().splitlines()
        except FileNotFoundError:
            return []

    def all_gone(self) -> bool:
        return not self.alive()

    def alive(self) -> list[psutil.Process]:
        out = []
        for process in self.known.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    out.append(process)
        return out

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            if self.pid_file.exists():
                self.remember(self.master())
                self.children()  # remembers them
                self.command("stop", timeout=15)
        kill_left(self.alive)


def kill_left(alive: Callable[[], list[psutil.Process]]) -> None:
    """Last resort after a test's app: kill the process group of whatever ``alive()``
    still lists (the master's children share it; never our own group), then each one."""
    own = os.getpgrp()
    for process in alive():
        with contextlib.suppress(OSError):
            group = os.getpgid(process.pid)
            if group != own:
                os.killpg(group, signal.SIGKILL)
    for process in alive():
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``server(body, driver=None, count=1)``: write the app (SIMPLE: one worker "web" of
    ``count`` processes); the test starts it as it likes. ``other_user``: the status file
    goes to a world-writable directory, for processes that switch to another user."""
    made: list[Server] = []
    status_dirs: list[str] = []

    def make(
        body: str = SIMPLE, driver: str | None = None, count: int = 1, other_user: bool = False
    ) -> Server:
        status_dir = tmp_path
        if other_user:  # tmp_path is root's alone: nobody could write its snapshot there
            status_dirs.append(tempfile.mkdtemp(prefix="workerman-test-"))
            status_dir = Path(status_dirs[-1])
            status_dir.chmod(0o1777)
        made.append(Server(tmp_path, body.replace("COUNT", str(count)), driver, status_dir))
        return made[-1]

    yield make
    for one in made:
        one.cleanup()
    for path in status_dirs:
        shutil.rmtree(path, ignore_errors=True)
    for one in made:
        assert wait_until(one.all_gone, 5, "every process to exit")


def gone(pid: int) -> bool:
    """Exited (a zombie counts: an orphan's reaper may be slow, or absent in a container)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def driver_name(driver: str | None) -> str:
    return driver or ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")


# -- the command line ------------------------------------------------------------------
