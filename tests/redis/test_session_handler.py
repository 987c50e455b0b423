"""HTTP sessions of workerman.core kept in Redis, through a real server and real requests."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from workerman.core import TcpConnection, Worker, serve
from workerman.core.http import Request, Session
from workerman.redis import Redis, RedisSessionHandler

pytestmark = pytest.mark.anyio

PREFIX = "test:session:"


@pytest.fixture(autouse=True)
def _session_settings() -> Iterator[None]:
    saved = (Session._handler, Session.lifetime, Session.gc_probability)
    Session.gc_probability = (0, 1)
    yield
    Session._handler, Session.lifetime, Session.gc_probability = saved


async def until(predicate: object, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():  # type: ignore[operator]
            await anyio.sleep(0.01)


async def test_a_session_round_trips_through_redis_with_its_lifetime(redis: Redis) -> None:
    Session.handler = RedisSessionHandler(redis, prefix=PREFIX)
    Session.lifetime = 120
    session = await Session.from_cookie(None).load()
    assert session.all() == {}
    session["user"] = "ann"
    session["cart"] = [1, 2]
    session.save()
    key = PREFIX + session.id

    async def stored() -> bool:
        return bool(await redis.exists(key))

    await until(stored)
    assert 0 < await redis.ttl(key) <= 120
    again = await Session(session.id).load()
    assert again.all() == {"user": "ann", "cart": [1, 2]}

    again.regenerate_id()
    again.save()  # writes the new id, then destroys the old one

    async def moved() -> bool:
        return not await redis.exists(key) and bool(await redis.exists(PREFIX + again.id))

    await until(moved)
    again.destroy()

    async def gone() -> bool:
        return not await redis.exists(PREFIX + again.id)

    await until(gone)


async def test_an_async_handler_needs_load_before_use(redis: Redis) -> None:
    Session.handler = RedisSessionHandler(redis, prefix=PREFIX)
    session = Session.from_cookie(None)
    with pytest.raises(RuntimeError, match=r"await session\.load"):
        session.get("user")
    await session.load()
    assert session.get("user") is None


async def test_a_counter_in_a_redis_session_across_requests(redis: Redis) -> None:
    """An http:// worker whose async handler counts visits in the session: the cookie
    from the first answer brings the count back on later requests."""
    Session.handler = RedisSessionHandler(redis, prefix=PREFIX)
    web = Worker("http://127.0.0.1:0")

    async def on_message(connection: TcpConnection, request: Request) -> None:
        session = await request.session.load()
        session["visits"] = session.get("visits", 0) + 1
        connection.send(str(session["visits"]))

    web.on_message = on_message
    async with serve(web) as (host, port):
        answers = []
        cookie = b""
        async with await anyio.connect_tcp(host, port) as stream:
            for _ in range(3):
                head = b"GET / HTTP/1.1\r\nHost: x\r\n"
                await stream.send(
                    head + (b"Cookie: " + cookie + b"\r\n" if cookie else b"") + b"\r\n"
                )
                reply = b""
                with anyio.fail_after(5):
                    while not _whole(reply):
                        reply += await stream.receive()
                head_part, _, body = reply.partition(b"\r\n\r\n")
                answers.append(body)
                for line in head_part.split(b"\r\n"):
                    if line.lower().startswith(b"set-cookie:"):
                        cookie = line.split(b":", 1)[1].split(b";")[0].strip()
    assert answers == [b"1", b"2", b"3"]
    assert cookie.startswith(Session.name.encode() + b"=")


def _whole(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False
