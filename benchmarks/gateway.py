"""Gateway benchmark: workerman.gateway beside python-socketio with AsyncRedisManager, in
one run, on a redis-server of the benchmark's own.

    uv run python -m benchmarks.gateway            # 10,000 connections, about 1-2 minutes
    uv run python -m benchmarks.gateway --quick    # 2,000 connections

For each system: two nodes (processes) on two ports share the Redis; the connections are
spread over both and all join one group (a Socket.IO room), each with a uid of its own.

- fan-out: one client asks its node to send one message to the group; the time until the
  last of the connections has it, and the servers' CPU per delivered message.
- uid: clients on node A send to uids of clients on node B at a fixed rate (5,000/s), one
  node to the other through Redis; delivered rate and p50/p99 latency, send to delivery.
  Before that, unpaced: 200 sends in flight (each delivery sends the next), the sustained
  rate.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped,unused-ignore]

from ._gateway_client import BenchClient, now, open_clients
from ._proc import GroupServer, _used_ports, free_port, handle_signals, log, raise_nofile

SYSTEMS = ["workerman", "socketio"]
LATE = 5.0  # seconds after the last send: what has not arrived by then counts as late
LABELS = {"workerman": "workerman.gateway", "socketio": "python-socketio + AsyncRedisManager"}


class Node(GroupServer):
    module = "benchmarks._gateway_servers"

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        # its closed connections linger in TIME_WAIT on the port: the next node takes another
        _used_ports.add(self.port)


class OwnRedis:
    """redis-server on a free port, no persistence, for this run only."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp), "--maxclients", "20000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + 10
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def _answers(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Deliveries:
    """What the clients got: fan-out counts per round, latencies of uid sends."""

    def __init__(self) -> None:
        self.round = ""
        self.count = 0
        self.want = 0
        self.last = 0.0
        self.done: asyncio.Event = asyncio.Event()
        self.latencies: list[float] = []
        self.stray = 0
        self.on_latency: Any = None  # the closed loop's next send

    def __call__(self, text: str) -> None:
        tag, _, stamp = text.partition(":")
        if tag == "l":
            self.latencies.append(now() - float(stamp))
            if self.on_latency is not None:
                self.on_latency()
        elif tag == self.round:
            self.count += 1
            if self.count == self.want:
                self.last = now()
                self.done.set()
        else:
            self.stray += 1


def server_cpu(nodes: list[Node]) -> float:
    return sum(node.cpu_seconds() for node in nodes)


async def fan_out(
    clients: list[BenchClient], got: Deliveries, nodes: list[Node], redis: OwnRedis, rounds: int
) -> dict[str, Any]:
    """``rounds`` sends to the group, one after the other; CPU is read over all of them
    (the kernel counts it in 10 ms ticks)."""
    times = []
    cpu0, rcpu0 = server_cpu(nodes), redis.cpu()
    for index in range(rounds):
        got.round, got.count, got.want = f"f{index}", 0, len(clients)
        got.done.clear()
        start = now()
        clients[0].to_group(f"f{index}:{start}")
        await asyncio.wait_for(got.done.wait(), 60)
        times.append(got.last - start)
        await asyncio.sleep(0.2)  # the servers' last writes done before the next round
    cpu, rcpu = server_cpu(nodes) - cpu0, redis.cpu() - rcpu0
    best = min(times)
    return {
        "ms_best": best * 1000,
        "ms_median": statistics.median(times) * 1000,
        "rate": len(clients) / best,
        "cpu_us": cpu / (rounds * len(clients)) * 1e6,
        "redis_ms": rcpu / rounds * 1000,
    }


async def uid_sends(
    clients: list[BenchClient], got: Deliveries, rate: int, duration: float
) -> dict[str, Any]:
    """Paced sends from clients on node A (even indexes) to uids on node B (odd)."""
    senders = clients[0:200:2]
    targets = [f"u{i}" for i in range(1, len(clients), 2)]
    got.latencies = []
    tick = 0.005
    per_tick = max(1, round(rate * tick))
    sent = 0
    start = now()
    next_at = start
    while now() - start < duration:
        for _ in range(per_tick):
            sender = senders[sent % len(senders)]
            sender.to_uid(random.choice(targets), f"l:{now()}")
            sent += 1
        next_at += tick
        delay = next_at - now()
        await asyncio.sleep(max(0.0, delay))
    elapsed = now() - start
    deadline = now() + LATE
    while len(got.latencies) < sent and now() < deadline:
        await asyncio.sleep(0.05)
    lat = sorted(got.latencies)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    return {
        "offered": sent / elapsed,
        "delivered": len(lat) / elapsed,
        "late": sent - len(lat),
        "p50_ms": p(0.50),
        "p99_ms": p(0.99),
    }


async def uid_max(
    clients: list[BenchClient], got: Deliveries, window: int, duration: float
) -> dict[str, Any]:
    """As fast as it goes: ``window`` uid sends in flight, each delivery sends the next;
    the delivered rate is the sustained cross-node throughput."""
    senders = clients[0:200:2]
    targets = [f"u{i}" for i in range(1, len(clients), 2)]
    sent = 0

    def send() -> None:
        nonlocal sent
        senders[sent % len(senders)].to_uid(random.choice(targets), f"l:{now()}")
        sent += 1

    got.latencies = []
    got.on_latency = send
    start = now()
    for _ in range(window):
        send()
    await asyncio.sleep(duration)
    got.on_latency = None
    elapsed = now() - start
    count = len(got.latencies)
    deadline = now() + LATE
    while len(got.latencies) < sent and now() < deadline:
        await asyncio.sleep(0.05)
    lat = sorted(got.latencies[:count])
    return {
        "delivered": count / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000 if lat else 0.0,
        "p99_ms": lat[int(len(lat) * 0.99)] * 1000 if lat else 0.0,
    }


async def measure(kind: str, redis: OwnRedis, args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    log_dir = Path(args.tmp)
    nodes = [Node(kind, None, log_dir, args=[redis.url, prefix], name=f"{kind}{i}") for i in (0, 1)]
    try:
        for node in nodes:
            node.wait_ready(30)
        got = Deliveries()
        started = time.monotonic()
        clients = await open_clients(kind, [n.port for n in nodes], args.connections, got)
        log(f"{kind}: {len(clients)} connections joined in {time.monotonic() - started:.1f}s")
        # the load generator's own 10,000 connections out of its garbage collector's way, so
        # its pauses are not counted as the servers' latency
        gc.collect()
        gc.freeze()
        result = {"connections": len(clients)}
        result["fanout"] = await fan_out(clients, got, nodes, redis, args.rounds)
        log(f"{kind}: fan-out {result['fanout']}")
        # unpaced first: its closed loop leaves no backlog behind for the paced run
        result["max"] = await uid_max(clients, got, args.window, args.duration)
        log(f"{kind}: uid max {result['max']}")
        result["uid"] = await uid_sends(clients, got, args.rate, args.duration)
        log(f"{kind}: uid {result['uid']}")
        for client in clients:
            client.transport.close()
        gc.unfreeze()
        return result
    finally:
        for node in nodes:
            node.stop()


def redis_cpu(fanout: dict[str, Any], args: argparse.Namespace) -> str:
    if fanout["redis_ms"] == 0:  # under the kernel's 10 ms tick over all rounds
        return f"< {10 / args.rounds:.0f} ms"
    return f"{fanout['redis_ms']:.1f} ms"


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """Two tables, fan-out and uid sends, one row per system; ratios against
    python-socketio."""
    base = results.get("socketio")

    def ratio(kind: str, value: float, of: Callable[[dict[str, Any]], float]) -> str:
        if base is None or kind == "socketio" or not of(base):
            return ""
        return f" ({value / of(base):.1f}x)"

    fan = [
        f"| fan-out to a group of {args.connections:,} over 2 nodes | last delivery (best /"
        " median) | deliveries/s | server CPU per delivery | Redis CPU per fan-out |",
        "| --- | --- | --- | --- | --- |",
    ]
    uid = [
        "| send_to_uid, node A to node B | at "
        f"{args.rate:,}/s: delivered/s | p50 | p99 | late (> {LATE:.0f} s) |"
        f" unpaced ({args.window} in flight): delivered/s | p50 | p99 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, r in results.items():
        f, u, m = r["fanout"], r["uid"], r["max"]
        fan.append(
            f"| {LABELS[kind]} | {f['ms_best']:.1f} / {f['ms_median']:.1f} ms | "
            f"{f['rate']:,.0f}{ratio(kind, f['rate'], lambda b: b['fanout']['rate'])} | "
            f"{f['cpu_us']:.1f} us | {redis_cpu(f, args)} |"
        )
        uid.append(
            f"| {LABELS[kind]} | {u['delivered']:,.0f} | {u['p50_ms']:.2f} ms | "
            f"{u['p99_ms']:.2f} ms | {u['late']:,} | "
            f"{m['delivered']:,.0f}{ratio(kind, m['delivered'], lambda b: b['max']['delivered'])}"
            f" | {m['p50_ms']:.1f} ms | {m['p99_ms']:.1f} ms |"
        )
    return "\n".join(fan) + "\n\n" + "\n".join(uid)


async def run(args: argparse.Namespace) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="wm-bench-gateway-") as tmp:
        args.tmp = tmp
        redis = OwnRedis(Path(tmp))
        try:
            results = {}
            for kind in args.systems:
                results[kind] = await measure(kind, redis, args)
        finally:
            redis.stop()
    print(table(results, args))
    print(
        f"\n{args.connections:,} connections over two nodes per system, {args.rounds} fan-out"
        f" rounds, uid sends for {args.duration:.0f} s; load average"
        f" {os.getloadavg()[0]:.2f}; Python {sys.version.split()[0]}, uvloop on both; one"
        " client process (raw asyncio protocols) for all connections; 2 cores shared with"
        " the nodes, Redis and other work, so figures are noisy."
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.gateway", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 connections, short runs")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--connections", type=int, default=0)
    parser.add_argument("--rate", type=int, default=5000)
    args = parser.parse_args(argv)
    args.systems = [s for s in args.systems.split(",") if s]
    args.connections = args.connections or (2000 if args.quick else 10_000)
    args.rounds = 3 if args.quick else 5
    args.duration = 2.0 if args.quick else 4.0
    args.window = 200
    raise_nofile(args.connections + 1000)
    handle_signals(sigint=True)
    try:
        import uvloop

        uvloop.run(run(args))
    except KeyboardInterrupt:
        log("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main(sys.argv[1:])
