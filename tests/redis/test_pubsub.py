"""Pub/sub against a real server: channels, patterns and shard channels, iteration,
callbacks, unsubscribing, reconnects that resubscribe, and close. RESP2 and RESP3, asyncio
and trio (the ``redis`` fixture)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from workerman.redis import Message, PubSub, Redis, RedisConnectionError, RedisError

pytestmark = pytest.mark.anyio


def channel_name() -> str:
    return f"wmtest:{secrets.token_hex(4)}"


async def publish_until_heard(
    redis: Redis, channel: str, data: str, command: str = "PUBLISH"
) -> None:
    """Publish until a subscriber receives it (PUBLISH counts the receivers): for after
    a (re)subscription whose confirmation the test cannot await."""
    with anyio.fail_after(5):
        while await redis.execute(command, channel, data) == 0:
            await anyio.sleep(0.02)


async def next_message(ps: PubSub, timeout: float = 5) -> Message:
    with anyio.fail_after(timeout):
        async for message in ps:
            return message
    raise AssertionError("the iteration ended")


async def test_subscribe_then_publish_yields_messages(redis: Redis) -> None:
    channel = channel_name()
    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.subscribe(channel)
            assert await redis.execute("PUBLISH", channel, "hello") == 1
            assert await redis.execute("PUBLISH", channel, b"\x00binary") == 1
            assert await next_message(ps) == Message("message", channel.encode(), b"hello")
            second = await next_message(ps)
    assert (second.kind, second.channel, second.data) == (
        "message",
        channel.encode(),
        b"\x00binary",
    )
    assert second.pattern is None


async def test_messages_arrive_in_order_through_async_for(redis: Redis) -> None:
    channel = channel_name()
    received: list[Any] = []
    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.subscribe(channel)
            for i in range(20):
                await redis.execute("PUBLISH", channel, i)
            async for message in ps:
                received.append(message.data)
                if len(received) == 20:
                    break
    assert received == [str(i).encode() for i in range(20)]


async def test_decode_responses_gives_str_messages(redis_str: Redis) -> None:
    channel = channel_name()
    with anyio.fail_after(5):
        async with redis_str.pubsub() as ps:
            await ps.subscribe(channel)
            await redis_str.execute("PUBLISH", channel, "grüße")
            assert await next_message(ps) == Message("message", channel, "grüße")


async def test_psubscribe_gets_pmessage_with_its_pattern(redis: Redis) -> None:
    prefix = channel_name()
    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.psubscribe(f"{prefix}.*")
            assert await redis.execute("PUBLISH", f"{prefix}.news", "headline") == 1
            assert await redis.execute("PUBLISH", f"{prefix}-other", "not matched") == 0
            message = await next_message(ps)
    assert message == Message(
        "pmessage", f"{prefix}.news".encode(), b"headline", f"{prefix}.*".encode()
    )


async def test_a_callback_subscription_calls_fn_with_each_message(redis: Redis) -> None:
    with_callback, queued = channel_name(), channel_name()
    got: list[Message] = []
    two = anyio.Event()

    def on_message(message: Message) -> None:
        got.append(message)
        if len(got) == 2:
            two.set()

    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.subscribe(with_callback, callback=on_message)
            await ps.subscribe(queued)
            await redis.execute("PUBLISH", with_callback, "one")
            await redis.execute("PUBLISH", queued, "for the queue")
            await redis.execute("PUBLISH", with_callback, "two")
            await two.wait()
            # the callback's messages are not queued; the other channel's are
            assert await next_message(ps) == Message("message", queued.encode(), b"for the queue")
            assert await ps.get_message(timeout=0.1) is None
    assert [m.data for m in got] == [b"one", b"two"]
    assert all(m.channel == with_callback.encode() for m in got)


async def test_a_pattern_callback_and_an_async_callback(redis: Redis) -> None:
    prefix = channel_name()
    got: list[Message] = []
    done = anyio.Event()

    async def on_message(message: Message) -> None:
        await anyio.sleep(0)
        got.append(message)
        done.set()

    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.psubscribe(f"{prefix}.*", callback=on_message)
            await redis.execute("PUBLISH", f"{prefix}.a", "x")
            await done.wait()
    assert got == [Message("pmessage", f"{prefix}.a".encode(), b"x", f"{prefix}.*".encode())]


async def test_a_callback_that_raises_does_not_stop_delivery(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    channel = channel_name()
    got: list[Any] = []
    second = anyio.Event()

    def on_message(message: Message) -> None:
        got.append(message.data)
        if message.data == b"first":
            raise ValueError("boom in a message callback")
        second.set()

    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.subscribe(channel, callback=on_message)
            await redis.execute("PUBLISH", channel, "first")
            await redis.execute("PUBLISH", channel, "second")
            await second.wait()
    assert got == [b"first", b"second"]
    assert any(
        "boom in a message callback" in str(r.exc_info and r.exc_info[1]) for r in caplog.records
    )


async def test_unsubscribe_stops_delivery(redis: Redis) -> None:
    kept, dropped = channel_name(), channel_name()
    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.subscribe(kept, dropped)
            await ps.unsubscribe(dropped)
            assert await redis.execute("PUBLISH", dropped, "nobody hears") == 0
            assert await redis.execute("PUBLISH", kept, "heard") == 1
            assert await next_message(ps) == Message("message", kept.encode(), b"heard")
            assert await ps.get_message(timeout=0.1) is None

            await ps.unsubscribe()  # all of them
            assert await redis.execute("PUBLISH", kept, "nobody now") == 0

            await ps.psubscribe(f"{kept}.*")
            await ps.punsubscribe(f"{kept}.*")
            assert await redis.execute("PUBLISH", f"{kept}.x", "nobody") == 0


async def test_get_message_returns_none_when_idle(redis: Redis) -> None:
    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.subscribe(channel_name())
            assert await ps.get_message(timeout=0.1) is None
            assert await ps.get_message(timeout=0.1) is None


async def test_subscribe_needs_a_name(redis: Redis) -> None:
    async with redis.pubsub() as ps:
        with pytest.raises(RedisError):
            await ps.subscribe()


async def test_a_killed_connection_reconnects_and_resubscribes(redis: Redis) -> None:
    channel, prefix = channel_name(), channel_name()
    with anyio.fail_after(10):
        async with redis.pubsub() as ps:
            await ps.subscribe(channel)
            await ps.psubscribe(f"{prefix}.*")
            assert await redis.execute("PUBLISH", channel, "before") == 1
            assert (await next_message(ps)).data == b"before"

            assert await redis.execute("CLIENT", "KILL", "TYPE", "pubsub") >= 1

            await publish_until_heard(redis, channel, "after")
            assert await next_message(ps) == Message("message", channel.encode(), b"after")
            await publish_until_heard(redis, f"{prefix}.x", "pattern after")
            message = await next_message(ps)
            assert (message.kind, message.data) == ("pmessage", b"pattern after")


async def test_a_callback_subscription_survives_a_reconnect(redis: Redis) -> None:
    channel = channel_name()
    got: list[Any] = []
    heard = anyio.Event()

    def on_message(message: Message) -> None:
        got.append(message.data)
        heard.set()

    with anyio.fail_after(10):
        async with redis.pubsub() as ps:
            await ps.subscribe(channel, callback=on_message)
            assert await redis.execute("CLIENT", "KILL", "TYPE", "pubsub") >= 1
            await publish_until_heard(redis, channel, "after")
            await heard.wait()
    assert got[-1:] == [b"after"]


async def test_close_ends_a_waiting_iterator_with_connection_error(redis: Redis) -> None:
    ended = anyio.Event()
    errors: list[BaseException] = []

    async def consume(ps: PubSub) -> None:
        try:
            async for _message in ps:
                pass
        except RedisConnectionError as exc:
            errors.append(exc)
        ended.set()

    with anyio.fail_after(5):
        ps = redis.pubsub()
        await ps.subscribe(channel_name())
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume, ps)
            await anyio.sleep(0.05)  # let it wait (it ends the same way if it has not yet)
            ps.close()
            await ended.wait()
        assert len(errors) == 1
        with pytest.raises(RedisConnectionError):
            await ps.get_message(timeout=0.1)
        with pytest.raises(RedisConnectionError):
            await ps.subscribe(channel_name())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections (its backlog does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


async def test_close_fails_a_subscribe_never_confirmed(redis: Redis, silent_port: int) -> None:
    failed: list[BaseException] = []
    with anyio.fail_after(5):
        async with Redis("127.0.0.1", silent_port) as silent:
            ps = silent.pubsub()

            async def subscribe() -> None:
                try:
                    await ps.subscribe(channel_name())
                except RedisConnectionError as exc:
                    failed.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(subscribe)
                await anyio.sleep(0.1)
                assert failed == []  # still waiting for the confirmation
                ps.close()
    assert len(failed) == 1


async def _server_version(redis: Redis) -> tuple[int, ...]:
    info = await redis.execute("INFO", "server")
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("redis_version:"):
            return tuple(int(part) for part in line.split(":", 1)[1].strip().split("."))
    return (0,)


async def test_ssubscribe_gets_smessage(redis: Redis) -> None:
    if await _server_version(redis) < (7,):
        pytest.skip("shard channels need Redis 7")
    channel = channel_name()
    with anyio.fail_after(5):
        async with redis.pubsub() as ps:
            await ps.ssubscribe(channel)
            assert await redis.execute("SPUBLISH", channel, "sharded") == 1
            assert await next_message(ps) == Message("smessage", channel.encode(), b"sharded")
            await ps.sunsubscribe(channel)
            assert await redis.execute("SPUBLISH", channel, "gone") == 0


async def test_many_subscribers_each_get_every_message(redis: Redis) -> None:
    channel = channel_name()
    with anyio.fail_after(5):
        async with redis.pubsub() as first, redis.pubsub() as second:
            await first.subscribe(channel)
            await second.subscribe(channel)
            assert await redis.execute("PUBLISH", channel, "both") == 2
            for ps in (first, second):
                assert (await next_message(ps)).data == b"both"


async def test_channel_names_as_bytes_or_str_are_the_same_channel(redis_str: Redis) -> None:
    channel, other = channel_name(), channel_name()
    got: list[Message] = []
    heard = anyio.Event()

    def on_message(message: Message) -> None:
        got.append(message)
        heard.set()

    with anyio.fail_after(10):
        async with redis_str.pubsub() as ps:
            await ps.subscribe(channel.encode(), callback=on_message)  # bytes, str replies
            await redis_str.execute("PUBLISH", channel, "to the callback")
            await heard.wait()
            assert got == [Message("message", channel, "to the callback")]
            assert await ps.get_message(timeout=0.1) is None

            await ps.unsubscribe(channel)  # str this time
            await ps.subscribe(other)
            assert await redis_str.execute("CLIENT", "KILL", "TYPE", "pubsub") >= 1
            await publish_until_heard(redis_str, other, "reconnected")
            # the resubscription after the reconnect left out the unsubscribed channel
            assert await redis_str.execute("PUBLISH", channel, "nobody") == 0


async def test_a_subscribe_whose_handshake_is_refused_raises_instead_of_waiting(
    redis: Redis, test_url: str
) -> None:
    from urllib.parse import urlsplit, urlunsplit

    from workerman.redis import AuthenticationError

    parts = urlsplit(test_url)
    url = urlunsplit(parts._replace(netloc=f"nosuchuser:wrong@{parts.hostname}:{parts.port}"))
    async with Redis.from_url(url).pubsub() as ps:
        with anyio.fail_after(5), pytest.raises(AuthenticationError):
            await ps.subscribe("news")
