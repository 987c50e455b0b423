"""The servers under test, each run as its own process: ``python -m benchmarks._servers KIND PORT``.

Every server speaks newline-delimited text on 127.0.0.1:PORT, echoes each line, pins
itself to the core given in BENCH_CPU and prints ``READY`` once it accepts connections.

baseline-*: a minimal hand-written asyncio.Protocol, the ceiling for pure Python. It
    splits each read on b"\\n" and answers all the lines of one read with one write.
baseline-uvloop-perline: the same, but one write per line (what coalescing saves).
baseline-uvloop-callback: the same one write per read, but each line decoded to str, handed
    to a handler function that sends it back encoded: the least a server that calls user
    code per message does (what a per-message callback costs in pure Python).
workerman-*: ``Worker("text://...")`` with ``on_message = lambda c, m: c.send(m)``.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import Any, cast

BASELINES = (
    "baseline-uvloop",
    "baseline-asyncio",
    "baseline-uvloop-perline",
    "baseline-uvloop-callback",
)
WORKERMAN = ("workerman-uvloop", "workerman-asyncio", "workerman-trio")
KINDS = BASELINES + WORKERMAN
NOFILE = 30_000
PR_SET_PDEATHSIG = 1


class LineEcho(asyncio.Protocol):
    """Echo every complete line; the replies to one read leave in one write."""

    __slots__ = ("rest", "transport")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.rest = b""

    def data_received(self, data: bytes) -> None:
        if self.rest:
            data = self.rest + data
        *lines, self.rest = data.split(b"\n")
        if lines:
            self.transport.write(b"".join([line + b"\n" for line in lines]))


class LineEchoPerLine(LineEcho):
    """Echo every complete line with one write per line."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        if self.rest:
            data = self.rest + data
        *lines, self.rest = data.split(b"\n")
        write = self.transport.write
        for line in lines:
            write(line + b"\n")


class LineEchoCallback(LineEcho):
    """Each line decoded and handed to a handler; the replies of one read in one write."""

    __slots__ = ("out",)

    def data_received(self, data: bytes) -> None:
        if self.rest:
            data = self.rest + data
        self.out: list[bytes] = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            on_line(self, data[start:end].decode())
            start = end + 1
        self.rest = data[start:]
        if self.out:
            self.transport.write(b"".join(self.out))

    def send(self, line: str) -> None:
        self.out.append(line.encode() + b"\n")


def on_line(connection: LineEchoCallback, line: str) -> None:
    connection.send(line)


def ready() -> None:
    """Tell the runner that this process serves now (and which pid to measure)."""
    print(f"READY {os.getpid()}", flush=True)


async def serve_until_stopped(protocol: Callable[[], asyncio.BaseProtocol], port: int) -> None:
    """Serve ``protocol`` on 127.0.0.1:PORT until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.cancel)
    server = await loop.create_server(protocol, "127.0.0.1", port, backlog=4096)
    ready()
    try:
        await stopped
    except asyncio.CancelledError:
        pass
    server.close()


def serve_workerman(worker: Any, run_dir: str) -> None:
    """Run ``worker`` (and every Worker made) until stopped, its files in ``run_dir``. The
    serving process is the forked worker, not the master: it reports its own pid. With
    BENCH_PROFILE=PATH it runs under cProfile and writes the stats to PATH when it stops."""
    from workerman.core import Worker

    profile = os.environ.get("BENCH_PROFILE")
    if profile:
        import cProfile

        profiler = cProfile.Profile()

        def start(_worker: Any) -> None:
            ready()
            profiler.enable()

        def stop(_worker: Any) -> None:
            profiler.disable()
            profiler.dump_stats(profile)

        worker.on_worker_start = start
        worker.on_worker_stop = stop
    else:
        worker.on_worker_start = lambda _worker: ready()
    Worker.pid_file = f"{run_dir}/master.pid"
    Worker.status_file = f"{run_dir}/status"
    Worker.log_file = f"{run_dir}/log"
    Worker.run_all(["start"])


def run_baseline(kind: str, port: int) -> None:
    protocol: type[LineEcho] = LineEcho
    if kind.endswith("perline"):
        protocol = LineEchoPerLine
    elif kind.endswith("callback"):
        protocol = LineEchoCallback

    if "uvloop" in kind:
        import uvloop

        uvloop.run(serve_until_stopped(protocol, port))
    else:
        asyncio.run(serve_until_stopped(protocol, port))


def run_workerman(kind: str, port: int) -> None:
    from workerman.core import Worker

    Worker.event_loop = kind.removeprefix("workerman-")
    worker = Worker(f"text://127.0.0.1:{port}", name="bench")
    worker.on_message = lambda connection, message: connection.send(message)
    serve_workerman(worker, f"/tmp/workerman-bench-{port}")


def prepare_process() -> None:
    """Pin to BENCH_CPU and allow enough open files for the idle-connection test."""
    if sys.platform == "linux":  # die with the runner, even if it is killed
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != int(os.environ.get("BENCH_RUNNER", os.getppid())):
            raise SystemExit("the benchmark runner is gone")
    cpu = os.environ.get("BENCH_CPU")
    if cpu:
        os.sched_setaffinity(0, {int(cpu)})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    if kind not in KINDS:
        raise SystemExit(f"unknown server {kind!r}; choose one of {', '.join(KINDS)}")
    prepare_process()
    if kind in BASELINES:
        run_baseline(kind, port)
    else:
        run_workerman(kind, port)


if __name__ == "__main__":
    main(sys.argv[1:])
