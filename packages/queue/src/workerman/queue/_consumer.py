"""``QueueWorker``: consumers as ordinary workers under the supervisor.

Each process takes up to ``concurrency`` jobs at once and runs them in as many runner
tasks (made once, not per job). A job is settled when its handler ends: returned means
ack, raised means a retry after ``retry_delay(attempt)`` or, past ``max_attempts``, the
failed store. On stop the process takes no more jobs; a graceful stop (``stop -g``,
``reload -g``) lets running jobs finish for up to ``graceful_timeout``, a plain stop for
half of ``Worker.stop_timeout``; whatever still runs then is cancelled and handed back
unrun.
"""

from __future__ import annotations

import contextlib
import logging
import math
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from workerman.core import Future, Worker, current_loop, register_status

from ._backend import ConsumeSettings, Delivery, Slots
from ._exceptions import (
    JobTimeoutError,
    LeaseExpiredError,
    QueueError,
    SerializationError,
    UnsupportedDriverError,
)
from ._job import Job, QueueSizes, check_queue_name
from ._queue import Queue

__all__ = ["ConsumerStatistics", "QueueWorker"]

logger = logging.getLogger("workerman.queue")

SIZES_INTERVAL = 5.0  # seconds between the queue sizes status shows

Handler = Callable[[Job], Any]
RetryDelay = float | Callable[[int], float]
FailureHook = Callable[[Job, BaseException], Any]
Callback = Callable[..., Any] | None


async def _call(callback: Callback, *args: Any) -> None:
    if callback is not None:
        result = callback(*args)
        if isinstance(result, Awaitable):
            await result


class ConsumerStatistics:
    """Counters of one consumer process (what ``status`` shows for it)."""

    __slots__ = ("done", "failed", "handed_back", "retried", "running", "timed_out")

    def __init__(self) -> None:
        self.running = 0
        self.done = 0
        self.retried = 0
        self.failed = 0
        self.timed_out = 0
        self.handed_back = 0

    def snapshot(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class QueueWorker(Worker):
    """A worker whose processes consume jobs.

    ``QueueWorker(queue, {"email": send_email}, concurrency=20, count=4)`` then
    ``Worker.run_all()``. Handlers are plain or async functions of a :class:`Job`;
    returning acknowledges the job, raising retries it. A plain handler runs on the
    loop, so keep it short (its timeout cannot interrupt it).

    Args:
        queue: the :class:`Queue` to consume from.
        handlers: queue name -> handler.
        concurrency: jobs one process runs at once (also what it prefetches).
        max_attempts: deliveries before a failing job goes to the failed store.
        retry_delay: seconds before a retry: a number ``n`` is linear backoff
            (``n * attempt``); a function gets the attempt that failed (1, 2 ...).
        lease: seconds a job stays leased to a process that stops sending heartbeats
            (one every third of it); a process killed mid-job has its jobs delivered again
            after at most this long.
        timeout: seconds a handler may run before it is cancelled and the job retried
            (None: no limit).
        graceful_timeout: seconds a graceful stop waits for running jobs.
        poll_interval: the longest wait before looking for due delayed jobs and expired
            leases (Redis), in seconds.
        on_failure: ``fn(job, exception)``, plain or async, when a job goes to the
            failed store.
        name: as for :class:`workerman.core.Worker`.
        count: as for :class:`workerman.core.Worker`.
    """

    def __init__(
        self,
        queue: Queue,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 10,
        max_attempts: int = 5,
        retry_delay: RetryDelay = 5.0,
        lease: float = 30.0,
        timeout: float | None = 300.0,
        graceful_timeout: float = 30.0,
        poll_interval: float = 1.0,
        on_failure: FailureHook | None = None,
        name: str = "queue",
        count: int = 1,
    ) -> None:
        self._user_start: Callback = None
        self._user_stop: Callback = None
        super().__init__("", name=name, count=count)
        self._check_driver(queue, type(self).event_loop)
        if not handlers:
            raise ValueError("QueueWorker needs at least one queue name -> handler")
        for queue_name, handler in handlers.items():
            check_queue_name(queue_name)
            if not callable(handler):
                raise TypeError(f"the handler of {queue_name!r} is not callable")
        if concurrency < 1 or max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be at least 1")
        for what, value in (("lease", lease), ("poll_interval", poll_interval)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive or None, not {timeout!r}")
        if not callable(retry_delay) and not retry_delay >= 0:
            raise ValueError(f"retry_delay must be >= 0 or a function, not {retry_delay!r}")
        self.queue = queue
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.lease = float(lease)
        self.timeout = timeout
        self.graceful_timeout = graceful_timeout
        self.poll_interval = float(poll_interval)
        self.on_failure = on_failure
        self.stats = ConsumerStatistics()
        self._consumer: _Consumer | None = None
        self._unregister_status: Callable[[], None] = lambda: None

    # Your own on_worker_start runs once consuming has begun; your on_worker_stop once the
    # jobs are settled (close the clients your handlers used there: a graceful stop waits
    # for every connection of the process).
    @property
    def on_worker_start(self) -> Callback:
        return self._start_consuming

    @on_worker_start.setter
    def on_worker_start(self, callback: Callback) -> None:
        self._user_start = callback

    @property
    def on_worker_stop(self) -> Callback:
        return self._stop_consuming

    @on_worker_stop.setter
    def on_worker_stop(self, callback: Callback) -> None:
        self._user_stop = callback

    # The supervisor stops a process through the class's stop_all; remembering whether
    # it asked for a graceful stop tells on_worker_stop how long running jobs may take.
    _stopping_gracefully = False
    _process_stopping = False

    @classmethod
    def stop_all(cls, graceful: bool = False) -> None:
        """Stop the workers of this process (see :meth:`Worker.stop_all`); a graceful
        stop lets running jobs finish for up to ``graceful_timeout``. As the process is
        ending, the queue's connections are closed once the jobs are settled (a graceful
        stop waits for every connection of the process)."""
        cls._stopping_gracefully = graceful
        cls._process_stopping = True
        super().stop_all(graceful)

    def statistics(self) -> dict[str, int]:
        """This process's counters: running, done, retried, failed, timed_out, handed_back."""
        return self.stats.snapshot()

    def status_report(self) -> dict[str, object]:
        """What ``status`` shows for this process: its counters, then the sizes of each
        queue it consumes (``email.waiting=3 ...``, refreshed every few seconds)."""
        report: dict[str, object] = dict(self.stats.snapshot())
        consumer = self._consumer
        if consumer is not None:
            for queue, sizes in consumer.sizes.items():
                for field in ("waiting", "delayed", "in_flight", "failed"):
                    value = getattr(sizes, field)
                    report[f"{queue}.{field}"] = "?" if value is None else value
        return report

    def delay_for(self, attempt: int) -> float:
        """Seconds before retrying a job whose ``attempt`` failed."""
        if callable(self.retry_delay):
            return max(0.0, float(self.retry_delay(attempt)))
        return float(self.retry_delay) * attempt

    @staticmethod
    def _check_driver(queue: Queue, driver: str | None) -> None:
        drivers = queue.backend.drivers
        if driver is not None and driver not in drivers:
            raise UnsupportedDriverError(
                f"{type(queue.backend).__name__} runs on {', '.join(drivers)} only, not on the "
                f"{driver!r} event loop; set Worker.event_loop = 'asyncio' (or 'uvloop')"
            )

    async def _start_consuming(self, worker: Worker | None = None) -> None:
        self._check_driver(self.queue, current_loop().name)
        type(self)._stopping_gracefully = type(self)._process_stopping = False
        self._consumer = _Consumer(self)
        started = anyio.Event()
        current_loop().spawn(self._consumer.consume, started)
        await started.wait()
        self._unregister_status = register_status(f"queue {self.name}", self.status_report)
        await _call(self._user_start, self)

    async def _stop_consuming(self, worker: Worker | None = None) -> None:
        self._unregister_status()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            grace = (
                self.graceful_timeout
                if type(self)._stopping_gracefully
                else type(self).stop_timeout / 2
            )
            await consumer.stop(grace, lambda: type(self)._stopping_gracefully)
        await _call(self._user_stop, self)
        if type(self)._process_stopping:
            await self.queue.aclose()


async def _resilient(what: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run ``fn`` until it returns or is cancelled; a bug that makes it raise is logged and
    it starts again a second later, rather than leaving the process consuming nothing."""
    while True:
        try:
            await fn(*args)
            return
        except Exception:
            logger.exception("queue: %s failed; starting again in 1 s", what)
            await anyio.sleep(1.0)


class _Consumer:
    """The running part of one process's QueueWorker."""

    def __init__(self, worker: QueueWorker) -> None:
        self.worker = worker
        self.backend = worker.queue.backend
        self.queues = list(worker.handlers)
        self.settings = ConsumeSettings(worker.concurrency, worker.lease, worker.poll_interval)
        self.slots = Slots(worker.concurrency)
        self.stats = worker.stats
        self.fetching = anyio.CancelScope()
        self.jobs: Any = None
        self.handing_back = False
        self.idle = anyio.Event()
        self.finished = anyio.Event()
        self.pending: deque[Delivery] = deque()
        self.waiting_runners: list[Future] = []
        self.sizes: dict[str, QueueSizes] = {}

    async def consume(self, started: anyio.Event) -> None:
        try:
            async with anyio.create_task_group() as maintenance:
                maintenance.start_soon(
                    _resilient, "keeping leases", self.backend.maintain, self.queues, self.settings
                )
                maintenance.start_soon(_resilient, "watching queue sizes", self.watch_sizes)
                async with anyio.create_task_group() as jobs:
                    self.jobs = jobs
                    for _ in range(self.worker.concurrency):
                        jobs.start_soon(self.runner)
                    started.set()
                    with self.fetching:
                        await _resilient(
                            "taking jobs",
                            self.backend.fetch,
                            self.queues,
                            self.slots,
                            self,
                            self.settings,
                        )
                await self.hand_back_pending()
                maintenance.cancel_scope.cancel()
        finally:
            started.set()
            self.finished.set()

    async def watch_sizes(self) -> None:
        """Keep the queue sizes ``status`` shows fresh (a status report must not wait)."""
        while True:
            for queue in self.queues:
                try:
                    # shielded: an AMQP channel cancelled mid-call is closed by aiormq
                    with anyio.CancelScope(shield=True):
                        self.sizes[queue] = await self.backend.sizes(queue)
                except QueueError:
                    self.sizes.pop(queue, None)
            await anyio.sleep(SIZES_INTERVAL)

    def submit(self, delivery: Delivery) -> None:
        # ``concurrency`` runner tasks take the jobs: no task is made per job
        self.stats.running += 1
        self.pending.append(delivery)
        if self.waiting_runners:
            self.waiting_runners.pop().set_result(None)

    async def runner(self) -> None:
        pending = self.pending
        loop = current_loop()
        while True:
            while not pending:
                wake = loop.create_future()  # lighter than an anyio.Event, on either driver
                self.waiting_runners.append(wake)
                try:
                    await wake
                finally:
                    with contextlib.suppress(ValueError):
                        self.waiting_runners.remove(wake)
            await self.run_job(pending.popleft())

    async def hand_back_pending(self) -> None:
        """Jobs taken but not yet started when the runners were stopped."""
        while self.pending:
            delivery = self.pending.popleft()
            with anyio.CancelScope(shield=True):
                await self.guarded(delivery.release(), delivery)
            self.stats.handed_back += 1
            self.stats.running -= 1
            self.slots.give()

    async def stop(self, grace: float, still_graceful: Callable[[], bool]) -> None:
        self.fetching.cancel()
        graceful = still_graceful()
        with anyio.move_on_after(grace):
            # a plain stop arriving during a graceful one cuts the wait short
            while self.stats.running > len(self.pending) and still_graceful() == graceful:
                self.idle = anyio.Event()
                with anyio.move_on_after(0.1):
                    await self.idle.wait()
        self.handing_back = True
        if self.jobs is not None:
            self.jobs.cancel_scope.cancel()
        with anyio.move_on_after(self.worker.lease):
            await self.finished.wait()

    async def run_job(self, delivery: Delivery) -> None:
        worker = self.worker
        job = Job(delivery.job_id, delivery.queue, None, delivery.attempts)
        try:
            try:
                if delivery.attempts > worker.max_attempts:
                    raise LeaseExpiredError(
                        f"job {delivery.job_id} was taken {delivery.attempts} times; its "
                        "consumer kept dying or stalling before finishing it"
                    )
                try:
                    job.data = worker.queue.serializer.loads(delivery.payload)
                except Exception as exc:
                    raise SerializationError(f"cannot decode the job's payload: {exc!r}") from exc
                await self.call_handler(job)
            except anyio.get_cancelled_exc_class():
                if self.handing_back:
                    with anyio.CancelScope(shield=True):
                        await self.guarded(delivery.release(), delivery)
                    self.stats.handed_back += 1
                raise
            except Exception as exc:
                with anyio.CancelScope(shield=True):
                    await self.guarded(self.settle_failure(delivery, job, exc), delivery)
            else:
                # not shielded: an ack cut short by a hand-back only means a duplicate
                await self.guarded(delivery.ack(), delivery)
                self.stats.done += 1
        finally:
            self.stats.running -= 1
            self.slots.give()
            if not self.stats.running:
                self.idle.set()

    async def guarded(self, settling: Awaitable[Any], delivery: Delivery) -> None:
        """Settle; an error here (the backends retry through connection losses
        themselves) is logged, never allowed to end the consumer: the job is delivered
        again when its lease ends."""
        try:
            await settling
        except Exception as exc:
            logger.error(
                "queue %r: settling job %s failed: %r", delivery.queue, delivery.job_id, exc
            )

    async def call_handler(self, job: Job) -> None:
        handler = self.worker.handlers[job.queue]
        timeout = self.worker.timeout
        with anyio.CancelScope(
            deadline=math.inf if timeout is None else anyio.current_time() + timeout
        ) as scope:
            result = handler(job)
            if isinstance(result, Awaitable):
                await result
        if scope.cancelled_caught:
            self.stats.timed_out += 1
            raise JobTimeoutError(f"the handler ran longer than {timeout} s and was cancelled")

    async def settle_failure(self, delivery: Delivery, job: Job, exc: BaseException) -> None:
        worker = self.worker
        final = delivery.attempts >= worker.max_attempts or isinstance(
            exc, SerializationError | LeaseExpiredError
        )
        if not final:
            delay = worker.delay_for(delivery.attempts)
            logger.info(
                "queue %r: job %s failed (attempt %d of %d), retried in %.1f s: %r",
                delivery.queue,
                delivery.job_id,
                delivery.attempts,
                worker.max_attempts,
                delay,
                exc,
            )
            await delivery.retry(delay)
            self.stats.retried += 1
            return
        logger.error(
            "queue %r: job %s failed after %d attempt(s), moved to the failed store: %r",
            delivery.queue,
            delivery.job_id,
            delivery.attempts,
            exc,
        )
        await delivery.fail(repr(exc), "".join(traceback.format_exception(exc)))
        self.stats.failed += 1
        hook = worker.on_failure
        if hook is not None:
            try:
                result = hook(job, exc)
                if isinstance(result, Awaitable):
                    await result
            except Exception as hook_error:
                logger.exception("queue %r: on_failure raised %r", delivery.queue, hook_error)
