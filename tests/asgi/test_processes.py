"""``python -m workerman.asgi`` as real processes: start -d with several processes, status
with the ASGI line, reload -g under load with no failed request (lifespan shutdown runs in
each old process), a failed startup that exits with the error in the log, stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.core._supervisor_harness import free_port, kill_left, wait_until

APP = """
import os
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

HERE = Path(__file__).parent


@asynccontextmanager
async def lifespan(app):
    if (HERE / "fail").exists():
        raise RuntimeError("the database is down")
    yield
    with open(HERE / "shutdowns", "a") as f:
        f.write(f"{os.getpid()}\\n")


async def pid(request):
    return PlainTextResponse(str(os.getpid()))


app = Starlette(routes=[Route("/", pid)], lifespan=lifespan)
"""


class App:
    def __init__(self, here: Path, port: int) -> None:
        self.here = here
        self.port = port

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "workerman.asgi", "main:app", *args]
        return subprocess.run(
            command, cwd=self.here, capture_output=True, text=True, timeout=timeout, check=False
        )

    def get(self) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.status == 200
            return int(response.read())
        finally:
            conn.close()

    def files(self) -> list[Path]:
        """The pid and status files of this app (in the temp dir, named after its directory's
        whole path: another session's test of the same name has a folder of the same name)."""
        tag = str(self.here).strip("/").replace("/", "_")
        return list(Path(tempfile.gettempdir()).glob(f"workerman.asgi.{tag}_*"))

    def log(self) -> str:
        """The apps' logs, beside them (``main_app.workerman.log`` for ``main:app``)."""
        return "".join(p.read_text() for p in sorted(self.here.glob("*.workerman.log")))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    (tmp_path / "main.py").write_text(textwrap.dedent(APP))
    running = App(tmp_path, free_port())
    yield running
    running.run("stop")

    def alive() -> list[psutil.Process]:
        # by folder: a started master and its workers have retitled themselves
        # ("workerman: master process ..."), so their command line no longer names the app
        found = []
        for process in psutil.process_iter(["cwd", "status"]):
            with contextlib.suppress(psutil.Error):
                if (
                    process.info["cwd"] == str(tmp_path)
                    and process.pid != os.getpid()
                    and process.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    found.append(process)
        return found

    kill_left(alive)
    for path in running.files():
        path.unlink(missing_ok=True)


def test_start_status_reload_under_load_and_stop(app: App) -> None:
    listen = f"http://127.0.0.1:{app.port}"
    started = app.run("--listen", listen, "--count", "2", "start", "-d")
    assert started.returncode == 0, started.stderr
    first = wait_until(lambda: _pids(app, 2), what="answers from two processes")
    status = app.run("status")
    assert status.returncode == 0
    assert "asgi: running=" in status.stdout
    failures: list[BaseException] = []
    answered: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                answered.append(app.get())
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answered) > 50, what="the load running")
        reloaded = app.run("reload", "-g")
        assert reloaded.returncode == 0, reloaded.stderr
        wait_until(lambda: set(answered[-20:]).isdisjoint(first), timeout=20, what="new pids")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    shutdowns = {int(line) for line in (app.here / "shutdowns").read_text().split()}
    assert first <= shutdowns  # every old process ran its lifespan shutdown
    stopped = app.run("stop")
    assert stopped.returncode == 0, stopped.stderr


def test_a_failed_startup_exits_with_the_error_logged(app: App) -> None:
    (app.here / "fail").write_text("")
    started = app.run("--listen", f"http://127.0.0.1:{app.port}", "start", "-d")
    assert started.returncode == 0, started.stderr
    wait_until(lambda: "the database is down" in app.log(), what="the error in the log")
    wait_until(lambda: "exits with status 3" in app.log(), what="the process exit")
    (app.here / "fail").unlink()  # fixed: the supervisor's next try serves
    wait_until(lambda: _pids(app, 1), timeout=20, what="a served request")


def test_a_bad_app_string_is_a_usage_error(app: App) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "workerman.asgi", "nomodule_here:app", "start"],
        cwd=app.here,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2
    assert "cannot find module 'nomodule_here'" in bad.stderr


def _pids(app: App, want: int) -> set[int]:
    seen: set[int] = set()
    for _ in range(40):
        try:
            seen.add(app.get())
        except OSError:
            return set()
        if len(seen) >= want:
            return seen
    return set()


def test_an_app_that_fails_to_import_exits_with_the_error_logged(app: App) -> None:
    (app.here / "broken.py").write_text('raise RuntimeError("broken at import")\n')
    command = [sys.executable, "-m", "workerman.asgi", "broken:app"]
    started = subprocess.run(
        [*command, "--listen", f"http://127.0.0.1:{app.port}", "start", "-d"],
        cwd=app.here,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        wait_until(lambda: "broken at import" in app.log(), what="the import error in the log")
        wait_until(lambda: "exits with status 3" in app.log(), what="the process exit")
    finally:
        subprocess.run([*command, "stop"], cwd=app.here, timeout=30, check=False)
