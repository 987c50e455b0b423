"""The stream-protocol seam, through the worked example in the core README: the code
block is read from the README and run, so the README shows what works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from workerman.core import TcpConnection, Worker, serve, statistics
from workerman.core.protocols import StreamProtocol, get_protocol
from workerman.core.protocols._registry import _registry

from ..docs._snippets import snippets
from .conftest import read_lines

pytestmark = pytest.mark.anyio

README = Path(__file__).parents[2] / "packages" / "core" / "README.md"


def example_source() -> str:
    found = [s.code for s in snippets(README) if s.name == "stream-protocol"]
    assert found, "the stream-protocol example is missing from the core README"
    return found[0]


@pytest.fixture
def example() -> Iterator[dict[str, Any]]:
    """The README example run as a module: its Chat protocol and its `room` worker."""
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(example_source(), str(README), "exec"), namespace)
    namespace["room"].socket_name = "chat://127.0.0.1:0"  # a free port, not the README's
    yield namespace
    _registry.pop("chat", None)


async def login(host: str, port: int, name: str) -> anyio.abc.SocketStream:
    stream = await anyio.connect_tcp(host, port)
    assert await read_lines(stream, 1) == [b"NAME?\n"]
    for piece in (name[:2].encode(), name[2:].encode() + b"\n"):  # a name split in two
        await stream.send(piece)
    assert await read_lines(stream, 1) == [f"WELCOME {name}\n".encode()]
    return stream


async def test_the_example_registers_a_stream_protocol(
    example: dict[str, Any], anyio_backend: str
) -> None:
    assert get_protocol("chat") is example["Chat"]
    assert issubclass(example["Chat"], StreamProtocol)


async def test_the_example_greets_logs_in_and_broadcasts(
    example: dict[str, Any], anyio_backend: str
) -> None:
    async with serve(example["room"]) as (host, port):
        alice = await login(host, port, "alice")
        bob = await login(host, port, "bob")
        before = statistics.total_request
        await alice.send(b"hello\r\nhow are you")  # the rest of a read is kept
        assert await read_lines(bob, 1) == [b"alice: hello\n"]
        await alice.send(b"?\n")
        assert await read_lines(bob, 1) == [b"alice: how are you?\n"]
        assert await read_lines(alice, 2) == [b"alice: hello\n", b"alice: how are you?\n"]
        assert statistics.total_request == before + 2  # deliver() counts for any protocol
        state = next(iter(example["room"].connections.values())).protocol_state
        assert isinstance(state, example["Chat"])
        for stream in (alice, bob):
            await stream.aclose()


async def test_closing_writes_the_protocols_last_words(
    example: dict[str, Any], anyio_backend: str
) -> None:
    room: Worker = example["room"]
    room.on_message = lambda connection, message: connection.close()
    async with serve(room) as (host, port):
        alice = await login(host, port, "alice")
        await alice.send(b"bye\n")
        assert await read_lines(alice, 1) == [b"BYE\n"]
        with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await alice.receive()  # then the server closes
        await alice.aclose()


async def test_a_line_over_the_limit_is_a_counted_protocol_error(
    example: dict[str, Any], anyio_backend: str
) -> None:
    async with serve(example["room"]) as (host, port):
        alice = await login(host, port, "alice")
        before = statistics.protocol_errors
        await alice.send(b"x" * 5000)
        with anyio.fail_after(5):
            while statistics.protocol_errors == before:
                await anyio.sleep(0.01)
        assert await read_lines(alice, 1) == [b"BYE\n"]  # closing still says goodbye
        await alice.aclose()


async def test_an_async_handler_holds_the_connection_and_keeps_the_order(
    example: dict[str, Any], anyio_backend: str
) -> None:
    room: Worker = example["room"]
    seen: list[str] = []

    async def slow(connection: TcpConnection, message: dict[str, str]) -> None:
        assert connection.holds  # while this runs, nothing more is handed to the protocol
        await anyio.sleep(0.01)
        seen.append(message["text"])
        connection.send({"from": "echo", "text": message["text"]})

    room.on_message = slow
    async with serve(room) as (host, port):
        alice = await login(host, port, "alice")
        await alice.send(b"one\ntwo\nthree\n")  # one read, three messages
        lines = await read_lines(alice, 3)
        assert lines == [b"echo: one\n", b"echo: two\n", b"echo: three\n"]
        assert seen == ["one", "two", "three"]
        await alice.aclose()


async def test_a_handler_that_raises_is_reported_and_the_connection_goes_on(
    example: dict[str, Any], anyio_backend: str
) -> None:
    room: Worker = example["room"]

    def picky(connection: TcpConnection, message: dict[str, str]) -> None:
        if message["text"] == "boom":
            raise ValueError("boom")
        connection.send(message)

    room.on_message = picky
    async with serve(room) as (host, port):
        alice = await login(host, port, "alice")
        before = statistics.throw_exception
        await alice.send(b"boom\nfine\n")
        assert await read_lines(alice, 1) == [b"alice: fine\n"]
        assert statistics.throw_exception == before + 1
        await alice.aclose()
