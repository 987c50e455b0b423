"""The supervisor's rolling reload, graceful stop, stop and restart, through the command
line, with real processes and clients that keep talking while it happens."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable

import pytest

from ._supervisor_harness import (
    DRIVERS,
    Client,
    Server,
    answers_from,
    ask,
    gone,
    wait_until,
)

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


def test_a_reload_asked_for_during_a_reload_runs_again_once_it_is_done(
    server: Callable[..., Server],
) -> None:
    app = server(
        """
        web = answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=2))
        web.on_worker_stop = lambda w: time.sleep(0.3)  # the first reload is still going
        Worker.run_all()
        """
    )
    app.start(2)
    old = app.children("web")
    assert app.command("reload").returncode == 0
    wait_until(lambda: "reloading" in (app.dir / "app.log").read_text(), what="the reload")
    assert app.command("reload").returncode == 0  # while the first one waits on a stop
    wait_until(lambda: len(app.lines("exits")) == 4, what="every process restarted twice")
    log = (app.dir / "app.log").read_text()
    wait_until(lambda: (app.dir / "app.log").read_text().count("reload done") == 2)
    assert log.count("reloading") == 2
    exited = [int(line.split()[1]) for line in app.lines("exits")]
    assert sorted(exited[:2]) == old  # the first round, then the processes it had forked
    new = app.wait_children(2, "web")
    assert not set(new) & set(exited)


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
        reloading = app.popen("reload", "-g")
        try:
            wait_until(lambda: "reloading gracefully" in (app.dir / "app.log").read_text())
            for _ in range(10):  # still served, by the old process, while reload waits
                assert client.ask()[1] == old
            assert reloading.poll() is None
            assert app.children("web") == [old]
        except BaseException:
            reloading.kill()
            raise
    out, err = reloading.communicate(timeout=15)  # the client left: the reload finishes
    assert reloading.returncode == 0, out + err
    assert "reloading gracefully" in out
    assert "reload done: 1 processes replaced" in out
    (new,) = app.children("web")
    assert new != old
    assert ask(app.port)[1] == new
    assert gone(old)


def test_graceful_reload_closes_idle_http_keep_alive_and_ends_answers_with_close(
    server: Callable[..., Server],
) -> None:
    app = server(
        """
        from workerman.core.http import Response

        def on_message(connection, request):
            if request.path == "/slow":  # answered a moment later, from a timer
                Timer.add(1.0, connection.send, Response(200, body="slow"), persistent=False)
            else:
                connection.send(str(os.getpid()))

        web = Worker(f"http://127.0.0.1:{PORT}", name="web")
        web.on_message = on_message
        Worker.run_all()
        """
    )
    app.start(1)
    (old,) = app.children("web")
    idle = socket.create_connection(("127.0.0.1", app.port), timeout=10)
    busy = socket.create_connection(("127.0.0.1", app.port), timeout=10)
    try:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(4096).endswith(str(old).encode())  # answered; kept alive
        busy.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        result = app.command("reload", "-g")
        assert result.returncode == 0, result.stderr
        assert idle.recv(4096) == b""  # the idle keep-alive connection is closed at once
        answer = b""
        while chunk := busy.recv(4096):  # the slow answer, then the close
            answer += chunk
        assert b"Connection: close\r\n" in answer and answer.endswith(b"slow")
    finally:
        idle.close()
        busy.close()
    wait_until(lambda: app.children("web") not in ([], [old]), what="the new process")
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
