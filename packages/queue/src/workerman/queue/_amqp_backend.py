"""The AMQP backend (RabbitMQ) through aio-pika, which is asyncio-only.

Per job queue ``q`` (names start with the prefix, ``P.q``):

- ``P.q``: the durable queue consumers read, with manual acks after the handler returns
  (a consumer that dies leaves its unacked messages to the broker, which delivers them
  again), and prefetch = concurrency per channel.
- ``P.q.delay.N``: 26 durable queues whose messages all live 2**N/16 seconds (N = 0..25,
  1/16 s to about 24 days) and are dead-lettered back to ``P.q``. A job delayed by d
  seconds goes to the largest of them not longer than what is left of d; a consumer that
  receives it early (its ``x-due`` still ahead) sends it to the next one, so a delay is a
  few hops and lands within 1/16 s of its time, without the delayed-message plugin and
  without the head-of-line blocking of per-message TTLs in one queue.
- ``P.q.failed``: the failed store; each message keeps its last error and traceback in
  its headers.

Every publish waits for the broker's confirm and is mandatory, so a message the broker
could not route is raised as UnroutableError rather than dropped. Retries publish the next
attempt (with ``x-attempts``) and then ack the current one: a crash in between delivers it
twice, never zero times. The consumer's connection is its own; when it is lost (a broker
restart, ``rabbitmqctl close_all_connections``), it connects again with backoff and starts
consuming again, rather than trusting a robust connection to restore its consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import anyio
import sniffio

from ._backend import Backend, ConsumeSettings, Delivery, Jobs, Slots
from ._exceptions import QueueConnectionError, QueueError, UnroutableError, UnsupportedDriverError
from ._job import FailedJob, QueueSizes

__all__ = ["AmqpBackend"]

logger = logging.getLogger("workerman.queue")

BUCKETS = 26  # delay queues of 2**n / 16 seconds
MAX_DELAY = (2**BUCKETS - 1) / 16  # seconds: what the buckets can add up to
_TOLERANCE_MS = 30  # a job due within this is run, not sent on to another delay queue
_SCAN_LIMIT = 10_000  # failed-store operations look at most this many messages
_NETWORK = (
    aio_pika.exceptions.AMQPConnectionError,
    aio_pika.exceptions.ChannelInvalidStateError,
    aio_pika.exceptions.AMQPChannelError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


def _bucket_seconds(n: int) -> float:
    return float(2**n) / 16


def _bucket_for(remaining: float) -> int:
    """The largest delay queue not longer than ``remaining`` seconds (the shortest when
    less is left than it lasts)."""
    if remaining <= _bucket_seconds(0):
        return 0
    return min(BUCKETS - 1, math.floor(math.log2(remaining * 16)))


class AmqpBackend(Backend):
    """Jobs in RabbitMQ (or another AMQP 0-9-1 broker with dead-lettering).

    Args:
        url: ``amqp://user:password@host:port/vhost`` (``amqps://`` for TLS).
        prefix: the start of every queue name.
        connect_timeout: seconds for a connection and its handshake.
        confirm_timeout: seconds to wait for the broker to confirm a publish.
        connection_name: what the broker shows for this backend's connections
            (``rabbitmqctl list_connections user_provided_name``).
    """

    drivers = ("asyncio", "uvloop")

    def __init__(
        self,
        url: str,
        prefix: str = "workerman:queue",
        *,
        connect_timeout: float = 10.0,
        confirm_timeout: float = 10.0,
        connection_name: str = "workerman-queue",
    ) -> None:
        self.url = url
        self.connection_name = connection_name
        self.prefix = prefix.replace(":", ".")
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._opening: asyncio.Lock | None = None
        self._declared: set[str] = set()
        self._consuming: list[aio_pika.abc.AbstractConnection] = []
        self._seen: set[str] = set()  # job queues this backend has used

    # -- names and topology --------------------------------------------------------------

    def name(self, queue: str, suffix: str = "") -> str:
        return f"{self.prefix}.{queue}{suffix}"

    def _arguments(self, queue: str, suffix: str) -> dict[str, Any] | None:
        if suffix.startswith(".delay."):
            n = int(suffix.rsplit(".", 1)[1])
            return {
                "x-message-ttl": round(_bucket_seconds(n) * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.name(queue),
            }
        return None

    async def _declare(
        self, channel: aio_pika.abc.AbstractChannel, queue: str, suffix: str = ""
    ) -> aio_pika.abc.AbstractQueue:
        return await channel.declare_queue(
            self.name(queue, suffix),
            durable=True,
            arguments=self._arguments(queue, suffix),
            timeout=self.connect_timeout,
        )

    async def _ensure(self, queue: str, suffix: str = "") -> None:
        self._seen.add(queue)
        name = self.name(queue, suffix)
        if name not in self._declared:
            await self._declare(await self.channel(), queue, suffix)
            self._declared.add(name)

    # -- the publishing connection -------------------------------------------------------

    def _require_asyncio(self) -> None:
        if sniffio.current_async_library() != "asyncio":
            raise UnsupportedDriverError(
                "the AMQP backend (aio-pika) runs on asyncio only; use the asyncio or uvloop "
                "driver (Worker.event_loop = 'asyncio'), or the Redis backend on trio"
            )

    async def connect(self) -> aio_pika.abc.AbstractConnection:
        self._require_asyncio()
        try:
            return await aio_pika.connect(
                self.url,
                timeout=self.connect_timeout,
                client_properties={"connection_name": self.connection_name},
            )
        except _NETWORK as exc:
            raise QueueConnectionError(f"cannot connect to the AMQP broker: {exc!r}") from exc

    async def channel(self) -> aio_pika.abc.AbstractChannel:
        """The publishing channel (with publisher confirms), opened on first use and
        again after a loss."""
        self._require_asyncio()
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    await self._connection.close()
            self._declared.clear()
            self._connection = await self.connect()
            try:
                self._channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
            except _NETWORK as exc:
                raise QueueConnectionError(f"cannot open an AMQP channel: {exc!r}") from exc
            return self._channel

    async def publish(
        self, routing_key: str, body: bytes, job_id: str, headers: dict[str, Any]
    ) -> None:
        """Publish persistently and mandatorily; return once the broker confirmed."""
        channel = await self.channel()
        message = aio_pika.Message(
            body,
            message_id=job_id,
            headers=headers or None,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await channel.default_exchange.publish(
                message, routing_key=routing_key, mandatory=True, timeout=self.confirm_timeout
            )
        except aio_pika.exceptions.DeliveryError as exc:
            if exc.message is not None:
                raise UnroutableError(
                    f"the broker could route the job to no queue ({routing_key})"
                ) from exc
            raise QueueError(f"the broker refused the job (nack): {exc!r}") from exc
        except _NETWORK as exc:
            raise QueueConnectionError(f"publishing to the AMQP broker failed: {exc!r}") from exc

    async def publish_delayed(
        self, queue: str, body: bytes, job_id: str, headers: dict[str, Any], due_ms: int
    ) -> None:
        """Send a job towards ``queue`` through the delay queue that fits what is left."""
        remaining = (due_ms - time.time() * 1000) / 1000
        if remaining * 1000 <= _TOLERANCE_MS:
            await self._ensure(queue)
            await self.publish(self.name(queue), body, job_id, headers)
            return
        suffix = f".delay.{_bucket_for(remaining)}"
        await self._ensure(queue)
        await self._ensure(queue, suffix)
        await self.publish(self.name(queue, suffix), body, job_id, {**headers, "x-due": due_ms})

    # -- producing ---------------------------------------------------------------------

    async def enqueue(self, queue: str, job_id: str, payload: bytes, delay: float) -> bool:
        if delay > MAX_DELAY:
            raise ValueError(f"the AMQP backend delays jobs by at most {MAX_DELAY:.0f} s")
        headers: dict[str, Any] = {}  # no x-attempts: none yet
        if delay > 0:
            due = round(time.time() * 1000 + delay * 1000)
            await self.publish_delayed(queue, payload, job_id, headers, due)
        else:
            await self._ensure(queue)
            await self.publish(self.name(queue), payload, job_id, headers)
        return True

    # -- consuming ---------------------------------------------------------------------

    async def fetch(
        self, queues: Sequence[str], slots: Slots, jobs: Jobs, settings: ConsumeSettings
    ) -> None:
        self._require_asyncio()
        failures = 0
        while True:
            connection: aio_pika.abc.AbstractConnection | None = None
            consumers: list[tuple[aio_pika.abc.AbstractQueue, str]] = []
            try:
                connection = await self.connect()
                lost = asyncio.Event()
                connection.close_callbacks.add(_setter(lost))
                channel = await connection.channel(publisher_confirms=False)
                channel.close_callbacks.add(_setter(lost))
                await channel.set_qos(prefetch_count=settings.concurrency, global_=True)
                for queue in queues:
                    amqp_queue = await self._declare(channel, queue)
                    tag = await amqp_queue.consume(
                        self._on_message(queue, slots, jobs), no_ack=False
                    )
                    consumers.append((amqp_queue, tag))
                if failures:
                    logger.warning("queue: consuming from the AMQP broker again")
                failures = 0
                await lost.wait()
                logger.warning("queue: the AMQP connection was lost; connecting again")
            except asyncio.CancelledError:
                # Stopping: take no more, but keep the channel until the running jobs
                # are settled on it (maintain() closes it when the consumer has finished).
                if connection is not None:
                    self._consuming.append(connection)
                    connection = None
                    with anyio.CancelScope(shield=True):
                        await self._cancel_consumers(consumers)
                raise
            except (QueueConnectionError, *_NETWORK) as exc:
                failures += 1
                delay = min(0.05 * 2**failures, 2.0)
                if failures in (1, 10) or failures % 100 == 0:
                    logger.warning(
                        "queue: consuming from AMQP failed (%s); retry in %.2f s", exc, delay
                    )
                await asyncio.sleep(delay)
            finally:
                if connection is not None:
                    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                        await connection.close()

    async def _cancel_consumers(
        self, consumers: list[tuple[aio_pika.abc.AbstractQueue, str]]
    ) -> None:
        for amqp_queue, tag in consumers:
            with contextlib.suppress(Exception):
                await amqp_queue.cancel(tag, timeout=self.connect_timeout)

    def _on_message(self, queue: str, slots: Slots, jobs: Jobs) -> Any:
        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            headers = message.headers or {}
            due = headers.get("x-due")
            if isinstance(due, int) and due - time.time() * 1000 > _TOLERANCE_MS:
                await self._forward(queue, message, due)
                return
            # x-attempts counts the attempts that were settled; a delivery the broker
            # makes again (its consumer died holding it) counts one more, at least
            attempts = _header_int(headers.get("x-attempts")) + 1 + int(bool(message.redelivered))
            slots.take()
            # in a task of the consumer's: aio-pika cancels its own delivery tasks when the
            # consumer is cancelled, and a stopping consumer lets its jobs finish
            jobs.submit(_AmqpDelivery(self, queue, message, attempts))

        return on_message

    async def _forward(
        self, queue: str, message: aio_pika.abc.AbstractIncomingMessage, due: int
    ) -> None:
        """A delayed job arrived early: on to the next delay queue, then ack this copy."""
        try:
            headers = dict(message.headers or {})
            await self.publish_delayed(queue, message.body, message.message_id or "", headers, due)
            await message.ack()
        except Exception as exc:
            logger.warning("queue %r: a delayed job could not be passed on (%r)", queue, exc)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)

    async def maintain(self, queues: Sequence[str], settings: ConsumeSettings) -> None:
        # The broker keeps the leases (unacked messages) and moves delayed ones (TTLs):
        # nothing to do but keep the publishing channel open, so retries are quick.
        self._require_asyncio()
        try:
            while True:
                with contextlib.suppress(QueueError):
                    await self.channel()
                await asyncio.sleep(settings.poll_interval * 5)
        finally:
            connections, self._consuming = self._consuming, []
            for connection in connections:
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await connection.close()

    # -- inspecting ----------------------------------------------------------------------

    async def _count(self, queue: str, suffix: str) -> int:
        self._seen.add(queue)
        declared = await self._declare(await self.channel(), queue, suffix)
        return int(declared.declaration_result.message_count or 0)

    async def sizes(self, queue: str) -> QueueSizes:
        try:
            waiting = await self._count(queue, "")
            failed = await self._count(queue, ".failed")
            delayed = 0
            for n in range(BUCKETS):
                delayed += await self._count(queue, f".delay.{n}")
        except _NETWORK as exc:
            raise QueueConnectionError(f"cannot reach the AMQP broker: {exc!r}") from exc
        return QueueSizes(waiting, delayed, None, failed)

    async def _scan_failed(
        self, queue: str
    ) -> tuple[Any, list[aio_pika.abc.AbstractIncomingMessage]]:
        """Take every failed message unacked on a channel of its own (closing it puts
        them back in order)."""
        connection = await self.connect()
        channel = await connection.channel()
        store = await self._declare(channel, queue, ".failed")
        messages = []
        for _ in range(_SCAN_LIMIT):
            message = await store.get(no_ack=False, fail=False, timeout=self.connect_timeout)
            if message is None:
                break
            messages.append(message)
        return connection, messages

    def _failed_job(self, queue: str, message: aio_pika.abc.AbstractIncomingMessage) -> FailedJob:
        headers = message.headers or {}
        return FailedJob(
            id=message.message_id or "",
            queue=queue,
            data=bytes(message.body),
            attempts=_header_int(headers.get("x-attempts")),
            error=_header_text(headers.get("x-error")),
            traceback=_header_text(headers.get("x-traceback")),
            failed_at=_header_int(headers.get("x-failed-at")) / 1000,
        )

    async def failed(self, queue: str, offset: int, limit: int) -> list[FailedJob]:
        try:
            connection, messages = await self._scan_failed(queue)
        except _NETWORK as exc:
            raise QueueConnectionError(f"cannot reach the AMQP broker: {exc!r}") from exc
        try:
            jobs = [self._failed_job(queue, m) for m in reversed(messages)]
            return jobs[offset : offset + limit]
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    async def failed_job(self, queue: str, job_id: str) -> FailedJob | None:
        jobs = await self.failed(queue, 0, _SCAN_LIMIT)
        return next((job for job in jobs if job.id == job_id), None)

    async def _take_failed(self, queue: str, job_ids: Sequence[str] | None, resend: bool) -> int:
        wanted = None if job_ids is None else set(job_ids)
        try:
            connection, messages = await self._scan_failed(queue)
        except _NETWORK as exc:
            raise QueueConnectionError(f"cannot reach the AMQP broker: {exc!r}") from exc
        count = 0
        try:
            for message in messages:
                if wanted is not None and message.message_id not in wanted:
                    continue
                if resend:
                    await self._ensure(queue)
                    await self.publish(
                        self.name(queue), message.body, message.message_id or "", {"x-attempts": 0}
                    )
                await message.ack()
                count += 1
        finally:
            with contextlib.suppress(Exception):
                await connection.close()  # the others go back to the store
        return count

    async def retry_failed(self, queue: str, job_ids: Sequence[str] | None) -> int:
        return await self._take_failed(queue, job_ids, resend=True)

    async def purge_failed(self, queue: str, job_ids: Sequence[str] | None) -> int:
        return await self._take_failed(queue, job_ids, resend=False)

    async def delete_everything(self, queues: Sequence[str] = ()) -> None:
        """Delete the broker queues of ``queues`` and of every job queue this backend has
        used (how tests and benchmarks clean up)."""
        channel = await self.channel()
        for queue in {*queues, *self._seen}:
            for suffix in ["", ".failed", *(f".delay.{n}" for n in range(BUCKETS))]:
                with contextlib.suppress(Exception):
                    await channel.queue_delete(self.name(queue, suffix))
        self._declared.clear()

    async def aclose(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._declared.clear()
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


class _AmqpDelivery(Delivery):
    __slots__ = ("backend", "message")

    def __init__(
        self,
        backend: AmqpBackend,
        queue: str,
        message: aio_pika.abc.AbstractIncomingMessage,
        attempts: int,
    ) -> None:
        super().__init__(queue, message.message_id or "", attempts, bytes(message.body))
        self.backend = backend
        self.message = message

    async def _settle(self, what: str, *publish: Any) -> None:
        try:
            if publish:
                await publish[0](*publish[1:])
            await self.message.ack()
        except Exception as exc:
            # The broker delivers the job again: at once when we can still say so (a
            # publish failed on a channel of its own), else when this channel closes. If
            # the next attempt was published first, it now exists twice: at least once.
            logger.warning(
                "queue %r: job %s could not be %s (%r); it will be delivered again",
                self.queue,
                self.job_id,
                what,
                exc,
            )
            with contextlib.suppress(Exception):
                await self.message.nack(requeue=True)  # not left unacked, holding a place

    async def ack(self) -> None:
        await self._settle("acknowledged")

    async def retry(self, delay: float) -> None:
        headers = {"x-attempts": self.attempts}
        due = round(time.time() * 1000 + delay * 1000)
        await self._settle(
            "retried",
            self.backend.publish_delayed,
            self.queue,
            self.payload,
            self.job_id,
            headers,
            due,
        )

    async def fail(self, error: str, traceback: str) -> None:
        backend = self.backend
        headers = {
            "x-attempts": self.attempts,
            "x-error": error,
            "x-traceback": traceback,
            "x-failed-at": round(time.time() * 1000),
        }

        async def store() -> None:
            await backend._ensure(self.queue, ".failed")
            await backend.publish(
                backend.name(self.queue, ".failed"), self.payload, self.job_id, headers
            )

        await self._settle("moved to the failed store", store)

    async def release(self) -> None:
        # Published again with the same count rather than nacked, so the next delivery
        # does not look redelivered (which would count an attempt).
        backend = self.backend
        headers = {"x-attempts": self.attempts - 1 - int(bool(self.message.redelivered))}
        await self._settle(
            "handed back",
            backend.publish,
            backend.name(self.queue),
            self.payload,
            self.job_id,
            headers,
        )


def _header_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _header_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _setter(event: asyncio.Event) -> Any:
    def closed(*_: object) -> None:
        event.set()

    return closed
