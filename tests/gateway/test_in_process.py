"""Two nodes in one process (two gateways, two text:// workers): the routing, presence and
session API against the real Redis, on asyncio and trio."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest

from workerman.core import Worker, serve
from workerman.gateway import Gateway

from ._app import command_handler
from ._helpers import LineClient, eventually

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def cluster(url: str, prefix: str, nodes: int = 2) -> AsyncIterator[list[tuple[str, int]]]:
    async with AsyncExitStack() as stack:
        addresses = []
        for _ in range(nodes):
            gateway = Gateway(url, prefix=prefix, ttl=3.0, timeout=3.0)
            worker = Worker("text://127.0.0.1:0")
            gateway.attach(worker)
            worker.on_message = command_handler(gateway)
            addresses.append(await stack.enter_async_context(serve(worker)))
        yield addresses


async def ask(client: LineClient, command: str) -> str:
    await client.send(command)
    reply = await client.reply()
    assert reply.startswith("ok "), reply
    return reply[3:]


async def test_send_to_uid_reaches_every_connection_of_the_uid_on_any_node(
    loop: None, gw_url: str, prefix: str
) -> None:
    async with cluster(gw_url, prefix) as (a, b):
        alice1, alice2, bob = [await LineClient.connect(x) for x in (a, b, b)]
        assert await ask(alice1, "bind alice") == "None"
        await ask(alice2, "bind alice")
        assert await ask(bob, "online alice") == "True"
        assert await ask(bob, "online carol") == "False"
        assert await ask(bob, "touid alice msg:hi") == "2"  # two nodes hold alice
        assert await alice1.line() == "msg:hi"
        assert await alice2.line() == "msg:hi"
        assert await ask(bob, "touid carol msg:lost") == "0"


async def test_groups_route_to_members_only_and_exclude_works(
    loop: None, gw_url: str, prefix: str, inspect_redis: object
) -> None:
    async with cluster(gw_url, prefix) as (a, b):
        x, y, z = [await LineClient.connect(n) for n in (a, b, b)]
        for member in (x, y):
            await ask(member, "join room")
        assert await ask(z, "gcount room") == "2"
        assert await ask(x, "togroupx room msg:hello") == "2"
        assert await y.line() == "msg:hello"
        await ask(z, "togroup room msg:second")
        assert await x.line() == "msg:second"  # x got only the second: it was excluded
        assert await y.line() == "msg:second"
        await ask(y, "togroupx1 room msg:third")
        assert await x.line() == "msg:third"
        await ask(z, "togroup room msg:fourth")
        assert await y.line() == "msg:fourth"  # not the third: y excluded itself
        await ask(x, "leave room")
        await ask(y, "leave room")
        assert await ask(z, "gcount room") == "0"
        # nobody is left in the group: no node listens to it any more
        await eventually(lambda: ask(z, "togroup room msg:x"), what="unsubscribed")
        assert await ask(z, "togroup room msg:nobody") == "0"


async def test_client_ids_name_their_node_and_reach_one_client(
    loop: None, gw_url: str, prefix: str
) -> None:
    async with cluster(gw_url, prefix) as (a, b):
        x, y = await LineClient.connect(a), await LineClient.connect(b)
        x_id, y_id = await ask(x, "id"), await ask(y, "id")
        assert x_id.split("-")[0] != y_id.split("-")[0]
        assert await ask(x, f"toclient {y_id} msg:direct") == "True"
        assert await y.line() == "msg:direct"
        assert await ask(x, f"toclient {x_id.split('-')[0]}-ffff msg:none") == "True"
        assert await ask(x, "toclient 000000000000-1 msg:none") == "False"  # no such node
        await x.send("toclient not-an-id msg")
        assert await x.reply() == "err InvalidTargetError"


async def test_counts_sessions_and_send_to_all(loop: None, gw_url: str, prefix: str) -> None:
    async with cluster(gw_url, prefix) as (a, b):
        x, y, z = [await LineClient.connect(n) for n in (a, b, b)]
        await ask(x, "bind u1")
        await ask(y, "bind u2")
        await ask(z, "bind u2")
        assert await ask(x, "count") == "3 2"
        y_id = await ask(y, "id")
        assert await ask(y, 'setsess {"room": 7}') == '{"room": 7}'
        assert await ask(y, 'setsess {"name": "eve"}') == '{"name": "eve", "room": 7}'
        assert await ask(x, f"getsess {y_id}") == '{"name": "eve", "room": 7}'
        assert await ask(x, f"uidof {y_id}") == "u2"
        z_id = await ask(z, "id")
        await ask(z, "join g1")
        async with Gateway(gw_url, prefix=prefix) as g:
            assert sorted(await g.client_ids_of_uid("u2")) == sorted([y_id, z_id])
            assert await g.is_online(y_id)
            assert not await g.is_online(y_id.split("-")[0] + "-fff")
            assert sorted(await g.uids()) == ["u1", "u2"]
            assert await g.groups() == ["g1"]
            assert len(await g.node_ids()) == 2
        assert await ask(x, "toall msg:everyone") == "2"
        for c in (x, y, z):
            assert await c.line() == "msg:everyone"
        await z.aclose()
        await eventually(lambda: _is(ask(x, "count"), "2 2"), what="z gone")
        await ask(x, f"close {y_id}")
        assert await y.line() == "msg:bye"
        await eventually(lambda: _is(ask(x, "count"), "1 1"), what="y closed")
        assert await ask(x, f"getsess {y_id}") == "null"


async def _is(reply: object, expected: str) -> bool:
    return await reply == expected  # type: ignore[misc]


async def test_an_http_handler_pushes_to_uids_and_groups_on_other_nodes(
    loop: None, gw_url: str, prefix: str
) -> None:
    pusher = Gateway(gw_url, prefix=prefix)  # the web side: no node, it only sends
    web = Worker("http://127.0.0.1:0")

    async def on_request(connection: Any, request: Any) -> None:
        target, text = request.get("to"), request.get("text")
        if request.path == "/uid":
            reached = await pusher.send_to_uid(target, text)
        else:
            reached = await pusher.send_to_group(target, text)
        connection.send(f"reached {reached}")

    web.on_message = on_request
    async with cluster(gw_url, prefix) as (a, _b), serve(web) as (host, port):
        ann = await LineClient.connect(a)
        await ask(ann, "bind ann")
        await ask(ann, "join news")

        def get(path: str) -> str:
            with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as answer:
                return str(answer.read().decode())

        assert await anyio.to_thread.run_sync(get, "/uid?to=ann&text=msg:web") == "reached 1"
        assert await ann.line() == "msg:web"
        assert await anyio.to_thread.run_sync(get, "/group?to=news&text=msg:all") == "reached 1"
        assert await ann.line() == "msg:all"
    await pusher.stop()


async def test_sends_leave_when_called_and_in_order_without_being_awaited(
    loop: None, gw_url: str, prefix: str
) -> None:
    async with cluster(gw_url, prefix) as (a, b), Gateway(gw_url, prefix=prefix) as pusher:
        ann, bea = await LineClient.connect(a), await LineClient.connect(b)
        await ask(ann, "bind ann")
        await ask(bea, "join club")
        bea_id = await ask(bea, "id")

        def plain_callback() -> None:  # as a sync worker callback would: nothing awaited
            for n in range(10):
                pusher.send_to_uid("ann", f"msg:{n}")
                pusher.send_to_group("club", f"msg:g{n}")
                pusher.send_to_client(bea_id, f"msg:c{n}")

        plain_callback()
        assert [await ann.line() for _ in range(10)] == [f"msg:{n}" for n in range(10)]
        expected = [x for n in range(10) for x in (f"msg:g{n}", f"msg:c{n}")]
        assert [await bea.line() for _ in range(20)] == expected
