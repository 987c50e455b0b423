"""permessage-deflate (RFC 7692): compression, limits, negotiation, and interop with websockets."""

from __future__ import annotations

import os
import zlib
from typing import Any

import pytest
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.headers import build_extension, parse_extension

from workerman.core.websocket._deflate import (
    PerMessageDeflate,
    client_accept,
    client_offer,
    server_accept,
)
from workerman.core.websocket._frames import (
    OP_BINARY,
    OP_TEXT,
    FrameDecoder,
    WebSocketError,
    encode_message,
)

from .test_frames import parse_with_websockets

TEXT = b"The quick brown fox jumps over the lazy dog. " * 20


def pair(**params: Any) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """(client, server) sides of one negotiated extension."""
    return PerMessageDeflate(server_side=False, **params), PerMessageDeflate(
        server_side=True, **params
    )


def error_code(call: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(WebSocketError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# Compression itself.


def test_compressed_messages_round_trip() -> None:
    client, server = pair()
    for message in (TEXT, b"", b"x", os.urandom(5000), TEXT * 10):
        assert server.decompress(client.compress(message), 1 << 20) == message


def test_the_flush_tail_is_left_off() -> None:
    client, _ = pair()
    assert client.compress(b"") == b"\x00"  # RFC 7692 7.2.3.6: an empty message
    raw = zlib.compressobj(wbits=-15)
    assert client.compress(b"abc") + b"\x00\x00\xff\xff" == raw.compress(b"abc") + raw.flush(
        zlib.Z_SYNC_FLUSH
    )


def test_context_takeover_makes_a_repeated_message_cheaper() -> None:
    client, server = pair()
    first = client.compress(TEXT)
    second = client.compress(TEXT)
    assert len(second) < len(first) // 2
    assert server.decompress(first, 1 << 20) == TEXT
    assert server.decompress(second, 1 << 20) == TEXT


@pytest.mark.parametrize("side", ["client", "server"])
def test_no_context_takeover_compresses_each_message_alone(side: str) -> None:
    client, server = pair(**{f"{side}_no_context_takeover": True})
    sender = client if side == "client" else server
    receiver = server if side == "client" else client
    first, second = sender.compress(TEXT), sender.compress(TEXT)
    assert first == second
    assert receiver.decompress(first, 1 << 20) == TEXT
    assert receiver.decompress(second, 1 << 20) == TEXT


def test_an_idle_extension_holds_no_zlib_state() -> None:
    client, server = pair(client_no_context_takeover=True, server_no_context_takeover=True)
    assert server.decompress(client.compress(TEXT), 1 << 20) == TEXT
    assert client._compressor is None
    assert server._decompressor is None


def test_size_limit_is_exact() -> None:
    client, server = pair()
    for size in (100, 5000):  # below and above the single-call threshold
        body = client.compress(bytes(size))
        assert server.decompress(body, size) == bytes(size)
        client2, server2 = pair()
        assert error_code(server2.decompress, client2.compress(bytes(size)), size - 1) == 1009


def test_fragments_inflate_one_by_one() -> None:
    client, server = pair()
    body = client.compress(TEXT)
    half = len(body) // 2
    out = server.decompress(body[:half], 1 << 20, fin=False)
    out += server.decompress(body[half:], (1 << 20) - len(out), fin=True)
    assert out == TEXT


def test_corrupt_data_is_invalid_data() -> None:
    _, server = pair()
    assert error_code(server.decompress, b"\xff\xff\xff\xff", 1000) == 1007


def test_a_peer_that_ends_its_stream_with_bfinal_is_understood() -> None:
    _, server = pair()
    for message in (b"first", b"second"):
        finished = zlib.compressobj(wbits=-15)
        body = finished.compress(message) + finished.flush(zlib.Z_FINISH)
        assert server.decompress(body, 1000) == message
    finished = zlib.compressobj(wbits=-15)
    body = finished.compress(b"x") + finished.flush(zlib.Z_FINISH) + b"junk"
    assert error_code(server.decompress, body, 1000) == 1007


def test_a_negotiated_8_bit_window_is_honoured_with_zlibs_9() -> None:
    client = PerMessageDeflate(server_side=False, client_max_window_bits=8)
    words = [os.urandom(3).hex().encode() for _ in range(40)]
    message = b" ".join(words[i % 40] for i in range(0, 4000, 7))
    peer = zlib.decompressobj(wbits=-8)  # what a server that granted 8 inflates with
    for _ in range(3):
        assert peer.decompress(client.compress(message) + b"\x00\x00\xff\xff") == message


def test_a_small_memory_setting_still_interoperates() -> None:
    accepted = server_accept(
        "permessage-deflate; client_max_window_bits", server_max_window_bits=12, mem_level=5
    )
    assert accepted is not None
    reply, server = accepted
    client = client_accept(reply)
    for _ in range(3):
        assert client.decompress(server.compress(TEXT), 1 << 20) == TEXT
    with pytest.raises(ValueError, match="mem_level"):
        PerMessageDeflate(server_side=True, mem_level=10)


@pytest.mark.parametrize("bits", [7, 16])
def test_window_bits_out_of_range_are_refused(bits: int) -> None:
    with pytest.raises(ValueError, match="between 8 and 15"):
        PerMessageDeflate(server_side=True, server_max_window_bits=bits)
    with pytest.raises(ValueError, match="between 8 and 15"):
        client_offer(server_max_window_bits=bits)


# The server's side of the negotiation.


@pytest.mark.parametrize(
    ("offer", "config", "reply"),
    [
        ("permessage-deflate", {}, "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", {}, "permessage-deflate"),
        (
            "permessage-deflate; client_max_window_bits",
            {"client_max_window_bits": 10},
            "permessage-deflate; client_max_window_bits=10",
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            {},
            "permessage-deflate; client_max_window_bits=12",
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            {"client_max_window_bits": 9},
            "permessage-deflate; client_max_window_bits=9",
        ),
        ("permessage-deflate", {"client_max_window_bits": 9}, "permessage-deflate"),
        (
            "permessage-deflate; server_max_window_bits=10",
            {},
            "permessage-deflate; server_max_window_bits=10",
        ),
        (
            "permessage-deflate; server_max_window_bits=14",
            {"server_max_window_bits": 12},
            "permessage-deflate; server_max_window_bits=12",
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            {},
            "permessage-deflate; server_max_window_bits=15",
        ),
        (
            "permessage-deflate",
            {"server_max_window_bits": 11},
            "permessage-deflate; server_max_window_bits=11",
        ),
        (
            "permessage-deflate; server_no_context_takeover",
            {},
            "permessage-deflate; server_no_context_takeover",
        ),
        (
            "permessage-deflate",
            {"server_no_context_takeover": True, "client_no_context_takeover": True},
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        ("permessage-deflate; client_no_context_takeover", {}, "permessage-deflate"),
        (
            'permessage-deflate; server_max_window_bits="10"',
            {},
            "permessage-deflate; server_max_window_bits=10",
        ),
        ("PerMessage-Deflate ;Client_Max_Window_Bits", {}, "permessage-deflate"),
    ],
)
def test_server_accepts_an_offer(offer: str, config: dict[str, Any], reply: str) -> None:
    accepted = server_accept(offer, **config)
    assert accepted is not None
    assert accepted[0] == reply


def test_server_state_follows_its_reply() -> None:
    accepted = server_accept(
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11;"
        " server_no_context_takeover"
    )
    assert accepted is not None
    extension = accepted[1]
    assert extension.server_side
    assert extension.server_max_window_bits == 10
    assert extension.client_max_window_bits == 11
    assert extension.server_no_context_takeover
    assert not extension.client_no_context_takeover


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=1x",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; unknown_param",
        "x-webkit-deflate-frame",
        "",
        "permessage-deflate; =10",
        'permessage-deflate; server_max_window_bits="10',
        "permessage-deflate x",
    ],
)
def test_server_declines_invalid_offers(offer: str) -> None:
    assert server_accept(offer) is None


def test_server_takes_the_first_acceptable_offer() -> None:
    header = (
        "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=7,"
        " permessage-deflate; server_max_window_bits=9, permessage-deflate"
    )
    accepted = server_accept(header)
    assert accepted is not None
    assert accepted[0] == "permessage-deflate; server_max_window_bits=9"


# The client's side.


def test_client_offers() -> None:
    assert client_offer() == "permessage-deflate; client_max_window_bits"
    assert client_offer(client_max_window_bits=False) == "permessage-deflate"
    assert client_offer(
        client_max_window_bits=12,
        server_max_window_bits=10,
        client_no_context_takeover=True,
        server_no_context_takeover=True,
    ) == (
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover;"
        " server_max_window_bits=10; client_max_window_bits=12"
    )


def test_client_accepts_valid_replies() -> None:
    extension = client_accept("permessage-deflate")
    assert (extension.server_max_window_bits, extension.client_max_window_bits) == (15, 15)
    extension = client_accept(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
        " server_max_window_bits=9; client_max_window_bits=10"
    )
    assert not extension.server_side
    assert extension.server_no_context_takeover
    assert extension.client_no_context_takeover
    assert (extension.server_max_window_bits, extension.client_max_window_bits) == (9, 10)
    extension = client_accept("permessage-deflate", client_max_window_bits=11)
    assert extension.client_max_window_bits == 11  # our own announced cap holds
    extension = client_accept("permessage-deflate", client_no_context_takeover=True)
    assert extension.client_no_context_takeover


@pytest.mark.parametrize(
    ("reply", "offer", "code"),
    [
        ("permessage-deflate", {"server_no_context_takeover": True}, 1010),
        ("permessage-deflate", {"server_max_window_bits": 10}, 1010),
        ("permessage-deflate; server_max_window_bits=12", {"server_max_window_bits": 10}, 1010),
        ("permessage-deflate; client_max_window_bits=10", {"client_max_window_bits": False}, 1010),
        ("permessage-deflate; client_max_window_bits=12", {"client_max_window_bits": 10}, 1010),
        ("x-webkit-deflate-frame", {}, 1010),
        ("permessage-deflate, permessage-deflate", {}, 1010),
        ("permessage-deflate, x-other", {}, 1010),
        ("permessage-deflate; client_max_window_bits", {}, 1002),
        ("permessage-deflate; server_max_window_bits=16", {}, 1002),
        ("permessage-deflate; mystery", {}, 1002),
        ("permessage-deflate; =", {}, 1002),
    ],
)
def test_client_refuses_replies_that_do_not_answer_its_offer(
    reply: str, offer: dict[str, Any], code: int
) -> None:
    assert error_code(client_accept, reply, **offer) == code


# Interop with the websockets library: negotiation, then messages both ways.


def exchange(ours: PerMessageDeflate, theirs: Any) -> None:
    """Messages each way, framed, some fragmented, so that context takeover matters."""
    we_are_server = ours.server_side
    decoder = FrameDecoder(server_side=we_are_server, max_message_size=1 << 20, deflate=ours)
    for i in range(3):
        message = TEXT + str(i).encode()
        wire = Frame(Opcode.TEXT, message).serialize(mask=we_are_server, extensions=[theirs])
        assert wire[0] == 0xC1
        assert decoder.feed(wire) == [(OP_TEXT, message.decode())]
        fragments = Frame(Opcode.BINARY, message[:100], fin=False).serialize(
            mask=we_are_server, extensions=[theirs]
        ) + Frame(Opcode.CONT, message[100:]).serialize(mask=we_are_server, extensions=[theirs])
        assert decoder.feed(fragments) == [(OP_BINARY, message)]
        ours_wire = encode_message(OP_BINARY, message, mask=not we_are_server, deflate=ours)
        frames = parse_with_websockets(ours_wire, mask=not we_are_server, extensions=[theirs])
        assert bytes(frames[0].data) == message


SETTINGS = [
    {},
    {"server_no_context_takeover": True},
    {"client_no_context_takeover": True},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 10, "client_max_window_bits": 9},
    {"server_max_window_bits": 15, "client_max_window_bits": 15},
]


@pytest.mark.parametrize("params", SETTINGS)
def test_our_server_with_the_websockets_client(params: dict[str, Any]) -> None:
    factory = ClientPerMessageDeflateFactory(**params)
    offer = build_extension([(factory.name, factory.get_request_params())])
    accepted = server_accept(offer)
    assert accepted is not None
    reply, ours = accepted
    [(_, reply_params)] = parse_extension(reply)
    theirs = factory.process_response_params(reply_params, [])
    exchange(ours, theirs)


@pytest.mark.parametrize("params", SETTINGS)
def test_our_client_with_the_websockets_server(params: dict[str, Any]) -> None:
    offer = client_offer(**params)
    [(name, offer_params)] = parse_extension(offer)
    reply_params, theirs = ServerPerMessageDeflateFactory().process_request_params(offer_params, [])
    ours = client_accept(build_extension([(name, reply_params)]), **params)
    exchange(ours, theirs)


def test_our_server_restricting_the_websockets_client() -> None:
    factory = ClientPerMessageDeflateFactory()
    offer = build_extension([(factory.name, factory.get_request_params())])
    accepted = server_accept(
        offer,
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=9,
        client_max_window_bits=9,
    )
    assert accepted is not None
    reply, ours = accepted
    [(_, reply_params)] = parse_extension(reply)
    exchange(ours, factory.process_response_params(reply_params, []))
