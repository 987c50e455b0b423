"""The publishing side of pub/sub on a real server: PUBLISH and SPUBLISH counted by the
subscribers that got them, and PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB
as they see those subscribers. RESP2 and RESP3, asyncio and trio."""

from __future__ import annotations

import secrets

import anyio
import pytest

from workerman.redis import Message, Redis

from .test_pubsub import _server_version, next_message

pytestmark = pytest.mark.anyio


def name() -> str:
    return f"wmpub:{secrets.token_hex(4)}"


async def test_publish_reaches_a_subscriber_and_counts_it(redis: Redis) -> None:
    channel = name()
    assert await redis.publish(channel, "nobody") == 0
    async with redis.pubsub() as ps:
        await ps.subscribe(channel)
        assert await redis.publish(channel, "hello") == 1
        assert await next_message(ps) == Message("message", channel.encode(), b"hello")


async def test_publish_in_the_callback_style(redis: Redis) -> None:
    channel = name()
    done = anyio.Event()
    got: list[object] = []

    def on_reply(result: object, error: BaseException | None) -> None:
        got.append((result, error))
        done.set()

    assert redis.publish(channel, "x", callback=on_reply) is None
    with anyio.fail_after(5):
        await done.wait()
    assert got == [(0, None)]


async def test_pubsub_introspection_sees_channels_patterns_and_counts(redis: Redis) -> None:
    first, second, lonely = name(), name(), name()
    async with redis.pubsub() as ps:
        await ps.subscribe(first, second)
        await ps.psubscribe(first + "*")
        channels = await redis.pubsub_channels(first.split(":")[0] + ":*")
        assert {first.encode(), second.encode()} <= set(channels)
        assert await redis.pubsub_channels(first) == [first.encode()]
        counts = await redis.pubsub_numsub(first, lonely)
        assert counts == {first.encode(): 1, lonely.encode(): 0}
        assert await redis.pubsub_numpat() >= 1


async def test_shard_channels_publish_and_count(redis: Redis) -> None:
    if await _server_version(redis) < (7,):
        pytest.skip("shard channels need Redis 7")  # this machine runs 7.0
    channel = name()
    async with redis.pubsub() as ps:
        await ps.ssubscribe(channel)
        assert await redis.spublish(channel, "s") == 1
        message = await next_message(ps)
        assert (message.kind, message.data) == ("smessage", b"s")
        assert channel.encode() in await redis.pubsub_shardchannels(channel)
        assert await redis.pubsub_shardnumsub(channel) == {channel.encode(): 1}
