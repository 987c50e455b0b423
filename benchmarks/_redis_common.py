"""Shared by both sides of ``benchmarks.redis``: the constants, the run settings, a blocking
RESP client for INFO, setup and cleanup, and the measurement records (Sample, the Window that
takes one, the Placement thread that tells where Redis ran). ``PORT`` is set at run time
(``--port`` in the parent, the spec in a child): read it as ``_redis_common.PORT``, never
import the name itself.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST, PORT, DB = "127.0.0.1", 6379, 15
VALUE = b"xxx"  # redis-benchmark's default value: 3 bytes (-d 3)
RB_KEY = b"key:__rand_int__"  # the one key redis-benchmark uses without -r
CASES = ("seq", "concurrent", "pipeline")
DRIVERS = ("uvloop", "asyncio", "trio")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
GOAL_SEQ = 0.8  # workerman/uvloop against redis-benchmark -c 1
GOAL_MANY = 5.0  # workerman against redis-py, concurrent and pipelined
BUDGET = {True: 60.0, False: 240.0}  # seconds a quick / full run may take


@dataclass
class Settings:
    rounds: int = 3
    warmup: float = 0.4  # seconds before each measured window
    duration: float = 1.5  # seconds per measured window
    tasks: int = 50  # concurrent case
    depth: int = 100  # commands per pipeline


QUICK = Settings(rounds=1, warmup=0.2, duration=0.7)
FULL = Settings()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- a blocking RESP client, for INFO, setup and cleanup (never on a measured path) -------


class Blocking:
    """Just enough RESP over a blocking socket: simple, error, integer and bulk replies."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((HOST, PORT), timeout=timeout)
        self.buf = b""
        self.call("SELECT", DB)

    def call(self, *args: bytes | str | int) -> Any:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(f"Redis: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exactly(size + 2)[:-2]
        raise RuntimeError(f"unexpected reply from Redis: {line!r}")

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._more()
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("Redis closed the connection")
        self.buf += chunk

    def info(self) -> dict[str, str]:
        text = self.call("INFO").decode()
        return dict(
            line.split(":", 1) for line in text.splitlines() if ":" in line and line[0] != "#"
        )

    def counters(self) -> tuple[float, int]:
        """(Redis CPU seconds, commands processed) so far."""
        info = self.info()
        cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return cpu, int(info["total_commands_processed"])

    def close(self) -> None:
        self.sock.close()


@dataclass
class Sample:
    ops: int
    seconds: float
    cpu: float  # client CPU seconds in the window
    redis_cpu: float  # Redis CPU seconds in the window
    redis_cmds: int  # commands Redis processed in the window (ours and anyone else's)
    connections: int = 1
    missing: int = 0  # GETs that found no key: another client emptied the database
    start: float = 0.0  # time.monotonic() (system-wide) at the start of the window
    end: float = 0.0
    redis_here: float | None = None  # share of the window Redis ran on the client's core

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.ops * 1e6

    @property
    def redis_us(self) -> float:
        return self.redis_cpu / self.ops * 1e6


class Window:
    """Snapshots of time, own CPU and the Redis counters around one measured window."""

    def __init__(self, redis_info: Blocking) -> None:
        self.info = redis_info
        self.redis = redis_info.counters()  # first, so the INFO round trip stays outside
        self.t0, self.c0 = time.monotonic(), time.process_time()

    def close(self, ops: int, connections: int = 1, missing: int = 0) -> Sample:
        end, cpu = time.monotonic(), time.process_time() - self.c0
        redis_cpu, redis_cmds = self.info.counters()
        redis_cpu, redis_cmds = redis_cpu - self.redis[0], redis_cmds - self.redis[1]
        return Sample(
            ops, end - self.t0, cpu, redis_cpu, redis_cmds, connections, missing, self.t0, end
        )


def _missing(replies: list[Any]) -> int:
    """How many GETs found no key (the tests FLUSHDB their database, 15 too); any other
    reply than our value is a bug in the client: it fails the run."""
    wrong = [r for r in replies if r != VALUE and r is not None]
    if wrong:
        raise RuntimeError(f"GET returned {wrong[0]!r}, not {VALUE!r}")
    return replies.count(None)


class Placement:
    """Where Redis runs while a job runs: a thread samples the core its main thread last
    ran on (/proc/PID/stat). Redis is not ours to pin; whether it shares the client's core
    changes the cost of a round trip a lot (a wakeup on another core costs far more here)."""

    INTERVAL = 0.01

    def __init__(self, pid: int, core: int | None) -> None:
        self.stat = Path(f"/proc/{pid}/stat")
        self.core = core
        try:
            visible = Path(f"/proc/{pid}/comm").read_text().startswith("redis")
        except OSError:
            visible = False  # another PID namespace, or another host
        if not visible or core is None:
            self.core = None
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            try:
                fields = self.stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                return  # Redis went away: the job itself will fail loudly
            self.samples.append((time.monotonic(), int(fields[36])))  # 39: last CPU

    def __enter__(self) -> Placement:
        self.samples, self._stop = [], threading.Event()
        if self.core is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def share(self, start: float, end: float) -> float | None:
        """Of the samples between ``start`` and ``end``, how many saw Redis on our core."""
        cores = [core for t, core in self.samples if start <= t <= end]
        if self.core is None or not cores:
            return None
        return cores.count(self.core) / len(cores)
