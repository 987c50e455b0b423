"""Server-sent events: the text/event-stream format of the HTML standard, decoded from
lines as they arrive."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from ._exceptions import LimitError

__all__ = ["ServerSentEvent", "decode_sse"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event.

    Attributes:
        data: the data lines joined with "\\n".
        event: the event type ("message" unless the server named one).
        id: the last event id seen on the stream (sticky, as the standard says).
        retry: the reconnection time in milliseconds the server asked for, or None.
    """

    data: str = ""
    event: str = "message"
    id: str = ""
    retry: int | None = None

    def json(self) -> object:
        """The data parsed as JSON."""
        return json.loads(self.data)


async def decode_sse(
    chunks: AsyncIterator[bytes], max_line: int
) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of a stream of body pieces; a line over ``max_line`` bytes is refused."""
    pending = b""
    data: list[str] = []
    event = ""
    last_id = ""
    retry: int | None = None
    first = True
    async for chunk in chunks:
        pending += chunk
        while True:
            cut = _line_end(pending)
            if cut is None:
                if len(pending) > max_line:
                    raise LimitError(f"an event-stream line over {max_line} bytes")
                break
            end, after = cut
            line = pending[:end].decode("utf-8", "replace")
            pending = pending[after:]
            if first:
                first = False
                line = line.removeprefix("\ufeff")
            if not line:
                if data:
                    yield ServerSentEvent("\n".join(data), event or "message", last_id, retry)
                data, event = [], ""
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                if "\0" not in value:
                    last_id = value
            elif name == "retry" and value.isdigit():
                retry = int(value)


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Where the first line ends and the next begins (CRLF, LF or a lone CR)."""
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r", 0, lf if lf >= 0 else len(buffer))
    if cr >= 0:
        if cr + 1 == len(buffer):
            return None  # a CR at the end: an LF may follow
        return (cr, cr + 2) if buffer[cr + 1] == 10 else (cr, cr + 1)
    if lf >= 0:
        return lf, lf + 1
    return None
