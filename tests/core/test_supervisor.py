"""The multi-process supervisor, driven through the command line: real processes, real
sockets, real signals. Start, status, connections, and processes that die."""

from __future__ import annotations

import itertools
import os
import pwd
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

import psutil
import pytest

from ._supervisor_harness import (
    DRIVERS,
    Client,
    Server,
    answers_from,
    ask,
    ask_or_none,
    driver_name,
    gone,
    wait_until,
)


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
    assert "running in the foreground; press Ctrl+C to stop." in out
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
    section = status.split(" PROCESS STATUS ")[1].split(" COMPONENTS ", maxsplit=1)[0]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = line.split()
        if cells and not line.startswith("---"):
            rows[cells[0]] = cells
    return rows


def test_a_daemon_start_names_the_stop_command_with_this_interpreter(
    server: Callable[..., Server],
) -> None:
    app = server()
    result = app.start(1)
    assert f'"{sys.executable} {app.app} stop" stops it.' in result.stdout
    assert app.command("stop").returncode == 0


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
    header = (
        "pid memory listening name connections outgoing send_fail timeouts timers total_request"
    )
    header += " qps"
    header += " status"
    assert header in " ".join(status.split())
    rows = process_rows(status)
    assert sorted(rows) == sorted([*map(str, pids + idler), "Summary"])
    for pid in pids:
        assert rows[str(pid)][2:4] == [f"text://127.0.0.1:{app.port}", "web"]
        assert rows[str(pid)][-1] == "[idle]"
    assert rows[str(idler[0])][2:4] == ["none", "idler"]
    assert rows["Summary"][-1] == "[Summary]"
    before = int(rows["Summary"][9])

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
    assert int(rows["Summary"][9]) > before + 10
    assert int(rows["Summary"][10]) > 0  # qps, while the client talks
    assert int(rows["Summary"][4]) == 1  # its connection


def test_status_shows_what_components_register_per_process(
    server: Callable[..., Server],
) -> None:
    app = server(
        """
        from workerman.core import register_status

        def start(worker):
            calls = []
            def report():
                calls.append(1)
                return {"asked": len(calls), "worker": worker.name}
            register_status("probe", report)
            unregister = register_status("gone", lambda: {"x": 1})
            unregister()

        web = Worker(f"text://127.0.0.1:{PORT}", name="web", count=2)
        web.on_worker_start = start
        Worker(name="idler")
        Worker.run_all()
        """
    )
    app.start(3)
    status = app.status()
    assert " COMPONENTS " in status
    lines = status.split(" COMPONENTS ")[1].splitlines()[1:-1]
    assert sorted(line.split()[0] for line in lines) == sorted(map(str, app.children("web")))
    for line in lines:
        assert re.fullmatch(r"\d+ probe: asked=\d+ worker=web", line), line
    assert "gone:" not in status


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell does for `command &`


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_status_d_refreshes_until_ctrl_c(server: Callable[..., Server], sigint: str) -> None:
    app = server()
    app.start(1)
    watching = app.popen("status", "-d", preexec_fn=_ignore_sigint if sigint == "ignored" else None)
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
    _, blocked, _ = ask(app.port, "block")  # replies, then blocks its loop until released
    try:
        rows = process_rows(app.status())
    finally:
        (app.dir / "release").touch()
    assert rows[str(blocked)][1:] == ["N/A", f"text://127.0.0.1:{app.port}", "web"] + [
        "N/A"
    ] * 7 + ["[busy]"]
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
