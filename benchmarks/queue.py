"""``python -m benchmarks.queue [--quick] [--jobs N] [--rounds N] [--only CASES] [--servers S]``:
workerman-queue beside saq and arq on the same Redis, and beside a plain aio-pika
publish/consume loop on RabbitMQ.

One run, one markdown table (stdout; progress goes to stderr). Every system runs the same
no-op job, N times (10,000 by default), each case in a fresh interpreter on uvloop:

enqueue:      N sends, 100 in flight at a time (asyncio.gather), until the broker has them all.
process:      the N jobs already waiting; one consumer (concurrency 50) from start until the
              last job's handler returned (the consumer's own ack/settle included).
interleaved:  a producer sending N jobs (100 in flight) and the consumer running at once, in
              one process, from the first send until the last job is done.

jobs/s is N over the measured window; CPU is the process's own user+system CPU per job over
that window (resource.getrusage), the figure that stays steady when other processes share
the cores (Redis and RabbitMQ run on the same two cores as everything else: their CPU is not
counted, and the wall-clock figures are noisy). The best of ``--rounds`` rounds is shown.

Redis database 14 for everyone, each run under a prefix (queue name) of its own, deleted
afterwards; RabbitMQ queues are named per run and deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ._proc import ROOT, log, run_main, save_results

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
REDIS_DB = 14
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
CASES = ("enqueue", "process", "interleaved")
SYSTEMS = ("workerman-redis", "saq", "arq", "workerman-amqp", "aio-pika")
REFERENCE = {"saq": "workerman-redis", "arq": "workerman-redis", "aio-pika": "workerman-amqp"}
GOALS = {"saq": 2.0, "arq": 5.0, "aio-pika": 0.8}  # ours / theirs, end to end
IN_FLIGHT = 100
CONCURRENCY = 50


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Window:
    """Wall and CPU time between start() and stop()."""

    def start(self) -> None:
        self.t0, self.c0 = time.perf_counter(), cpu()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.t0, cpu() - self.c0


async def produce(send: Callable[[int], Awaitable[Any]], jobs: int) -> None:
    for start in range(0, jobs, IN_FLIGHT):
        await asyncio.gather(*(send(i) for i in range(start, min(jobs, start + IN_FLIGHT))))


class Counter:
    def __init__(self, target: int) -> None:
        self.n = 0
        self.target = target
        self.done = asyncio.Event()

    def hit(self) -> None:
        self.n += 1
        if self.n >= self.target:
            self.done.set()


async def timed_case(
    case: str,
    send: Callable[[int], Awaitable[Any]],
    jobs: int,
    consuming: Callable[[], contextlib.AbstractAsyncContextManager[Any]],
    done: asyncio.Event,
) -> tuple[float, float]:
    """One case over one system: ``enqueue`` times sending alone, ``process`` sends first
    and times the consumers working through the backlog, ``interleaved`` times both at
    once. ``consuming()`` is a block during which the system's consumers run."""
    window = Window()
    if case == "enqueue":
        window.start()
        await produce(send, jobs)
        return window.stop()
    if case == "process":
        await produce(send, jobs)
        window.start()
        async with consuming():
            await done.wait()
            return window.stop()
    window.start()
    async with consuming():
        await produce(send, jobs)
        await done.wait()
        return window.stop()


# -- the systems (each: an async function running one case, returning (wall, cpu)) --------


async def run_workerman_redis(case: str, jobs: int, tag: str) -> tuple[float, float]:
    from workerman.core import create_loop, serve
    from workerman.queue import Job, Queue, QueueWorker
    from workerman.redis import Redis

    async with create_loop("uvloop").open():
        queue = Queue.from_url(f"{REDIS_URL}/{REDIS_DB}", prefix=f"bench:{tag}")
        return await _workerman(case, jobs, queue, Job, QueueWorker, serve, Redis, tag)


async def run_workerman_amqp(case: str, jobs: int, tag: str) -> tuple[float, float]:
    from workerman.core import create_loop, serve
    from workerman.queue import Job, Queue, QueueWorker

    async with create_loop("uvloop").open():
        queue = Queue.from_url(AMQP_URL, prefix=f"bench.{tag}")
        return await _workerman(case, jobs, queue, Job, QueueWorker, serve, None, tag)


async def _workerman(
    case: str,
    jobs: int,
    queue: Any,
    job_type: Any,
    worker_type: Any,
    serve: Any,
    redis: Any,
    tag: str,
) -> tuple[float, float]:
    counter = Counter(jobs)

    async def noop(job: Any) -> None:
        counter.hit()

    def send(i: int) -> Awaitable[Any]:
        return queue.send("noop", i)  # type: ignore[no-any-return]

    consumer = worker_type(queue, {"noop": noop}, concurrency=CONCURRENCY, name=f"bench-{tag}")
    try:
        await queue.sizes("noop")  # connect before measuring
        return await timed_case(case, send, jobs, lambda: serve(consumer), counter.done)
    finally:
        if redis is None:
            await queue.backend.delete_everything(["noop"])
        await queue.aclose()
        if redis is not None:
            await _delete_redis(f"bench:{tag}:*")


async def run_saq(case: str, jobs: int, tag: str) -> tuple[float, float]:
    from saq import Queue, Worker

    queue = Queue.from_url(f"{REDIS_URL}/{REDIS_DB}", name=f"bench-{tag}")
    counter = Counter(jobs)

    async def noop(ctx: Any, **kwargs: Any) -> None:
        counter.hit()

    def send(i: int) -> Awaitable[Any]:
        return queue.enqueue("noop", i=i)

    worker = Worker(queue, functions=[("noop", noop)], concurrency=CONCURRENCY)

    @contextlib.asynccontextmanager
    async def consuming() -> AsyncIterator[None]:
        task = asyncio.create_task(worker.start())
        yield
        await worker.stop()
        task.cancel()

    await queue.connect()
    try:
        return await timed_case(case, send, jobs, consuming, counter.done)
    finally:
        await queue.disconnect()
        await _delete_redis(f"saq:*bench-{tag}*")


async def run_arq(case: str, jobs: int, tag: str) -> tuple[float, float]:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    settings = RedisSettings.from_dsn(f"{REDIS_URL}/{REDIS_DB}")
    pool = await create_pool(settings)
    name = f"arq:bench-{tag}"
    counter = Counter(jobs)

    async def noop(ctx: Any, i: int) -> None:
        counter.hit()

    def send(i: int) -> Awaitable[Any]:
        return pool.enqueue_job("noop", i, _queue_name=name)

    worker = Worker(
        functions=[func(noop, name="noop")],
        redis_pool=pool,
        queue_name=name,
        max_jobs=CONCURRENCY,
        handle_signals=False,
        poll_delay=0.01,
        keep_result=0,
        log_results=False,
    )

    @contextlib.asynccontextmanager
    async def consuming() -> AsyncIterator[None]:
        task = asyncio.create_task(worker.main())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()

    try:
        return await timed_case(case, send, jobs, consuming, counter.done)
    finally:
        await pool.aclose()
        await _delete_redis("arq:*")


async def run_aio_pika(case: str, jobs: int, tag: str) -> tuple[float, float]:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=CONCURRENCY)
    queue = await channel.declare_queue(f"bench.pika.{tag}", durable=True)
    counter = Counter(jobs)

    async def on_message(message: Any) -> None:
        json.loads(message.body)
        counter.hit()
        await message.ack()

    def send(i: int) -> Awaitable[Any]:
        body = json.dumps(i).encode()
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        return channel.default_exchange.publish(message, routing_key=queue.name, mandatory=True)

    @contextlib.asynccontextmanager
    async def consuming() -> AsyncIterator[None]:
        await queue.consume(on_message)
        yield

    try:
        return await timed_case(case, send, jobs, consuming, counter.done)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()


async def _delete_redis(pattern: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
    for start in range(0, len(keys), 1000):
        await client.delete(*keys[start : start + 1000])
    await client.aclose()


RUNNERS: dict[str, Callable[[str, int, str], Awaitable[tuple[float, float]]]] = {
    "workerman-redis": run_workerman_redis,
    "saq": run_saq,
    "arq": run_arq,
    "workerman-amqp": run_workerman_amqp,
    "aio-pika": run_aio_pika,
}


def child(system: str, case: str, jobs: int) -> None:
    import logging

    import uvloop

    logging.basicConfig(level=logging.WARNING)
    tag = f"{os.getpid()}-{os.urandom(3).hex()}"
    wall, used = uvloop.run(RUNNERS[system](case, jobs, tag))
    print(json.dumps({"wall": wall, "cpu": used}))


# -- the parent ------------------------------------------------------------------------------


def run_one(system: str, case: str, jobs: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.queue", "--child", system, case, "--jobs", str(jobs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{system} {case} failed:\n{result.stderr}")
    sample: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return sample


def table(results: dict[tuple[str, str], list[dict[str, float]]], jobs: int) -> str:
    lines = [
        "| case | system | jobs/s | CPU us/job | ours vs this (jobs/s) | goal | rounds spread |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    best: dict[tuple[str, str], dict[str, float]] = {}
    for key, samples in results.items():
        best[key] = min(samples, key=lambda s: s["wall"])
    for (case, system), sample in best.items():
        rate = jobs / sample["wall"]
        walls = [s["wall"] for s in results[(case, system)]]
        spread = (max(walls) - min(walls)) / 2 / min(walls) if len(walls) > 1 else 0.0
        reference = REFERENCE.get(system)
        ratio, goal = "", ""
        if reference is not None and (case, reference) in best:
            ours = jobs / best[(case, reference)]["wall"]
            ratio = f"{ours / rate:.2f}x"
            goal = f">= {GOALS[system]}x" if case == "interleaved" else ""
        cpu_us = sample["cpu"] / jobs * 1e6
        lines.append(
            f"| {case} | {system} | {rate:,.0f} | {cpu_us:,.0f} | {ratio} | {goal} | {spread:.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queue", description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("SYSTEM", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2,000 jobs, one round")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--servers", default=",".join(SYSTEMS), help="comma-separated systems")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.jobs)
        return
    if args.quick:
        args.jobs, args.rounds = 2000, 1
    cases = [c for c in args.only.split(",") if c]
    systems = [s for s in args.servers.split(",") if s]
    for name in [*cases, *systems]:
        if name not in (*CASES, *SYSTEMS):
            parser.error(f"unknown case or system {name!r}")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for case in cases:
        for system in systems:
            for round_ in range(args.rounds):
                log(f"{case} {system} round {round_ + 1}")
                results.setdefault((case, system), []).append(run_one(system, case, args.jobs))
    print(f"\n{args.jobs:,} no-op jobs per case; best of {args.rounds} round(s); uvloop\n")
    print(table(results, args.jobs))
    save_results(
        "queue",
        {"jobs": args.jobs, "results": {f"{c}/{s}": v for (c, s), v in results.items()}},
    )


if __name__ == "__main__":
    run_main(main)
