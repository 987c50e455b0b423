"""The Redis backend: reliable lists with leases, moved by the Lua scripts of
_redis_scripts.

Why lists and leases rather than Streams consumer groups: a lease held in one sorted set
is extended for every job of a consumer in one command (its heartbeat), expires at a
deadline the server's clock decides, and is recovered by the same atomic script that
moves due delayed jobs; delayed jobs and retries need a sorted set in either design, and
a Stream would keep every job twice (the entry and its pending entry) with XAUTOCLAIM
judging idleness per message rather than per consumer. A consumer waits for work with
``BLMOVE waiting waiting LEFT LEFT``: a rotation that changes nothing but blocks until
the list has an element, so waking takes no job and a consumer killed while waiting
holds none.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from workerman.core import current_loop
from workerman.redis import Redis, RedisConnectionError, RedisError, ResponseError, Script

from . import _redis_scripts as lua
from ._backend import Backend, ConsumeSettings, Delivery, Jobs, Slots
from ._exceptions import QueueConnectionError
from ._job import FailedJob, QueueSizes

__all__ = ["RedisBackend"]

logger = logging.getLogger("workerman.queue")

_MOVE_LIMIT = 1000  # jobs one PROMOTE call moves; it runs again at once when it hit that
# error replies that mean "not now" (a restarting server loading its data, a busy
# script, a failover): retried like a lost connection
_TRANSIENT_PREFIXES = frozenset({"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"})


def transient(exc: BaseException) -> bool:
    """A connection loss, or a server error that passes by itself."""
    if isinstance(exc, RedisConnectionError):
        return True
    return isinstance(exc, ResponseError) and exc.prefix in _TRANSIENT_PREFIXES


class _Keys:
    __slots__ = ("attempts", "delayed", "failed", "failure", "inflight", "jobs", "waiting")

    def __init__(self, prefix: str, queue: str) -> None:
        base = f"{prefix}:{{{queue}}}:"
        self.jobs = base + "jobs"
        self.attempts = base + "attempts"
        self.waiting = base + "waiting"
        self.delayed = base + "delayed"
        self.inflight = base + "inflight"
        self.failed = base + "failed"
        self.failure = base + "failure"


class RedisBackend(Backend):
    """Jobs in Redis through workerman-redis.

    Args:
        redis: the client (its database and credentials are the queue's).
        prefix: the start of every key; two queues systems on one database need two.
    """

    def __init__(self, redis: Redis, prefix: str = "workerman:queue") -> None:
        self.redis = redis
        self.prefix = prefix
        self._keys: dict[str, _Keys] = {}
        self._held: dict[str, dict[str, int]] = {}  # queue -> id -> attempt, leased here
        self._acks: dict[str, list[tuple[str, int, Any]]] = {}  # queue -> acks to send
        self._lease_ms = 30_000
        self._enqueue = Script(redis, lua.ENQUEUE)
        self._take = Script(redis, lua.TAKE)
        self._ack = Script(redis, lua.ACK)
        self._retry = Script(redis, lua.RETRY)
        self._release = Script(redis, lua.RELEASE)
        self._fail = Script(redis, lua.FAIL)
        self._extend = Script(redis, lua.EXTEND)
        self._promote = Script(redis, lua.PROMOTE)
        self._retry_failed = Script(redis, lua.RETRY_FAILED)
        self._purge_failed = Script(redis, lua.PURGE_FAILED)

    def keys(self, queue: str) -> _Keys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = _Keys(self.prefix, queue)
        return keys

    # -- producing ---------------------------------------------------------------------

    async def enqueue(self, queue: str, job_id: str, payload: bytes, delay: float) -> bool:
        k = self.keys(queue)
        delay_ms = round(delay * 1000)
        try:
            stored = await self._enqueue(
                (k.jobs, k.waiting, k.delayed), (job_id, payload, delay_ms)
            )
        except RedisConnectionError as exc:
            raise QueueConnectionError(f"cannot reach Redis to send a job: {exc}") from exc
        return bool(stored)

    def enqueue_callback(
        self,
        queue: str,
        job_id: str,
        payload: bytes,
        delay: float,
        done: Callable[[bool, BaseException | None], None],
    ) -> None:
        """:meth:`enqueue` without a coroutine: ``done(stored, error)`` is called."""
        k = self.keys(queue)

        def finish(result: Any, error: BaseException | None) -> None:
            if error is not None and transient(error):
                error = QueueConnectionError(f"cannot reach Redis to send a job: {error}")
            done(bool(result) if error is None else False, error)

        self._enqueue(
            (k.jobs, k.waiting, k.delayed),
            (job_id, payload, round(delay * 1000)),
            callback=finish,
        )

    # -- consuming ---------------------------------------------------------------------

    async def fetch(
        self, queues: Sequence[str], slots: Slots, jobs: Jobs, settings: ConsumeSettings
    ) -> None:
        self._lease_ms = round(settings.lease * 1000)
        async with anyio.create_task_group() as tg:
            for queue in queues:
                tg.start_soon(self._fetch_one, queue, slots, jobs, settings)

    async def _fetch_one(
        self, queue: str, slots: Slots, jobs: Jobs, settings: ConsumeSettings
    ) -> None:
        k = self.keys(queue)
        held = self._held.setdefault(queue, {})
        failures = 0
        while True:
            await slots.wait()
            await anyio.sleep(0)  # let jobs that end in this same moment free their places
            try:
                reply = await self._take(
                    (k.waiting, k.inflight, k.attempts, k.jobs), (slots.free, self._lease_ms)
                )
                if not reply:
                    with anyio.move_on_after(settings.poll_interval + 10):
                        await self.redis.execute(
                            "BLMOVE", k.waiting, k.waiting, "LEFT", "LEFT", settings.poll_interval
                        )
                failures = 0
            except RedisError as exc:  # a loss or a transient error; anything else is logged
                failures += 1
                await _backoff(failures, f"taking jobs from {queue!r}", exc)
                continue
            for i in range(0, len(reply), 3):
                job_id = _text(reply[i])
                attempts = int(reply[i + 1])
                held[job_id] = attempts
                slots.take()
                jobs.submit(_RedisDelivery(self, queue, job_id, attempts, bytes(reply[i + 2])))

    async def maintain(self, queues: Sequence[str], settings: ConsumeSettings) -> None:
        self._lease_ms = round(settings.lease * 1000)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat, settings.lease / 3)
            for queue in queues:
                tg.start_soon(self._promote_loop, queue, settings.poll_interval)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            for queue, held in self._held.items():
                ids = list(held)
                for start in range(0, len(ids), _MOVE_LIMIT):
                    try:
                        await self._extend(
                            (self.keys(queue).inflight,),
                            (self._lease_ms, *ids[start : start + _MOVE_LIMIT]),
                        )
                    except RedisError as exc:
                        logger.warning("queue %r: cannot extend leases: %s", queue, exc)
                        break

    async def _promote_loop(self, queue: str, poll_interval: float) -> None:
        k = self.keys(queue)
        failures = 0
        while True:
            try:
                due, expired, next_ms = await self._promote(
                    (k.delayed, k.waiting, k.inflight), (_MOVE_LIMIT,)
                )
                failures = 0
            except RedisError as exc:
                failures += 1
                await _backoff(failures, f"moving due jobs of {queue!r}", exc)
                continue
            if expired:
                logger.warning(
                    "queue %r: %d job(s) whose lease expired are delivered again", queue, expired
                )
            if due >= _MOVE_LIMIT or expired >= _MOVE_LIMIT:
                continue
            wait = poll_interval if next_ms < 0 else min(poll_interval, next_ms / 1000)
            await anyio.sleep(max(wait, 0.005))

    def ack_later(self, delivery: _RedisDelivery) -> Any:
        """Acknowledge in a batch: the acks asked for in one loop iteration leave as one
        ACK script call per queue. Returns an awaitable of that call's end."""
        future = current_loop().create_future()
        batch = self._acks.get(delivery.queue)
        if batch is None:
            batch = self._acks[delivery.queue] = []
            current_loop().call_soon(self._flush_acks, delivery.queue)
        batch.append((delivery.job_id, delivery.attempts, future))
        return future

    def _flush_acks(self, queue: str) -> None:
        batch = self._acks.pop(queue, [])
        if not batch:
            return
        k = self.keys(queue)
        args: list[Any] = []
        for job_id, attempts, _ in batch:
            args.append(job_id)
            args.append(attempts)

        def done(result: Any, error: BaseException | None) -> None:
            for _, _, future in batch:
                if future.done():
                    continue
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)

        self._ack((k.inflight, k.attempts, k.jobs), args, callback=done)

    async def settle(self, delivery: _RedisDelivery, op: Callable[[], Awaitable[Any]]) -> None:
        """Run a settling script, retrying through connection losses for up to one lease
        (after that the lease has expired and the job is someone else's)."""
        failures = 0
        give_up = time.monotonic() + self._lease_ms / 1000
        while True:
            try:
                await op()
                break
            except RedisError as exc:
                if not transient(exc):
                    raise
                failures += 1
                if time.monotonic() > give_up:
                    logger.warning(
                        "queue %r: job %s could not be settled (%s); it will be delivered again",
                        delivery.queue,
                        delivery.job_id,
                        exc,
                    )
                    break
                await _backoff(failures, f"settling job {delivery.job_id}", exc)
        held = self._held.get(delivery.queue)
        if held is not None:
            held.pop(delivery.job_id, None)

    # -- inspecting ----------------------------------------------------------------------

    async def sizes(self, queue: str) -> QueueSizes:
        k = self.keys(queue)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.llen(k.waiting).zcard(k.delayed).zcard(k.inflight).zcard(k.failed)
                waiting, delayed, in_flight, failed = await pipe.execute()
        except RedisConnectionError as exc:
            raise QueueConnectionError(f"cannot reach Redis: {exc}") from exc
        return QueueSizes(int(waiting), int(delayed), int(in_flight), int(failed))

    async def failed(self, queue: str, offset: int, limit: int) -> list[FailedJob]:
        k = self.keys(queue)
        try:
            ids = await self.redis.execute("ZREVRANGE", k.failed, offset, offset + limit - 1)
            return await self._failed_jobs(queue, [_text(i) for i in ids])
        except RedisConnectionError as exc:
            raise QueueConnectionError(f"cannot reach Redis: {exc}") from exc

    async def failed_job(self, queue: str, job_id: str) -> FailedJob | None:
        try:
            found = await self._failed_jobs(queue, [job_id])
        except RedisConnectionError as exc:
            raise QueueConnectionError(f"cannot reach Redis: {exc}") from exc
        return found[0] if found else None

    async def _failed_jobs(self, queue: str, ids: list[str]) -> list[FailedJob]:
        if not ids:
            return []
        k = self.keys(queue)
        infos = await self.redis.execute("HMGET", k.failure, *ids)
        payloads = await self.redis.execute("HMGET", k.jobs, *ids)
        jobs = []
        for job_id, info, payload in zip(ids, infos, payloads, strict=True):
            if info is None:
                continue
            record = json.loads(info)
            jobs.append(
                FailedJob(
                    id=job_id,
                    queue=queue,
                    data=bytes(payload) if payload is not None else b"",
                    attempts=int(record["attempts"]),
                    error=str(record["error"]),
                    traceback=str(record["traceback"]),
                    failed_at=float(record["failed_at"]),
                )
            )
        return jobs

    async def retry_failed(self, queue: str, job_ids: Sequence[str] | None) -> int:
        k = self.keys(queue)
        try:
            moved = await self._retry_failed(
                (k.failed, k.failure, k.attempts, k.waiting), tuple(job_ids or ())
            )
        except RedisConnectionError as exc:
            raise QueueConnectionError(f"cannot reach Redis: {exc}") from exc
        return int(moved)

    async def purge_failed(self, queue: str, job_ids: Sequence[str] | None) -> int:
        k = self.keys(queue)
        try:
            gone = await self._purge_failed(
                (k.failed, k.failure, k.attempts, k.jobs), tuple(job_ids or ())
            )
        except RedisConnectionError as exc:
            raise QueueConnectionError(f"cannot reach Redis: {exc}") from exc
        return int(gone)

    async def aclose(self) -> None:
        await self.redis.aclose()


class _RedisDelivery(Delivery):
    __slots__ = ("backend",)

    def __init__(
        self, backend: RedisBackend, queue: str, job_id: str, attempts: int, payload: bytes
    ) -> None:
        super().__init__(queue, job_id, attempts, payload)
        self.backend = backend

    async def ack(self) -> None:
        await self.backend.settle(self, lambda: self.backend.ack_later(self))

    async def retry(self, delay: float) -> None:
        k = self.backend.keys(self.queue)
        await self.backend.settle(
            self,
            lambda: self.backend._retry(
                (k.inflight, k.attempts, k.delayed, k.waiting),
                (self.job_id, self.attempts, round(delay * 1000)),
            ),
        )

    async def fail(self, error: str, traceback: str) -> None:
        k = self.backend.keys(self.queue)
        record = json.dumps(
            {
                "error": error,
                "traceback": traceback,
                "attempts": self.attempts,
                "failed_at": time.time(),
            }
        )
        await self.backend.settle(
            self,
            lambda: self.backend._fail(
                (k.inflight, k.attempts, k.failed, k.failure), (self.job_id, self.attempts, record)
            ),
        )

    async def release(self) -> None:
        k = self.backend.keys(self.queue)
        await self.backend.settle(
            self,
            lambda: self.backend._release(
                (k.inflight, k.attempts, k.waiting), (self.job_id, self.attempts)
            ),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


async def _backoff(failures: int, what: str, exc: BaseException) -> None:
    delay = min(0.05 * 2**failures, 2.0)
    if failures in (1, 10) or failures % 100 == 0:
        logger.warning("queue: %s failed (%s); retrying in %.2f s", what, exc, delay)
    await anyio.sleep(delay)
