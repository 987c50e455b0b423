"""Channel: publish to every subscriber, publish_one to one per consumer group (at least
once: a handler that fails hands its event to another), against the real Redis."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from workerman.gateway import Channel, GatewayUnavailableError, InvalidTargetError

from ._helpers import eventually

pytestmark = pytest.mark.anyio


async def test_publish_reaches_every_subscriber(
    loop: None, gw_url: str, prefix: str, inspect_redis: Any
) -> None:
    got: list[tuple[str, Any]] = []
    async with Channel(gw_url, prefix=prefix) as one, Channel(gw_url, prefix=prefix) as two:
        await one.on("order.paid", lambda data: got.append(("one", data)))
        two.on("order.paid", lambda data: got.append(("two", data)))  # Workerman's spelling
        async with Channel(gw_url, prefix=prefix) as sender:
            channel = f"{prefix}ev:order.paid"
            await eventually(
                lambda: inspect_redis.pubsub_numsub(channel) == [(channel, 2)], what="two on"
            )
            assert await sender.publish("order.paid", {"order": 7}) == 2
            assert await sender.publish("order.none", 1) == 0
        await eventually(lambda: len(got) == 2)
        assert sorted(got) == [("one", {"order": 7}), ("two", {"order": 7})]
        assert one.status() == {"events": 1, "handled": 1, "failed": 0}


async def test_publish_one_goes_to_one_subscriber_of_each_group(
    loop: None, gw_url: str, prefix: str
) -> None:
    taken: Counter[tuple[str, int]] = Counter()

    def taker(name: str) -> Any:
        async def handle(data: int) -> None:  # async handlers are awaited
            taken[(name, data)] += 1

        return handle

    mailers = [Channel(gw_url, prefix=prefix, group="mail", poll=0.1) for _ in range(2)]
    billing = Channel(gw_url, prefix=prefix, group="billing", poll=0.1)
    sender = Channel(gw_url, prefix=prefix)
    try:
        # queued before anyone subscribes: it waits in Redis
        await sender.publish_one("job", 0)
        for index, channel in enumerate(mailers):
            await channel.on("job", taker(f"mail{index}"))
        await billing.on("job", taker("billing"))
        for n in range(1, 20):
            await sender.publish_one("job", n)
        await eventually(lambda: sum(taken.values()) == 40, what="all taken")
        by_job = Counter(data for (name, data) in taken if name.startswith("mail"))
        assert by_job == Counter(range(20))  # every job once in the mail group
        assert sorted(data for (name, data) in taken if name == "billing") == list(range(20))
    finally:
        for channel in [*mailers, billing, sender]:
            await channel.aclose()


async def test_an_event_whose_handler_failed_goes_to_another_subscriber(
    loop: None, gw_url: str, prefix: str
) -> None:
    handled: list[str] = []

    def failing(data: Any) -> None:
        handled.append("failing")
        raise RuntimeError("boom")

    bad = Channel(gw_url, prefix=prefix, claim_after=0.2, poll=0.1)
    good = Channel(gw_url, prefix=prefix, claim_after=0.2, poll=0.1)
    try:
        await bad.on("task", failing)
        async with Channel(gw_url, prefix=prefix) as sender:
            await sender.publish_one("task", "x")
        await eventually(lambda: "failing" in handled, what="first try")
        await bad.off("task")  # the failing one stops; the pending event is claimed
        await good.on("task", lambda data: handled.append(f"good:{data}"))
        await eventually(lambda: "good:x" in handled, what="claimed by the other")
    finally:
        await bad.aclose()
        await good.aclose()


async def test_publishing_with_redis_unreachable_fails_typed(loop: None, prefix: str) -> None:
    async with Channel("redis://127.0.0.1:1/13", prefix=prefix, timeout=1.0) as channel:
        with pytest.raises(GatewayUnavailableError):
            await channel.publish("e", 1)
        with pytest.raises(GatewayUnavailableError):
            await channel.publish_one("e", 1)
        with pytest.raises(InvalidTargetError):
            channel.publish("", 1)
