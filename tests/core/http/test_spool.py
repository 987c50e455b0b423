"""A body larger than Http.body_spool_size goes to a temporary file as it arrives: a
connection holds little memory however large (or stalled) its upload, and the handler
reads the body the same way."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import anyio
import pytest

from workerman.core import Worker, statistics
from workerman.core.http import Http, Request

from ..conftest import port_of, read_to_close, serving, wait_for
from ._raw import read_replies, request

pytestmark = pytest.mark.anyio


class SmallSpool(Http):
    body_spool_size: ClassVar[int] = 64 * 1024
    body_timeout: ClassVar[float] = 0.5


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def digest_worker(seen: list[tuple[bool, int]]) -> Worker:
    worker = Worker("http://127.0.0.1:0", protocol=SmallSpool)

    def on_message(connection: Any, req: Request) -> None:
        head = req.body_file.read(10)
        seen.append((req.body_spooled, len(req.raw_body)))
        connection.send(head + b"|" + req.raw_body[-10:])

    worker.on_message = on_message
    return worker


async def test_a_large_body_is_spooled_and_read_the_same(anyio_backend: str) -> None:
    seen: list[tuple[bool, int]] = []
    body = bytes(range(256)) * 4096  # 1 MiB
    small = b"0123456789abc"
    worker = digest_worker(seen)
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        big = request("POST", "/", {"Content-Length": str(len(body))}) + body
        # the large body in pieces, a small request pipelined right behind it
        for at in range(0, len(big), 200_000):
            await stream.send(big[at : at + 200_000])
        await stream.send(request("POST", "/", body=small))
        first, second = await read_replies(stream, 2)
        await stream.aclose()
    assert first.body == body[:10] + b"|" + body[-10:]
    assert second.body == small[:10] + b"|" + small[-10:]
    assert seen == [(True, len(body)), (False, len(small))]


async def test_a_spooled_multipart_upload_gives_its_file(anyio_backend: str) -> None:
    content = os.urandom(300 * 1024)
    boundary = "b0und"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="up"; filename="a.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    got: list[Any] = []
    worker = Worker("http://127.0.0.1:0", protocol=SmallSpool)

    def on_message(connection: Any, req: Request) -> None:
        upload = req.file("up")
        got.append((req.body_spooled, req.post("note"), upload.read() == content))
        connection.send("ok")

    worker.on_message = on_message
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
    }
    async with serving(anyio_backend, worker):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(worker))
        await stream.send(request("POST", "/", headers))
        await stream.send(body)
        (reply,) = await read_replies(stream, 1)
        await stream.aclose()
    assert reply.status == 200
    assert got == [(True, "hi", True)]


async def test_stalled_uploads_hold_disk_not_memory_and_end_in_408(anyio_backend: str) -> None:
    """20 clients send 90% of a 5 MiB body and stop: they held 226 MiB between them when
    bodies were kept in memory; now their bytes are in temporary files, each gets a 408
    once its body stops, and no file is left behind."""
    worker = Worker("http://127.0.0.1:0", protocol=SmallSpool)
    worker.on_message = lambda connection, req: connection.send("never")
    size = 5 * 1024 * 1024
    part = b"u" * (size * 9 // 10)
    streams: list[anyio.abc.SocketStream] = []
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        fds = open_fds()
        before = resident()
        try:
            for _ in range(20):
                stream = await anyio.connect_tcp("127.0.0.1", port)
                streams.append(stream)
                await stream.send(request("POST", "/up", {"Content-Length": str(size)}) + part)
            await wait_for(
                lambda: sum(c.bytes_read for c in worker.connections.values()) >= 20 * len(part),
                20,
            )
            grown = resident() - before
            for stream in streams:
                assert (await read_to_close(stream, 10)).startswith(b"HTTP/1.1 408 ")
        finally:
            for stream in streams:
                await stream.aclose()
        await wait_for(lambda: not worker.connections, 5)
        assert open_fds() <= fds
    assert grown < 40 * 1024 * 1024, f"{grown / 2**20:.0f} MiB for 20 stalled uploads"
    assert statistics.timeouts == 20
