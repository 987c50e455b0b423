"""The measurements, run on uvloop in this (pinned) process: echo throughput, memory per
idle connection, broadcast fan-out. Each returns Samples: what the clients counted, and
the server's CPU time over the same window (psutil), and this process's own."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from . import _load
from ._load import CpuSample
from ._ws_client import (
    EchoClient,
    EchoPlan,
    Tally,
    WsClient,
    client_frame,
    open_client,
    server_frame,
    split_frames,
)
from ._ws_proc import WsServer
from ._ws_servers import BROADCAST, TRIGGER


@dataclass
class Sample(CpuSample):
    # ops: messages echoed, connections held, or clients reached; seconds: the window,
    # broadcast: trigger sent to last client's receipt
    rss_delta: int = 0  # memory: bytes
    loop_seconds: float = 0.0  # broadcast: the server's own timing of its send loop
    loop_cpu: float = 0.0


class Window(_load.Window):
    """(time, count, server CPU, own CPU) at the start of a measured window."""

    def close(self, count: int) -> Sample:
        return Sample(*self.deltas(count))


async def open_many(factory: Any, port: int, count: int, chunk: int = 250) -> list[Any]:
    """``count`` handshaken clients, ``chunk`` connecting at a time; all or an error."""
    clients: list[Any] = []
    try:
        while len(clients) < count:
            n = min(chunk, count - len(clients))
            opened = await asyncio.gather(
                *(open_client(factory, port) for _ in range(n)), return_exceptions=True
            )
            clients += [c for c in opened if not isinstance(c, BaseException)]
            failed = [e for e in opened if isinstance(e, BaseException)]
            if failed:
                raise RuntimeError(f"{len(failed)} connects failed after {len(clients)}") from (
                    failed[0]
                )
    except BaseException:
        close_all(clients)
        raise
    return clients


def close_all(clients: list[Any]) -> None:
    for client in clients:
        if client.transport is not None:
            client.transport.close()


# -- echo ------------------------------------------------------------------------------


async def echo(
    server: WsServer, plan: EchoPlan, connections: int, warmup: float, duration: float
) -> Sample:
    tally = Tally()
    clients = await open_many(
        lambda: EchoClient(server.port, plan, tally), server.port, connections
    )
    try:
        for client in clients:
            client.start()
        await asyncio.sleep(warmup)
        window = Window(server, tally.ops)
        await asyncio.sleep(duration)
        sample = window.close(tally.ops)
    finally:
        close_all(clients)
    if tally.bad:
        raise RuntimeError(f"{tally.bad} wrong replies, the first: {tally.first_bad!r}")
    if lost := sum(c.lost for c in clients):
        raise RuntimeError(f"{lost} echo connections lost")
    if plan.unit and not tally.samples_checked:
        raise RuntimeError("no reply was checked")
    return sample


# -- idle memory, then broadcast over the same connections ------------------------------


class Fanout:
    """What the fan-out clients counted in one round."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.got = 0
        self.bad = 0
        self.last = 0.0
        self.report: tuple[float, float] | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def check_done(self) -> None:
        if self.got >= self.want and self.report is not None and not self.done.done():
            self.done.set_result(None)


class FanoutClient(WsClient):
    """Idle until a broadcast comes; counts it (and reads the trigger's ``done`` answer)."""

    expected = server_frame(BROADCAST.encode())
    round: Fanout | None = None  # the round under way, shared by all clients

    def __init__(self, port: int) -> None:
        super().__init__(port, None)
        self.rest = b""

    def received(self, data: bytes) -> None:
        fanout = FanoutClient.round
        if fanout is None:
            return
        if data == self.expected and not self.rest:  # the common case: one frame, one read
            fanout.got += 1
            if fanout.got == fanout.want:
                fanout.last = time.perf_counter()
                fanout.check_done()
            return
        frames, used = split_frames(self.rest + data)
        self.rest = (self.rest + data)[used:]
        for b0, payload in frames:
            if b0 == 0x81 and payload == BROADCAST.encode():
                fanout.got += 1
                if fanout.got == fanout.want:
                    fanout.last = time.perf_counter()
            elif b0 == 0x81 and payload.startswith(b"done "):
                _word, wall, cpu = payload.decode().split()
                fanout.report = (float(wall), float(cpu))
            else:
                fanout.bad += 1
        fanout.check_done()


async def memory_and_broadcast(
    server: WsServer, count: int, rounds: int, settle: float = 0.5
) -> tuple[Sample, list[Sample]]:
    """Server RSS growth over ``count`` handshaken idle connections (no compression
    offered), then ``rounds`` broadcasts to all of them."""
    port = server.port
    warm = await open_many(lambda: FanoutClient(port), port, 50)  # first-use allocations
    close_all(warm)
    await asyncio.sleep(settle)
    window = Window(server, 0)
    rss0, fds0 = server.rss_bytes(), server.open_fds()
    clients: list[FanoutClient] = []
    try:
        async with asyncio.timeout(max(60.0, count / 100)):
            clients = await open_many(lambda: FanoutClient(port), port, count)
        await asyncio.sleep(settle)
        memory = window.close(count)
        memory.rss_delta = server.rss_bytes() - rss0
        if (missing := count - (server.open_fds() - fds0)) > count // 100:
            raise RuntimeError(f"{missing} of {count} connections not open server-side")
        broadcasts = [await _broadcast(server, clients) for _ in range(rounds)]
    finally:
        close_all(clients)
        FanoutClient.round = None
        await asyncio.sleep(settle)
    return memory, broadcasts


async def _broadcast(server: WsServer, clients: list[FanoutClient]) -> Sample:
    fanout = FanoutClient.round = Fanout(len(clients))
    trigger = client_frame(TRIGGER.encode())
    await asyncio.sleep(0.2)  # quiet before the round
    window = Window(server, 0)
    started = time.perf_counter()
    clients[0].transport.write(trigger)
    async with asyncio.timeout(60):
        await fanout.done
    sample = window.close(fanout.got)
    sample.seconds = fanout.last - started
    assert fanout.report is not None
    sample.loop_seconds, sample.loop_cpu = fanout.report
    if fanout.bad or fanout.got != len(clients):
        raise RuntimeError(f"broadcast: {fanout.got} of {len(clients)} reached, {fanout.bad} bad")
    return sample
