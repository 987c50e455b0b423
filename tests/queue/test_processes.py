"""Consumers as real worker processes under the supervisor, on Redis and RabbitMQ: many
processes sharing the work, a consumer killed with SIGKILL mid-job, and a graceful stop."""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import redis as redis_py

from tests.core._supervisor_harness import Server, server, wait_until
from workerman.core import create_loop
from workerman.queue import Queue, QueueSizes

from .conftest import counts

__all__ = ["server"]

APP = """
import anyio
from workerman.queue import Queue, QueueWorker
from workerman.redis import Redis

PREFIX = {prefix!r}
queue = Queue.from_url({url!r}, prefix=PREFIX)
redis = Redis.from_url({record_url!r})  # where the test reads what the handlers did


async def handle(job):
    await redis.execute("HSET", PREFIX + ":started", job.data, os.getpid())
    await wait(job)
    await redis.execute("HSET", PREFIX + ":attempts", job.data, job.attempts)
    await redis.execute("HINCRBY", PREFIX + ":by_pid", os.getpid(), 1)
    # last: the test reads the rest once every job says it is done
    await redis.execute("HINCRBY", PREFIX + ":done", job.data, 1)


async def wait(job):
    {wait}


consumer = QueueWorker(queue, {{"work": handle}}, name="consumer", count={count},
                       concurrency={concurrency}, lease={lease}, poll_interval=0.1)
consumer.on_worker_stop = lambda worker: redis.close()  # a graceful stop waits for it
Worker.run_all()
"""


@pytest.fixture
def sync_redis(queue_url: str, prefix: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(queue_url, decode_responses=True)
    yield client
    keys = list(client.scan_iter(match=prefix + ":*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request: pytest.FixtureRequest, queue_url: str) -> str:
    """REDIS_URL (database 14) or AMQP_URL, by the test's parameter."""
    if request.param == "amqp":
        return str(request.getfixturevalue("amqp_url"))
    return queue_url


@pytest.fixture
def cleanup_amqp(broker_url: str, prefix: str) -> Iterator[None]:
    yield
    if broker_url.startswith("amqp"):

        async def delete(queue: Queue) -> None:
            await queue.backend.delete_everything(["work"])  # type: ignore[attr-defined]

        in_loop(broker_url, prefix, delete)


def in_loop(queue_url: str, prefix: str, action: Callable[[Queue], Any]) -> Any:
    async def main() -> Any:
        async with create_loop("asyncio").open():
            queue = Queue.from_url(queue_url, prefix=prefix)
            try:
                return await action(queue)
            finally:
                await queue.aclose()

    return anyio.run(main)


def send_jobs(queue_url: str, prefix: str, count: int) -> None:
    async def send(queue: Queue) -> None:
        for start in range(0, count, 100):
            async with anyio.create_task_group() as tg:
                for i in range(start, min(count, start + 100)):
                    tg.start_soon(queue.send, "work", str(i))

    in_loop(queue_url, prefix, send)


def sizes(queue_url: str, prefix: str) -> QueueSizes:
    async def get(queue: Queue) -> QueueSizes:
        return await queue.sizes("work")

    result: QueueSizes = in_loop(queue_url, prefix, get)
    return result


def settled(queue_url: str, prefix: str) -> tuple[int, int, int]:
    """The queue's (waiting, delayed, failed) once nothing is in flight: a job records
    itself done before its consumer acknowledges it, so the last acks may still be on
    their way when the last job says it is done."""
    found: list[QueueSizes] = []
    wait_until(
        lambda: found.append(sizes(queue_url, prefix)) or found[-1].in_flight in (0, None),
        10,
        "the last acknowledgements",
    )
    return counts(found[-1])


def app(
    server: Callable[..., Server],
    queue_url: str,
    record_url: str,
    prefix: str,
    *,
    count: int,
    concurrency: int,
    wait: str,
    lease: float = 30.0,
    driver: str | None = None,
) -> Server:
    body = textwrap.dedent(APP).format(
        url=queue_url,
        record_url=record_url,
        prefix=prefix,
        count=count,
        concurrency=concurrency,
        wait=wait,
        lease=lease,
    )
    return server(body, driver=driver)


def test_a_thousand_jobs_over_four_consumer_processes_are_each_done_once(
    server: Callable[..., Server],
    broker_url: str,
    queue_url: str,
    prefix: str,
    sync_redis: redis_py.Redis,
    cleanup_amqp: None,
) -> None:
    consumers = app(
        server,
        broker_url,
        queue_url,
        prefix,
        count=4,
        concurrency=20,
        wait="await anyio.sleep(0.01)",
    )
    consumers.start(children=4)
    send_jobs(broker_url, prefix, 1000)
    wait_until(lambda: sync_redis.hlen(prefix + ":done") == 1000, 30, "1000 jobs done")
    done = sync_redis.hgetall(prefix + ":done")
    assert sorted(done) == sorted(str(i) for i in range(1000))
    assert set(done.values()) == {"1"}  # nobody died: no job ran twice
    by_pid = sync_redis.hgetall(prefix + ":by_pid")
    assert set(map(int, by_pid)) <= set(consumers.children("consumer"))
    assert len(by_pid) >= 2  # the processes shared the work
    assert settled(broker_url, prefix) == (0, 0, 0)

    def status_lines() -> list[str]:  # each process's counters and the queue's sizes
        lines = [line for line in consumers.status().splitlines() if "queue consumer:" in line]
        return lines if len(lines) == 4 else []  # a process busy for a second is left out

    lines = wait_until(status_lines, 15, "a status line from each of the 4 processes")
    status = "\n".join(lines)
    assert all("work.waiting=" in line and "work.failed=" in line for line in lines), status
    assert sum(int(line.split(" done=")[1].split()[0]) for line in lines) == 1000, status
    consumers.stop()


# the default driver (uvloop) on both brokers, and trio on Redis (aio-pika is asyncio-only)
@pytest.mark.parametrize(
    ("broker_url", "driver"),
    [("redis", None), ("redis", "trio"), ("amqp", None)],
    indirect=["broker_url"],
    ids=["redis", "redis-trio", "amqp"],
)
def test_a_consumer_killed_mid_job_loses_nothing(
    server: Callable[..., Server],
    broker_url: str,
    queue_url: str,
    prefix: str,
    sync_redis: redis_py.Redis,
    driver: str | None,
    cleanup_amqp: None,
) -> None:
    # Two processes, each holding up to 5 jobs of 0.2 s; a lease of 1 s. One process is
    # killed while it holds jobs: they are delivered again (here or in its replacement)
    # once their lease expires, and every job is done.
    consumers = app(
        server,
        broker_url,
        queue_url,
        prefix,
        count=2,
        concurrency=5,
        wait="await anyio.sleep(0.2)",
        lease=1.0,
        driver=driver,
    )
    consumers.start(children=2)
    send_jobs(broker_url, prefix, 40)
    victim = int(wait_until(lambda: sync_redis.hvals(prefix + ":started"), 10, "a job started")[0])
    held = [
        job for job, pid in sync_redis.hgetall(prefix + ":started").items() if int(pid) == victim
    ]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: sync_redis.hlen(prefix + ":done") == 40, 30, "all 40 jobs done")
    assert sorted(sync_redis.hkeys(prefix + ":done"), key=int) == [str(i) for i in range(40)]
    attempts = sync_redis.hgetall(prefix + ":attempts")
    # the jobs the killed process had started and not finished ran again, as attempt 2
    unfinished = [job for job in held if int(attempts[job]) > 1]
    assert unfinished
    assert settled(broker_url, prefix) == (0, 0, 0)
    consumers.stop()


def test_a_graceful_stop_lets_running_jobs_finish(
    server: Callable[..., Server],
    broker_url: str,
    queue_url: str,
    prefix: str,
    sync_redis: redis_py.Redis,
    cleanup_amqp: None,
) -> None:
    # each job runs until its process has been told to stop, and notes that it saw it
    until_stopped = (
        "while not QueueWorker._process_stopping: await anyio.sleep(0.02)\n"
        "    await redis.execute('HSET', PREFIX + ':saw_stop', job.data, 1)"
    )
    consumers = app(
        server, broker_url, queue_url, prefix, count=1, concurrency=3, wait=until_stopped
    )
    consumers.start(children=1)
    send_jobs(broker_url, prefix, 3)
    wait_until(lambda: sync_redis.hlen(prefix + ":started") == 3, 10, "3 jobs started")
    consumers.stop("-g")  # returns once every process has exited
    assert sync_redis.hlen(prefix + ":saw_stop") == 3  # they were running when it came
    assert sync_redis.hlen(prefix + ":done") == 3
    assert settled(broker_url, prefix) == (0, 0, 0)


def test_a_graceful_reload_lets_running_jobs_finish_then_consumes_on(
    server: Callable[..., Server], queue_url: str, prefix: str, sync_redis: redis_py.Redis
) -> None:
    until_stopped = (
        "while not QueueWorker._process_stopping: await anyio.sleep(0.02)\n"
        "    await redis.execute('HSET', PREFIX + ':saw_stop', job.data, 1)"
    )
    consumers = app(
        server, queue_url, queue_url, prefix, count=1, concurrency=3, wait=until_stopped
    )
    consumers.start(children=1)
    [old] = consumers.children("consumer")
    send_jobs(queue_url, prefix, 3)
    wait_until(lambda: sync_redis.hlen(prefix + ":started") == 3, 10, "3 jobs started")
    reloaded = consumers.command("reload", "-g")
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    wait_until(lambda: old not in consumers.children("consumer"), 15, "the old process to go")
    [new] = consumers.wait_children(1, "consumer")
    assert sync_redis.hlen(prefix + ":saw_stop") == 3 and sync_redis.hlen(prefix + ":done") == 3
    send_jobs(queue_url, prefix, 1)  # job "0" again (a new id): the new process takes it
    wait_until(lambda: sync_redis.hget(prefix + ":started", "0") == str(new), 10, "a new job")
    consumers.stop()  # the job sees the stop, finishes, and the process exits
    assert sync_redis.hget(prefix + ":done", "0") == "2"
