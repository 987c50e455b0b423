"""Sending and consuming in one process: the same suite on the real Redis (both drivers)
and the real RabbitMQ (asyncio)."""

from __future__ import annotations

import ast
import time
from typing import Any

import anyio
import pytest

from workerman.core import serve
from workerman.queue import (
    Job,
    JobTimeoutError,
    PayloadTooLargeError,
    Queue,
    QueueWorker,
    SerializationError,
)

from .conftest import counts, wait_until

pytestmark = pytest.mark.anyio


async def test_a_sent_job_reaches_its_handler_once_and_is_forgotten(queue: Queue) -> None:
    seen: list[tuple[str, Any, int, str]] = []

    async def handle(job: Job) -> None:
        seen.append((job.id, job.data, job.attempts, job.queue))

    job_id = await queue.send("email", {"to": "a@b.c"})
    consumer = QueueWorker(queue, {"email": handle}, concurrency=4)
    async with serve(consumer):
        await wait_until(lambda: consumer.stats.done == 1)
    assert seen == [(job_id, {"to": "a@b.c"}, 1, "email")]
    assert counts(await queue.sizes("email")) == (0, 0, 0)


async def test_send_with_a_callback_reports_the_job_id(queue: Queue) -> None:
    results: list[tuple[str | None, BaseException | None]] = []
    assert (
        queue.send("cb", [1, 2], callback=lambda job_id, error: results.append((job_id, error)))
        is None
    )
    await wait_until(lambda: bool(results))
    job_id, error = results[0]
    assert error is None and isinstance(job_id, str)
    assert (await queue.sizes("cb")).waiting == 1


async def test_a_delayed_job_waits_for_its_time(queue: Queue) -> None:
    taken: list[float] = []
    sent = time.time()
    await queue.send("later", "x", delay=0.6)
    assert (await queue.sizes("later")).delayed == 1
    consumer = QueueWorker(
        queue, {"later": lambda job: taken.append(time.time())}, poll_interval=0.2
    )
    async with serve(consumer):
        await wait_until(lambda: bool(taken))
    assert 0.55 <= taken[0] - sent < 1.6


async def test_a_raising_handler_is_retried_then_kept_with_its_error(queue: Queue) -> None:
    attempts: list[int] = []
    failures: list[tuple[str, str]] = []

    def handle(job: Job) -> None:
        attempts.append(job.attempts)
        raise RuntimeError(f"smtp down (attempt {job.attempts})")

    consumer = QueueWorker(
        queue,
        {"mail": handle},
        max_attempts=3,
        retry_delay=lambda attempt: 0.05 * attempt,
        poll_interval=0.05,
        on_failure=lambda job, exc: failures.append((job.id, repr(exc))),
    )
    job_id = await queue.send("mail", {"n": 1})
    async with serve(consumer):
        await wait_until(lambda: bool(failures))
    assert attempts == [1, 2, 3]
    assert failures == [(job_id, "RuntimeError('smtp down (attempt 3)')")]
    assert consumer.stats.retried == 2 and consumer.stats.failed == 1
    assert counts(await queue.sizes("mail")) == (0, 0, 1)
    [failed] = await queue.failed("mail")
    assert (failed.id, failed.data, failed.attempts) == (job_id, {"n": 1}, 3)
    assert failed.error == "RuntimeError('smtp down (attempt 3)')"
    assert "Traceback" in failed.traceback and "in handle" in failed.traceback
    assert await queue.failed_job("mail", job_id) == failed
    assert await queue.retry_failed("mail") == 1
    assert counts(await queue.sizes("mail")) == (1, 0, 0)


async def test_a_handler_over_its_timeout_is_cancelled_and_retried(queue: Queue) -> None:
    calls: list[int] = []

    async def handle(job: Job) -> None:
        calls.append(job.attempts)
        if job.attempts == 1:
            await anyio.sleep(30)

    consumer = QueueWorker(queue, {"slow": handle}, timeout=0.2, retry_delay=0, poll_interval=0.05)
    await queue.send("slow", None)
    async with serve(consumer):
        await wait_until(lambda: consumer.stats.done == 1)
    assert calls == [1, 2] and consumer.stats.timed_out == 1


async def test_a_job_that_times_out_every_time_fails_with_job_timeout_error(queue: Queue) -> None:
    errors: list[BaseException] = []

    async def handle(job: Job) -> None:
        await anyio.sleep(30)

    consumer = QueueWorker(
        queue,
        {"slow": handle},
        timeout=0.1,
        max_attempts=1,
        on_failure=lambda j, e: errors.append(e),
    )
    await queue.send("slow", None)
    async with serve(consumer):
        await wait_until(lambda: bool(errors))
    assert isinstance(errors[0], JobTimeoutError)


async def test_many_jobs_with_concurrency_are_all_done(queue: Queue) -> None:
    done: set[int] = set()
    running = 0
    most = 0

    async def handle(job: Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.001)
        running -= 1
        done.add(job.data)

    for i in range(300):
        await queue.send("bulk", i)
    consumer = QueueWorker(queue, {"bulk": handle}, concurrency=8)
    async with serve(consumer):
        await wait_until(lambda: len(done) == 300)
    assert most <= 8
    assert counts(await queue.sizes("bulk")) == (0, 0, 0)


async def test_stopping_hands_running_jobs_back_unrun(queue: Queue) -> None:
    started = anyio.Event()

    async def handle(job: Job) -> None:
        started.set()
        await anyio.sleep(30)

    QueueWorker.stop_timeout = 0.2
    consumer = QueueWorker(queue, {"long": handle})
    job_id = await queue.send("long", "x")
    try:
        async with serve(consumer):
            await started.wait()
    finally:
        del QueueWorker.stop_timeout
    assert consumer.stats.handed_back == 1
    assert counts(await queue.sizes("long")) == (1, 0, 0)
    seen: list[tuple[str, int]] = []
    again = QueueWorker(queue, {"long": lambda job: seen.append((job.id, job.attempts))})
    async with serve(again):
        await wait_until(lambda: bool(seen))
    assert seen == [(job_id, 1)]  # the handed-back attempt did not count


async def test_bad_input_is_refused_before_anything_is_sent(queue: Queue) -> None:
    small = Queue(queue.backend, max_payload_size=16)
    with pytest.raises(PayloadTooLargeError):
        await small.send("q", "x" * 100)
    with pytest.raises(SerializationError):
        await queue.send("q", object())
    with pytest.raises(ValueError):
        await queue.send("bad name", 1)
    with pytest.raises(ValueError):
        await queue.send("q", 1, delay=-1)
    with pytest.raises(TypeError):
        await queue.send("q", 1, delay="soon")  # type: ignore[arg-type]
    assert (await queue.sizes("q")).waiting == 0


async def test_failed_jobs_can_be_purged(queue: Queue) -> None:
    consumer = QueueWorker(queue, {"p": lambda job: 1 / 0}, max_attempts=1)
    ids = {await queue.send("p", i) for i in range(3)}
    async with serve(consumer):
        await wait_until(lambda: consumer.stats.failed == 3)
    assert {job.id for job in await queue.failed("p")} == ids
    first = sorted(ids)[0]
    assert await queue.purge_failed("p", [first]) == 1
    assert await queue.failed_job("p", first) is None
    assert await queue.purge_failed("p") == 2
    assert counts(await queue.sizes("p")) == (0, 0, 0)


class TaggedSerializer:
    """A serializer of our own: repr() of Python literals, read back with literal_eval."""

    def dumps(self, data: Any) -> bytes:
        return b"tagged:" + repr(data).encode()

    def loads(self, payload: bytes) -> Any:
        assert payload.startswith(b"tagged:")
        return ast.literal_eval(payload[len(b"tagged:") :].decode())


async def test_a_serializer_of_your_own_carries_what_json_cannot(queue: Queue) -> None:
    tagged = Queue(queue.backend, serializer=TaggedSerializer())
    seen: list[Any] = []
    await tagged.send("t", {"when": (2026, 12, 1), "ids": {3, 1, 2}, b"raw": 1.5})
    consumer = QueueWorker(tagged, {"t": lambda job: seen.append(job.data)})
    async with serve(consumer):
        await wait_until(lambda: bool(seen))
    assert seen == [{"when": (2026, 12, 1), "ids": {1, 2, 3}, b"raw": 1.5}]


async def test_a_payload_the_serializer_cannot_read_goes_to_the_failed_store_at_once(
    queue: Queue,
) -> None:
    await queue.send("bad", "fine for the sender")
    reader = Queue(queue.backend, serializer=TaggedSerializer())  # cannot read JSON
    consumer = QueueWorker(reader, {"bad": lambda job: None}, max_attempts=5)
    async with serve(consumer):
        await wait_until(lambda: consumer.stats.failed == 1)
    [failed] = await queue.failed("bad")
    assert failed.attempts == 1 and "SerializationError" in failed.error
    assert failed.data == "fine for the sender"  # the store keeps the payload as it was
