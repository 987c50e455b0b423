"""An application in tmp_path, started with the core's command line as a user would
(``python app.py start [-d] [--reload]``): a web worker whose handler lives in
``code/handlers.py`` (imported in ``on_worker_start``, so a reload picks it up), and
helpers to save new code, ask which process and which version answers, and read the log.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import IO

import psutil

from tests.core._supervisor_harness import free_port, kill_left, wait_until

HEADER = """\
import os
import sys
from pathlib import Path

from workerman.core import Worker
from workerman.file_monitor import FileMonitor

HERE = Path(__file__).resolve().parent
CODE = HERE / "code"
sys.path.insert(0, str(CODE))
PORT = {port}
PORT2 = {port2}
Worker.pid_file = str(HERE / "app.pid")
Worker.log_file = str(HERE / "app.log")
Worker.status_file = str(HERE / "app.status")
Worker.stdout_file = str(HERE / "stdout.log")
Worker.event_loop = {driver!r}


def note(line):
    with open(HERE / "notes", "a") as f:
        f.write(line + "\\n")


def serve_code(worker):
    import handlers  # in each worker process: a reload runs the saved code

    worker.on_message = handlers.on_message


Worker.on_master_reload = lambda: note("master reload")
web = Worker(f"http://127.0.0.1:{{PORT}}", name="web", count={count})
web.on_worker_start = serve_code
"""

# The handler answers "<version> <pid>"; VERSION is what a test saves.
HANDLERS = """\
import os

VERSION = {version!r}
GROWN = []


def on_message(connection, request):
    if request.path == "/grow":
        GROWN.append(bytearray(160 * 1024 * 1024))  # touched pages: RSS grows at once
    connection.send(f"{{VERSION}} {{os.getpid()}}")
"""


class App:
    """One application directory and the processes started from it."""

    def __init__(self, root: Path, body: str, driver: str | None, count: int) -> None:
        self.dir = root
        self.code = root / "code"
        self.code.mkdir(parents=True)
        self.port = free_port()
        self.port2 = free_port()
        self.app = root / "app.py"
        header = HEADER.format(port=self.port, port2=self.port2, driver=driver, count=count)
        self.app.write_text(header + textwrap.dedent(body))
        self.save("v1")
        self.pid_file = root / "app.pid"
        self.log_file = root / "app.log"
        self.known: dict[int, psutil.Process] = {}
        self.foreground: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    # -- code ----------------------------------------------------------------------------

    def save(self, version: str, text: str | None = None, name: str = "handlers.py") -> Path:
        """Write code/<name> (the handler answering ``version`` unless ``text`` is given)
        as editors that save atomically do: a temporary file (ignored by the monitor)
        renamed over it, so one save is one change however slow this machine is."""
        path = self.code / name
        temporary = path.with_name(f".{name}.tmp")
        temporary.write_text(HANDLERS.format(version=version) if text is None else text)
        os.replace(temporary, path)
        return path

    # -- starting and stopping -------------------------------------------------------------

    def command(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(self.app), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.dir,
        )

    def start(self, *flags: str, watching: bool = True) -> None:
        """``start -d [flags]``; waits until the web worker answers and, when ``watching``,
        until the monitor has begun to watch."""
        result = self.command("start", "-d", *flags)
        assert result.returncode == 0, result.stdout + result.stderr
        self.remember(self.master())
        self.wait_ready(watching)

    def start_foreground(self, *flags: str, watching: bool = True) -> None:
        """``start [flags]`` in the foreground, its output in out.log."""
        self._out = open(self.dir / "out.log", "wb")  # noqa: SIM115 - closed in cleanup
        self.foreground = subprocess.Popen(
            [sys.executable, str(self.app), "start", *flags],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        self.remember(self.foreground.pid)
        self.wait_ready(watching)

    def wait_ready(self, watching: bool) -> None:
        wait_until(self.answer, 15, "the web worker to answer")
        if watching:
            wait_until(lambda: "file monitor watching" in self.log(), 10, "the monitor")
        self.web_pids()  # remembers them

    def master(self) -> int:
        return int(wait_until(lambda: self.pid_file.exists() and self.pid_file.read_text()))

    def remember(self, pid: int) -> None:
        if pid not in self.known:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.known[pid] = psutil.Process(pid)

    def children(self) -> list[int]:
        try:
            children = psutil.Process(self.master()).children()
        except (psutil.NoSuchProcess, OSError, ValueError):
            return []
        pids = []
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.status() != psutil.STATUS_ZOMBIE:
                    self.remember(child.pid)
                    pids.append(child.pid)
        return sorted(pids)

    def web_pids(self) -> list[int]:
        """Pids of the web worker's processes, by process title."""
        pids = []
        for pid in self.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if " web " in " ".join(psutil.Process(pid).cmdline()) + " ":
                    pids.append(pid)
        return pids

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            if self.pid_file.exists():
                master = self.master()
                self.remember(master)
                self.children()
                os.kill(master, signal.SIGINT)  # what `stop` sends, without an interpreter
                deadline = time.monotonic() + 10
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(0.02)
        if self.foreground is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.foreground.wait(10)
        kill_left(self.alive)
        if self.foreground is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.foreground.wait(5)
        if self._out is not None:
            self._out.close()

    def alive(self) -> list[psutil.Process]:
        out = []
        for process in self.known.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    out.append(process)
        return out

    # -- asking and reading ----------------------------------------------------------------

    def get(self, path: str = "/") -> tuple[str, int]:
        """(version, pid) of the process that answers a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            version, pid = conn.getresponse().read().decode().split()
        finally:
            conn.close()
        return version, int(pid)

    def answer(self) -> tuple[str, int] | None:
        try:
            return self.get()
        except (OSError, http.client.HTTPException, ValueError):
            return None

    def wait_version(self, version: str, timeout: float = 10) -> int:
        """Wait until ``version`` answers; the pid that did."""
        answered = wait_until(
            lambda: (got := self.answer()) is not None and got[0] == version and got,
            timeout,
            f"{version} to answer",
        )
        return int(answered[1])

    def log(self) -> str:
        try:
            return self.log_file.read_text()
        except FileNotFoundError:
            return ""

    def notes(self) -> list[str]:
        try:
            return (self.dir / "notes").read_text().splitlines()
        except FileNotFoundError:
            return []

    def master_reloads(self) -> int:
        return self.notes().count("master reload")

    def settle(self) -> None:
        """Wait until every reload the master began is done (from its log)."""
        wait_until(
            lambda: self.log().count("reload done") == self.log().count("] reloading"),
            10,
            "the reloads to finish",
        )
