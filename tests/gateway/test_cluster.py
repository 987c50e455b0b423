"""Nodes as separate processes on separate ports, against the real Redis, driven by real
WebSocket clients (the websockets library): messages by uid, group and client id between
nodes, a node killed with kill -9, and a Redis (the tests' own) stopped and restarted.

The test bodies use websockets' sync client, so they are plain functions; the nodes run
on each of the core's drivers (``driver``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from workerman.core import create_loop
from workerman.gateway import Gateway

from ._processes import NodeProcess, RedisServer, WsClient, free_port, wait_for

TTL = 1.5


@pytest.fixture(params=["asyncio", "trio"])
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start_node(tmp_path: Path, prefix: str, driver: str) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def start(url: str) -> NodeProcess:
        node = NodeProcess(url, prefix, driver, TTL, tmp_path / f"node{len(started)}.log")
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


def script(url: str, prefix: str, work: Callable[[Gateway], Any]) -> Any:
    """Run ``work(gateway)`` as a plain script would: its own loop, a gateway that is no
    node (it only sends and asks)."""

    async def main() -> Any:
        async with create_loop("asyncio").open():
            async with Gateway(url, prefix=prefix, timeout=2.0) as gateway:
                return await work(gateway)

    return anyio.run(main)


def test_clients_on_three_nodes_exchange_by_uid_group_and_client_id(
    gw_url: str, prefix: str, start_node: Callable[..., NodeProcess]
) -> None:
    a, b, c = start_node(gw_url), start_node(gw_url), start_node(gw_url)
    alice, bob, carol = WsClient(a.url), WsClient(b.url), WsClient(c.url)
    try:
        assert alice.ask("id").startswith(a.node_id + "-")
        for client, uid in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            client.ask(f"bind {uid}")
        alice.ask("join room")
        carol.ask("join room")
        assert alice.ask("touid bob msg:from-alice") == "1"
        assert bob.message() == "msg:from-alice"
        assert bob.ask("togroup room msg:to-room") == "2"  # a and c hold members; b does not
        assert alice.message() == "msg:to-room"
        assert carol.message() == "msg:to-room"
        assert carol.ask("togroupx room msg:not-me") == "2"
        assert alice.message() == "msg:not-me"
        bob_id = bob.ask("id")
        assert carol.ask(f"toclient {bob_id} msg:direct") == "True"
        assert bob.message() == "msg:direct"
        assert sorted(script(gw_url, prefix, lambda g: g.node_ids())) == sorted(
            n.node_id for n in (a, b, c)
        )
        # a plain script (no node of its own) pushes to a uid and reads presence
        assert script(gw_url, prefix, lambda g: g.send_to_uid("carol", "msg:pushed")) == 1
        assert carol.message() == "msg:pushed"
        assert script(gw_url, prefix, lambda g: g.client_count()) == 3
        assert script(gw_url, prefix, lambda g: g.group_member_count("room")) == 2
    finally:
        for client in (alice, bob, carol):
            client.close()


def test_a_node_killed_with_sigkill_drops_out_within_one_ttl(
    gw_url: str, prefix: str, start_node: Callable[..., NodeProcess]
) -> None:
    a, b, c = start_node(gw_url), start_node(gw_url), start_node(gw_url)
    alice, bob, carol = WsClient(a.url), WsClient(b.url), WsClient(c.url)
    try:
        alice.ask("bind alice")
        bob.ask("bind bob")
        carol.ask("bind carol")
        carol.ask("join room")
        alice.ask("join room")
        assert alice.ask("online carol") == "True"
        c.kill9()
        wait_for(lambda: alice.ask("online carol") == "False", TTL * 2, "carol offline")
        assert alice.ask("count") == "2 2"
        assert alice.ask("gcount room") == "1"
        live = script(gw_url, prefix, lambda g: g.node_ids())
        assert sorted(live) == sorted([a.node_id, b.node_id])
        # the others keep serving
        assert bob.ask("touid alice msg:still-here") == "1"
        assert alice.message() == "msg:still-here"
    finally:
        for client in (alice, bob):
            client.close()


def test_nodes_recover_after_redis_is_stopped_and_restarted_empty(
    tmp_path: Path, prefix: str, start_node: Callable[..., NodeProcess]
) -> None:
    redis = RedisServer(tmp_path)
    try:
        a, b = start_node(redis.url), start_node(redis.url)
        alice, bob = WsClient(a.url), WsClient(b.url)
        alice.ask("bind alice")
        alice.ask("join room")
        bob.ask("bind bob")
        assert bob.ask("touid alice msg:before") == "1"
        assert alice.message() == "msg:before"

        redis.stop()
        # nothing is dropped silently: a send while Redis is away fails, typed
        assert bob.ask("touid alice msg:lost").startswith("err Gateway")
        assert alice.ask("join other").startswith("err Gateway")

        redis.start()  # empty: every key is gone; the nodes write theirs again
        wait_for(lambda: bob.ask("online alice") == "True", 15, "alice back online")
        wait_for(lambda: alice.ask("online bob") == "True", 15, "bob back online")
        wait_for(lambda: bob.ask("togroup room msg:after") == "1", 15, "room resubscribed")
        assert alice.message() == "msg:after"
        assert alice.ask("touid bob msg:again") == "1"
        assert bob.message() == "msg:again"
        assert bob.ask("count") == "2 2"
        alice.close()
        bob.close()
    finally:
        redis.stop()


def test_each_process_of_a_worker_run_by_the_command_line_is_a_node(
    tmp_path: Path, gw_url: str, prefix: str
) -> None:
    port = free_port()
    env = {**os.environ, "GW_URL": gw_url, "GW_PREFIX": prefix, "GW_PORT": str(port)}
    env["TMPDIR"] = str(tmp_path)  # its pid files apart from anyone else's
    app = Path(__file__).with_name("_multi_app.py")
    master = subprocess.Popen(
        [sys.executable, str(app), "start"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: len(script(gw_url, prefix, lambda g: g.node_ids())) == 2, 20, "two nodes")
        nodes = set(script(gw_url, prefix, lambda g: g.node_ids()))
        seen: set[str] = set()
        clients = []
        while {cid.split("-")[0] for cid in seen} != nodes and len(clients) < 40:
            client = WsClient(f"ws://127.0.0.1:{port}/")
            clients.append(client)
            seen.add(client.ask(f"bind user{len(clients)}"))
        assert {cid.split("-")[0] for cid in seen} == nodes  # the kernel spread them
        for client in clients:
            client.close()
    finally:
        master.send_signal(signal.SIGINT)
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(master.pid, signal.SIGKILL)
            master.wait()
    # a clean stop takes the nodes out at once, not after a TTL
    assert script(gw_url, prefix, lambda g: g.node_ids()) == []
