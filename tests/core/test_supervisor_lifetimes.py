"""Graceful reload and stop that always finish, and reloads that say how they went:
real processes under a load generator we did not write (wrk), the websockets library's
client, and apps whose start fails."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from workerman.core._runtime import default_paths

from ._supervisor_harness import Client, Server, answers_from, ask, gone, wait_until

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")

HTTP_APP = """
Worker.graceful_stop_timeout = 10
web = Worker(f"http://127.0.0.1:{PORT}", name="web", count=2)
web.on_message = lambda connection, request: connection.send(str(os.getpid()))
Worker.run_all()
"""


def wrk_errors(output: str) -> dict[str, int]:
    """wrk's "Socket errors" (connect, read, write, timeout) and non-2xx/3xx answers."""
    errors = dict.fromkeys(("connect", "read", "write", "timeout", "status"), 0)
    found = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if found:
        errors.update(
            zip(("connect", "read", "write", "timeout"), map(int, found.groups()), strict=True)
        )
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if status:
        errors["status"] = int(status.group(1))
    return errors


@contextmanager
def wrk(port: int) -> Iterator[dict[str, str]]:
    """wrk with 20 keep-alive connections until the block ends (SIGINT makes it report)."""
    out: dict[str, str] = {}
    load = subprocess.Popen(
        ["wrk", "-t1", "-c20", "-d60s", f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield out
    finally:
        load.send_signal(signal.SIGINT)
        out["text"] = load.communicate(timeout=15)[0]


def served_by(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return int(data.rsplit(b"\r\n\r\n", 1)[1])


def requests_served(app: Server) -> int:
    """The Summary row's total_request in `status`."""
    lines = app.status().split(" PROCESS STATUS ")[1].splitlines()
    header = lines[1].split()
    (summary,) = [line.split() for line in lines if line.startswith("Summary")]
    return int(summary[header.index("total_request")])


def wait_served(port: int, want: int) -> set[int]:
    seen: set[int] = set()
    wait_until(lambda: seen.add(served_by(port)) or len(seen) >= want, what="every process")
    return seen


@needs_wrk
@pytest.mark.parametrize("driver", [None, "trio"])
def test_reload_g_under_keep_alive_load_loses_no_request_three_times_in_a_row(
    server: Callable[..., Server], driver: str | None
) -> None:
    app = server(HTTP_APP, driver)
    app.start(2)
    wait_served(app.port, 1)
    with wrk(app.port) as report:
        wait_until(lambda: requests_served(app) > 1000, what="wrk's requests")
        for _ in range(3):
            old = set(app.children("web"))
            started = time.monotonic()
            result = app.command("reload", "-g")
            took = time.monotonic() - started
            assert result.returncode == 0, result.stdout + result.stderr
            assert "reload done: 2 processes replaced" in result.stdout
            # wrk's keep-alive connections did not hold it up to the deadline (10 s)
            assert took < 10, result.stdout
            assert not set(app.children("web")) & old
    errors = wrk_errors(report["text"])
    assert errors == dict.fromkeys(errors, 0), report["text"]
    assert re.search(r"(\d+) requests in", report["text"]), report["text"]


@needs_wrk
@pytest.mark.parametrize("driver", [None, "trio"])
def test_stop_g_under_keep_alive_load_drops_no_request_in_flight(
    server: Callable[..., Server], driver: str | None
) -> None:
    app = server(HTTP_APP, driver)
    for _ in range(3):
        app.start(2)
        wait_served(app.port, 1)
        with wrk(app.port) as report:
            wait_until(lambda: requests_served(app) > 1000, what="wrk's requests")
            result = app.stop("-g")  # asserts exit 0 and "stop success"
        assert "stopping gracefully" in result.stdout
        errors = wrk_errors(report["text"])
        # Once the port is closed wrk's reconnects are refused, which it counts as write
        # errors (its connect is non-blocking: the refusal shows on the first write). A
        # request sent and left unanswered would be a read error; none timed out.
        assert (errors["read"], errors["timeout"], errors["status"]) == (0, 0, 0), report["text"]
        wait_until(app.all_gone, 5, "every process to exit")


def test_graceful_reload_closes_what_is_left_at_graceful_stop_timeout(
    server: Callable[..., Server],
) -> None:
    app = server(
        """
        Worker.graceful_stop_timeout = 1
        answer(Worker(f"text://127.0.0.1:{PORT}", name="web"))
        Worker.run_all()
        """
    )
    app.start(1)
    (old,) = app.children("web")
    with Client(app.port) as client:  # a long connection that never finishes by itself
        assert client.ask()[1] == old
        result = app.command("reload", "-g")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "reload done: 1 processes replaced" in result.stdout
        assert client.sock.recv(16) == b""  # closed by the old process at its deadline
    log = (app.dir / "app.log").read_text()
    assert "1 connections still open after graceful_stop_timeout (1s); closing them" in log
    assert gone(old)
    assert ask(app.port)[1] != old


def test_graceful_reload_sends_websocket_clients_close_1001(
    server: Callable[..., Server],
) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    app = server(
        """
        web = Worker(f"websocket://127.0.0.1:{PORT}", name="web")
        web.on_message = lambda connection, message: connection.send(f"{os.getpid()}")
        Worker.run_all()
        """
    )
    app.start(1)
    (old,) = app.children("web")
    with connect(f"ws://127.0.0.1:{app.port}/", open_timeout=10) as ws:
        ws.send("hi")
        assert ws.recv(timeout=10) == str(old)
        reloading = app.popen("reload", "-g")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001  # going away
    out, err = reloading.communicate(timeout=15)
    assert reloading.returncode == 0, out + err
    assert "reload done" in out
    assert gone(old)


STARTS_FROM_A_MODULE = """
sys.path.insert(0, str(HERE))
web = answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=3))


def start(worker):
    import handler  # noqa: F401  (code that a reload picks up)


web.on_worker_start = start
Worker.run_all()
"""


def test_a_reload_whose_on_worker_start_raises_fails_and_keeps_the_old_processes(
    server: Callable[..., Server],
) -> None:
    app = server(STARTS_FROM_A_MODULE)
    (app.dir / "handler.py").write_text("VERSION = 1\n")
    app.start(3)
    old = app.children("web")
    slots = answers_from(app.port, 3)  # pid -> worker.id
    (app.dir / "handler.py").write_text("VERSION = = 2\n")  # a syntax error
    result = app.command("reload")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "reload failed: worker[web] slot 0:" in result.stderr
    assert "on_worker_start raised SyntaxError" in result.stderr
    assert "2 old processes left serving" in result.stderr
    # the rolling stopped at the first failure: the other two old processes serve on
    alive = [pid for pid in old if not gone(pid)]
    assert sorted(slots[pid] for pid in alive) == [1, 2]
    served = {ask(app.port)[1] for _ in range(20)}
    assert served <= set(alive)
    # the failed slot is tried again, ever slower, each time exiting with 251
    wait_until(lambda: sum(" 251 " in line for line in app.lines("exits")) >= 3)
    assert "keeps exiting on start" in (app.dir / "app.log").read_text()

    (app.dir / "handler.py").write_text("VERSION = 333\n")  # fixed: the next reload works
    result = app.command("reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reload done" in result.stdout
    new = app.wait_children(3, "web")
    assert not set(new) & set(old)


def test_a_reload_asked_for_during_one_says_so_and_waits_for_its_own_round(
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
    first = app.popen("reload", "-g")
    try:
        wait_until(lambda: "reloading gracefully" in (app.dir / "app.log").read_text())
        second = app.command("reload")
    finally:
        out, err = first.communicate(timeout=15)
    assert first.returncode == 0, out + err
    assert "reload done: 2 processes replaced" in out
    assert second.returncode == 0, second.stdout + second.stderr
    assert "a reload is under way; this one runs when it is done" in second.stdout
    assert "reload done: 2 processes replaced" in second.stdout
    log = (app.dir / "app.log").read_text()
    assert "reload queued behind the one under way" in log
    assert log.count("reload done") == 2
    assert len(app.lines("exits")) == 4  # every process restarted twice


def module_command(app: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workerman.core", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=app.dir,
    )


@pytest.mark.parametrize("pid_file", ["default", "set by the app"])
def test_python_m_workerman_core_manages_a_server_whose_app_no_longer_imports(
    server: Callable[..., Server], tmp_path: Path, pid_file: str
) -> None:
    body = """
        answer(Worker(f"text://127.0.0.1:{PORT}", name="web", count=2))
        Worker.run_all()
        """
    if pid_file == "default":
        body = '\n        Worker.pid_file = ""' + body
    app = server(body)
    where: list[str] = []
    if pid_file == "default":
        app.pid_file = default_paths(str(app.app)).pid_file
    else:
        where = ["--pid-file", str(app.pid_file)]
    app.start(2)
    old = app.children("web")
    app.app.write_text(app.app.read_text() + "\ndef broken(:\n")
    assert app.command("status").returncode == 1  # the app itself no longer imports

    status = module_command(app, "status", "app.py", *where)
    assert status.returncode == 0, status.stderr
    assert " PROCESS STATUS " in status.stdout
    for pid in old:
        assert str(pid) in status.stdout
    connections = module_command(app, "connections", "app.py", *where)
    assert connections.returncode == 0, connections.stderr
    assert "0 connections" in connections.stdout
    reloaded = module_command(app, "reload", "-g", "app.py", *where)
    assert reloaded.returncode == 0, reloaded.stderr  # the master forks what it loaded
    assert "reload done: 2 processes replaced" in reloaded.stdout
    stopped = module_command(app, "stop", str(app.app), *where)
    assert stopped.returncode == 0, stopped.stderr
    assert "stop success" in stopped.stdout
    wait_until(app.all_gone, 5, "every process to exit")
    # nothing is left beside the pid file: no pid, lock or state file
    assert not list(app.pid_file.parent.glob(app.pid_file.name + "*"))
    assert module_command(app, "stop", "app.py", *where).returncode == 1  # not running


def test_python_m_workerman_core_says_what_it_takes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "workerman.core", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    helped = run("--help")
    assert helped.returncode == 0
    assert "usage: python -m workerman.core <command>" in helped.stdout
    for argv in (["start", "app.py"], ["stop"], ["stop", "-d", "app.py"], []):
        result = run(*argv)
        assert result.returncode == 2, argv
        assert "usage: python -m workerman.core" in result.stderr
    result = run("status", str(tmp_path / "app.py"))
    assert result.returncode == 1
    assert "not running" in result.stderr


def test_status_lists_a_process_s_outgoing_connections_apart(
    server: Callable[..., Server],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as peer:
        app = server(
            f"""
            from workerman.core import AsyncTcpConnection

            def start(worker):
                worker.out = AsyncTcpConnection("tcp://127.0.0.1:{peer.getsockname()[1]}")
                worker.out.connect()

            web = answer(Worker(f"text://127.0.0.1:{{PORT}}", name="web"))
            web.on_worker_start = start
            Worker.run_all()
            """
        )
        app.start(1)
        accepted, _ = peer.accept()  # its client connection is up
        try:
            with Client(app.port) as client:
                client.ask()
                status = app.status()
        finally:
            accepted.close()
    header, *rows = [line.split() for line in status.split(" PROCESS STATUS ")[1].splitlines()[1:3]]
    (row,) = rows
    cells = dict(zip(header, row, strict=True))
    assert (cells["connections"], cells["outgoing"]) == ("1", "1")


@pytest.mark.parametrize("driver", [None, "asyncio", "trio"])
def test_out_of_descriptors_accepting_is_counted_logged_and_waits(
    server: Callable[..., Server], driver: str | None
) -> None:
    app = server(
        """
        import resource

        def start(worker):
            used = len(os.listdir("/proc/self/fd"))
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (used + 4, hard))

        web = answer(Worker(f"text://127.0.0.1:{PORT}", name="web"))
        web.on_worker_start = start
        Worker.run_all()
        """,
        driver,
    )
    app.start(1)
    clients = [Client(app.port) for _ in range(12)]  # the kernel queues what is not accepted
    try:
        for client in clients[:3]:
            client.ask()
        log = app.dir / "app.log"
        wait_until(lambda: "accept() failed: [Errno 24]" in log.read_text(), what="EMFILE")
        assert "backing off before accepting again" in log.read_text()
        for client in clients[:3]:  # descriptors come free: the waiting clients are served
            client.close()
        for client in clients[3:6]:
            client.ask()  # not dropped while the process had no descriptor for them
    finally:
        for client in clients:
            client.close()
