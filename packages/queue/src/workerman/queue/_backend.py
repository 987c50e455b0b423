"""The contract between the queue (and its consumers) and a broker, and the slot count
that bounds how many jobs a consumer process holds at once.

A backend stores jobs and hands them out as :class:`Delivery` objects. The consumer
settles each delivery exactly once: ``ack`` (done), ``retry`` (again after a delay),
``fail`` (to the failed store) or ``release`` (handed back unrun, the attempt not
counted: a stopping consumer). Until it is settled, a delivery is leased to its consumer;
a consumer that dies without settling loses its leases, and the jobs are delivered again.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from ._job import FailedJob, QueueSizes

__all__ = ["Backend", "ConsumeSettings", "Delivery", "Jobs", "Slots"]


@dataclass(frozen=True, slots=True)
class ConsumeSettings:
    """How a consumer process takes jobs.

    Attributes:
        concurrency: jobs held at once (the prefetch bound).
        lease: seconds a taken job stays leased without a heartbeat.
        poll_interval: the longest a consumer waits before looking again (delayed jobs
            due, expired leases), in seconds.
    """

    concurrency: int
    lease: float
    poll_interval: float


class Slots:
    """Free places for jobs in one consumer process, shared by every queue it consumes."""

    __slots__ = ("_event", "free")

    def __init__(self, size: int) -> None:
        self.free = size
        self._event: anyio.Event | None = None

    def take(self) -> None:
        self.free -= 1

    def give(self) -> None:
        self.free += 1
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def wait(self) -> None:
        """Return once at least one place is free."""
        while self.free <= 0:
            if self._event is None:
                self._event = anyio.Event()
            await self._event.wait()


class Delivery(abc.ABC):
    """One job handed to a consumer, to be settled once.

    Attributes:
        queue: the queue's name.
        job_id: the job's id.
        attempts: this delivery's number (1 for the first).
        payload: the serialized data.
    """

    __slots__ = ("attempts", "job_id", "payload", "queue")

    def __init__(self, queue: str, job_id: str, attempts: int, payload: bytes) -> None:
        self.queue = queue
        self.job_id = job_id
        self.attempts = attempts
        self.payload = payload

    @abc.abstractmethod
    async def ack(self) -> None:
        """The job is done: forget it."""

    @abc.abstractmethod
    async def retry(self, delay: float) -> None:
        """Deliver the job again after ``delay`` seconds."""

    @abc.abstractmethod
    async def fail(self, error: str, traceback: str) -> None:
        """Give the job up: keep it in the failed store with its last error."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Hand the job back unrun (the consumer is stopping): this attempt is not counted."""


class Jobs(Protocol):
    """Where a backend hands the deliveries it takes (the consumer)."""

    def submit(self, delivery: Delivery) -> None:
        """Run the job in a task of the consumer's own."""


class Backend(abc.ABC):
    """A broker that stores jobs: Redis or AMQP."""

    #: drivers of the core's loop this backend runs on
    drivers: tuple[str, ...] = ("asyncio", "uvloop", "trio")

    @abc.abstractmethod
    async def enqueue(self, queue: str, job_id: str, payload: bytes, delay: float) -> bool:
        """Store a job, due after ``delay`` seconds. False when a job with this id is
        still known (so nothing was stored)."""

    @abc.abstractmethod
    async def fetch(
        self, queues: Sequence[str], slots: Slots, jobs: Jobs, settings: ConsumeSettings
    ) -> None:
        """Take jobs while ``slots`` has room and pass each to ``jobs`` (after
        ``slots.take()``), until cancelled. Survives broker outages by reconnecting."""

    @abc.abstractmethod
    async def maintain(self, queues: Sequence[str], settings: ConsumeSettings) -> None:
        """Keep this consumer's leases alive and due jobs moving, until cancelled."""

    @abc.abstractmethod
    async def sizes(self, queue: str) -> QueueSizes:
        """Jobs in each state."""

    @abc.abstractmethod
    async def failed(self, queue: str, offset: int, limit: int) -> list[FailedJob]:
        """Failed jobs, the most recent first (``data`` as the raw payload bytes)."""

    @abc.abstractmethod
    async def failed_job(self, queue: str, job_id: str) -> FailedJob | None:
        """One failed job (raw payload), or None."""

    @abc.abstractmethod
    async def retry_failed(self, queue: str, job_ids: Sequence[str] | None) -> int:
        """Send failed jobs again with fresh attempts (all when ``job_ids`` is None);
        returns how many."""

    @abc.abstractmethod
    async def purge_failed(self, queue: str, job_ids: Sequence[str] | None) -> int:
        """Delete failed jobs (all when ``job_ids`` is None); returns how many."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the broker connections."""
