"""What a handler receives (Job), what the failed store keeps (FailedJob), queue sizes,
and the checks every backend applies to names and delays."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["FailedJob", "Job", "QueueSizes", "check_delay", "check_queue_name", "new_job_id"]

_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")


def check_queue_name(name: str) -> str:
    """``name`` if it is 1-200 characters of letters, digits and ``_ . : -``."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(
            f"queue name must be 1-200 characters of letters, digits and _.:-, not {name!r}"
        )
    return name


def check_delay(delay: float) -> float:
    """``delay`` in seconds if it is a finite number >= 0."""
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise TypeError(f"delay must be a number of seconds, not {type(delay).__name__}")
    if not math.isfinite(delay) or delay < 0:
        raise ValueError(f"delay must be a finite number of seconds >= 0, not {delay!r}")
    return float(delay)


def new_job_id() -> str:
    """A random 128-bit id in hex: unique without asking the broker."""
    return os.urandom(16).hex()


class Job:
    """One delivery of a job to a handler.

    Attributes:
        id: the job id ``send`` returned; the same on every delivery, so a handler can
            be made idempotent with it.
        queue: the queue's name.
        data: the payload, decoded by the queue's serializer.
        attempts: 1 on the first delivery, 2 on the first retry, and so on.
    """

    __slots__ = ("attempts", "data", "id", "queue")

    def __init__(self, id: str, queue: str, data: Any, attempts: int) -> None:
        self.id = id
        self.queue = queue
        self.data = data
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"<Job {self.queue}/{self.id} attempt {self.attempts}>"


@dataclass(frozen=True, slots=True)
class FailedJob:
    """A job in the failed store.

    Attributes:
        id, queue: as for :class:`Job`.
        data: the payload (decoded; the raw bytes when the serializer cannot decode it).
        attempts: deliveries made before it was given up.
        error: the last error, as ``repr(exception)``.
        traceback: the last error's formatted traceback.
        failed_at: when it was given up (Unix time, seconds).
    """

    id: str
    queue: str
    data: Any
    attempts: int
    error: str
    traceback: str
    failed_at: float


@dataclass(frozen=True, slots=True)
class QueueSizes:
    """How many jobs a queue holds in each state.

    Attributes:
        waiting: ready to be taken.
        delayed: waiting for their time (new delayed jobs and retries).
        in_flight: taken by a consumer and not yet acknowledged (None where the broker
            does not tell: AMQP without the management plugin).
        failed: in the failed store.
    """

    waiting: int
    delayed: int
    in_flight: int | None
    failed: int
