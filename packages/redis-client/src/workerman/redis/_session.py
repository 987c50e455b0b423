"""Sessions of workerman.core.http kept in Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import Redis

__all__ = ["RedisSessionHandler"]


class RedisSessionHandler:
    """A :class:`workerman.core.http.SessionHandler` storing each session under
    ``prefix + id`` with a TTL of the session lifetime, so Redis expires idle sessions
    itself (``gc`` has nothing to do) and every worker process sees the same data.

    Its methods send their command at once and return its future: writes leave in
    order with the reads of later requests on the same client. Sessions must be loaded
    with ``await request.session.load()`` before use.

    ``Session.handler = RedisSessionHandler(Redis.from_url("redis://127.0.0.1:6379"))``
    """

    __slots__ = ("prefix", "redis")

    def __init__(self, redis: Redis, prefix: str = "workerman:session:") -> None:
        self.redis = redis
        self.prefix = prefix

    async def read(self, session_id: str) -> bytes | None:
        value = await self.redis.get(self.prefix + session_id)
        if isinstance(value, str):  # a client with decode_responses
            return value.encode()
        return value  # type: ignore[no-any-return]

    def write(self, session_id: str, data: bytes, lifetime: int) -> Any:
        return self.redis.set(self.prefix + session_id, data, ex=lifetime)

    def touch(self, session_id: str, lifetime: int) -> Any:
        return self.redis.expire(self.prefix + session_id, lifetime)

    def destroy(self, session_id: str) -> Any:
        return self.redis.delete(self.prefix + session_id)

    def gc(self, max_lifetime: int) -> int:
        return 0  # keys carry their own TTL
