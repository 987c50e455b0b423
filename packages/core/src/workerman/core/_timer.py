"""Timer: Workerman's static timer API over the running loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._loop import current_loop, current_loop_or_none

__all__ = ["Timer"]


class Timer:
    """Timers on the event loop of this process, as Workerman's ``Timer``.

    Callbacks may be plain or async functions; an exception they raise is logged and
    the timer keeps its schedule.
    """

    @staticmethod
    def add(
        interval: float, callback: Callable[..., Any], *args: Any, persistent: bool = True
    ) -> int:
        """Call ``callback(*args)`` every ``interval`` seconds, or once when not ``persistent``.

        Returns:
            The timer id, for :meth:`delete`.

        Raises:
            ValueError: ``interval`` is zero or negative.
            ServerError: no event loop runs (call it from a worker callback).
        """
        loop = current_loop()
        if persistent:
            return loop.repeat(interval, callback, *args)
        return loop.delay(interval, callback, *args)

    @staticmethod
    def delay(interval: float, callback: Callable[..., Any], *args: Any) -> int:
        """Call ``callback(*args)`` once after ``interval`` seconds."""
        return current_loop().delay(interval, callback, *args)

    @staticmethod
    def delete(timer_id: int) -> bool:
        """Cancel a timer; True when it was pending. Safe inside its own callback."""
        loop = current_loop_or_none()
        return loop.cancel(timer_id) if loop is not None else False

    @staticmethod
    def delete_all() -> None:
        """Cancel every timer of this process."""
        loop = current_loop_or_none()
        if loop is not None:
            loop.cancel_all()

    @staticmethod
    def count() -> int:
        """How many timers are pending."""
        loop = current_loop_or_none()
        return loop.timer_count() if loop is not None else 0
