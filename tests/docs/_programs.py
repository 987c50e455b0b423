"""Running a code block as the program a reader would save and start.

The block is written to a folder of its own (with the ``file:`` blocks of its page beside
it), its local ports are moved to free ones and its Redis URLs to the docs' database, and it
runs with this interpreter: a server as ``python prog.py start`` in the foreground, until
its workers listen; anything else to its end.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from ..core._supervisor_harness import free_port, wait_until
from ._snippets import Snippet, files_beside

REDIS_DB = 12  # the docs' own: the redis tests use 15, queue 14, gateway 13
SERVICE_PORTS = {6379, 1883, 5672, 4222}
_LOCAL_PORT = re.compile(r"://(?:[^/\"'\s@]*@)?(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::1\]):(\d+)")
_LISTEN = re.compile(r"Worker\(\s*f?[\"']\w+://[^\"']*?:(\d+)")
_REDIS = re.compile(r"redis://(?:[^@\"'/\s]*@)?127\.0\.0\.1:6379(?:/\d+)?")


def rewrite(
    code: str, replace: dict[str, str] | None = None, ports: dict[int, int] | None = None
) -> str:
    """The program as it runs here: what ``replace`` says, free ports for the ones it
    names on this machine (the same port everywhere it appears; ``ports`` gathers the
    choice, and a port already in it keeps its choice), the docs' Redis database."""
    for old, new in (replace or {}).items():
        assert old in code, f"{old!r} is not in the program any more"
        code = code.replace(old, new)
    chosen = {} if ports is None else ports
    for port in {int(port) for port in _LOCAL_PORT.findall(code)} - SERVICE_PORTS:
        new = chosen.setdefault(port, free_port())
        code = re.sub(rf"(?<=:){port}(?!\d)", str(new), code)
    return _REDIS.sub(f"redis://127.0.0.1:6379/{REDIS_DB}", code)


def listen_ports(code: str) -> list[int]:
    return [int(port) for port in _LISTEN.findall(code) if int(port) != 0]


class Program:
    """A code block saved as ``prog.py`` (and its page's files) in ``folder``."""

    def __init__(
        self,
        snippet: Snippet,
        folder: Path,
        replace: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.port_map: dict[int, int] = {}  # the program's ports -> the ones it runs on
        self.code = rewrite(snippet.code, replace, self.port_map)
        self.folder = folder
        self.page = snippet.page
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files_beside(snippet).items():
            (folder / name).write_text(text)
        self.path = folder / "prog.py"
        self.path.write_text(self.code)
        self.ports = listen_ports(self.code) or (
            [int(env["PORT"])] if env and "PORT" in env else []
        )
        self.env = {**os.environ, "TMPDIR": str(folder), **(env or {})}  # pid, lock files
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def run(self, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """A program that ends by itself."""
        return subprocess.run(
            [sys.executable, str(self.path)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        """``python prog.py start``, until it runs in the foreground and every worker
        address of the program accepts connections."""
        self.process = subprocess.Popen(
            [sys.executable, str(self.path), "start"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a group of its own: the master and its workers
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("running in the foreground")
        # the master forks its first worker process once its signal handlers are in (the
        # foreground line and the bound ports come before them: a Ctrl+C then is a
        # KeyboardInterrupt in the master)
        master = psutil.Process(self.process.pid)
        wait_until(lambda: master.children() or self._check_alive(), 15, "a worker process")
        for port in self.ports:
            wait_until(lambda port=port: self._answers(port), 15, f"port {port}\n{self.output}")

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def _answers(self, port: int) -> bool:
        self._check_alive()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"the program exited ({self.process.returncode}):\n{self.output}")

    def wait_for(self, text: str, timeout: float = 15) -> None:
        """Until the program's output says ``text``."""

        def said() -> bool:
            if text in self.output:
                return True
            self._check_alive()
            return False

        wait_until(said, timeout, f"{text!r} in the output:\n{self.output}")

    def stop(self) -> None:
        """Ctrl+C, as a user stops it: it must exit 0, with no error logged."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the program did not stop on Ctrl+C:\n{self.output}")
        wait_until(lambda: "stopped" in self.output, 5, f"its last words:\n{self.output}")
        assert code == 0, self.output
        assert "Traceback" not in self.output and " ERROR " not in self.output, self.output

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
