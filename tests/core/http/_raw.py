"""Raw-socket HTTP for the server tests: send exact bytes, split what comes back into
responses by the framing rules a client follows (RFC 9112 section 6.3)."""

from __future__ import annotations

import shutil
import ssl
from dataclasses import dataclass, field

import anyio

from ..._missing import missing

__all__ = ["Reply", "exchange", "need_tool", "read_replies", "request", "split_replies"]


@dataclass
class Reply:
    """One response as it came over the wire."""

    version: str
    status: int
    reason: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of a header (repeated ones joined with ", "), None when absent."""
        values = self.all(name)
        return ", ".join(values) if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key.lower() == name.lower()]


def _dechunk(data: bytes, pos: int) -> tuple[bytes, int] | None:
    parts = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(data[pos:eol].partition(b";")[0], 16)
        if size == 0:
            end = data.find(b"\r\n\r\n", eol)
            if end < 0:
                return None
            return b"".join(parts), end + 4
        if eol + 2 + size + 2 > len(data):
            return None
        parts.append(data[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2


def split_replies(
    data: bytes, *, head: frozenset[int] = frozenset(), eof: bool = False
) -> tuple[list[Reply], bytes]:
    """The whole responses at the start of ``data`` and the bytes after them.

    ``head`` holds the indexes (counting every response, 1xx included) that answer a
    HEAD request; with ``eof`` a response without framing ends with the data.
    """
    replies: list[Reply] = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        version, status, reason = [*lines[0].split(" ", 2), ""][:3]
        fields = [
            (name, value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])
        ]
        reply = Reply(version, int(status), reason, fields)
        start = end + 4
        length = reply.header("content-length")
        coding = reply.header("transfer-encoding")
        if len(replies) in head or reply.status in (204, 304) or reply.status < 200:
            stop = start
        elif coding is not None and "chunked" in coding.lower():
            found = _dechunk(data, start)
            if found is None:
                break
            reply.body, stop = found
        elif length is not None:
            stop = start + int(length)
            if stop > len(data):
                break
            reply.body = data[start:stop]
        elif eof:
            stop = len(data)
            reply.body = data[start:]
        else:
            break
        reply.raw = data[:stop]
        replies.append(reply)
        data = data[stop:]
    return replies, data


async def exchange(
    port: int,
    *pieces: bytes,
    count: int = 1,
    head: frozenset[int] = frozenset(),
    pause: float = 0.0,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
) -> tuple[list[Reply], bool]:
    """Send ``pieces`` (``pause`` seconds apart) on a new connection, read until ``count``
    responses have come and then until the server closes or goes quiet for a moment.

    Returns the responses and whether the server closed the connection.
    """
    received = b""
    closed = False
    stream: anyio.abc.ByteStream
    if tls is None:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    else:
        stream = await anyio.connect_tcp("127.0.0.1", port, ssl_context=tls)
    async with stream:
        for i, piece in enumerate(pieces):
            if i and pause:
                await anyio.sleep(pause)
            await stream.send(piece)
        with anyio.fail_after(timeout):
            while True:
                replies, _ = split_replies(received, head=head)
                quiet = len(replies) >= count
                try:
                    if quiet:  # all we wait for is here: is the connection closed?
                        with anyio.move_on_after(0.2):
                            chunk = await stream.receive()
                            received += chunk
                            continue
                        break
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    closed = True
                    break
    replies, rest = split_replies(received, head=head, eof=closed)
    assert not rest, f"bytes after the responses: {rest[:200]!r}"
    return replies, closed


def request(
    method: str = "GET",
    target: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    version: str = "1.1",
) -> bytes:
    """The bytes of a request; Host and (for a body) Content-Length are added."""
    fields = {"Host": "localhost"}
    if body:
        fields["Content-Length"] = str(len(body))
    fields.update(headers or {})
    lines = [f"{method} {target} HTTP/{version}"]
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def need_tool(name: str) -> str:
    """The path of a command-line client; a failure under CI when it is missing, else a skip."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed")
    return path


async def read_replies(
    stream: anyio.abc.ByteStream, count: int = 1, *, head: frozenset[int] = frozenset()
) -> list[Reply]:
    """Read until ``count`` whole responses have come (10 s at most); they, in order."""
    got = b""
    with anyio.fail_after(10):
        while len(split_replies(got, head=head)[0]) < count:
            got += await stream.receive(1 << 20)
    return split_replies(got, head=head)[0]
