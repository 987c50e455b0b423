"""Server processes of ``benchmarks._ws_servers``: start, measure (psutil), stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from ._proc import ROOT, Server, free_port
from ._ws_servers import RUN_DIR


class WsServer(Server):
    """One server in its own process group, pinned to ``cpu``; ``mode`` echo or fanout."""

    def __init__(
        self, kind: str, mode: str, cpu: int | None, log_dir: Path, env: dict[str, str]
    ) -> None:
        self.kind = kind
        self.mode = mode
        self.port = free_port()
        self.log = log_dir / f"{kind}-{mode}-{self.port}.log"
        env = dict(os.environ, **env, PYTHONUNBUFFERED="1")
        env["BENCH_CPU"] = "" if cpu is None else str(cpu)
        env["BENCH_RUNNER"] = str(os.getpid())
        args = [sys.executable, "-m", "benchmarks._ws_servers", kind, str(self.port), mode]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self._process: psutil.Process | None = None

    def _ps(self) -> psutil.Process:
        if self._process is None or self._process.pid != self.pid:
            self._process = psutil.Process(self.pid)
        return self._process

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the serving process so far."""
        times = self._ps().cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        return int(self._ps().memory_info().rss)

    def open_fds(self) -> int:
        return int(self._ps().num_fds())

    def stop(self, timeout: float = 5.0) -> None:
        try:
            super().stop(timeout)
        finally:  # whatever is left of the group (a worker whose master died first)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            shutil.rmtree(f"{RUN_DIR}-{self.port}", ignore_errors=True)


class WsServers:
    """Start servers of (kind, mode); stop every one of them on the way out, whatever
    happens (an error, Ctrl-C, SIGTERM turned into SystemExit)."""

    def __init__(
        self, wanted: list[tuple[str, str]], cpu: int | None, env: dict[str, str] | None = None
    ) -> None:
        self.wanted = wanted
        self.cpu = cpu
        self.env = env or {}
        self.running: dict[str, WsServer] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="wm-bench-ws-")

    def __enter__(self) -> dict[str, WsServer]:
        try:
            for kind, mode in self.wanted:
                self.running[kind] = WsServer(kind, mode, self.cpu, Path(self._tmp.name), self.env)
            for server in self.running.values():
                server.wait_ready(30.0)
        except BaseException:
            self.__exit__()
            raise
        return self.running

    def __exit__(self, *exc: object) -> None:
        for server in self.running.values():
            with contextlib.suppress(Exception):  # and go on to stop the others
                server.stop()
        self._tmp.cleanup()
