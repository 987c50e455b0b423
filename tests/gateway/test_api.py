"""The gateway's contract at its edges: bad input, Redis out of reach, both calling
styles, attach in any order, status, and the wire envelope under any payload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workerman.core import Worker, serve
from workerman.gateway import (
    Gateway,
    GatewayError,
    GatewayUnavailableError,
    InvalidTargetError,
    MessageTooLargeError,
)
from workerman.gateway import _envelope as envelope
from workerman.redis import Redis

from ._helpers import LineClient, eventually
from ._processes import RedisServer

DEAD_REDIS = "redis://127.0.0.1:1/13"


@given(
    op=st.sampled_from([envelope.UIDS, envelope.GROUP, envelope.CLIENTS, envelope.ALL]),
    header=st.lists(st.text()),
    message=st.one_of(st.text(), st.binary()),
)
def test_an_envelope_decodes_to_what_was_encoded(
    op: bytes, header: list[str], message: Any
) -> None:
    assert envelope.decode(envelope.encode(op, header, message)) == (op, header, message)


@pytest.mark.anyio
async def test_bad_input_is_refused_before_anything_is_sent(loop: None, prefix: str) -> None:
    gateway = Gateway(DEAD_REDIS, prefix=prefix, max_message_size=10, max_name_size=8)
    with pytest.raises(MessageTooLargeError):
        gateway.send_to_uid("u", "x" * 11)
    with pytest.raises(TypeError):
        gateway.send_to_all({"not": "a message"})  # type: ignore[arg-type]
    with pytest.raises(InvalidTargetError):
        gateway.send_to_uid("u" * 9, "x")
    with pytest.raises(InvalidTargetError):
        gateway.send_to_group("", "x")
    with pytest.raises(InvalidTargetError):
        gateway.send_to_client("abc", "x")
    with pytest.raises(GatewayError):
        gateway.send_to_uid([], "x")
    with pytest.raises(MessageTooLargeError):
        Gateway(DEAD_REDIS, prefix=prefix, max_session_size=5).set_session(
            "0123456789ab-1", {"k": "long"}
        )
    with pytest.raises(ValueError):
        Gateway(DEAD_REDIS, ttl=1, heartbeat=2)
    with pytest.raises(InvalidTargetError):
        Gateway(DEAD_REDIS, prefix="has space")
    with pytest.raises(GatewayError):  # binary messages need bytes replies
        Gateway(Redis.from_url(DEAD_REDIS, decode_responses=True))


@pytest.mark.anyio
async def test_with_redis_unreachable_sends_and_queries_fail_typed(loop: None, prefix: str) -> None:
    async with Gateway(DEAD_REDIS, prefix=prefix, timeout=1.0) as gateway:
        for call in (
            lambda: gateway.send_to_uid("u", "x"),
            lambda: gateway.send_to_group("g", "x"),
            lambda: gateway.send_to_all("x"),
            lambda: gateway.send_to_client("0123456789ab-1", "x"),
            lambda: gateway.is_uid_online("u"),
            gateway.client_count,
        ):
            with pytest.raises(GatewayUnavailableError):
                await call()


@pytest.mark.anyio
async def test_callback_style_gets_result_or_error(loop: None, gw_url: str, prefix: str) -> None:
    results: list[tuple[Any, Any]] = []
    async with Gateway(gw_url, prefix=prefix) as gateway:
        assert (
            gateway.send_to_uid("nobody", "x", callback=lambda r, e: results.append((r, e))) is None
        )
        await eventually(lambda: results)
    assert results == [(0, None)]
    async with Gateway(DEAD_REDIS, prefix=prefix, timeout=1.0) as dead:
        dead.client_count(callback=lambda r, e: results.append((r, e)))
        await eventually(lambda: len(results) == 2)
    assert isinstance(results[1][1], GatewayUnavailableError)


@pytest.mark.anyio
async def test_attach_keeps_callbacks_set_before_and_after_it(
    loop: None, gw_url: str, prefix: str
) -> None:
    events: list[str] = []
    gateway = Gateway(gw_url, prefix=prefix, ttl=3.0)
    worker = Worker("text://127.0.0.1:0")
    worker.on_connect = lambda c: events.append(f"connect {gateway.client(c).id == c.context.id}")
    gateway.attach(worker)
    gateway.attach(worker)  # twice is once

    def on_close(connection: Any) -> None:  # set after attach; still sees the client
        events.append(f"close uid={gateway.client(connection).uid}")

    worker.on_close = on_close
    worker.on_message = lambda c, line: None

    async def on_worker_start(w: Worker) -> None:
        events.append(f"start {gateway.node.state}")

    worker.on_worker_start = on_worker_start
    with pytest.raises(GatewayError):
        Gateway(gw_url, prefix=prefix).attach(worker)

    def remember(connection: Any) -> None:
        connection.context.id = gateway.client(connection).id

    original = worker.on_connect
    worker.on_connect = lambda c: (remember(c), original(c))
    async with serve(worker) as address:
        client = await LineClient.connect(address)
        await eventually(lambda: gateway.node.clients)
        local = next(iter(gateway.node.clients.values()))
        await gateway.client(local.connection).bind_uid("ann")
        assert await gateway.is_uid_online("ann")
        await client.aclose()
        await eventually(lambda: not gateway.node.clients)
        assert not await gateway.is_uid_online("ann")
    assert events == ["start running", "connect True", "close uid=ann"]


@pytest.mark.anyio
async def test_a_client_whose_on_close_was_replaced_is_swept_by_the_heartbeat(
    loop: None, gw_url: str, prefix: str
) -> None:
    gateway = Gateway(gw_url, prefix=prefix, ttl=0.9)
    worker = Worker("text://127.0.0.1:0")
    gateway.attach(worker)

    def on_connect(connection: Any) -> None:
        connection.on_close = None  # a user's per-connection override loses the hook

    worker.on_connect = on_connect
    async with serve(worker) as address:
        client = await LineClient.connect(address)
        await eventually(lambda: gateway.node.clients)
        await client.aclose()
        await eventually(lambda: not gateway.node.clients, what="swept")
        await eventually(lambda: _zero(gateway), what="count 0")


async def _zero(gateway: Gateway) -> bool:
    return await gateway.client_count() == 0


@pytest.mark.anyio
async def test_status_shows_the_listener_hearing_its_own_pings(
    loop: None, gw_url: str, prefix: str
) -> None:
    async with Gateway(gw_url, prefix=prefix, ttl=0.6) as gateway:
        await gateway.start()
        assert gateway.status()["node"] == gateway.node_id
        await eventually(lambda: gateway.node.received > 0, what="a ping came back")
        await eventually(lambda: gateway.status()["redis"] == "up", what="up")
        status = gateway.status()
        assert status["listener"] == "ok"
        assert status["redis"] == "up"
        # deaf: stop hearing (as a listener whose connection hangs would)
        gateway.node._pubsub.close()
        await eventually(lambda: gateway.status()["listener"] == "deaf", what="deaf")


@pytest.mark.anyio
async def test_status_shows_a_deaf_listener_while_redis_is_away_and_ok_after(
    loop: None, tmp_path: Path, prefix: str
) -> None:
    redis = await anyio.to_thread.run_sync(RedisServer, tmp_path)
    try:
        async with Gateway(redis.url, prefix=prefix, ttl=0.9, timeout=0.5) as gateway:
            await gateway.start()
            await eventually(lambda: gateway.node.received > 0, what="first ping back")
            assert gateway.status()["listener"] == "ok"
            await anyio.to_thread.run_sync(redis.stop)
            await eventually(lambda: gateway.status()["listener"] == "deaf", what="deaf")
            await eventually(lambda: gateway.status()["redis"] == "down", what="down")
            await anyio.to_thread.run_sync(redis.start)
            await eventually(lambda: gateway.status()["listener"] == "ok", 15, "hears again")
            # the commands' connection comes back on its own schedule (the next heartbeat)
            await eventually(lambda: gateway.status()["redis"] == "up", 15, "redis up again")
            assert await gateway.node_ids() == [gateway.node_id]  # written again
    finally:
        await anyio.to_thread.run_sync(redis.stop)


@pytest.mark.anyio
async def test_garbage_on_a_node_channel_is_counted_and_the_next_message_delivered(
    loop: None, gw_url: str, prefix: str, inspect_redis: Any
) -> None:
    gateway = Gateway(gw_url, prefix=prefix, ttl=3.0)
    worker = Worker("text://127.0.0.1:0")
    gateway.attach(worker)
    async with serve(worker) as address:
        client = await LineClient.connect(address)
        await eventually(lambda: gateway.node.clients)
        client_id = next(iter(gateway.node.clients))
        channel = f"{prefix}ch:{gateway.node_id}"
        for garbage in (b"", b"Cx no header", b'Ct["a"]', b"Zq[]\nx", b"Gt7\nx", b"Ut[[1]]\nx"):
            await anyio.to_thread.run_sync(inspect_redis.publish, channel, garbage)
        assert await gateway.send_to_client(client_id, "msg:after")
        assert await client.line() == "msg:after"
        assert gateway.node.bad_messages == 6
        await client.aclose()


@pytest.mark.anyio
async def test_a_node_started_while_redis_is_down_joins_once_it_answers(
    loop: None, tmp_path: Path, prefix: str
) -> None:
    redis = await anyio.to_thread.run_sync(RedisServer, tmp_path)
    await anyio.to_thread.run_sync(redis.stop)
    gateway = Gateway(redis.url, prefix=prefix, ttl=0.9, timeout=0.5)
    worker = Worker("text://127.0.0.1:0")
    gateway.attach(worker)
    try:
        async with serve(worker) as address:  # starts although Redis is away
            client = await LineClient.connect(address)
            await eventually(lambda: gateway.node.clients)
            local = gateway.local_clients()[0]
            with pytest.raises(GatewayUnavailableError):
                await local.bind_uid("early")
            assert local.uid is None  # undone: as it was
            await anyio.to_thread.run_sync(redis.start)
            await eventually(lambda: gateway.status()["redis"] == "up", 15, "joined")
            await local.bind_uid("late")
            assert await gateway.client_count() == 1
            assert await gateway.is_uid_online("late")
            await client.aclose()
    finally:
        await anyio.to_thread.run_sync(redis.stop)


@pytest.mark.anyio
async def test_a_stopping_worker_serves_its_open_connections_until_the_last_closes(
    loop: None, gw_url: str, prefix: str
) -> None:
    gateway = Gateway(gw_url, prefix=prefix, ttl=3.0)
    worker = Worker("text://127.0.0.1:0")
    gateway.attach(worker)
    async with serve(worker) as address, Gateway(gw_url, prefix=prefix) as pusher:
        client = await LineClient.connect(address)
        await eventually(lambda: gateway.node.clients)
        await gateway.local_clients()[0].bind_uid("stayer")
        await worker.on_worker_stop(worker)  # as a graceful stop or reload calls it
        assert await pusher.send_to_uid("stayer", "msg:still") == 1  # still a node
        assert await client.line() == "msg:still"
        await client.aclose()  # the last client gone: the node leaves
        await eventually(lambda: _no_nodes(pusher), what="node left")


async def _no_nodes(gateway: Gateway) -> bool:
    return await gateway.node_ids() == []
