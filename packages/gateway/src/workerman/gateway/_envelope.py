"""What travels between nodes on a channel: an operation, a header and the message.

    <op: 1 byte><kind: 1 byte, t (text) or b (bytes)><header: JSON><\\n><message bytes>

The header is JSON without a newline in it (json.dumps escapes them), so the first newline
ends it and the message follows untouched: no escaping, no copy of a large payload but one.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ALL",
    "CLIENTS",
    "CLOSE",
    "GROUP",
    "PING",
    "UIDS",
    "decode",
    "encode",
]

CLIENTS = b"C"  # header: list of client ids
UIDS = b"U"  # header: list of uids
GROUP = b"G"  # header: [group, [excluded client ids]]
ALL = b"A"  # header: [excluded client ids]
CLOSE = b"X"  # header: list of client ids; the message (if any) is sent before closing
PING = b"P"  # header: the sender's monotonic time; the node's own liveness probe

_TEXT, _BYTES = b"t", b"b"


def encode(op: bytes, header: Any, message: str | bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if isinstance(message, str):
        return b"".join((op, _TEXT, head, b"\n", message.encode()))
    return b"".join((op, _BYTES, head, b"\n", message))


def decode(payload: bytes) -> tuple[bytes, Any, str | bytes]:
    """(op, header, message); raises ValueError on anything not made by :func:`encode`."""
    end = payload.index(b"\n", 2)
    op, kind = payload[:1], payload[1:2]
    header = json.loads(payload[2:end])
    body = payload[end + 1 :]
    if kind == _TEXT:
        return op, header, body.decode()
    if kind == _BYTES:
        return op, header, body
    raise ValueError(f"unknown message kind {kind!r}")
