"""``python -m benchmarks.redis [--quick]``: workerman-redis beside redis-py and redis-benchmark.

One run, one markdown table (stdout; progress goes to stderr), three cases against the
Redis on 127.0.0.1:6379, database 15:

seq SET, seq GET: one task awaiting one command at a time on one connection: a round
    trip per command. redis-benchmark -c 1 -P 1 is the reference (C, the same loopback).
concurrent: 50 tasks sharing one client, each looping SET then GET, for a fixed time.
    redis-py hands each task a connection of its default pool; workerman-redis pipelines
    every task's commands onto its one connection.
pipeline: one task sending explicit pipelines of 100 GETs (transaction=False), for a
    fixed time; redis-benchmark -P 100 shows what the server does with the same batches.

This process pins itself to one core, and every client (a fresh interpreter per case and
round, so event loops never share a process) inherits that core. Redis is not ours and
is left where it runs; the table shows how much of each window it spent on the client's
core, which decides a round trip's cost (``--port`` points at another Redis, one you pinned
to another core yourself, for steadier sequential figures). Client CPU is the client's own
``time.process_time()`` over the measured window (getrusage for redis-benchmark); Redis
CPU comes from INFO. Errors fail the run: a child that logs a warning, a wrong reply.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ._proc import ROOT, pick_cores

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


# -- the child: one client, one driver, one case; prints RESULT {json} ------------------


class _Collect(logging.Handler):
    """Any warning or error logged (a failed callback, a lost connection) fails the run."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.append(f"{record.name}: {record.getMessage()}")


def _watch_asyncio(errors: list[str]) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        errors.append(f"event loop: {context.get('message')} {context.get('exception')!r}")
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def _seq(call: Callable[..., Awaitable[Any]], key: str, cfg: Settings) -> dict[str, Any]:
    info = Blocking()
    end = time.perf_counter() + cfg.warmup
    while time.perf_counter() < end:
        for _ in range(50):
            await call("SET", key, VALUE)
            if (reply := await call("GET", key)) != VALUE:
                _missing([reply])
    samples = {}
    window, ops = Window(info), 0
    end = time.perf_counter() + cfg.duration
    while time.perf_counter() < end:
        for _ in range(100):
            await call("SET", key, VALUE)
        ops += 100
    samples["seq SET"] = window.close(ops)
    window, ops, missing = Window(info), 0, 0
    end = time.perf_counter() + cfg.duration
    while time.perf_counter() < end:
        before = missing
        for _ in range(100):
            reply = await call("GET", key)
            if reply != VALUE:
                missing += _missing([reply])
        ops += 100
        if missing != before:
            await call("SET", key, VALUE)  # a flush removed it: put it back
    samples["seq GET"] = window.close(ops, missing=missing)
    info.close()
    return samples


async def _concurrent(
    call: Callable[..., Awaitable[Any]],
    key: str,
    cfg: Settings,
    pool: Callable[[], int],
    driver: str,
) -> dict[str, Any]:
    info = Blocking()
    state = {"ops": 0, "missing": 0, "stop": False}

    async def worker() -> None:
        while not state["stop"]:
            await call("SET", key, VALUE)
            if (reply := await call("GET", key)) != VALUE:
                state["missing"] += _missing([reply])
            state["ops"] += 2

    async def measure(sleep: Callable[[float], Awaitable[Any]]) -> Sample:
        await sleep(cfg.warmup)
        window, ops0, missing0 = Window(info), state["ops"], state["missing"]
        await sleep(cfg.duration)
        sample = window.close(state["ops"] - ops0, pool(), state["missing"] - missing0)
        state["stop"] = True
        return sample

    # The loop's own task groups: no layer of anyio's between the tasks and the client.
    if driver == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            for _ in range(cfg.tasks):
                nursery.start_soon(worker)
            sample = await measure(trio.sleep)
    else:
        import asyncio

        async with asyncio.TaskGroup() as group:
            for _ in range(cfg.tasks):
                group.create_task(worker())
            sample = await measure(asyncio.sleep)
    info.close()
    return {"concurrent": sample}


async def _pipeline(make: Callable[[], Any], key: str, cfg: Settings) -> dict[str, Any]:
    info = Blocking()

    async def batch() -> int:
        async with make() as pipe:
            for _ in range(cfg.depth):
                pipe.execute_command("GET", key)
            results = await pipe.execute()
        if len(results) != cfg.depth:
            raise RuntimeError(f"a pipeline of {cfg.depth} GETs returned {len(results)} results")
        if results.count(VALUE) == cfg.depth:
            return 0
        await make().execute_command("SET", key, VALUE).execute()  # a flush removed it
        return _missing(results)

    end = time.perf_counter() + cfg.warmup
    while time.perf_counter() < end:
        await batch()
    window, ops, missing = Window(info), 0, 0
    end = time.perf_counter() + cfg.duration
    while time.perf_counter() < end:
        missing += await batch()
        ops += cfg.depth
    sample = window.close(ops, missing=missing)
    info.close()
    return {"pipeline": sample}


async def _measure(client: Any, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    case, driver, cfg = spec["case"], spec["driver"], Settings(**spec["settings"])
    key = f"wmbench:{os.getpid()}:k"
    if kind == "workerman":
        call = client.execute

        def pool() -> int:
            return 1  # every command on the one shared connection

    else:
        call = client.execute_command
        connections = client.connection_pool

        def pool() -> int:
            return len(connections._available_connections) + len(connections._in_use_connections)

    try:
        await call("SET", key, VALUE)
        if case == "seq":
            samples = await _seq(call, key, cfg)
        elif case == "concurrent":
            samples = await _concurrent(call, key, cfg, pool, driver)
        else:
            samples = await _pipeline(lambda: client.pipeline(transaction=False), key, cfg)
    finally:
        await client.aclose()
        cleanup = Blocking()  # not through the client under test: it may be the trouble
        cleanup.call("DEL", key)
        cleanup.close()
    return {name: asdict(s) for name, s in samples.items()}


async def _child_main(spec: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    driver = spec["driver"]
    if spec["client"] == "workerman":
        from workerman.core import create_loop
        from workerman.redis import Redis

        async with create_loop(driver).open():
            if driver != "trio":
                _watch_asyncio(errors)
            ours = Redis.from_url(f"redis://{HOST}:{PORT}/{DB}")
            return await _measure(ours, "workerman", spec)
    import redis.asyncio

    if driver == "trio":
        raise RuntimeError("redis-py runs on asyncio only")
    _watch_asyncio(errors)
    client = redis.asyncio.Redis(host=HOST, port=PORT, db=DB)  # the default pool
    return await _measure(client, "redis-py", spec)


def child(spec: dict[str, Any]) -> None:
    global PORT
    PORT = spec["port"]
    errors: list[str] = []
    logging.getLogger().addHandler(_Collect(errors))
    driver = spec["driver"]
    if driver == "trio":
        import trio

        result = trio.run(_child_main, spec, errors)
    elif driver == "uvloop":
        import uvloop

        result = uvloop.run(_child_main(spec, errors))
    else:
        import asyncio

        result = asyncio.run(_child_main(spec, errors))
    if errors:
        raise RuntimeError(f"{len(errors)} error(s) logged, the first: {errors[0]}")
    print("RESULT " + json.dumps(result), flush=True)


# -- the parent: plan, run each case in a subprocess, report ----------------------------


@dataclass
class Row:
    case: str  # "seq SET", "seq GET", "concurrent", "pipeline"
    client: str  # "redis-benchmark -c 1", "redis-py/uvloop", "workerman/trio", ...
    samples: list[Sample] = field(default_factory=list)

    @property
    def best(self) -> Sample:
        """The round least disturbed by other processes: the fastest."""
        return max(self.samples, key=lambda s: s.rate)

    @property
    def spread(self) -> float:
        rates = [s.rate for s in self.samples]
        return (max(rates) - min(rates)) / 2 / max(rates) if len(rates) > 1 else 0.0


def run_python(client: str, driver: str, case: str, cfg: Settings) -> dict[str, Sample]:
    spec = {"client": client, "driver": driver, "case": case, "settings": asdict(cfg), "port": PORT}
    windows = 2 if case == "seq" else 1
    timeout = 20 + cfg.warmup + windows * cfg.duration * 3
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.redis", "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{client}/{driver} {case}: no result within {timeout:.0f} s") from exc
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise RuntimeError(f"{client}/{driver} {case} failed (exit {proc.returncode}):\n{tail}")
    data = json.loads(lines[-1].removeprefix("RESULT "))
    return {name: Sample(**fields) for name, fields in data.items()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def redis_benchmark(clients: int, depth: int, test: str, requests: int) -> Sample:
    """One redis-benchmark run; its rate is the one it reports, CPU from getrusage."""
    args = ["redis-benchmark", "-h", HOST, "-p", str(PORT), "--dbnum", str(DB)]
    args += ["-c", str(clients), "-P", str(depth), "-n", str(requests), "-t", test, "--csv"]
    info = Blocking()
    redis0, cpu0, start = info.counters(), _children_cpu(), time.monotonic()
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{' '.join(args)}: still running after 60 s") from exc
    end, cpu, redis1 = time.monotonic(), _children_cpu() - cpu0, info.counters()
    info.close()
    rows = [r for r in csv.DictReader(io.StringIO(proc.stdout)) if r.get("test") == test.upper()]
    if proc.returncode != 0 or len(rows) != 1:
        raise RuntimeError(f"{' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}")
    rate = float(rows[0]["rps"])
    return Sample(
        requests,
        requests / rate,  # the time redis-benchmark measured, less its start and connects
        cpu,
        redis1[0] - redis0[0],
        redis1[1] - redis0[1],
        clients,
        start=start,
        end=end,
    )


class RedisBenchmark:
    """redis-benchmark sized to last about ``duration``: a short probe sets the count."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.sizes: dict[tuple[int, int, str], int] = {}

    def run(self, clients: int, depth: int, test: str) -> Sample:
        key = (clients, depth, test)
        if key not in self.sizes:
            probe = redis_benchmark(clients, depth, test, max(2_000, 1_000 * depth, 100 * clients))
            self.sizes[key] = max(5_000, int(probe.rate * self.duration))
        return redis_benchmark(clients, depth, test, self.sizes[key])


Job = tuple[str, Callable[[], dict[str, Sample]]]


def plan(cases: list[str], cfg: Settings) -> list[Job]:
    """(client label, run) per job, in the order each round runs them."""
    rb = RedisBenchmark(cfg.duration)
    jobs: list[Job] = []

    def python(label: str, case: str) -> Job:
        client, driver = label.split("/")
        return label, lambda: run_python(client, driver, case, cfg)

    pythons = ["redis-py/uvloop", "redis-py/asyncio"] + [f"workerman/{d}" for d in DRIVERS]
    if "seq" in cases:
        jobs.append(
            (
                "redis-benchmark -c 1",
                lambda: {f"seq {t.upper()}": rb.run(1, 1, t) for t in ("set", "get")},
            )
        )
        jobs += [python(label, "seq") for label in pythons]
    if "concurrent" in cases:
        jobs.append(
            (f"redis-benchmark -c {cfg.tasks}", lambda: {"concurrent": rb.run(cfg.tasks, 1, "get")})
        )
        jobs += [python(label, "concurrent") for label in pythons]
    if "pipeline" in cases:
        jobs.append(
            (
                f"redis-benchmark -P {cfg.depth}",
                lambda: {"pipeline": rb.run(1, cfg.depth, "get")},
            )
        )
        jobs += [python(label, "pipeline") for label in pythons]
    return jobs


def reference(row: Row, rows: dict[tuple[str, str], Row]) -> tuple[Row | None, Row | None]:
    """(the redis-benchmark row, the redis-py row on the same loop) for ``row``."""
    bench = next(
        (r for (c, k), r in rows.items() if c == row.case and k.startswith("redis-b")), None
    )
    if row.client.startswith("redis-b"):
        return None, None
    driver = row.client.split("/")[1]
    redis_py = rows.get((row.case, f"redis-py/{'asyncio' if driver == 'trio' else driver}"))
    return bench, None if redis_py is row else redis_py


def _ratio(mine: Row, ref: Row | None) -> str:
    return f"{mine.best.rate / ref.best.rate:.2f}x" if ref is not None else "—"


HEADER = [
    "case",
    "client",
    "ops/s",
    "vs redis-benchmark",
    "vs redis-py",
    "client CPU us/op",
    "client CPU",
    "Redis CPU us/op",
    "Redis on client core",
    "conns",
]


def table(rows: dict[tuple[str, str], Row]) -> str:
    body = [HEADER, ["---"] * len(HEADER)]
    for row in rows.values():
        best = row.best
        figure = f"{best.rate:,.0f}" + (f" ±{row.spread:.0%}" if row.spread >= 0.005 else "")
        bench, redis_py = reference(row, rows)
        body.append(
            [
                row.case,
                row.client,
                figure,
                _ratio(row, bench),
                _ratio(row, redis_py),
                f"{best.cpu_us:.2f}",
                f"{best.cpu / best.seconds:.0%}",
                f"{best.redis_us:.2f}",
                "—" if best.redis_here is None else f"{best.redis_here:.0%}",
                str(best.connections),
            ]
        )
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADER))]
    return "\n".join(
        "| "
        + " | ".join(
            c.ljust(w, "-" if c == "---" else " ") for c, w in zip(line, widths, strict=True)
        )
        + " |"
        for line in body
    )


def _placement(mine: Row, ref: Row) -> str:
    here, there = mine.best.redis_here, ref.best.redis_here
    if here is None or there is None:
        return ""
    text = f"; Redis on the client's core {here:.0%} vs {there:.0%} of the time"
    if abs(here - there) <= 0.3:
        return text
    text += " (placements differ: the ratio says as much about the scheduler"
    placed = [s for s in ref.samples if s.redis_here is not None]
    like = min(placed, key=lambda s: abs(s.redis_here - here))  # type: ignore[operator]
    if like.redis_here is not None and abs(like.redis_here - here) <= 0.3:
        text += (
            f"; against the {ref.client} round with the nearest placement,"
            f" {like.redis_here:.0%}: {mine.best.rate / like.rate:.2f}x"
        )
    return text + ")"


def goals(rows: dict[tuple[str, str], Row]) -> list[str]:
    lines = []
    for case in ("seq SET", "seq GET"):
        mine, ref = rows.get((case, "workerman/uvloop")), rows.get((case, "redis-benchmark -c 1"))
        if mine is not None and ref is not None:
            ratio = mine.best.rate / ref.best.rate
            lines.append(
                f"- {case}: workerman/uvloop at {ratio:.2f}x of redis-benchmark -c 1"
                f" (goal >= {GOAL_SEQ}x): {'met' if ratio >= GOAL_SEQ else 'MISSED'}"
                + _placement(mine, ref)
            )
    for case in ("concurrent", "pipeline"):
        for driver in DRIVERS:
            mine = rows.get((case, f"workerman/{driver}"))
            if mine is None:
                continue
            _bench, ref = reference(mine, rows)
            if ref is None:
                continue
            ratio = mine.best.rate / ref.best.rate
            by_cpu = ref.best.cpu_us / mine.best.cpu_us
            lines.append(
                f"- {case}: workerman/{driver} at {ratio:.2f}x of {ref.client}"
                f" ({by_cpu:.2f}x by client CPU per op; goal >= {GOAL_MANY:g}x):"
                f" {'met' if ratio >= GOAL_MANY else 'MISSED'}" + _placement(mine, ref)
            )
    return lines


def notes(
    rows: dict[tuple[str, str], Row],
    cfg: Settings,
    quick: bool,
    elapsed: float,
    facts: tuple[int | None, float, str, int],
) -> list[str]:
    cpu, load, version, max_connections = facts
    pinned = f"pinned to core {cpu}" if cpu is not None else "unpinned (fewer than two cores)"
    lines = [
        f"- {'quick' if quick else 'full'} run, {elapsed:.0f} s, Python {sys.version.split()[0]},"
        f" load average {load:.2f} at the start; every client {pinned}, one fresh process per"
        f" case and round; Redis {version} on {HOST}:{PORT} db {DB} (not pinned by us)."
        f" Each row is the best of {cfg.rounds} round(s), ± half the range.",
        f"- Python clients: {cfg.warmup:g} s warm-up, then {cfg.duration:g} s measured per"
        " window (seq: one window for SET, one for GET). redis-benchmark: -n sized by a probe"
        f" to last about {cfg.duration:g} s; its rate is the one it prints; one key, 3-byte"
        " values, like the Python clients.",
        f"- concurrent: {cfg.tasks} tasks on one client, each looping SET then GET (both"
        f" counted). redis-py uses its default pool (max_connections={max_connections}), so"
        " each task gets a connection of its own: conns is how many it opened;"
        " workerman-redis pipelines all the tasks onto one. redis-benchmark"
        f" -c {cfg.tasks} -P 1 (GET) shows the server with that many connections.",
        f"- pipeline: one task, pipelines of {cfg.depth} GETs (transaction=False), ops = GETs;"
        f" redis-benchmark -c 1 -P {cfg.depth} -t get is the server's ceiling for those batches.",
        "- client CPU us/op: the client process's CPU time (time.process_time; getrusage for"
        " redis-benchmark, start-up included) per command; client CPU: share of one core (near"
        " 100% means the client was the limit). Redis CPU us/op from INFO used_cpu_*.",
        "- Redis on client core: share of 10 ms samples of /proc/PID/stat in which Redis had"
        " last run on the client's core (the scheduler moves it). One round trip at a time"
        " (seq) is far faster when Redis shares the client's core than when a wakeup crosses"
        " cores, so compare seq rows with like placements; best-of rounds favours sharing.",
        "- vs redis-py: workerman on uvloop against redis-py on uvloop, on asyncio against"
        " redis-py on asyncio, on trio against redis-py on asyncio (it has no trio support).",
    ]
    busy = [
        f"{r.case} {r.client}"
        for r in rows.values()
        if r.best.redis_cmds > 1.05 * r.best.ops + 20 * r.best.seconds + 10
    ]
    flushed = [f"{r.case} {r.client} ({r.best.missing})" for r in rows.values() if r.best.missing]
    if flushed:
        lines.append(
            f"- WARNING: another client emptied db {DB} while these ran (GETs that found no key):"
            f" {', '.join(flushed)}"
        )
    if busy:
        lines.append(
            "- WARNING: Redis processed more commands than the client sent (another client was"
            f" busy, figures may be low): {', '.join(busy)}"
        )
    if elapsed > BUDGET[quick]:
        lines.append(
            f"- WARNING: the run took {elapsed:.0f} s, over its {BUDGET[quick]:.0f} s budget"
        )
    return lines


class RedisBenchmarkKey:
    """Seed redis-benchmark's key with a 3-byte value (GET then finds what the Python
    clients find); on the way out put back what was there, or delete it."""

    def __enter__(self) -> None:
        conn = Blocking()
        if conn.call("EXISTS", RB_KEY) and conn.call("TYPE", RB_KEY) != b"string":
            raise RuntimeError(f"db {DB} holds a {RB_KEY.decode()!r} that is not a string")
        self.saved = conn.call("GET", RB_KEY)
        conn.call("SET", RB_KEY, VALUE)
        conn.close()

    def __exit__(self, *exc: object) -> None:
        conn = Blocking()
        if self.saved is None:
            conn.call("DEL", RB_KEY)
        else:
            conn.call("SET", RB_KEY, self.saved)
        conn.close()


def preflight() -> tuple[dict[str, str], int]:
    """Fail early and clearly; returns Redis's INFO and redis-py's default max_connections."""
    if shutil.which("redis-benchmark") is None:
        raise SystemExit("redis-benchmark is not on PATH")
    try:
        conn = Blocking(timeout=2.0)
    except OSError as exc:
        raise SystemExit(f"no Redis on {HOST}:{PORT}: {exc}") from exc
    info = conn.info()
    conn.close()
    import redis.asyncio
    from redis.utils import HIREDIS_AVAILABLE

    if not HIREDIS_AVAILABLE:
        raise SystemExit("redis-py runs without hiredis here: install redis[hiredis]")
    client = redis.asyncio.Redis(host=HOST, port=PORT, db=DB)
    return info, int(client.connection_pool.max_connections)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.redis", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--rounds", type=int, help="override Settings.rounds")
    parser.add_argument("--duration", type=float, help="seconds per measured window")
    parser.add_argument(
        "--port", type=int, default=PORT, help=f"Redis on {HOST} (default {PORT}); db {DB} is used"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = [x for x in args.only.split(",") if x]
    if bad := [x for x in args.only if x not in CASES]:
        parser.error(f"--only: unknown {', '.join(bad)}; choose from {', '.join(CASES)}")
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that the key is cleaned up on the way out


def main(argv: list[str]) -> None:
    global PORT
    args = parse_args(argv)
    if args.child is not None:
        child(json.loads(args.child))
        return
    signal.signal(signal.SIGTERM, _terminate)
    PORT = args.port
    cfg = replace(QUICK if args.quick else FULL)
    if args.rounds is not None:
        cfg.rounds = args.rounds
    if args.duration is not None:
        cfg.duration = args.duration
    info, max_connections = preflight()
    _redis_core, client_cpu = pick_cores()
    if client_cpu is None:
        log("warning: fewer than two cores available; running unpinned")
    else:
        os.sched_setaffinity(0, {client_cpu})  # inherited by every client process
    load = os.getloadavg()[0]
    started = time.monotonic()
    rows: dict[tuple[str, str], Row] = {}
    jobs = plan(args.only, cfg)
    placement = Placement(int(info["process_id"]), client_cpu)
    with RedisBenchmarkKey():
        for round_no in range(1, cfg.rounds + 1):
            for label, job in jobs:
                with placement:
                    samples = job()
                for case, sample in samples.items():
                    sample.redis_here = placement.share(sample.start, sample.end)
                    rows.setdefault((case, label), Row(case, label)).samples.append(sample)
                    log(
                        f"{case:10} {label:22} round {round_no}/{cfg.rounds}:"
                        f" {sample.rate:11,.0f}/s  client {sample.cpu_us:6.2f} us/op"
                        f"  Redis {sample.redis_us:5.2f} us/op"
                    )
    elapsed = time.monotonic() - started
    order = {case: i for i, case in enumerate(["seq SET", "seq GET", "concurrent", "pipeline"])}
    rows = dict(sorted(rows.items(), key=lambda item: order[item[0][0]]))

    print(table(rows))
    print()
    facts = (client_cpu, load, info["redis_version"], max_connections)
    print("\n".join(notes(rows, cfg, args.quick, elapsed, facts)))
    print("\ngoals:")
    print("\n".join(goals(rows)))
    if not args.no_save:
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / time.strftime("redis-%Y%m%d-%H%M%S.json")
        data = {
            "settings": asdict(cfg),
            "quick": args.quick,
            "rows": [
                {"case": r.case, "client": r.client, "samples": [asdict(s) for s in r.samples]}
                for r in rows.values()
            ],
        }
        path.write_text(json.dumps(data, indent=1))
        log(f"saved {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
