"""Short history per uid or group: a bounded Redis Stream each, so a client that comes
back can fetch what was sent while it was away (``after`` the last id it saw).

Entries are ``<ms>-<n>`` stream ids of Redis's clock, in send order. A stream keeps the last
``history_size`` entries and expires ``history_ttl`` seconds
after its last send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ._op import Op

if TYPE_CHECKING:
    from ._gateway import Gateway

__all__ = ["HistoryEntry", "Sent", "append", "read"]


class HistoryEntry(NamedTuple):
    """One message of a history: its stream id and the message as it was sent."""

    id: str
    message: str | bytes


class Sent(int):
    """What a send returns: the number of nodes it went to (an int), and with
    ``history=True`` the ``id`` of its history entry (None otherwise)."""

    id: str | None

    def __new__(cls, reached: int, entry_id: str | None = None) -> Sent:
        sent = super().__new__(cls, reached)
        sent.id = entry_id
        return sent


def stream_key(gateway: Gateway, kind: str, name: str) -> str:
    return f"{gateway.names.prefix}h:{kind}:{name}"


def append(gateway: Gateway, kind: str, name: str, message: str | bytes) -> Any:
    """Add ``message`` to the history of uid (``kind`` "u") or group ("g") ``name``, now;
    the future of its entry id. Its expiry is renewed in the same breath."""
    key = stream_key(gateway, kind, name)
    flag = "t" if isinstance(message, str) else "b"
    redis = gateway.redis
    entry = redis.execute("XADD", key, "MAXLEN", gateway.history_size, "*", "k", flag, "m", message)
    redis.execute("PEXPIRE", key, int(gateway.history_ttl * 1000), callback=_ignore)
    return entry


def read(gateway: Gateway, kind: str, name: str, after: str | None, limit: int) -> Op:
    key = stream_key(gateway, kind, name)
    if after is None:  # the latest ``limit``
        reply = gateway.redis.execute("XREVRANGE", key, "+", "-", "COUNT", limit)
        return Op([reply], lambda replies: [_entry(*row) for row in reversed(replies[0])])
    reply = gateway.redis.execute("XRANGE", key, f"({after}", "+", "COUNT", limit)
    return Op([reply], lambda replies: [_entry(*row) for row in replies[0]])


def _ignore(_result: Any, _error: BaseException | None) -> None:
    """An expiry that failed: the XADD beside it failed too, and that error is raised."""


def _entry(entry_id: Any, fields: Any) -> HistoryEntry:
    if isinstance(fields, dict):
        values = {_text(k): v for k, v in fields.items()}
    else:
        values = {_text(k): v for k, v in zip(fields[::2], fields[1::2], strict=False)}
    raw = values.get("m", b"")
    raw = raw.encode() if isinstance(raw, str) else bytes(raw)
    message: str | bytes = raw.decode() if _text(values.get("k", "t")) == "t" else raw
    return HistoryEntry(_text(entry_id), message)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
