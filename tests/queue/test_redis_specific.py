"""What only the Redis backend does: idempotent job ids, leases that expire, and one
atomic mover however many consumers race."""

from __future__ import annotations

import anyio
import pytest

from workerman.core import serve
from workerman.queue import Job, LeaseExpiredError, Queue, QueueWorker
from workerman.queue._redis_backend import RedisBackend

from .conftest import REDIS_ONLY, counts, wait_until

pytestmark = pytest.mark.anyio


@REDIS_ONLY
def combination(request: pytest.FixtureRequest) -> tuple[str, str]:
    driver, broker = request.param
    return str(driver), str(broker)


async def test_a_job_id_already_known_is_not_sent_twice(queue: Queue) -> None:
    assert await queue.send("q", 1, job_id="order-42") == "order-42"
    assert await queue.send("q", 2, job_id="order-42") is None
    assert (await queue.sizes("q")).waiting == 1


async def take_without_settling(queue: Queue, name: str, lease_ms: int) -> list[bytes]:
    """What a consumer killed right after taking jobs leaves behind: leases, nothing else."""
    backend = queue.backend
    assert isinstance(backend, RedisBackend)
    k = backend.keys(name)
    reply = await backend._take((k.waiting, k.inflight, k.attempts, k.jobs), (100, lease_ms))
    return list(reply[0::3])


async def test_an_expired_lease_delivers_the_job_again_as_the_next_attempt(queue: Queue) -> None:
    job_id = await queue.send("q", "x")
    assert await take_without_settling(queue, "q", 200) == [job_id.encode()]  # type: ignore[union-attr]
    assert (await queue.sizes("q")).in_flight == 1
    seen: list[tuple[str, int]] = []
    consumer = QueueWorker(
        queue, {"q": lambda job: seen.append((job.id, job.attempts))}, poll_interval=0.05
    )
    async with serve(consumer):
        await wait_until(lambda: bool(seen))
    assert seen == [(job_id, 2)]
    assert counts(await queue.sizes("q")) == (0, 0, 0)


async def test_a_job_whose_lease_keeps_expiring_ends_in_the_failed_store(queue: Queue) -> None:
    await queue.send("q", "poison")
    errors: list[BaseException] = []
    for _ in range(2):  # two consumers "die" holding it
        assert await take_without_settling(queue, "q", 1)
        await wait_until(lambda: _promoted(queue), 5)
    consumer = QueueWorker(
        queue, {"q": lambda job: None}, max_attempts=2, on_failure=lambda j, e: errors.append(e)
    )
    async with serve(consumer):
        await wait_until(lambda: bool(errors))
    assert isinstance(errors[0], LeaseExpiredError)
    [failed] = await queue.failed("q")
    assert failed.attempts == 3 and "LeaseExpiredError" in failed.error


async def _promoted(queue: Queue) -> bool:
    backend = queue.backend
    assert isinstance(backend, RedisBackend)
    k = backend.keys("q")
    await backend._promote((k.delayed, k.waiting, k.inflight), (1000,))
    return bool((await queue.sizes("q")).waiting)


async def test_due_jobs_move_exactly_once_whatever_the_number_of_movers(queue: Queue) -> None:
    backend = queue.backend
    assert isinstance(backend, RedisBackend)
    for i in range(200):
        await queue.send("q", i, delay=0.05)
    k = backend.keys("q")
    await anyio.sleep(0.1)  # let them come due (the movers are what is under test)
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(backend._promote, (k.delayed, k.waiting, k.inflight), (1000,))
    waiting = await backend.redis.execute("LRANGE", k.waiting, 0, -1)
    assert len(waiting) == 200 and len(set(waiting)) == 200
    assert counts(await queue.sizes("q")) == (200, 0, 0)


async def test_a_consumer_that_lost_its_lease_cannot_settle_the_next_delivery(queue: Queue) -> None:
    backend = queue.backend
    assert isinstance(backend, RedisBackend)
    job_id = await queue.send("q", "x")
    k = backend.keys("q")
    await take_without_settling(queue, "q", 1)  # attempt 1, lease gone at once
    await wait_until(lambda: _promoted(queue), 5)
    await take_without_settling(queue, "q", 60_000)  # attempt 2, held by someone else
    assert await backend._ack((k.inflight, k.attempts, k.jobs), (job_id, 1)) == 0
    assert await backend._retry((k.inflight, k.attempts, k.delayed, k.waiting), (job_id, 1, 0)) == 0
    assert (await queue.sizes("q")).in_flight == 1
    assert await backend._ack((k.inflight, k.attempts, k.jobs), (job_id, 2)) == 1
    assert counts(await queue.sizes("q")) == (0, 0, 0)


async def test_heartbeats_keep_a_slow_job_leased_past_its_lease_length(queue: Queue) -> None:
    done = anyio.Event()

    async def slow(job: Job) -> None:
        await anyio.sleep(0.6)
        done.set()

    consumer = QueueWorker(queue, {"q": slow}, lease=0.2, poll_interval=0.05)
    await queue.send("q", "x")
    async with serve(consumer):
        await done.wait()
        await wait_until(lambda: consumer.stats.done == 1)
    assert consumer.stats.done == 1 and consumer.stats.retried == 0
    assert counts(await queue.sizes("q")) == (0, 0, 0)
