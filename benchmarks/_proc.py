"""Start, watch and stop server processes; CPU pinning and the open-file limit."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PORTS = range(19100, 19900)
ROOT = Path(__file__).resolve().parent.parent  # where ``python -m benchmarks._servers`` runs
_used_ports: set[int] = set()


def pick_cores() -> tuple[int | None, int | None]:
    """(server core, load generator core): the first two cores we may run on."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return cores[0], cores[1]


def raise_nofile(want: int) -> int:
    """Raise this process's open-file limit towards ``want``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    for port in PORTS:
        if port in _used_ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used_ports.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


class Server:
    """One server under test, running in its own process pinned to ``cpu``."""

    def __init__(self, kind: str, cpu: int | None, log_dir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = log_dir / f"{kind}-{self.port}.log"
        env = dict(os.environ, BENCH_CPU="" if cpu is None else str(cpu), PYTHONUNBUFFERED="1")
        env["BENCH_RUNNER"] = str(os.getpid())
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks._servers", kind, str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_bytes().splitlines():
                if line.startswith(b"READY"):
                    # the serving process: a workerman master forks it, a baseline is it
                    self.pid = int(line.split()[1])
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server so far (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait()
        _used_ports.discard(self.port)


class Servers:
    """Context manager: start the given servers, stop every one of them on the way out."""

    def __init__(self, kinds: list[str], cpu: int | None) -> None:
        self.kinds = kinds
        self.cpu = cpu
        self.running: dict[str, Server] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="wm-bench-")

    def __enter__(self) -> dict[str, Server]:
        try:
            for kind in self.kinds:
                self.running[kind] = Server(kind, self.cpu, Path(self._tmp.name))
            for server in self.running.values():
                server.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self.running

    def __exit__(self, *exc: object) -> None:
        for server in self.running.values():
            server.stop()
        self._tmp.cleanup()
