"""``Queue``: what producers send jobs through and operators inspect failed jobs with."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from workerman.core import current_loop

from ._backend import Backend
from ._exceptions import BackendUnavailableError, QueueError
from ._job import FailedJob, QueueSizes, check_delay, check_queue_name, new_job_id
from ._serializer import JsonSerializer, Serializer, encode

__all__ = ["Queue"]

SendCallback = Callable[[str | None, BaseException | None], Any]

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_AMQP_SCHEMES = ("amqp", "amqps")


class Queue:
    """A handle on the jobs of one broker; cheap to make, connects on first use.

    ``Queue.from_url("redis://127.0.0.1:6379/0")`` or
    ``Queue.from_url("amqp://guest:guest@127.0.0.1/")`` picks the backend; make it at
    module level, before workers fork: nothing connects until it is used.

    Args:
        backend: a :class:`RedisBackend` or :class:`AmqpBackend`.
        serializer: turns job data into bytes and back (default: JSON).
        max_payload_size: the largest serialized payload ``send`` accepts, in bytes.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        serializer: Serializer | None = None,
        max_payload_size: int = 1024 * 1024,
    ) -> None:
        if max_payload_size <= 0:
            raise ValueError(f"max_payload_size must be positive, not {max_payload_size!r}")
        self.backend = backend
        self.serializer: Serializer = serializer if serializer is not None else JsonSerializer()
        self.max_payload_size = max_payload_size

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        serializer: Serializer | None = None,
        max_payload_size: int = 1024 * 1024,
        prefix: str = "workerman:queue",
        **options: Any,
    ) -> Queue:
        """A queue on the broker ``url`` names.

        Args:
            url: ``redis://``, ``rediss://`` or ``unix://`` (needs the ``redis`` extra;
                see workerman-redis for the URL forms), or ``amqp://`` / ``amqps://``
                (the ``amqp`` extra).
            serializer: as for the constructor.
            max_payload_size: as for the constructor.
            prefix: Redis: the start of every key; AMQP: of every exchange and queue name.
            options: passed to the client (``workerman.redis.Redis`` keywords such as
                ``command_timeout``; for AMQP, ``connect_timeout``,
                ``confirm_timeout`` and ``connection_name``).
        """
        scheme = urlsplit(url).scheme.lower()
        backend: Backend
        if scheme in _REDIS_SCHEMES:
            try:
                from workerman.redis import Redis
            except ImportError as exc:
                raise BackendUnavailableError(
                    "a redis:// queue needs the redis extra: pip install 'workerman-queue[redis]'"
                ) from exc
            from ._redis_backend import RedisBackend

            options.setdefault("command_timeout", 10.0)
            options.setdefault("client_name", "workerman-queue")
            backend = RedisBackend(Redis.from_url(url, **options), prefix=prefix)
        elif scheme in _AMQP_SCHEMES:
            try:
                import aio_pika  # noqa: F401
            except ImportError as exc:
                raise BackendUnavailableError(
                    "an amqp:// queue needs the amqp extra: pip install 'workerman-queue[amqp]'"
                ) from exc
            from ._amqp_backend import AmqpBackend

            backend = AmqpBackend(url, prefix=prefix, **options)
        else:
            raise QueueError(
                f"unknown queue URL scheme {scheme!r}: use redis://, rediss://, unix://, "
                "amqp:// or amqps://"
            )
        return cls(backend, serializer=serializer, max_payload_size=max_payload_size)

    # -- producing ---------------------------------------------------------------------

    def send(
        self,
        queue: str,
        data: Any,
        delay: float = 0,
        *,
        job_id: str | None = None,
        callback: SendCallback | None = None,
    ) -> Any:
        """Send a job: ``job_id = await queue.send("email", {"to": "a@b.c"}, delay=30)``.

        Args:
            queue: the queue's name (1-200 of letters, digits, ``_.:-``).
            data: the payload; anything the serializer takes.
            delay: seconds before it may be taken.
            job_id: your own id, to make sending idempotent: while a job with this id is
                known to the broker (waiting, delayed, in flight, failed), sending it
                again stores nothing (Redis backend).
            callback: ``fn(job_id, error)``; then ``send`` returns None at once.

        Returns:
            An awaitable of the job id (None when ``job_id`` was already known); or None
            with a callback.

        Raises:
            PayloadTooLargeError, SerializationError, ValueError: before anything is sent
                (also with a callback: bad input is the caller's bug).
            QueueConnectionError: the broker could not be reached (through the awaitable
                or the callback).
        """
        check_queue_name(queue)
        check_delay(delay)
        payload = encode(self.serializer, data, self.max_payload_size)
        job = job_id if job_id is not None else new_job_id()
        if callback is None:
            return self._send(queue, job, payload, delay)
        enqueue_callback = getattr(self.backend, "enqueue_callback", None)
        if enqueue_callback is not None:

            def done(stored: bool, error: BaseException | None) -> None:
                callback(job if stored else None, error)

            enqueue_callback(queue, job, payload, delay, done)
        else:
            current_loop().spawn(self._send_then_call, queue, job, payload, delay, callback)
        return None

    async def _send(self, queue: str, job_id: str, payload: bytes, delay: float) -> str | None:
        stored = await self.backend.enqueue(queue, job_id, payload, delay)
        return job_id if stored else None

    async def _send_then_call(
        self, queue: str, job_id: str, payload: bytes, delay: float, callback: SendCallback
    ) -> None:
        try:
            result = await self._send(queue, job_id, payload, delay)
        except Exception as exc:
            callback(None, exc)
        else:
            callback(result, None)

    # -- inspecting ----------------------------------------------------------------------

    async def sizes(self, queue: str) -> QueueSizes:
        """How many jobs ``queue`` holds: waiting, delayed, in flight, failed."""
        return await self.backend.sizes(check_queue_name(queue))

    async def failed(self, queue: str, *, offset: int = 0, limit: int = 100) -> list[FailedJob]:
        """Failed jobs of ``queue``, the most recent first."""
        if offset < 0 or limit <= 0:
            raise ValueError("offset must be >= 0 and limit > 0")
        jobs = await self.backend.failed(check_queue_name(queue), offset, limit)
        return [self._decoded(job) for job in jobs]

    async def failed_job(self, queue: str, job_id: str) -> FailedJob | None:
        """One failed job, or None when ``job_id`` is not in the failed store."""
        job = await self.backend.failed_job(check_queue_name(queue), job_id)
        return None if job is None else self._decoded(job)

    async def retry_failed(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Send failed jobs again with their attempts reset (all of them when
        ``job_ids`` is None). Returns how many were moved."""
        ids = _ids(job_ids)
        if ids == []:
            return 0
        return await self.backend.retry_failed(check_queue_name(queue), ids)

    async def purge_failed(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Delete failed jobs (all when ``job_ids`` is None). Returns how many."""
        ids = _ids(job_ids)
        if ids == []:
            return 0
        return await self.backend.purge_failed(check_queue_name(queue), ids)

    def _decoded(self, job: FailedJob) -> FailedJob:
        try:
            data = self.serializer.loads(job.data)
        except Exception:
            return job  # keep the raw bytes: an operator still sees them
        return dataclasses.replace(job, data=data)

    # -- life cycle ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the broker connections."""
        await self.backend.aclose()

    async def __aenter__(self) -> Queue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Queue {type(self.backend).__name__}>"


def _ids(job_ids: Sequence[str] | None) -> list[str] | None:
    if job_ids is None:
        return None
    if isinstance(job_ids, str):
        raise TypeError("job_ids must be a sequence of ids, not one str")
    return list(job_ids)
