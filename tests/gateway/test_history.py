"""History per uid and group (Redis Streams): what was sent while a client was away, in
order, after the last id it saw; bounded; text and bytes kept as sent."""

from __future__ import annotations

import pytest

from workerman.gateway import Gateway, GatewayError, HistoryEntry, InvalidTargetError

from .test_in_process import LineClient, ask, cluster

pytestmark = pytest.mark.anyio


async def test_a_uid_offline_finds_what_was_sent_after_the_last_id_it_saw(
    loop: None, gw_url: str, prefix: str
) -> None:
    async with Gateway(gw_url, prefix=prefix, history_size=3) as gateway:
        first = await gateway.send_to_uid("zoe", "one", history=True)
        assert first == 0 and first.id is not None  # nobody online; kept all the same
        second = await gateway.send_to_uid("zoe", b"\x00two", history=True)
        assert await gateway.history(uid="zoe") == [
            HistoryEntry(first.id, "one"),
            HistoryEntry(second.id, b"\x00two"),
        ]
        assert await gateway.history(uid="zoe", after=first.id) == [
            HistoryEntry(second.id, b"\x00two")
        ]
        for text in ("three", "four"):
            await gateway.send_to_uid("zoe", text, history=True)
        kept = await gateway.history(uid="zoe")
        assert [entry.message for entry in kept] == [b"\x00two", "three", "four"]
        assert await gateway.history(uid="zoe", limit=1) == kept[-1:]
        assert await gateway.history(uid="nobody") == []
        plain = await gateway.send_to_uid("zoe", "not kept")
        assert plain.id is None
        assert len(await gateway.history(uid="zoe")) == 3


async def test_group_history_beside_live_delivery(loop: None, gw_url: str, prefix: str) -> None:
    async with cluster(gw_url, prefix) as (a, _b), Gateway(gw_url, prefix=prefix) as pusher:
        member = await LineClient.connect(a)
        await ask(member, "join news")
        sent = await pusher.send_to_group("news", "msg:live", history=True)
        assert sent == 1
        assert await member.line() == "msg:live"
        assert await pusher.history(group="news") == [HistoryEntry(str(sent.id), "msg:live")]


async def test_history_input_is_checked(loop: None, gw_url: str, prefix: str) -> None:
    async with Gateway(gw_url, prefix=prefix, history_size=0) as off:
        with pytest.raises(GatewayError):
            off.send_to_uid("u", "x", history=True)
        with pytest.raises(GatewayError):
            off.send_to_group("g", "x", history=True)
        with pytest.raises(GatewayError):
            off.history(uid="u", group="g")
        with pytest.raises(GatewayError):
            off.history(uid="u", limit=0)
        with pytest.raises(InvalidTargetError):
            off.history(group="")
