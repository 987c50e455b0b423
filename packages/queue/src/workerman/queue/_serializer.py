"""Payload serializers: what a job's data becomes on the wire."""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from ._exceptions import PayloadTooLargeError, SerializationError

__all__ = ["JsonSerializer", "Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """Turns job data into bytes and back. ``dumps`` may raise anything for data it
    cannot encode; the queue reports that as :class:`SerializationError`."""

    def dumps(self, data: Any) -> bytes: ...

    def loads(self, payload: bytes) -> Any: ...


class JsonSerializer:
    """JSON (UTF-8, compact), the default: readable in redis-cli and the management UI."""

    __slots__ = ()

    def dumps(self, data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(self, payload: bytes) -> Any:
        return json.loads(payload)


def encode(serializer: Serializer, data: Any, limit: int) -> bytes:
    """``data`` serialized, checked against the payload limit."""
    try:
        payload = serializer.dumps(data)
    except Exception as exc:
        raise SerializationError(f"cannot serialize the job data: {exc!r}") from exc
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise SerializationError(f"{type(serializer).__name__}.dumps returned {type(payload)!r}")
    if len(payload) > limit:
        raise PayloadTooLargeError(
            f"job payload is {len(payload)} bytes, over max_payload_size ({limit})"
        )
    return bytes(payload)
