"""Waiting on conditions (never on sleeps) and a line client for text:// workers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``check`` (plain or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or check}")
        await anyio.sleep(0.02)


class LineClient:
    """A TCP client of a text:// worker: send lines, read lines."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.messages: list[str] = []  # delivered messages read while waiting for a reply

    @classmethod
    async def connect(cls, address: tuple[str, int]) -> LineClient:
        return cls(await anyio.connect_tcp(*address))

    async def send(self, line: str) -> None:
        await self.stream.send(line.encode() + b"\n")

    async def reply(self, timeout: float = 10.0) -> str:
        """The next answer to a command (``ok ...``/``err ...``), keeping messages aside."""
        while True:
            line = await self._read(timeout)
            if line.startswith(("ok ", "err ")):
                return line
            self.messages.append(line)

    async def line(self, timeout: float = 10.0) -> str:
        """The next delivered message."""
        if self.messages:
            return self.messages.pop(0)
        return await self._read(timeout)

    async def _read(self, timeout: float) -> str:
        with anyio.fail_after(timeout):
            while b"\n" not in self.buffer:
                self.buffer += await self.stream.receive()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    async def aclose(self) -> None:
        await self.stream.aclose()
