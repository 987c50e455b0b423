"""The ASGI lifespan protocol, once per worker process: startup before the first request
is handed to the app, shutdown after the last has finished.

``lifespan="auto"`` runs it and treats an app that raises before answering startup as
one without lifespan support (logged, then served); ``"on"`` makes that a failure;
``"off"`` never calls the app with a lifespan scope.
"""

from __future__ import annotations

import logging
from typing import Any

from workerman.core import Future, current_loop

from ._exceptions import LifespanError

__all__ = ["Lifespan"]

logger = logging.getLogger("workerman.asgi")

App = Any


class Lifespan:
    """One run of the app's lifespan scope; ``state`` is what the app put in it."""

    def __init__(self, app: App, mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.supported = True
        self._events: list[dict[str, Any]] = [{"type": "lifespan.startup"}]
        self._receiving: Future | None = None
        self._answer: Future | None = None
        self._answered: dict[str, Any] | None = None
        self._finished = False

    async def startup(self) -> None:
        """Run the app's startup.

        Raises:
            LifespanError: it sent ``lifespan.startup.failed``, or raised (with ``"on"``).
        """
        loop = current_loop()
        self._answer = loop.create_future()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "state": self.state,
        }
        loop.spawn_awaitable(self._run(scope), lambda: "ASGI lifespan")
        answer = await self._answer
        if answer["type"] == "lifespan.startup.complete":
            return
        if answer["type"] == "app-error":
            if self.mode == "auto":
                self.supported = False
                logger.info("ASGI lifespan not supported by the app (%s)", answer["message"])
                return
            raise LifespanError(f"lifespan startup raised: {answer['message']}")
        raise LifespanError(f"lifespan startup failed: {answer.get('message', '')}")

    async def shutdown(self) -> None:
        """Run the app's shutdown (when startup ran).

        Raises:
            LifespanError: it sent ``lifespan.shutdown.failed`` or raised.
        """
        if not self.supported or self._finished:
            return
        self._answer = current_loop().create_future()
        self._push({"type": "lifespan.shutdown"})
        answer = await self._answer
        if answer["type"] != "lifespan.shutdown.complete":
            raise LifespanError(f"lifespan shutdown failed: {answer.get('message', '')}")

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            self._finished = True
            self._reply({"type": "app-error", "message": f"{type(exc).__name__}: {exc}"})
            if self.mode == "on" or self._answered is not None:
                logger.error("ASGI lifespan raised", exc_info=exc)
            return
        self._finished = True
        self._reply({"type": "app-error", "message": "the app returned from its lifespan"})

    async def _receive(self) -> dict[str, Any]:
        while not self._events:
            waiter = self._receiving = current_loop().create_future()
            await waiter
        return self._events.pop(0)

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind not in (
            "lifespan.startup.complete",
            "lifespan.startup.failed",
            "lifespan.shutdown.complete",
            "lifespan.shutdown.failed",
        ):
            raise RuntimeError(f"ASGI: unexpected message {kind!r} in a lifespan scope")
        self._reply(message)

    def _reply(self, message: dict[str, Any]) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            self._answered = message
            answer.set_result(message)

    def _push(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        waiter = self._receiving
        if waiter is not None and not waiter.done():
            self._receiving = None
            waiter.set_result(None)
