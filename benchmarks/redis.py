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
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from . import _redis_common
from ._proc import ROOT, pick_cores
from ._redis_child import child
from ._redis_common import (
    CASES,
    DB,
    DRIVERS,
    FULL,
    HOST,
    QUICK,
    RB_KEY,
    RESULTS_DIR,
    VALUE,
    Blocking,
    Placement,
    Sample,
    Settings,
    log,
)
from ._redis_report import goals, notes, table

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
    spec = {
        "client": client,
        "driver": driver,
        "case": case,
        "settings": asdict(cfg),
        "port": _redis_common.PORT,
    }
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
    args = ["redis-benchmark", "-h", HOST, "-p", str(_redis_common.PORT), "--dbnum", str(DB)]
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
        raise SystemExit(f"no Redis on {HOST}:{_redis_common.PORT}: {exc}") from exc
    info = conn.info()
    conn.close()
    import redis.asyncio
    from redis.utils import HIREDIS_AVAILABLE

    if not HIREDIS_AVAILABLE:
        raise SystemExit("redis-py runs without hiredis here: install redis[hiredis]")
    client = redis.asyncio.Redis(host=HOST, port=_redis_common.PORT, db=DB)
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
        "--port",
        type=int,
        default=_redis_common.PORT,
        help=f"Redis on {HOST} (default {_redis_common.PORT}); db {DB} is used",
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
    args = parse_args(argv)
    if args.child is not None:
        child(json.loads(args.child))
        return
    signal.signal(signal.SIGTERM, _terminate)
    _redis_common.PORT = args.port
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
