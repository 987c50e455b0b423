"""What only the AMQP backend does: refusing trio, raising unroutable messages, and
consumers that come back after the broker drops every connection."""

from __future__ import annotations

import shutil
import subprocess

import anyio
import pytest

from tests._missing import missing
from workerman.core import create_loop, serve
from workerman.queue import (
    Job,
    Queue,
    QueueConnectionError,
    QueueWorker,
    UnroutableError,
    UnsupportedDriverError,
)

from .conftest import counts, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[("asyncio", "amqp")], ids=["amqp-asyncio"])
def combination(request: pytest.FixtureRequest) -> tuple[str, str]:
    driver, broker = request.param
    return str(driver), str(broker)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_the_amqp_backend_refuses_trio_clearly(amqp_url: str, anyio_backend: str) -> None:
    async with create_loop("trio").open():
        queue = Queue.from_url(amqp_url)
        with pytest.raises(UnsupportedDriverError, match="asyncio only"):
            await queue.send("q", 1)
        consumer = QueueWorker(queue, {"q": lambda job: None})
        with pytest.raises(UnsupportedDriverError, match="asyncio"):
            await consumer._start_consuming()


def test_a_consumer_for_amqp_is_refused_when_the_workers_run_on_trio(amqp_url: str) -> None:
    class TrioWorker(QueueWorker):
        event_loop = "trio"

    with pytest.raises(UnsupportedDriverError, match="'trio' event loop"):
        TrioWorker(Queue.from_url(amqp_url), {"q": lambda job: None})


async def test_a_message_the_broker_cannot_route_is_raised(queue: Queue) -> None:
    assert await queue.send("gone", 1) is not None
    backend = queue.backend
    channel = await backend.channel()  # type: ignore[attr-defined]
    await channel.queue_delete(backend.name("gone"))  # type: ignore[attr-defined]
    with pytest.raises(UnroutableError, match="no queue"):
        await queue.send("gone", 2)  # this Queue believes it exists: the broker says not


def rabbitmqctl(*args: str) -> str:
    if shutil.which("rabbitmqctl") is None:
        missing("rabbitmqctl is not installed")
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


def close_connections(connection_name: str) -> int:
    """What ``rabbitmqctl close_all_connections`` does, to this test's connections only
    (the broker is shared with other tests): the broker closes them under the client."""
    closed = 0
    listing = rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
    for line in listing.splitlines():
        pid, _, properties = line.partition("\t")
        if f'{{"connection_name","{connection_name}"}}' in properties:
            rabbitmqctl("close_connection", pid, "killed by the queue tests")
            closed += 1
    return closed


async def test_consumers_come_back_after_the_broker_closes_every_connection(
    amqp_url: str, prefix: str, loop: None
) -> None:
    name = f"workerman-queue-test-{prefix}"
    queue = Queue.from_url(amqp_url, prefix=prefix, connection_name=name)
    try:
        await consume_through_a_cut(queue, name)
    finally:
        await queue.backend.delete_everything()  # type: ignore[attr-defined]
        await queue.aclose()


async def consume_through_a_cut(queue: Queue, connection_name: str) -> None:
    done: dict[int, int] = {}
    gate = anyio.Event()

    async def handle(job: Job) -> None:
        if job.data >= 50:
            await gate.wait()
        done[job.data] = done.get(job.data, 0) + 1

    for i in range(200):
        await queue.send("work", i)
    consumer = QueueWorker(queue, {"work": handle}, concurrency=10)
    async with serve(consumer):
        await wait_until(lambda: len(done) >= 50, 10, "50 jobs done")
        closed = await anyio.to_thread.run_sync(close_connections, connection_name)
        assert closed == 2  # the producer's and the consumer's
        gate.set()
        await wait_until(lambda: len(done) == 200, 30, "every job done after the cut")
        assert await queue.send("work", 200) is not None  # the producer reconnects too
        await wait_until(lambda: len(done) == 201, 10, "the job sent after the cut")
    assert sorted(done) == list(range(201))  # none lost; those cut mid-job ran again
    assert counts(await queue.sizes("work")) == (0, 0, 0)


async def test_a_retry_that_cannot_be_published_is_handed_back_not_left_unacked(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = queue.backend
    real_publish = backend.publish  # type: ignore[attr-defined]
    failures = []

    async def publish_once_failing(routing_key: str, *args: object) -> None:
        if ".delay." in routing_key and not failures:
            failures.append(routing_key)
            raise QueueConnectionError("the publishing connection is down")
        await real_publish(routing_key, *args)

    monkeypatch.setattr(backend, "publish", publish_once_failing)
    attempts: list[int] = []

    def handle(job: Job) -> None:
        attempts.append(job.attempts)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    await queue.send("work", "x")
    consumer = QueueWorker(queue, {"work": handle}, concurrency=1, retry_delay=0.5)
    async with serve(consumer):
        await wait_until(lambda: consumer.stats.done == 1, 10, "the job done after all")
    # the retry could not be published, so the delivery was handed back to the broker at
    # once (redelivered, so counted as the next attempt) rather than left holding the
    # consumer's only prefetch place
    assert failures and attempts == [1, 2]
    assert counts(await queue.sizes("work")) == (0, 0, 0)
