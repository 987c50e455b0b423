"""The Text and Frame codecs: feed bytes, split anywhere, get the same messages back."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workerman.core import ProtocolError, TcpConnection, Worker, statistics
from workerman.core.protocols import Codec, Frame, Text

from .conftest import port_of, serving

pytestmark = pytest.mark.anyio

MAX_PACKAGE = TcpConnection.default_max_package_size


class Receiver:
    """A sans-IO stand-in for TcpConnection's read side: the codec contract, nothing else.

    Bytes accumulate; ``input`` says 0 (need more) or the first package's length; a
    package is cut off only once all of its bytes are here, then decoded.
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.buffer = b""
        self.messages: list[Any] = []

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            length = self.codec.input(self.buffer, self)
            assert length >= 0
            if length == 0 or length > len(self.buffer):
                return
            package, self.buffer = self.buffer[:length], self.buffer[length:]
            self.messages.append(self.codec.decode(package, self))


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order, duplicates allowed: empty chunks)."""
    points = sorted(min(max(cut, 0), len(data)) for cut in cuts)
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def receive(codec: Codec, chunks: list[bytes]) -> Receiver:
    receiver = Receiver(codec)
    for chunk in chunks:
        receiver.feed(chunk)
    return receiver


cuts = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=30)

# A line holds no "\n" (it ends the line) and must not end in "\r" (decode strips "\r\n").
lines = st.text(st.characters(codec="utf-8", exclude_characters="\n")).filter(
    lambda s: not s.endswith("\r")
)


# -- Text ------------------------------------------------------------------------------


@given(messages=st.lists(lines, max_size=20), cuts=cuts)
def test_text_messages_split_anywhere_decode_to_the_originals(
    messages: list[str], cuts: list[int]
) -> None:
    stream = b"".join(Text.encode(m, None) for m in messages)
    receiver = receive(Text, split_at(stream, cuts))
    assert receiver.messages == messages
    assert receiver.buffer == b""


@given(messages=st.lists(lines, min_size=1, max_size=20), cuts=cuts)
def test_text_lines_ending_in_crlf_decode_without_the_crlf(
    messages: list[str], cuts: list[int]
) -> None:
    stream = b"".join(m.encode() + b"\r\n" for m in messages)
    assert receive(Text, split_at(stream, cuts)).messages == messages


@given(message=lines)
def test_text_encode_then_decode_is_identity(message: str) -> None:
    package = Text.encode(message, None)
    assert package == message.encode() + b"\n"
    assert Text.input(package, None) == len(package)
    assert Text.decode(package, None) == message


@given(head=lines, tail=lines)
def test_text_waits_for_the_newline(head: str, tail: str) -> None:
    data = head.encode()
    assert Text.input(data, None) == 0
    assert Text.input(data + b"\n" + tail.encode(), None) == len(data) + 1


def test_text_decodes_a_line_in_pieces() -> None:
    receiver = receive(Text, [b"hel", b"lo\r", b"\nwor", b"ld\n", b"partial"])
    assert receiver.messages == ["hello", "world"]
    assert receiver.buffer == b"partial"


@given(
    head=st.binary().filter(lambda b: b"\n" not in b),
    tail=st.binary().filter(lambda b: b"\n" not in b),
)
def test_text_line_with_invalid_utf8_raises_protocol_error(head: bytes, tail: bytes) -> None:
    # 0xff never occurs in UTF-8, so the line is invalid wherever it sits.
    package = head + b"\xff" + tail + b"\n"
    assert Text.input(package, None) == len(package)
    with pytest.raises(ProtocolError, match="UTF-8"):
        Text.decode(package, None)


@pytest.mark.parametrize(
    "message", [b"raw bytes", bytearray(b"raw bytes"), memoryview(b"raw bytes")]
)
def test_text_encodes_bytes_like_as_is(message: Any) -> None:
    assert Text.encode(message, None) == b"raw bytes\n"


def test_text_encodes_str_as_utf8() -> None:
    assert Text.encode("héllo ✓", None) == "héllo ✓\n".encode()


@pytest.mark.parametrize("message", [42, 1.5, None, {"a": 1}, ["x"]])
def test_text_encode_of_other_types_raises_type_error(message: Any) -> None:
    with pytest.raises(TypeError, match="text://"):
        Text.encode(message, None)


# -- Frame -----------------------------------------------------------------------------


@given(payloads=st.lists(st.binary(max_size=2000), max_size=20), cuts=cuts)
def test_frame_payloads_split_anywhere_decode_to_the_originals(
    payloads: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(Frame.encode(p, None) for p in payloads)
    receiver = receive(Frame, split_at(stream, cuts))
    assert receiver.messages == payloads
    assert receiver.buffer == b""


@given(payload=st.binary())
def test_frame_encode_then_decode_is_identity(payload: bytes) -> None:
    package = Frame.encode(payload, None)
    assert package[:4] == (len(payload) + 4).to_bytes(4, "big")
    assert Frame.input(package, None) == len(package)
    assert Frame.decode(package, None) == payload


@given(payload=st.binary(min_size=1))
def test_frame_with_missing_bytes_reports_its_full_length(payload: bytes) -> None:
    package = Frame.encode(payload, None)
    # input never reads past the header: it names the length before the payload arrives.
    assert Frame.input(package[:-1], None) == len(package)


@pytest.mark.parametrize("partial", [b"", b"\x00", b"\x00\x00", b"\x00\x00\x00"])
def test_frame_needs_four_header_bytes(partial: bytes) -> None:
    assert Frame.input(partial, None) == 0


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_frame_header_shorter_than_itself_raises_protocol_error(length: int) -> None:
    with pytest.raises(ProtocolError, match=f"frame length {length}"):
        Frame.input(length.to_bytes(4, "big") + b"payload", None)


def test_frame_of_header_only_is_an_empty_payload() -> None:
    assert Frame.encode(b"", None) == b"\x00\x00\x00\x04"
    assert receive(Frame, [b"\x00\x00", b"\x00\x04"]).messages == [b""]


def test_frame_encodes_str_as_utf8() -> None:
    assert Frame.encode("é", None) == b"\x00\x00\x00\x06\xc3\xa9"


@pytest.mark.parametrize("message", [42, None, ["x"]])
def test_frame_encode_of_other_types_raises_type_error(message: Any) -> None:
    with pytest.raises(TypeError, match="frame://"):
        Frame.encode(message, None)


# -- a real connection enforces max_package_size ----------------------------------------


async def receive_all(stream: anyio.abc.ByteStream) -> bytes:
    """Read until the peer closes (EOF or reset)."""
    data = b""
    with anyio.fail_after(5):
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return data


async def test_frame_longer_than_max_package_size_closes_only_that_connection(
    anyio_backend: str,
) -> None:
    worker = Worker("frame://127.0.0.1:0", name="frames")
    worker.on_message = lambda connection, payload: connection.send(payload)
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with (
            await anyio.connect_tcp("127.0.0.1", port) as bad,
            await anyio.connect_tcp("127.0.0.1", port) as good,
        ):
            await good.send(Frame.encode(b"before", None)[:6])  # half a frame, pending
            await bad.send((MAX_PACKAGE + 1).to_bytes(4, "big") + b"x" * 100)

            assert await receive_all(bad) == b""  # the server hung up without a reply
            assert statistics.protocol_errors == 1

            await good.send(Frame.encode(b"before", None)[6:] + Frame.encode(b"after", None))
            expected = Frame.encode(b"before", None) + Frame.encode(b"after", None)
            received = b""
            with anyio.fail_after(5):
                while len(received) < len(expected):
                    received += await good.receive()
            assert received == expected
            assert len(worker.connections) == 1


async def test_frame_of_exactly_max_package_size_is_delivered(anyio_backend: str) -> None:
    sizes: list[int] = []
    worker = Worker("frame://127.0.0.1:0", name="frames")

    def on_message(connection: TcpConnection, payload: bytes) -> None:
        sizes.append(len(payload))
        connection.send(b"ok")

    worker.on_message = on_message
    async with (
        serving(anyio_backend, worker),
        await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client,
    ):
        await client.send(Frame.encode(b"\x00" * (MAX_PACKAGE - 4), None))
        with anyio.fail_after(10):
            reply = await client.receive()
        assert reply == Frame.encode(b"ok", None)
    assert sizes == [MAX_PACKAGE - 4]
    assert statistics.protocol_errors == 0


# -- the connection's own read path ----------------------------------------------------


class _Transport:
    """Just enough of a transport for a TcpConnection fed by hand."""

    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _TextClone:
    """Text's codec under another identity, so the connection takes its generic path."""

    input = staticmethod(Text.input)
    decode = staticmethod(Text.decode)
    encode = staticmethod(Text.encode)


any_lines = st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=20)


@given(raw_lines=any_lines, cuts=cuts, crlf=st.booleans())
def test_the_connection_fast_text_path_matches_the_codec_contract(
    raw_lines: list[bytes], cuts: list[int], crlf: bool
) -> None:
    """TcpConnection scans text by offset instead of calling input/decode per line; it
    must deliver what the generic contract delivers, and stop at the same bad byte."""
    stream = b"".join(line + (b"\r\n" if crlf else b"\n") for line in raw_lines)
    outcomes = []
    for codec in (Text, _TextClone):
        connection = TcpConnection(None, codec)  # type: ignore[arg-type]
        got: list[str] = []
        connection.on_message = lambda _c, message, got=got: got.append(message)
        connection.connection_made(_Transport())
        for chunk in split_at(stream, cuts):
            if chunk:
                connection.data_received(chunk)
        outcomes.append((got, connection.status, connection.recv_buffer_size))
        connection.connection_lost(None)
    assert outcomes[0] == outcomes[1]


class _FrameClone:
    """Frame's codec under another identity, so the connection takes its generic path."""

    input = staticmethod(Frame.input)
    decode = staticmethod(Frame.decode)
    encode = staticmethod(Frame.encode)


@given(
    payloads=st.lists(st.binary(max_size=300), max_size=20),
    cuts=cuts,
    garbage=st.sampled_from([b"", b"\x00\x00\x00\x02", b"\x00\x00"]),
)
def test_the_connection_fast_frame_path_matches_the_codec_contract(
    payloads: list[bytes], cuts: list[int], garbage: bytes
) -> None:
    """Frames are cut by offset, not by copying the rest of the read per frame; the
    packages, the leftover and a bad header's outcome must match the generic path."""
    stream = b"".join(Frame.encode(p, None) for p in payloads) + garbage
    outcomes = []
    for codec in (Frame, _FrameClone):
        connection = TcpConnection(None, codec)  # type: ignore[arg-type]
        got: list[bytes] = []
        connection.on_message = lambda _c, message, got=got: got.append(message)
        connection.connection_made(_Transport())
        for chunk in split_at(stream, cuts):
            if chunk:
                connection.data_received(chunk)
        outcomes.append((got, connection.status, connection.recv_buffer_size))
        connection.connection_lost(None)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == payloads
