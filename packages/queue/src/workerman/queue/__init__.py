"""workerman.queue: jobs on Redis or RabbitMQ that survive a killed consumer.

``Queue.from_url(url)`` sends jobs (``await queue.send("email", data, delay=30)``, or
with ``callback=fn``); ``QueueWorker(queue, {"email": handler}, ...)`` consumes them in
worker processes under the supervisor. Delivery is at-least-once: a job is leased, not
removed, until its handler returns.
"""

from ._backend import Backend as Backend
from ._backend import Delivery as Delivery
from ._consumer import ConsumerStatistics as ConsumerStatistics
from ._consumer import QueueWorker as QueueWorker
from ._exceptions import BackendUnavailableError as BackendUnavailableError
from ._exceptions import JobTimeoutError as JobTimeoutError
from ._exceptions import LeaseExpiredError as LeaseExpiredError
from ._exceptions import PayloadTooLargeError as PayloadTooLargeError
from ._exceptions import QueueConnectionError as QueueConnectionError
from ._exceptions import QueueError as QueueError
from ._exceptions import SerializationError as SerializationError
from ._exceptions import UnroutableError as UnroutableError
from ._exceptions import UnsupportedDriverError as UnsupportedDriverError
from ._job import FailedJob as FailedJob
from ._job import Job as Job
from ._job import QueueSizes as QueueSizes
from ._queue import Queue as Queue
from ._serializer import JsonSerializer as JsonSerializer
from ._serializer import Serializer as Serializer

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "ConsumerStatistics",
    "Delivery",
    "FailedJob",
    "Job",
    "JobTimeoutError",
    "JsonSerializer",
    "LeaseExpiredError",
    "PayloadTooLargeError",
    "Queue",
    "QueueConnectionError",
    "QueueError",
    "QueueSizes",
    "QueueWorker",
    "SerializationError",
    "Serializer",
    "UnroutableError",
    "UnsupportedDriverError",
]
