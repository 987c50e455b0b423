"""The load generator's WebSocket client: raw asyncio Protocols, no WebSocket library.

Client frames are built (masked, and compressed when permessage-deflate is used) once,
before a run, and written as they are; server frames are counted by their length, or by
walking their two-byte headers, without decoding. Content is checked on a sample.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
MESSAGE = b"0123456789abcdefghijklmnopqrstu!"  # 32 bytes, the echoed message
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
TAIL = b"\x00\x00\xff\xff"  # what a compressed message leaves off (RFC 7692)
OP_TEXT = 0x1
FIN = 0x80
RSV1 = 0x40
MAX_HEAD = 16 * 1024


# -- frames ----------------------------------------------------------------------------


def client_frame(payload: bytes, *, compressed: bool = False, mask: bytes | None = None) -> bytes:
    """One masked text frame, as a client must send it."""
    key = mask if mask is not None else os.urandom(4)
    size = len(payload)
    b0 = FIN | (RSV1 if compressed else 0) | OP_TEXT
    if size < 126:
        head = bytes((b0, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((b0, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((b0, 0x80 | 127)) + size.to_bytes(8, "big")
    stream = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
    return head + key + masked


def server_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed text frame of fewer than 126 bytes, as a server sends it."""
    return bytes((FIN | OP_TEXT, len(payload))) + payload


def count_frames(buf: bytes) -> tuple[int, int, int]:
    """(complete frames, bytes they take, how many are not unmasked data frames) at the
    start of ``buf``: headers only, payloads skipped."""
    pos = 0
    end = len(buf)
    frames = odd = 0
    while pos + 2 <= end:
        b0, b1 = buf[pos], buf[pos + 1]
        size = b1 & 0x7F
        head = 2
        if size == 126:
            if pos + 4 > end:
                break
            size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
        elif size == 127:
            if pos + 10 > end:
                break
            size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
        stop = pos + head + size
        if stop > end:
            break
        frames += 1
        if b0 & 0x0F != OP_TEXT or b1 & 0x80 or not b0 & FIN:
            odd += 1
        pos = stop
    return frames, pos, odd


def split_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The complete frames at the start of ``buf`` as (first byte, payload), and the bytes
    they take. For checks, not for the measured loop."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    end = len(buf)
    while pos + 2 <= end:
        size, head = buf[pos + 1] & 0x7F, 2
        if size >= 126:
            head = 4 if size == 126 else 10
            if pos + head > end:
                break
            size = int.from_bytes(buf[pos + 2 : pos + head], "big")
        if pos + head + size > end:
            break
        frames.append((buf[pos], bytes(buf[pos + head : pos + head + size])))
        pos += head + size
    return frames, pos


# -- permessage-deflate ------------------------------------------------------------------


@dataclass
class CompressedStream:
    """The client's compressed frames for MESSAGE sent again and again, with context
    takeover: zlib's output settles after a few messages into the same bytes each time
    (a back-reference to the previous copy), so the prefix is sent once and the settled
    frame forever after."""

    prefix: list[bytes]
    repeat: bytes


def compressed_stream(window_bits: int, mask: bytes) -> CompressedStream:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -window_bits)
    outputs = []
    for _ in range(64):
        data = compressor.compress(MESSAGE) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if not data.endswith(TAIL):
            raise RuntimeError("zlib sync flush without its empty stored block")
        outputs.append(data[: -len(TAIL)])
    settled = next(i for i in range(len(outputs)) if len(set(outputs[i:])) == 1)
    if settled > 32:
        raise RuntimeError("zlib output did not settle for a repeated message")
    # the stream must inflate back: the prefix, then the settled frame many times
    check = zlib.decompressobj(-15)
    for data in outputs[:settled] + [outputs[settled]] * 50:
        if check.decompress(data + TAIL) != MESSAGE:
            raise RuntimeError("compressed client stream does not inflate back")
    frames = [client_frame(data, compressed=True, mask=mask) for data in outputs]
    return CompressedStream(frames[:settled], frames[settled])


def inflate_replies(frames: list[tuple[int, bytes]]) -> list[bytes]:
    """The messages of server frames, inflating those with RSV1 (context takeover)."""
    inflater = zlib.decompressobj(-15)
    return [inflater.decompress(p + TAIL) if b0 & RSV1 else p for b0, p in frames]


def negotiated_client_bits(headers: dict[str, str]) -> int | None:
    """The window our compressor may use, or None when deflate was not agreed on."""
    value = headers.get("sec-websocket-extensions", "")
    if "permessage-deflate" not in value:
        return None
    for param in value.split(";"):
        name, _, bits = param.strip().partition("=")
        if name == "client_max_window_bits" and bits:
            return max(9, int(bits.strip('"')))  # zlib's raw deflate needs at least 9
    return 15


# -- the opening handshake ---------------------------------------------------------------


def upgrade_request(port: int, key: str, offer: str | None) -> bytes:
    lines = [
        "GET / HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if offer:
        lines.append(f"Sec-WebSocket-Extensions: {offer}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def check_upgrade(head: bytes, key: str) -> dict[str, str]:
    """The headers (lower-cased names) of a valid 101 answer to the request with ``key``."""
    status, *lines = head.decode("latin-1").split("\r\n")
    if not status.startswith("HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {status!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != accept:
        raise ConnectionError("wrong Sec-WebSocket-Accept")
    return headers


class WsClient(asyncio.Protocol, ABC):
    """Opens with the WebSocket handshake (or not, for the line-echo baseline), then hands
    every read to ``received``. ``opened`` resolves to the 101's headers."""

    def __init__(self, port: int, offer: str | None, websocket: bool = True) -> None:
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.request = upgrade_request(port, self.key, offer) if websocket else b""
        self.head: bytearray | None = bytearray() if websocket else None
        self.opened: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.lost = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.request:
            transport.write(self.request)
        else:
            self.opened.set_result({})

    def data_received(self, data: bytes) -> None:
        if self.head is None:
            self.received(data)
        else:
            self._handshake(data)

    def _handshake(self, data: bytes) -> None:
        assert self.head is not None
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD:
                self.opened.set_exception(ConnectionError("no end to the 101's head"))
            return
        head, rest = bytes(self.head[:end]), bytes(self.head[end + 4 :])
        self.head = None
        try:
            self.opened.set_result(check_upgrade(head, self.key))
        except ConnectionError as exc:
            self.opened.set_exception(exc)
            return
        if rest:
            self.received(rest)

    @abstractmethod
    def received(self, data: bytes) -> None:
        """Bytes after the handshake: what a load generator counts."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during the handshake: {exc}"))


async def open_client(factory: Any, port: int, timeout: float = 10.0) -> Any:
    """Connect a ``WsClient`` and wait for its handshake; the protocol."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(factory, HOST, port)
    try:
        async with asyncio.timeout(timeout):
            await client.opened
    except BaseException:
        transport.abort()
        raise
    return client


# -- echo --------------------------------------------------------------------------------


@dataclass
class EchoPlan:
    """What each echo connection writes and expects.

    ``first`` (``first_count`` messages) is written once, then ``payload`` (``batch``
    messages) each time all replies are in. ``unit`` is the size of every reply, or 0 when
    they vary (compressed) and are counted by walking frame headers; ``expect`` is the
    reply stream checked against on a sample of reads (when ``unit``).
    """

    first: bytes
    first_count: int
    payload: bytes
    batch: int
    unit: int
    expect: bytes = b""
    offer: str | None = None
    websocket: bool = True


@dataclass
class Tally:
    ops: int = 0
    bad: int = 0
    samples_checked: int = 0
    first_bad: bytes = b""

    def wrong(self, data: bytes) -> None:
        self.bad += 1
        if not self.first_bad:
            self.first_bad = data[:80]


class EchoClient(WsClient):
    """Writes a batch of messages, waits for as many replies, writes the next batch."""

    def __init__(self, port: int, plan: EchoPlan, tally: Tally) -> None:
        super().__init__(port, plan.offer, plan.websocket)
        self.plan = plan
        self.tally = tally
        self.want = 0
        self.pending = 0  # bytes of a reply received so far (fixed-size replies)
        self.rest = b""  # an incomplete frame (varying replies)
        self.reads = 0

    def start(self) -> None:
        self.want = self.plan.first_count
        self.transport.write(self.plan.first)

    def received(self, data: bytes) -> None:
        plan = self.plan
        unit = plan.unit
        if unit:
            if not self.reads & 31:  # every 32nd read: the bytes are what was sent
                offset = self.pending
                self.tally.samples_checked += 1
                if data != plan.expect[offset : offset + len(data)]:
                    self.tally.wrong(data)
            self.reads += 1
            frames, self.pending = divmod(self.pending + len(data), unit)
        else:
            if self.rest:
                data = self.rest + data
            frames, used, odd = count_frames(data)
            self.rest = data[used:]
            if odd:
                self.tally.wrong(data)
        self.tally.ops += frames
        self.want -= frames
        if self.want <= 0:
            if self.want < 0:
                self.tally.wrong(b"more replies than messages sent")
            self.want = plan.batch
            self.transport.write(plan.payload)


def echo_plan(batch: int, headers: dict[str, str] | None, baseline: bool) -> EchoPlan:
    """The plan for one server: ``headers`` are those of a probe's 101 (deflate or not)."""
    if baseline:
        line = MESSAGE[:-1] + b"\n"
        return EchoPlan(
            line * batch, batch, line * batch, batch, len(line), line * (batch + 1), None, False
        )
    mask = os.urandom(4)
    bits = negotiated_client_bits(headers or {})
    if bits is None:
        payload = client_frame(MESSAGE, mask=mask) * batch
        reply = server_frame(MESSAGE)
        return EchoPlan(payload, batch, payload, batch, len(reply), reply * (batch + 1))
    stream = compressed_stream(bits, mask)
    first = b"".join(stream.prefix) + stream.repeat * batch
    count = len(stream.prefix) + batch
    return EchoPlan(first, count, stream.repeat * batch, batch, 0, b"", DEFLATE_OFFER)


def _probe_writes(
    baseline: bool, deflate: bool, headers: dict[str, str]
) -> tuple[list[bytes], int]:
    """Writes carrying a few messages, the first one split across two writes; and how
    many messages."""
    if baseline:
        line = MESSAGE[:-1] + b"\n"
        return [line[:5], line[5:] + line * 2], 3
    if deflate:
        bits = negotiated_client_bits(headers)
        if bits is None:
            raise RuntimeError(f"permessage-deflate not agreed on: {headers}")
        stream = compressed_stream(bits, os.urandom(4))
        frames = [*stream.prefix, *[stream.repeat] * 4]
        whole = b"".join(frames)
        return [whole[:3], whole[3:]], len(frames)
    frame = client_frame(MESSAGE)
    return [frame[:3], frame[3:] + frame * 2], 3


def _probe_done(data: bytes, baseline: bool, deflate: bool, count: int) -> bool:
    """Whether all ``count`` echoes are in; raises if one is wrong."""
    if baseline:
        if data.count(b"\n") < count:
            return False
        if data != (MESSAGE[:-1] + b"\n") * count:
            raise RuntimeError(f"echoed {data[:80]!r}")
        return True
    frames, _used = split_frames(data)
    if len(frames) < count:
        return False
    messages = inflate_replies(frames)
    if messages != [MESSAGE] * count:
        raise RuntimeError(f"echoed {messages[:4]!r}")
    if deflate and not all(b0 & RSV1 for b0, _ in frames):
        raise RuntimeError("replies not compressed despite deflate")
    return True


async def probe(port: int, baseline: bool, deflate: bool) -> dict[str, str]:
    """Check the server echoes MESSAGE, split across writes and several per write; with
    ``deflate``, that it agreed to permessage-deflate and its compressed replies inflate
    to MESSAGE. The 101's headers."""
    got: list[bytes] = []

    class Probe(WsClient):
        def received(self, data: bytes) -> None:
            got.append(data)

    offer = DEFLATE_OFFER if deflate else None
    client = await open_client(lambda: Probe(port, offer, not baseline), port)
    headers: dict[str, str] = client.opened.result()
    try:
        writes, count = _probe_writes(baseline, deflate, headers)
        for data in writes:
            client.transport.write(data)
            await asyncio.sleep(0.01)
        async with asyncio.timeout(5):
            while not _probe_done(b"".join(got), baseline, deflate, count):
                await asyncio.sleep(0.005)
    finally:
        client.transport.close()
    return headers
