"""WebSocket by hand for the server and client tests: frames built and parsed here (not by
the code under test), a raw-socket client, and peers from the websockets library run in
a thread with their own asyncio loop, so they serve every driver."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.abc

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the sample key of RFC 6455 section 1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

T = TypeVar("T")


def accept_of(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def upgrade_request(
    path: str = "/", headers: dict[str, str] | None = None, *, key: str = KEY
) -> bytes:
    """A client's opening handshake; ``headers`` add to (or, with None values, drop)
    the standard ones."""
    fields: dict[str, str | None] = {
        "Host": "localhost",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
    }
    fields.update(headers or {})
    lines = [f"GET {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def mask_bytes(payload: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    key: bytes = b"\x37\xfa\x21\x3d",
) -> bytes:
    """One frame on the wire. ``rsv`` holds the RSV bits as they sit in the first byte
    (0x40 RSV1, 0x20 RSV2, 0x10 RSV3)."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, bit | n))
    elif n < 65536:
        head = bytes((b0, bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, bit | 127)) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    return head + key + mask_bytes(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def deflate(payload: bytes) -> bytes:
    """A message compressed as permessage-deflate does without context takeover."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    key: bytes | None = None  # the masking key, for a masked frame

    @property
    def close(self) -> tuple[int, str]:
        assert self.opcode == CLOSE
        if not self.payload:
            return 1005, ""
        return int.from_bytes(self.payload[:2], "big"), self.payload[2:].decode()


def parse_frame(data: bytes) -> tuple[Frame | None, int]:
    """The first whole frame of ``data`` and its size on the wire, or (None, 0)."""
    if len(data) < 2:
        return None, 0
    b0, b1 = data[0], data[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(data) < 4:
            return None, 0
        n, pos = int.from_bytes(data[2:4], "big"), 4
    elif n == 127:
        if len(data) < 10:
            return None, 0
        n, pos = int.from_bytes(data[2:10], "big"), 10
    key = None
    if b1 & 0x80:
        if len(data) < pos + 4:
            return None, 0
        key, pos = data[pos : pos + 4], pos + 4
    if len(data) < pos + n:
        return None, 0
    payload = data[pos : pos + n]
    if key is not None:
        payload = mask_bytes(payload, key)
    return Frame(bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, payload, key), pos + n


def parse_frames(data: bytes) -> tuple[list[Frame], bytes]:
    """The whole frames at the start of ``data``, and the bytes after them."""
    frames: list[Frame] = []
    while True:
        found, size = parse_frame(data)
        if found is None:
            return frames, data
        frames.append(found)
        data = data[size:]


@dataclass
class Head:
    status: int
    fields: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.fields if key.lower() == name.lower()]
        return ", ".join(values) if values else None


def parse_head(raw: bytes) -> Head:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = [(name, value.strip()) for name, _, value in (ln.partition(":") for ln in lines[1:])]
    return Head(status, fields, raw)


class RawClient:
    """A WebSocket client over a plain socket: exact bytes out, frames parsed back."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.eof = False

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def _fill(self) -> bool:
        try:
            self.buffer += await self.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.eof = True
            return False
        return True

    async def head(self, timeout: float = 5) -> Head:
        """The response head (and nothing after it)."""
        with anyio.fail_after(timeout):
            while b"\r\n\r\n" not in self.buffer:
                if not await self._fill():
                    raise AssertionError(f"closed before a response head: {self.buffer!r}")
        raw, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return parse_head(raw)

    async def frame(self, timeout: float = 5) -> Frame:
        """The next frame from the server."""
        with anyio.fail_after(timeout):
            while True:
                found, size = parse_frame(self.buffer)
                if found is not None:
                    self.buffer = self.buffer[size:]
                    return found
                if not await self._fill():
                    raise AssertionError(f"closed before a frame: {self.buffer!r}")

    async def frames_until_eof(self, timeout: float = 5) -> list[Frame]:
        """Every frame until the server closes the TCP connection."""
        with anyio.fail_after(timeout):
            while await self._fill():
                pass
        frames, rest = parse_frames(self.buffer)
        assert not rest, f"bytes after the frames: {rest!r}"
        self.buffer = b""
        return frames

    async def closed(self, timeout: float = 5) -> bool:
        """Whether the server closes the TCP connection within ``timeout`` seconds."""
        with anyio.move_on_after(timeout):
            while await self._fill():
                pass
            return True
        return False


@contextlib.asynccontextmanager
async def raw_client(
    port: int, path: str = "/", headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[RawClient, Head]]:
    """A raw client that has done the opening handshake (101 asserted)."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        client = RawClient(stream)
        await client.send(upgrade_request(path, headers))
        head = await client.head()
        assert head.status == 101, head.raw
        assert head.header("sec-websocket-accept") == ACCEPT
        yield client, head


@contextlib.asynccontextmanager
async def raw_connection(port: int) -> AsyncIterator[RawClient]:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        yield RawClient(stream)


async def in_asyncio_thread(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``await fn()`` in a thread with an asyncio loop of its own (what the
    websockets library needs), from a test on any driver."""

    def run() -> T:
        async def main() -> T:
            return await fn()

        return asyncio.run(main())

    return await anyio.to_thread.run_sync(run)


class ThreadedServer:
    """A websockets server running in a thread with its own asyncio loop."""

    def __init__(self, handler: Callable[[Any], Awaitable[None]], **options: Any) -> None:
        self.handler = handler
        self.options = options
        self.port = 0
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        async with serve(self.handler, "127.0.0.1", 0, **self.options) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self.ready.set()
            await self.stop.wait()

    async def __aenter__(self) -> ThreadedServer:
        self.thread.start()
        await anyio.to_thread.run_sync(self.ready.wait, 5)
        if self.error is not None:
            raise self.error
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        await anyio.to_thread.run_sync(self.thread.join, 5)
