"""Across machines: two nodes in network namespaces of their own (veth pairs to a bridge
where the tests' own redis-server listens), clients connecting to each node's address.
A node cut off from the network drops out of presence within one TTL and, once its link
is back, writes its presence again and is reachable as before.

Needs root and iproute2 (``ip netns``): otherwise skipped, and failing under CI=true. The
addresses are a random /24 of 10.213.0.0/16 that exists only on this bridge and in these
namespaces, made by the test and removed after it."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .._missing import missing
from ._processes import NodeProcess, RedisServer, WsClient, wait_for

TTL = 1.5


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Network:
    bridge: str
    bridge_address: str
    namespaces: dict[str, str]  # namespace -> its address
    links: dict[str, str]  # namespace -> its veth end on the bridge


@pytest.fixture
def network() -> Iterator[Network]:
    if os.geteuid() != 0:
        missing("network namespaces need root")
    if shutil.which("ip") is None:
        missing("iproute2 (ip) is not installed")
    tag = uuid.uuid4().hex[:5]
    subnet = f"10.213.{random.randrange(1, 255)}"
    net = Network(f"gwbr{tag}", f"{subnet}.1", {}, {})
    try:
        ip("link", "add", "name", net.bridge, "type", "bridge")
        ip("addr", "add", f"{net.bridge_address}/24", "dev", net.bridge)
        ip("link", "set", net.bridge, "up")
        for index, name in enumerate(("a", "b"), start=2):
            ns, outer, inner = f"gwns{tag}{name}", f"gwv{tag}{name}", f"gwp{tag}{name}"
            ip("netns", "add", ns)
            net.namespaces[ns] = f"{subnet}.{index}"
            ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            ip("link", "set", inner, "netns", ns)
            ip("link", "set", outer, "master", net.bridge, "up")
            net.links[ns] = outer
            ip("netns", "exec", ns, "ip", "addr", "add", f"{subnet}.{index}/24", "dev", inner)
            ip("netns", "exec", ns, "ip", "link", "set", inner, "up")
            ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, OSError) as exc:
        _teardown(net)
        detail = getattr(exc, "stderr", b"") or b""
        missing(f"cannot make network namespaces here: {exc} {detail.decode(errors='replace')}")
    try:
        yield net
    finally:
        _teardown(net)


def _teardown(net: Network) -> None:
    for ns in net.namespaces:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=10)
    subprocess.run(["ip", "link", "del", net.bridge], check=False, capture_output=True, timeout=10)


def test_nodes_in_separate_namespaces_route_and_recover_from_a_partition(
    network: Network, tmp_path: Path, prefix: str
) -> None:
    redis = RedisServer(tmp_path, host=network.bridge_address)
    nodes: list[NodeProcess] = []
    clients: list[WsClient] = []
    try:
        for ns, address in network.namespaces.items():
            log = tmp_path / f"{ns}.log"
            nodes.append(NodeProcess(redis.url, prefix, "asyncio", TTL, log, address, ns))
        a, b = nodes
        alice, bob = WsClient(a.url), WsClient(b.url)
        clients += [alice, bob]
        alice.ask("bind alice")
        alice.ask("join room")
        bob.ask("bind bob")
        assert bob.ask("touid alice msg:across") == "1"
        assert alice.message() == "msg:across"
        assert alice.ask("togroup room msg:self") == "1"
        assert alice.message() == "msg:self"

        ns_a = next(iter(network.namespaces))
        ip("link", "set", network.links[ns_a], "down")  # node a loses the network
        wait_for(lambda: bob.ask("online alice") == "False", TTL * 3, "alice offline")
        ip("link", "set", network.links[ns_a], "up")
        wait_for(lambda: bob.ask("online alice") == "True", 20, "alice back")
        wait_for(lambda: bob.ask("togroup room msg:healed") == "1", 20, "room again")
        assert alice.message(timeout=20) == "msg:healed"
    finally:
        for client in clients:
            client.close()
        for node in nodes:
            node.stop()
        redis.stop()
