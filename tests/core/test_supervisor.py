"""The multi-process supervisor, driven through the command line: real processes, real
sockets, real signals.

Every test writes an app script into its own ``tmp_path`` (pid, lock, log, status and
stdout files all live there) and listens on a free port, so tests never collide with each
other or with another run. The ``server`` fixture stops whatever a test started, and kills
what is left (the whole process group of the master) even when the test failed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
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
    # "spin" makes it loop for ever, ignoring SIGINT.
    def on_message(connection, message):
        if message == "sleep":
            Timer.add(0.05, time.sleep, 3, persistent=False)
        elif message == "spin":
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            Timer.add(0.05, spin, persistent=False)
        connection.send(f"{{worker.id}} {{os.getpid()}} {{os.getuid()}}")

    worker.on_message = on_message
    return worker


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
        return wait_until(
            lambda: (pids := self.children(name)) and len(pids) == count and pids,
            timeout,
            f"{count} children {name}",
        )

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
        # Last resort: kill the process group of whatever is left (the master's children
        # share it; never our own group), then each process we saw.
        own = os.getpgrp()
        for process in self.alive():
            with contextlib.suppress(OSError):
                group = os.getpgid(process.pid)
                if group != own:
                    os.killpg(group, signal.SIGKILL)
        for process in self.alive():
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


@pytest.mark.parametrize(
    "argv", [["frobnicate"], ["stop", "-d"], ["start", "-x"], ["status", "-g"], []]
)
def test_an_unknown_verb_or_flag_exits_2_with_the_usage(
    server: Callable[..., Server], argv: list[str]
) -> None:
    app = server()
    result = app.command(*argv)
    assert result.returncode == 2
    assert "usage: python app.py <command>" in result.stderr
    assert not app.pid_file.exists()


@pytest.mark.parametrize(
    "argv", [["stop"], ["stop", "-g"], ["status"], ["reload"], ["reload", "-g"], ["connections"]]
)
def test_a_verb_when_not_running_says_so_and_exits_1(
    server: Callable[..., Server], argv: list[str]
) -> None:
    result = server().command(*argv)
    assert result.returncode == 1
    assert "not running" in result.stderr


def test_a_port_in_use_fails_before_forking(server: Callable[..., Server]) -> None:
    app = server(count=3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", app.port))
        taken.listen()
        result = app.command("start", "-d")
    assert result.returncode == 1
    assert "address already in use" in result.stderr
    assert not app.pid_file.exists()
    assert "started in DAEMON mode" not in result.stdout


# -- start, and what runs -----------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_start_d_forks_count_processes_that_all_serve(
    server: Callable[..., Server], driver: str | None
) -> None:
    app = server(
        """
        web = answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=3))
        web.on_worker_start = lambda w: print(f"hello from {w.id} {os.getpid()}", flush=True)
        Worker.run_all()
        """,
        driver,
    )
    result = app.start()
    assert f"event loop {driver_name(driver)}" in result.stdout
    assert re.search(rf"tcp\s+root\s+web\s+text://127.0.0.1:{app.port}\s+3", result.stdout)
    assert "started in DAEMON mode" in result.stdout

    master = app.master()
    assert not gone(master)
    title = lambda: " ".join(psutil.Process(master).cmdline())  # noqa: E731
    wait_until(lambda: "workerman: master process" in title(), what="the master's title")
    pids = app.wait_children(3, "web")
    seen = answers_from(app.port, 3)
    assert sorted(seen) == pids
    assert sorted(seen.values()) == [0, 1, 2]

    # a daemon's stdout goes to stdout_file
    wait_until(lambda: len(app.lines("stdout.log")) == 3, what="three hellos in stdout_file")
    assert sorted(app.lines("stdout.log")) == sorted(f"hello from {i} {p}" for p, i in seen.items())

    # one master per start file: by the pid file, and by the lock without it
    again = app.command("start", "-d")
    assert again.returncode == 1
    assert "already running" in again.stderr
    app.pid_file.rename(app.dir / "hidden.pid")
    again = app.command("start")
    assert again.returncode == 1
    assert "already running" in again.stderr
    (app.dir / "hidden.pid").rename(app.pid_file)
    assert app.children("web") == pids

    app.stop()
    assert wait_until(app.all_gone, 5, "every process to exit")
    assert not app.pid_file.exists()


@pytest.mark.parametrize("driver", DRIVERS)
def test_start_in_the_foreground_stops_on_ctrl_c(
    server: Callable[..., Server], driver: str | None
) -> None:
    app = server(driver=driver, count=2)
    proc = app.popen("start", start_new_session=True)
    try:
        wait_until(lambda: app.pid_file.exists() and len(app.children("web")) == 2)
        assert app.master() == proc.pid
        answers_from(app.port, 2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C: the whole foreground group
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "started in DEBUG mode" in out
    assert wait_until(app.all_gone, 5, "every process to exit")
    assert not app.pid_file.exists()
    codes = [line.split()[2] for line in app.lines("exits")]
    assert codes == ["0", "0"]


def test_reuse_port_gives_each_process_its_own_socket(server: Callable[..., Server]) -> None:
    app = server(
        """
        answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=2, reuse_port=True))
        Worker.run_all()
        """
    )
    app.start(2)
    pids = app.children("web")
    wait_until(lambda: ask_or_none(app.port), what="a child to listen")  # each binds its own
    assert sorted(answers_from(app.port, 2)) == pids
    listeners = {
        pid: [
            c
            for c in psutil.Process(pid).net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == app.port
        ]
        for pid in [app.master(), *pids]
    }
    assert listeners[app.master()] == []  # the master keeps no socket: each child binds its own
    assert all(len(listeners[pid]) == 1 for pid in pids)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_worker_user_runs_its_processes_as_that_user(server: Callable[..., Server]) -> None:
    app = server(
        """
        web = answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=2))
        web.user = "nobody"
        mine = answer(Worker(f"text://127.0.0.1:{PORT2}", name="mine"))
        Worker.run_all()
        """,
        other_user=True,
    )
    result = app.start(3)
    assert re.search(r"tcp\s+nobody\s+web", result.stdout)
    nobody = pwd.getpwnam("nobody").pw_uid
    assert {uid for _, _, uid in [ask(app.port) for _ in range(4)]} == {nobody}
    assert ask(app.port2)[2] == 0
    assert all(psutil.Process(pid).uids().real == nobody for pid in app.children("web"))
    # it still answers status, and stops
    status = app.status()
    assert "[busy]" not in status
    assert len(re.findall(r"\[idle\]", status)) == 3
    app.stop()


# -- status and connections --------------------------------------------------------------


def process_rows(status: str) -> dict[str, list[str]]:
    """PROCESS STATUS rows by their first cell (pid or Summary)."""
    section = status.split(" PROCESS STATUS ")[1]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = line.split()
        if cells and not line.startswith("---"):
            rows[cells[0]] = cells
    return rows


def test_status_shows_both_tables_and_counts_requests(server: Callable[..., Server]) -> None:
    app = server(
        """
        answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=2))
        Worker(name="idler")
        Worker.run_all()
        """
    )
    app.start(3)
    pids = app.children("web")
    idler = app.children("idler")
    status = app.status()
    assert " GLOBAL STATUS " in status
    assert " PROCESS STATUS " in status
    assert "2 workers   3 processes   DAEMON mode" in status
    header = "pid memory listening name connections send_fail timers total_request qps status"
    assert header in " ".join(status.split())
    rows = process_rows(status)
    assert sorted(rows) == sorted([*map(str, pids + idler), "Summary"])
    for pid in pids:
        assert rows[str(pid)][2:4] == [f"text://127.0.0.1:{app.port}", "web"]
        assert rows[str(pid)][-1] == "[idle]"
    assert rows[str(idler[0])][2:4] == ["none", "idler"]
    assert rows["Summary"][-1] == "[Summary]"
    before = int(rows["Summary"][7])

    stop = threading.Event()

    def traffic() -> None:
        with Client(app.port) as client:
            while not stop.is_set():
                client.ask()

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(0.2)
        rows = process_rows(app.status())
    finally:
        stop.set()
        thread.join(10)
    assert int(rows["Summary"][7]) > before + 10
    assert int(rows["Summary"][8]) > 0  # qps, while the client talks
    assert int(rows["Summary"][4]) == 1  # its connection


def test_status_d_refreshes_until_ctrl_c(server: Callable[..., Server]) -> None:
    app = server()
    app.start(1)
    watching = app.popen("status", "-d")
    lines: list[str] = []

    def read() -> None:
        lines.extend(watching.stdout or ())  # line by line, as they come

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # two refreshes
        wait_until(lambda: sum("Press Ctrl+C to quit." in line for line in lines[:]) >= 2)
        watching.send_signal(signal.SIGINT)
        watching.wait(timeout=10)
        reader.join(5)
    finally:
        watching.kill()
    assert watching.returncode == 0
    assert sum(" PROCESS STATUS " in line for line in lines) >= 2
    assert app.master() and not gone(app.master())  # the server is untouched


def test_status_shows_a_blocked_process_busy(server: Callable[..., Server]) -> None:
    app = server(count=2)
    app.start(2)
    _, blocked, _ = ask(app.port, "sleep")  # replies, then sleeps 3 s in the loop
    time.sleep(0.1)
    rows = process_rows(app.status())
    assert rows[str(blocked)][1:] == ["N/A", f"text://127.0.0.1:{app.port}", "web"] + [
        "N/A"
    ] * 5 + ["[busy]"]
    (other,) = set(app.children("web")) - {blocked}
    assert rows[str(other)][-1] == "[idle]"


def test_connections_lists_every_open_connection(server: Callable[..., Server]) -> None:
    app = server(count=2)
    app.start(2)
    clients = [Client(app.port) for _ in range(3)]
    try:
        owners = {client.local_port: client.ask()[1] for client in clients}
        result = app.command("connections")
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "WORKERMAN CONNECTION STATUS" in out
        assert "3 connections" in out
        for local_port, pid in owners.items():
            (row,) = [line for line in out.splitlines() if f"127.0.0.1:{local_port}" in line]
            assert row.split()[:2] == [str(pid), "web"]
            assert f"127.0.0.1:{app.port}" in row
    finally:
        for client in clients:
            client.close()


# -- dying processes ------------------------------------------------------------------------


def test_a_killed_process_is_replaced_in_its_slot(server: Callable[..., Server]) -> None:
    app = server(count=3)
    app.start(3)
    seen = answers_from(app.port, 3)
    victim = next(pid for pid, worker_id in seen.items() if worker_id == 1)
    os.kill(victim, signal.SIGKILL)
    pids = wait_until(
        lambda: (pids := app.children("web")) and len(pids) == 3 and victim not in pids and pids,
        what="a replacement",
    )
    (new,) = set(pids) - set(seen)
    now = answers_from(app.port, 3)
    assert now[new] == 1  # the same slot: worker.id stays 0..count-1
    assert sorted(now.values()) == [0, 1, 2]
    (exit_line,) = wait_until(lambda: app.lines("exits"), what="on_worker_exit")
    name, pid, code, _, caller = exit_line.split()
    assert (name, int(pid), code, int(caller)) == ("web", victim, "-9", app.master())
    status = app.status()
    assert re.search(r"^web\s+\S+\s+-9\s+1$", status, re.MULTILINE), status


def test_a_process_that_keeps_crashing_on_start_is_restarted_ever_slower(
    server: Callable[..., Server],
) -> None:
    app = server(
        """
        def die(worker):
            raise SystemExit(3)

        raising = Worker(name="raising")
        raising.on_worker_start = die
        exiting = Worker(name="exiting")
        exiting.on_worker_start = lambda w: os._exit(3)
        answer(Worker(f"text://127.0.0.1:{PORT}", name="web"))
        Worker.run_all()
        """
    )
    app.start()
    master = app.master()
    time.sleep(3)
    exits = app.lines("exits")
    for name in ("raising", "exiting"):
        mine = [line.split() for line in exits if line.split()[0] == name]
        assert 3 <= len(mine) < 25, exits
        codes = {int(code) for _, _, code, *_ in mine}
        assert codes == {3}  # os._exit(3) and sys.exit(3) alike
        times = [float(t) for _, _, _, t, _ in mine]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[-1] > gaps[0] and gaps[-1] > 0.3, gaps
    assert not gone(master)
    assert not [line for line in exits if line.startswith("web ")]
    ask(app.port)  # the healthy worker serves on
    assert "keeps exiting on start" in (app.dir / "app.log").read_text()
    started = time.monotonic()
    app.stop()  # respawns still pending do not hold up the stop
    assert time.monotonic() - started < 3


# -- reload --------------------------------------------------------------------------------

RELOAD_APP = """
web = answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=3))


def slow_stop(worker):
    note("stops", f"{os.getpid()} {time.monotonic()}")
    time.sleep(0.2)  # a reload one process at a time never overlaps these


web.on_worker_stop = slow_stop
web.on_worker_reload = lambda w: note("reloads", f"web {os.getpid()}")
fixed = answer(Worker(f"text://127.0.0.1:{PORT2}", name="fixed"))
fixed.reloadable = False
fixed.on_worker_reload = lambda w: note("reloads", f"fixed {os.getpid()}")
Worker.on_master_reload = lambda: note("master", "reload")
Worker.run_all()
"""


class Traffic(threading.Thread):
    """A client connecting again and again: each reply's pid; connects that failed
    (refused, timed out), and connections closed before the reply came (dropped)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.pids: list[int] = []
        self.refused: list[OSError] = []
        self.dropped: list[OSError] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                client = Client(self.port)
            except OSError as exc:
                self.refused.append(exc)
                continue
            try:
                self.pids.append(client.ask()[1])
            except OSError as exc:
                self.dropped.append(exc)
            finally:
                client.close()

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(15)


@pytest.mark.parametrize("flags", [[], ["-g"]], ids=["plain", "graceful"])
@pytest.mark.parametrize("driver", [None, "trio"])
def test_reload_restarts_reloadable_processes_one_at_a_time(
    server: Callable[..., Server], driver: str | None, flags: list[str]
) -> None:
    app = server(RELOAD_APP, driver)
    app.start(4)
    old = app.children("web")
    (fixed,) = app.children("fixed")
    with Traffic(app.port) as traffic:
        wait_until(lambda: len(traffic.pids) > 5, what="traffic")
        result = app.command("reload", *flags)
        assert result.returncode == 0, result.stderr
        assert "reloading" in result.stdout
        wait_until(
            lambda: (pids := app.children("web")) and len(pids) == 3 and not set(pids) & set(old),
            what="three new web processes",
        )
        new = app.children("web")
        served = len(traffic.pids)
        wait_until(lambda: len(traffic.pids) > served + 5, what="traffic after the reload")
    # The master keeps the listening socket: every connect succeeds during the reload.
    assert traffic.refused == []
    if flags:
        assert traffic.dropped == []  # and a graceful reload lets each request finish
    else:  # a plain reload closes what the stopping process holds: its request, at most
        assert len(traffic.dropped) <= len(old)
    assert set(traffic.pids) & set(new)
    assert app.children("fixed") == [fixed]
    assert ask(app.port2)[1] == fixed
    assert app.lines("master") == ["reload"]
    reloads = sorted(app.lines("reloads"))
    assert reloads == sorted([f"fixed {fixed}"] + [f"web {pid}" for pid in old])

    # one at a time: each old process stopped only after the one before it exited
    stops = {int(pid): float(t) for pid, t in (line.split() for line in app.lines("stops"))}
    exits = {int(line.split()[1]): float(line.split()[3]) for line in app.lines("exits")}
    assert sorted(stops) == old and sorted(exits) == old
    order = sorted(old, key=stops.__getitem__)
    for before, after in itertools.pairwise(order):
        assert exits[before] < stops[after]


def test_graceful_reload_lets_open_connections_finish(server: Callable[..., Server]) -> None:
    app = server(
        """
        web = answer(Worker(f"text://127.0.0.1:{PORT}", name="web"))
        Worker.run_all()
        """
    )
    app.start(1)
    (old,) = app.children("web")
    with Client(app.port) as client:
        assert client.ask()[1] == old
        result = app.command("reload", "-g")
        assert result.returncode == 0, result.stderr
        assert "reloading gracefully" in result.stdout
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:  # still served, by the old process
            assert client.ask()[1] == old
            time.sleep(0.05)
        assert app.children("web") == [old]
    wait_until(lambda: app.children("web") not in ([], [old]), what="the new process")
    (new,) = app.children("web")
    assert ask(app.port)[1] == new
    assert gone(old)


# -- stop -----------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_graceful_stop_waits_for_open_connections(
    server: Callable[..., Server], driver: str | None
) -> None:
    app = server(driver=driver, count=2)
    app.start(2)
    with Client(app.port) as client:
        _, pid, _ = client.ask()
        stopping = app.popen("stop", "-g")
        try:
            wait_until(lambda: "stopping gracefully" in (app.dir / "app.log").read_text())
            (idle,) = set(app.children("web")) - {pid}
            wait_until(lambda: gone(idle), what="the idle process to exit")
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                assert client.ask()[1] == pid
                time.sleep(0.05)
            assert stopping.poll() is None
            with pytest.raises(ConnectionRefusedError):
                Client(app.port, timeout=1)  # no longer accepting, even in the master
        except BaseException:
            stopping.kill()
            raise
    out, err = stopping.communicate(timeout=10)
    assert stopping.returncode == 0, err
    assert "stop success" in out
    assert wait_until(app.all_gone, 5, "every process to exit")
    assert not app.pid_file.exists()


def test_a_plain_stop_cuts_a_graceful_stop_short(server: Callable[..., Server]) -> None:
    app = server()
    app.start(1)
    with Client(app.port) as client:
        client.ask()
        stopping = app.popen("stop", "-g")
        try:
            wait_until(lambda: "stopping gracefully" in (app.dir / "app.log").read_text())
            client.ask()  # still served
            app.stop()  # the connection no longer holds it up
            out, _ = stopping.communicate(timeout=10)
        finally:
            stopping.kill()
        assert stopping.returncode == 0
        assert "stop success" in out
        assert client.sock.recv(16) == b""  # closed by the server
    assert wait_until(app.all_gone, 5, "every process to exit")


def test_stop_kills_a_stuck_process_after_stop_timeout(server: Callable[..., Server]) -> None:
    app = server(
        """
        Worker.stop_timeout = 1
        Worker.on_master_stop = lambda: note("master", "stop")
        answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=2))
        Worker.run_all()
        """
    )
    app.start(2)
    master = app.master()
    _, stuck, _ = ask(app.port, "spin")
    time.sleep(0.2)
    started = time.monotonic()
    result = app.stop()
    took = time.monotonic() - started
    assert 0.9 < took < 5, result.stdout
    assert wait_until(app.all_gone, 5, "every process to exit")
    assert gone(master)
    assert not app.pid_file.exists()
    assert app.lines("master") == ["stop"]
    codes = {int(line.split()[1]): line.split()[2] for line in app.lines("exits")}
    assert codes.pop(stuck) == "-9"
    assert list(codes.values()) == ["0"]
    log = (app.dir / "app.log").read_text()
    assert "stopping" in log
    assert f"worker process {stuck} did not stop in time; killing it" in log
    assert "stopped" in log


def test_restart_d_starts_a_new_master(server: Callable[..., Server]) -> None:
    app = server(count=2)
    app.start(2)
    master = app.master()
    old = app.children("web")
    result = app.command("restart", "-d")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stop success" in result.stdout
    assert "started in DAEMON mode" in result.stdout
    assert app.master() != master
    app.remember(app.master())
    wait_until(lambda: gone(master), 5, "the old master to exit")
    new = app.wait_children(2, "web")
    assert not set(new) & set(old)
    assert sorted(answers_from(app.port, 2)) == new
