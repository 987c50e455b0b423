"""The HTTP protocol of ASGI workers: the core's, also reading while a request is in
progress, so a client that leaves is seen at once (the app's ``http.disconnect``)."""

from __future__ import annotations

from typing import Any

from workerman.core.http import Http

__all__ = ["watching"]

_made: dict[type[Http], type[Http]] = {}


def _eof_received(self: Http) -> None:
    worker: Any = self.connection.worker
    notice = getattr(worker, "peer_finished", None)
    if notice is not None:
        notice(self.connection)


def watching(base: type[Http]) -> type[Http]:
    """``base`` (Http or a subclass with other settings) with ``watch_eof`` on."""
    made = _made.get(base)
    if made is None:
        made = _made[base] = type(
            f"Asgi{base.__name__}",
            (base,),
            {"__slots__": (), "watch_eof": True, "eof_received": _eof_received},
        )
    return made
