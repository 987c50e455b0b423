"""The command line of a worker script, run as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

APP = textwrap.dedent(
    """
    import sys
    from workerman.core import Worker
    Worker.event_loop = sys.argv.pop(1)
    w = Worker("text://127.0.0.1:" + sys.argv.pop(1), name="cli-echo")
    w.on_message = lambda c, m: c.send(m.upper())
    w.on_worker_stop = lambda w: print("worker stopped", flush=True)
    Worker.run_all()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(app), *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(APP)
    return path


@pytest.mark.parametrize("argv", [[], ["bogus"], ["start", "--nope"]])
def test_an_unknown_or_missing_command_prints_usage_and_exits_2(app: Path, argv: list[str]) -> None:
    result = _run(app, "asyncio", "0", *argv)
    assert result.returncode == 2
    assert "usage: python app.py <command>" in result.stderr
    assert "start" in result.stderr


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_prints_usage_to_stdout_and_exits_0(app: Path, flag: str) -> None:
    result = _run(app, "asyncio", "0", flag)
    assert result.returncode == 0, result.stderr
    assert "usage: python app.py <command>" in result.stdout
    assert "reload" in result.stdout and result.stderr == ""


def test_a_port_in_use_exits_1_naming_the_address(app: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(app, "asyncio", str(port), "start")
    assert result.returncode == 1
    assert f"text://127.0.0.1:{port}" in result.stderr
    assert "address already in use" in result.stderr
    prefix = str(app).strip("/").replace("/", "_")  # how the default files are named
    leftovers = list(Path(tempfile.gettempdir()).glob(f"workerman.{prefix}*"))
    assert leftovers == []  # the failed start removed the lock file it made


@pytest.mark.parametrize("driver", ["asyncio", "uvloop", "trio"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_start_serves_in_the_foreground_until_sigint_or_sigterm(
    app: Path, driver: str, signum: int
) -> None:
    port = _free_port()
    temp = app.parent / "tmp"  # the server's temp dir, to see what it leaves there
    temp.mkdir()
    server = subprocess.Popen(
        [sys.executable, str(app), driver, str(port), "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(temp)},
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.05)
        with client:
            client.sendall(b"hi\n")
            assert client.recv(16) == b"HI\n"
            server.send_signal(signum)
            assert client.recv(16) == b""  # the server closed our connection on stop
        out, err = server.communicate(timeout=15)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert f"event loop {driver}" in out
    assert "cli-echo" in out
    assert "worker stopped" in out
    assert list(temp.iterdir()) == []  # the pid, lock and state files went with it
    assert "stopped" in (app.parent / "app.workerman.log").read_text()  # the log stays, beside


# -- start --reload ------------------------------------------------------------------------


def test_reload_is_a_flag_of_start_and_restart_only() -> None:
    from workerman.core._cli import parse_command

    assert parse_command(["start", "--reload"]).reload_on_change
    assert parse_command(["restart", "-d", "--reload"]).reload_on_change
    assert not parse_command(["start", "-d"]).reload_on_change
    with pytest.raises(SystemExit) as exited:
        parse_command(["stop", "--reload"])
    assert exited.value.code == 2


class _EntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name, self.value, self.target = name, f"tests:{name}", target

    def load(self) -> object:
        return self.target


def test_reload_hands_the_worker_class_to_the_first_installed_reloader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workerman.core import Worker, _cli

    called: list[tuple[str, object]] = []
    found = [
        _EntryPoint("zz", lambda cls: called.append(("zz", cls))),
        _EntryPoint("aa", lambda cls: called.append(("aa", cls))),
    ]
    monkeypatch.setattr(
        _cli, "entry_points", lambda group: found if group == _cli.RELOADER_GROUP else []
    )
    _cli.install_reloader(Worker)
    assert called == [("aa", Worker)]


def test_reload_without_a_reloader_installed_exits_1_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workerman.core import Worker, _cli

    monkeypatch.setattr(_cli, "entry_points", lambda group: [])
    with pytest.raises(SystemExit) as exited:
        _cli.install_reloader(Worker)
    assert exited.value.code == 1
    assert "workerman-file-monitor" in capsys.readouterr().err


def test_a_reloader_that_fails_exits_1_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workerman.core import Worker, _cli

    def broken(cls: object) -> None:
        raise RuntimeError("no inotify")

    monkeypatch.setattr(_cli, "entry_points", lambda group: [_EntryPoint("x", broken)])
    with pytest.raises(SystemExit) as exited:
        _cli.install_reloader(Worker)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "tests:x" in err
    assert "no inotify" in err


def test_the_log_defaults_beside_the_start_file_or_the_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workerman.core import _runtime

    start = str(tmp_path / "app.py")
    (tmp_path / "app.py").write_text("")
    assert _runtime.default_paths(start).log_file == tmp_path / "app.workerman.log"
    # `python -c`: no file to put it beside
    log = _runtime.default_paths(str(tmp_path / "-c")).log_file
    assert log is not None and log.parent == Path(tempfile.gettempdir())
    # a folder this user may not write to (root writes anywhere, so it is said, not made)
    monkeypatch.setattr(_runtime.os, "access", lambda path, mode: False)
    log = _runtime.default_paths(start).log_file
    assert log is not None and log.parent == Path(tempfile.gettempdir())
    assert log.name == "workerman." + start.strip("/").replace("/", "_") + ".log"
