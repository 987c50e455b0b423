"""The load generator: asyncio Protocols on uvloop, run in this (pinned) process.

Each function drives one server for a bounded time or count and returns a Sample:
what the client counted, the server's CPU time over the same window (from /proc),
and this process's own CPU time, which shows when the load generator is the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import uvloop

from ._proc import Server, own_cpu

HOST = "127.0.0.1"
LINE = b"0123456789abcde\n"  # 16 bytes
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one load on a fresh uvloop; an error in any callback fails the measurement."""

    async def main() -> T:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        result = await coro
        if errors:
            raise RuntimeError(f"load generator: {errors[0].get('message')}") from errors[0].get(
                "exception"
            )
        return result

    return uvloop.run(main())


@dataclass
class CpuSample:
    """What one measured window counted, and the CPU time spent on either side of it."""

    ops: int  # messages echoed, connections served, or connections held
    seconds: float
    server_cpu: float  # seconds of server CPU in the window
    client_cpu: float  # seconds of load generator CPU in the window

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def server_us_per_op(self) -> float:
        return self.server_cpu / self.ops * 1e6 if self.ops else float("nan")


@dataclass
class Sample(CpuSample):
    errors: int = 0
    rss_delta: int = 0  # bytes (idle-memory test only)


class Window:
    """Snapshots of (time, count, server CPU, own CPU) around a measured window."""

    def __init__(self, server: Server, count: int) -> None:
        self.server = server
        self.start = (time.perf_counter(), count, server.cpu_seconds(), own_cpu())

    def deltas(self, count: int) -> tuple[int, float, float, float]:
        """(count, seconds, server CPU, own CPU) since the start."""
        t0, n0, s0, c0 = self.start
        t1, s1, c1 = time.perf_counter(), self.server.cpu_seconds(), own_cpu()
        return count - n0, t1 - t0, s1 - s0, c1 - c0


class _Window(Window):
    def close(self, count: int, errors: int = 0) -> Sample:
        return Sample(*self.deltas(count), errors)


class _Counter:
    __slots__ = ("errors", "lost", "ops")

    def __init__(self) -> None:
        self.ops = 0
        self.errors = 0
        self.lost = 0


async def probe(port: int) -> None:
    """Check that the server echoes lines as sent, even split across writes."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(b"hello 1\nhel")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"lo 2\n")
        async with asyncio.timeout(5):
            got = await reader.readexactly(16)
        if got != b"hello 1\nhello 2\n":
            raise RuntimeError(f"port {port} echoed {got!r}")
    finally:
        writer.close()


# -- echo throughput: pipelined batches of lines over several connections -------------


class _EchoClient(asyncio.Protocol):
    """Send ``batch`` lines in one write, wait for ``batch`` replies, repeat."""

    def __init__(self, payload: bytes, batch: int, counter: _Counter) -> None:
        self.payload = payload
        self.batch = batch
        self.counter = counter
        self.received = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.payload)

    def data_received(self, data: bytes) -> None:
        self.received += data.count(b"\n")
        if self.received >= self.batch:
            self.received -= self.batch
            self.counter.ops += self.batch
            self.transport.write(self.payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.counter.lost += 1


async def echo(
    server: Server, connections: int, batch: int, warmup: float, duration: float
) -> Sample:
    loop = asyncio.get_running_loop()
    counter = _Counter()
    payload = LINE * batch
    transports = []
    try:
        for _ in range(connections):
            transport, _protocol = await loop.create_connection(
                lambda: _EchoClient(payload, batch, counter), HOST, server.port
            )
            transports.append(transport)
        await asyncio.sleep(warmup)
        window = _Window(server, counter.ops)
        await asyncio.sleep(duration)
        sample = window.close(counter.ops)
    finally:
        for transport in transports:
            transport.close()
    if counter.lost:
        raise RuntimeError(f"{server.kind}: {counter.lost} echo connections lost")
    return sample


# -- accept rate: connect, one line, one reply, close; many at once --------------------


class _OneShot(asyncio.Protocol):
    def __init__(self, counter: _Counter, done: asyncio.Future[None]) -> None:
        self.counter = counter
        self.done = done
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(LINE)

    def data_received(self, data: bytes) -> None:
        if data.endswith(b"\n") and self.transport is not None:
            self.counter.ops += 1
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:  # closed before the reply came
            self.counter.errors += 1
        if not self.done.done():
            self.done.set_result(None)


async def _connect_loop(port: int, counter: _Counter) -> None:
    loop = asyncio.get_running_loop()
    while True:
        done = loop.create_future()
        try:
            await loop.create_connection(partial(_OneShot, counter, done), HOST, port)
        except OSError:
            counter.errors += 1
            await asyncio.sleep(0.001)
            continue
        await done


async def accept(server: Server, concurrency: int, warmup: float, duration: float) -> Sample:
    counter = _Counter()
    tasks = [asyncio.create_task(_connect_loop(server.port, counter)) for _ in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        window = _Window(server, counter.ops)
        errors = counter.errors
        await asyncio.sleep(duration)
        sample = window.close(counter.ops, counter.errors - errors)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return sample


# -- idle memory: hold many established connections, compare server RSS ---------------


class _Idle(asyncio.Protocol):
    def __init__(self, replied: asyncio.Future[None]) -> None:
        self.replied = replied

    def connection_made(self, transport: Any) -> None:
        transport.write(LINE)

    def data_received(self, data: bytes) -> None:
        if not self.replied.done():
            self.replied.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.replied.done():
            self.replied.set_exception(ConnectionError(f"lost before the reply: {exc}"))


async def _open_idle(port: int) -> asyncio.BaseTransport:
    loop = asyncio.get_running_loop()
    replied = loop.create_future()
    transport, _ = await loop.create_connection(lambda: _Idle(replied), HOST, port)
    try:
        await replied
    except BaseException:
        transport.abort()
        raise
    return transport


async def idle_memory(server: Server, count: int, chunk: int = 250, settle: float = 0.5) -> Sample:
    """Open ``count`` connections (each echoes one line), then RSS delta of the server."""
    async with asyncio.timeout(10):
        warm = [await _open_idle(server.port) for _ in range(50)]  # first-use allocations
    for transport in warm:
        transport.close()
    await asyncio.sleep(settle)
    window = _Window(server, 0)
    rss0, fds0 = server.rss_bytes(), server.open_fds()
    held: list[asyncio.BaseTransport] = []
    try:
        async with asyncio.timeout(max(30.0, count / 200)):
            while len(held) < count:
                n = min(chunk, count - len(held))
                opened = await asyncio.gather(
                    *(_open_idle(server.port) for _ in range(n)), return_exceptions=True
                )
                held += [t for t in opened if not isinstance(t, BaseException)]
                failed = [e for e in opened if isinstance(e, BaseException)]
                if failed:
                    raise RuntimeError(
                        f"{server.kind}: {len(failed)} connects failed after {len(held)}"
                    ) from (failed[0])
        await asyncio.sleep(settle)
        sample = window.close(count)
        sample.rss_delta = server.rss_bytes() - rss0
        missing = count - (server.open_fds() - fds0)
    finally:
        for transport in held:
            transport.close()
        await asyncio.sleep(settle)
    if missing > count // 100:
        raise RuntimeError(f"{server.kind}: {missing} of {count} connections not open server-side")
    return sample
