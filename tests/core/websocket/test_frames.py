"""WebSocket frames: RFC 6455's own examples, every protocol error as raw bytes, any split."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from workerman.core import ProtocolError
from workerman.core.websocket import _frames
from workerman.core.websocket._deflate import PerMessageDeflate
from workerman.core.websocket._frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    CloseCode,
    FrameDecoder,
    WebSocketError,
    close_code_allowed,
    encode_close,
    encode_frame,
    encode_message,
    parse_close,
)

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # the masking key of RFC 6455 section 5.7
MAX = 1 << 20


def masked(head: int, payload: bytes, key: bytes = KEY, length: bytes | None = None) -> bytes:
    """A client frame built by hand: ``head`` is the first byte."""
    if length is None:
        length = bytes([len(payload)]) if len(payload) < 126 else b""
    length = bytes([length[0] | 0x80]) + length[1:]
    data = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([head]) + length + key + data


def server_decoder(**kwargs: Any) -> FrameDecoder:
    return FrameDecoder(server_side=True, max_message_size=kwargs.pop("max_size", MAX), **kwargs)


def client_decoder(**kwargs: Any) -> FrameDecoder:
    return FrameDecoder(server_side=False, max_message_size=kwargs.pop("max_size", MAX), **kwargs)


def feed_bytewise(decoder: FrameDecoder, data: bytes) -> list[tuple[int, Any]]:
    events = []
    for i in range(len(data)):
        events += decoder.feed(data[i : i + 1])
    return events


# RFC 6455 section 5.7, byte for byte.


def test_rfc_single_frame_unmasked_text() -> None:
    assert encode_frame(OP_TEXT, b"Hello") == b"\x81\x05Hello"
    assert client_decoder().feed(b"\x81\x05Hello") == [(OP_TEXT, "Hello")]


def test_rfc_single_frame_masked_text() -> None:
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert server_decoder().feed(frame) == [(OP_TEXT, "Hello")]


def test_rfc_fragmented_unmasked_text() -> None:
    assert client_decoder().feed(b"\x01\x03Hel\x80\x02lo") == [(OP_TEXT, "Hello")]


def test_rfc_ping_and_masked_pong() -> None:
    assert client_decoder().feed(b"\x89\x05Hello") == [(OP_PING, b"Hello")]
    pong = b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert server_decoder().feed(pong) == [(OP_PONG, b"Hello")]


def test_rfc_256_bytes_and_64_kib_binary_length_forms() -> None:
    assert encode_frame(OP_BINARY, bytes(256))[:4] == b"\x82\x7e\x01\x00"
    assert encode_frame(OP_BINARY, bytes(65536))[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 124, 125, 126, 127, 65535, 65536, 100_000])
@pytest.mark.parametrize("mask", [False, True])
def test_round_trip_at_every_length_boundary(size: int, mask: bool) -> None:
    payload = os.urandom(size)
    frame = encode_frame(OP_BINARY, payload, mask=mask)
    head = 2 + (0 if size < 126 else 2 if size < 65536 else 8) + (4 if mask else 0)
    assert len(frame) == head + size
    decoder = server_decoder() if mask else client_decoder()
    assert decoder.feed(frame) == [(OP_BINARY, payload)]


def test_non_minimal_length_encoding_is_accepted() -> None:
    frame = b"\x82\x7e\x00\x03abc" + b"\x82\x7f" + (2).to_bytes(8, "big") + b"xy"
    assert client_decoder().feed(frame) == [(OP_BINARY, b"abc"), (OP_BINARY, b"xy")]


def test_control_frames_and_flags_on_the_wire() -> None:
    assert encode_frame(OP_PING, b"") == b"\x89\x00"
    assert encode_frame(OP_TEXT, b"a", fin=False) == b"\x01\x01a"
    assert encode_frame(OP_CONT, b"b") == b"\x80\x01b"
    assert encode_frame(OP_BINARY, b"z", rsv1=True) == b"\xc2\x01z"
    with pytest.raises(ValueError, match="control frame"):
        encode_frame(OP_PING, bytes(126))
    with pytest.raises(ValueError, match="control frame"):
        encode_frame(OP_CLOSE, b"", fin=False)


def test_masking_keys_are_fresh_and_never_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = {encode_frame(OP_TEXT, b"same", mask=True) for _ in range(100)}
    assert len(frames) == 100
    _frames._keys.clear()
    monkeypatch.setattr(os, "urandom", lambda n: bytes(n - 4) + b"\x01\x02\x03\x04")
    frame = encode_frame(OP_TEXT, b"", mask=True)
    assert frame == b"\x81\x80\x01\x02\x03\x04"
    _frames._keys.clear()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_the_parents_masking_keys() -> None:
    encode_frame(OP_TEXT, b"", mask=True)  # fill the pool
    parents_next = _frames._keys[-1]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, encode_frame(OP_TEXT, b"", mask=True)[2:6])
        os._exit(0)
    os.close(write_end)
    childs_key = os.read(read_end, 4)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(childs_key) == 4
    assert childs_key != parents_next


# Close frames.


def test_close_codes_allowed_on_the_wire() -> None:
    allowed = [c for c in range(5000) if close_code_allowed(c)]
    assert allowed == [1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)]


def test_encode_and_parse_close() -> None:
    assert encode_close() == b"\x03\xe8"
    assert encode_close(CloseCode.GOING_AWAY, "bye") == b"\x03\xe9bye"
    assert encode_close(CloseCode.NO_STATUS) == b""
    assert parse_close(b"") == (1005, "")
    assert parse_close(b"\x0f\xa0\xc3\xa9t\xc3\xa9") == (4000, "été")
    for code in (999, 1004, 1006, 1015, 2999, 5000):
        with pytest.raises(ValueError, match="may not be sent"):
            encode_close(code)


def test_a_long_close_reason_is_cut_between_characters() -> None:
    payload = encode_close(1000, "é" * 100)  # 200 bytes of UTF-8
    assert len(payload) == 2 + 122
    assert parse_close(payload) == (1000, "é" * 61)
    assert len(encode_close(1000, "a" * 200)) == 125


@pytest.mark.parametrize(
    ("payload", "code"),
    [(b"\x03", 1002), (b"\x03\xed", 1002), (b"\x00\x00", 1002), (b"\x03\xe8\xff", 1007)],
)
def test_bad_close_payloads(payload: bytes, code: int) -> None:
    with pytest.raises(WebSocketError) as caught:
        parse_close(payload)
    assert caught.value.code == code


# The decoder's behaviour.


def test_a_read_with_many_frames_gives_all_events_in_order() -> None:
    stream = (
        masked(0x81, b"one")
        + masked(0x82, b"\x00\x01")
        + masked(0x89, b"p")
        + masked(0x8A, b"")
        + masked(0x81, "ünï".encode())
    )
    assert server_decoder().feed(stream) == [
        (OP_TEXT, "one"),
        (OP_BINARY, b"\x00\x01"),
        (OP_PING, b"p"),
        (OP_PONG, b""),
        (OP_TEXT, "ünï"),
    ]


def test_control_frames_between_fragments_come_out_first() -> None:
    stream = (
        masked(0x02, b"ab")
        + masked(0x89, b"ping")
        + masked(0x00, b"cd")
        + masked(0x8A, b"pong")
        + masked(0x80, b"ef")
    )
    assert server_decoder().feed(stream) == [
        (OP_PING, b"ping"),
        (OP_PONG, b"pong"),
        (OP_BINARY, b"abcdef"),
    ]


def test_fragmented_text_may_split_a_character_between_frames() -> None:
    euro = "€".encode()  # 3 bytes
    stream = masked(0x01, euro[:1]) + masked(0x00, euro[1:2]) + masked(0x80, euro[2:])
    assert feed_bytewise(server_decoder(), stream) == [(OP_TEXT, "€")]


def test_empty_messages() -> None:
    stream = masked(0x81, b"") + masked(0x82, b"") + masked(0x01, b"") + masked(0x80, b"")
    assert server_decoder().feed(stream) == [(OP_TEXT, ""), (OP_BINARY, b""), (OP_TEXT, "")]


def test_bytes_after_a_partial_frame_wait_for_the_next_read() -> None:
    decoder = server_decoder()
    frame = masked(0x81, b"hello")
    assert decoder.feed(masked(0x81, b"a") + frame[:4]) == [(OP_TEXT, "a")]
    assert decoder.feed(frame[4:7]) == []
    assert decoder.feed(frame[7:] + frame[:1]) == [(OP_TEXT, "hello")]
    assert decoder.feed(frame[1:]) == [(OP_TEXT, "hello")]
    assert decoder.feed(b"") == []


def test_a_big_frame_in_many_reads() -> None:
    payload = os.urandom(300_000)
    frame = encode_frame(OP_BINARY, payload, mask=True)
    decoder = server_decoder()
    events = []
    for i in range(0, len(frame), 1000):
        events += decoder.feed(frame[i : i + 1000])
    assert events == [(OP_BINARY, payload)]


def test_nothing_is_decoded_after_the_close_frame() -> None:
    decoder = server_decoder()
    stream = masked(0x81, b"last") + masked(0x88, b"\x03\xe8done") + masked(0x81, b"ignored")
    assert decoder.feed(stream) == [(OP_TEXT, "last"), (OP_CLOSE, (1000, "done"))]
    assert decoder.feed(masked(0x81, b"more")) == []


def test_empty_close_frame_means_no_status() -> None:
    assert client_decoder().feed(b"\x88\x00") == [(OP_CLOSE, (1005, ""))]


# Every protocol error, as raw bytes, with the close code the endpoint must send.

PROTOCOL_ERRORS = {
    "unmasked client frame": (True, b"\x81\x05Hello", 1002),
    "masked server frame": (False, masked(0x81, b"Hello"), 1002),
    "RSV1 without an extension": (True, masked(0xC1, b"x"), 1002),
    "RSV2": (True, masked(0xA1, b"x"), 1002),
    "RSV3": (True, masked(0x91, b"x"), 1002),
    "reserved data opcode 3": (True, masked(0x83, b""), 1002),
    "reserved control opcode 0xB": (True, masked(0x8B, b""), 1002),
    "reserved opcode 0xF": (True, masked(0x8F, b""), 1002),
    "fragmented ping": (True, masked(0x09, b""), 1002),
    "fragmented close": (True, masked(0x08, b""), 1002),
    "ping over 125 bytes": (True, masked(0x89, bytes(126), length=b"\x7e\x00\x7e"), 1002),
    "continuation without a message": (True, masked(0x80, b"x"), 1002),
    "new message inside a fragmented one": (True, masked(0x01, b"a") + masked(0x81, b"b"), 1002),
    "binary inside a fragmented text": (True, masked(0x01, b"a") + masked(0x02, b"b"), 1002),
    "invalid UTF-8 text": (True, masked(0x81, b"\xff"), 1007),
    "truncated UTF-8 text": (True, masked(0x81, b"\xe2\x82"), 1007),
    "surrogate in UTF-8 text": (True, masked(0x81, b"\xed\xa0\x80"), 1007),
    "invalid UTF-8 in a final fragment": (True, masked(0x01, b"a") + masked(0x80, b"\xc0"), 1007),
    "truncated UTF-8 at the end of fragments": (
        True,
        masked(0x01, b"a") + masked(0x80, b"\xe2"),
        1007,
    ),
    "close with a 1-byte payload": (True, masked(0x88, b"\x03"), 1002),
    "close with code 1005": (True, masked(0x88, b"\x03\xed"), 1002),
    "close with code 999": (True, masked(0x88, b"\x03\xe7"), 1002),
    "close with a non-UTF-8 reason": (True, masked(0x88, b"\x03\xe8\xff"), 1007),
    "64-bit length with the top bit set": (False, b"\x82\x7f\x80" + bytes(7), 1002),
}


@pytest.mark.parametrize("case", PROTOCOL_ERRORS, ids=list(PROTOCOL_ERRORS))
def test_protocol_errors(case: str) -> None:
    server_side, data, code = PROTOCOL_ERRORS[case]
    decoder = FrameDecoder(server_side=server_side, max_message_size=MAX)
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(data)
    assert caught.value.code == code
    assert isinstance(caught.value, ProtocolError)
    assert decoder.feed(masked(0x81, b"after")) == []  # the decoder is finished


def test_invalid_utf8_in_a_first_fragment_fails_before_the_message_ends() -> None:
    with pytest.raises(WebSocketError) as caught:
        server_decoder().feed(masked(0x01, b"ok \xff"))
    assert caught.value.code == 1007


def test_an_oversized_length_fails_on_the_head_alone() -> None:
    decoder = server_decoder(max_size=1000)
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(b"\x82\xff" + (1 << 40).to_bytes(8, "big"))  # no key, no payload yet
    assert caught.value.code == 1009
    with pytest.raises(WebSocketError) as caught:
        server_decoder(max_size=1000).feed(b"\x82\xfe\x03\xe9")  # 1001 bytes announced
    assert caught.value.code == 1009


def test_a_message_exactly_at_the_limit_passes() -> None:
    decoder = server_decoder(max_size=1000)
    assert decoder.feed(encode_frame(OP_BINARY, bytes(1000), mask=True)) == [
        (OP_BINARY, bytes(1000))
    ]


def test_fragments_over_the_limit_fail_at_the_fragment_that_crosses_it() -> None:
    decoder = server_decoder(max_size=10)
    assert decoder.feed(masked(0x02, bytes(6))) == []
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(masked(0x80, bytes(5))[:2])  # the head says 5 more: 11 > 10
    assert caught.value.code == 1009


def test_an_error_carries_the_events_decoded_before_it() -> None:
    with pytest.raises(WebSocketError) as caught:
        server_decoder().feed(masked(0x81, b"fine") + masked(0x89, b"p") + b"\x81\x00")
    assert caught.value.events == [(OP_TEXT, "fine"), (OP_PING, b"p")]


# permessage-deflate in the decoder.


def deflate_pair(**params: Any) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    return PerMessageDeflate(server_side=False, **params), PerMessageDeflate(
        server_side=True, **params
    )


def test_compressed_messages_are_inflated() -> None:
    client, server = deflate_pair()
    decoder = server_decoder(deflate=server)
    for text in ("hello hello hello", "hello again", ""):
        frame = encode_message(OP_TEXT, text.encode(), mask=True, deflate=client)
        assert frame[0] == 0xC1
        assert decoder.feed(frame) == [(OP_TEXT, text)]


def test_a_compressed_message_in_fragments_with_a_ping_between() -> None:
    client, server = deflate_pair()
    body = client.compress(b"abc" * 1000)
    stream = (
        encode_frame(OP_BINARY, body[:10], fin=False, rsv1=True, mask=True)
        + encode_frame(OP_PING, b"!", mask=True)
        + encode_frame(OP_CONT, body[10:20], fin=False, mask=True)
        + encode_frame(OP_CONT, body[20:], mask=True)
    )
    events = feed_bytewise(server_decoder(deflate=server), stream)
    assert events == [(OP_PING, b"!"), (OP_BINARY, b"abc" * 1000)]


def test_uncompressed_messages_pass_when_deflate_was_negotiated() -> None:
    _, server = deflate_pair()
    assert server_decoder(deflate=server).feed(masked(0x81, b"plain")) == [(OP_TEXT, "plain")]


def test_compress_threshold_leaves_small_messages_alone() -> None:
    client = PerMessageDeflate(server_side=False, compress_threshold=100)
    assert encode_message(OP_TEXT, b"small", deflate=client) == b"\x81\x05small"
    assert encode_message(OP_TEXT, b"x" * 100, deflate=client)[0] == 0xC1


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (encode_frame(OP_TEXT, b"a", fin=False, mask=True) + masked(0xC0, b"b"), 1002),
        (masked(0xC9, b""), 1002),  # RSV1 on a ping
        (masked(0xC2, b"\xff\xff\xff\xff"), 1007),  # not deflate data
    ],
    ids=["RSV1 on a continuation", "RSV1 on a control frame", "corrupt deflate data"],
)
def test_deflate_protocol_errors(stream: bytes, code: int) -> None:
    _, server = deflate_pair()
    with pytest.raises(WebSocketError) as caught:
        server_decoder(deflate=server).feed(stream)
    assert caught.value.code == code


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    client, server = deflate_pair()
    bomb = client.compress(bytes(10_000_000))  # about 10 kB on the wire
    decoder = server_decoder(deflate=server, max_size=1_000_000)
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(encode_frame(OP_BINARY, bomb, rsv1=True, mask=True))
    assert caught.value.code == 1009


def test_compressed_fragments_share_one_size_limit() -> None:
    client, server = deflate_pair()
    body = client.compress(bytes(3000))
    decoder = server_decoder(deflate=server, max_size=2999)
    half = len(body) // 2
    with pytest.raises(WebSocketError) as caught:
        decoder.feed(
            encode_frame(OP_BINARY, body[:half], fin=False, rsv1=True, mask=True)
            + encode_frame(OP_CONT, body[half:], mask=True)
        )
    assert caught.value.code == 1009


# Any split of the stream gives the same events (Hypothesis).


@st.composite
def conversations(draw: st.DrawFn) -> tuple[bool, bool, list[tuple[int, Any]], bytes]:
    """A stream of frames and the events it must decode to."""
    mask = draw(st.booleans())
    compress = draw(st.booleans())
    sender = PerMessageDeflate(server_side=not mask) if compress else None
    stream: list[bytes] = []
    events: list[tuple[int, Any]] = []
    for _ in range(draw(st.integers(1, 6))):
        event: str | bytes
        if draw(st.booleans()):
            text = draw(st.text(max_size=300))
            opcode, payload, event = OP_TEXT, text.encode(), text
        else:
            payload = draw(st.binary(max_size=300))
            opcode, event = OP_BINARY, payload
        rsv1 = sender is not None and draw(st.booleans())
        wire = sender.compress(payload) if sender is not None and rsv1 else payload
        cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=3)))
        pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
        for i, piece in enumerate(pieces):
            stream.append(
                encode_frame(
                    OP_CONT if i else opcode,
                    piece,
                    fin=i == len(pieces) - 1,
                    rsv1=rsv1 and not i,
                    mask=mask,
                )
            )
            if i == len(pieces) - 1:
                events.append((opcode, event))
            if draw(st.integers(0, 3)) == 0:
                ping = draw(st.binary(max_size=125))
                stream.append(encode_frame(OP_PING, ping, mask=mask))
                events.append((OP_PING, ping))
    return mask, compress, events, b"".join(stream)


def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    for a, b in zip([0, *points], [*points, len(data)], strict=True):
        yield data[a:b]


@settings(max_examples=300, deadline=None)
@given(conversations(), st.lists(st.integers(0, 5000), max_size=30))
def test_any_split_of_the_stream_decodes_to_the_same_events(
    conversation: tuple[bool, bool, list[tuple[int, Any]], bytes], cuts: list[int]
) -> None:
    mask, compress, expected, stream = conversation
    receiver = PerMessageDeflate(server_side=mask) if compress else None
    decoder = FrameDecoder(server_side=mask, max_message_size=MAX, deflate=receiver)
    events = []
    for chunk in split(stream, cuts):
        events += decoder.feed(chunk)
    assert events == expected


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([OP_TEXT, OP_BINARY, OP_PING]), st.binary(max_size=70_000), st.booleans())
def test_encode_then_decode_round_trips(opcode: int, payload: bytes, mask: bool) -> None:
    if opcode == OP_TEXT:
        payload = payload.decode(errors="replace").encode()
    if opcode == OP_PING:
        payload = payload[:125]
    event = payload.decode() if opcode == OP_TEXT else payload
    decoder = FrameDecoder(server_side=mask, max_message_size=MAX)
    assert decoder.feed(encode_frame(opcode, payload, mask=mask)) == [(opcode, event)]


# Cross-checks with the websockets library's own frame codec.


def parse_with_websockets(data: bytes, *, mask: bool, extensions: Any = None) -> list[Frame]:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames: list[Frame] = []
    while True:
        at_eof = reader.at_eof()
        try:
            next(at_eof)
        except StopIteration as done:
            if done.value:
                return frames
        parser = Frame.parse(reader.read_exact, mask=mask, extensions=extensions)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:  # pragma: no cover - the data ran out mid-frame
            raise AssertionError("incomplete frame")


@pytest.mark.parametrize("mask", [False, True])
def test_websockets_reads_our_frames(mask: bool) -> None:
    payloads = [b"", b"x", os.urandom(125), os.urandom(126), os.urandom(70_000)]
    stream = b"".join(encode_frame(OP_BINARY, p, mask=mask) for p in payloads)
    stream += encode_frame(OP_CLOSE, encode_close(1001, "away"), mask=mask)
    frames = parse_with_websockets(stream, mask=mask)
    assert [bytes(f.data) for f in frames[:-1]] == payloads
    assert frames[-1].opcode is Opcode.CLOSE
    assert bytes(frames[-1].data) == b"\x03\xe9away"


@pytest.mark.parametrize("mask", [False, True])
def test_we_read_frames_of_websockets(mask: bool) -> None:
    text = "ünïcödé " * 50
    stream = (
        Frame(Opcode.TEXT, text.encode()).serialize(mask=mask)
        + Frame(Opcode.BINARY, b"\x00" * 70_000, fin=False).serialize(mask=mask)
        + Frame(Opcode.PING, b"hi").serialize(mask=mask)
        + Frame(Opcode.CONT, b"\x01").serialize(mask=mask)
        + Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=mask)
    )
    decoder = FrameDecoder(server_side=mask, max_message_size=MAX)
    assert feed_in(decoder, stream, 777) == [
        (OP_TEXT, text),
        (OP_PING, b"hi"),
        (OP_BINARY, b"\x00" * 70_000 + b"\x01"),
        (OP_CLOSE, (1000, "")),
    ]


def feed_in(decoder: FrameDecoder, data: bytes, size: int) -> list[tuple[int, Any]]:
    events = []
    for i in range(0, len(data), size):
        events += decoder.feed(data[i : i + size])
    return events
