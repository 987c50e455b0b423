"""The opening handshake (RFC 6455 section 4), both sides, and against the websockets library."""

from __future__ import annotations

import base64

import h11
import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from workerman.core.websocket._deflate import client_accept, client_offer, server_accept
from workerman.core.websocket._frames import WebSocketError
from workerman.core.websocket._handshake import (
    GUID,
    HandshakeError,
    accept_key,
    check_client_request,
    check_server_response,
    client_request,
    new_key,
    parse_response_head,
    pick_subprotocol,
    server_response,
)

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
REQUEST = {
    "host": "server.example.com",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": SAMPLE_KEY,
    "sec-websocket-version": "13",
}


def test_accept_key_of_the_rfc_sample() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(SAMPLE_KEY) == SAMPLE_ACCEPT


def test_new_keys_are_16_random_bytes() -> None:
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


# The server checks the request.


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"upgrade": "WebSocket"},
        {"upgrade": "h2c, websocket"},
        {"connection": "keep-alive, Upgrade"},
        {"connection": "UPGRADE"},
        {"sec-websocket-key": f" {SAMPLE_KEY} "},
    ],
)
def test_valid_requests_give_their_key(changes: dict[str, str]) -> None:
    headers = {**REQUEST, **changes}
    assert check_client_request("GET", "HTTP/1.1", headers) == SAMPLE_KEY


def test_later_http_versions_are_fine() -> None:
    assert check_client_request("GET", "1.1", REQUEST) == SAMPLE_KEY
    assert check_client_request("GET", "HTTP/2", REQUEST) == SAMPLE_KEY


@pytest.mark.parametrize(
    ("method", "version", "changes"),
    [
        ("POST", "HTTP/1.1", {}),
        ("GET", "HTTP/1.0", {}),
        ("GET", "garbage", {}),
        ("GET", "HTTP/1.1", {"upgrade": None}),
        ("GET", "HTTP/1.1", {"upgrade": "websockets"}),
        ("GET", "HTTP/1.1", {"connection": None}),
        ("GET", "HTTP/1.1", {"connection": "keep-alive"}),
        ("GET", "HTTP/1.1", {"sec-websocket-key": None}),
        ("GET", "HTTP/1.1", {"sec-websocket-key": "not base64!"}),
        ("GET", "HTTP/1.1", {"sec-websocket-key": base64.b64encode(bytes(15)).decode()}),
        ("GET", "HTTP/1.1", {"sec-websocket-key": base64.b64encode(bytes(17)).decode()}),
        ("GET", "HTTP/1.1", {"sec-websocket-key": f"{SAMPLE_KEY}, {SAMPLE_KEY}"}),
        ("GET", "HTTP/1.1", {"sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ"}),  # no padding
    ],
)
def test_bad_requests_get_400(method: str, version: str, changes: dict[str, str | None]) -> None:
    headers = {k: v for k, v in {**REQUEST, **changes}.items() if v is not None}
    with pytest.raises(HandshakeError) as caught:
        check_client_request(method, version, headers)
    assert caught.value.status == 400
    assert isinstance(caught.value, WebSocketError)


@pytest.mark.parametrize("version", [None, "8", "13, 8", "14"])
def test_other_versions_get_426_naming_13(version: str | None) -> None:
    headers = {k: v for k, v in REQUEST.items() if k != "sec-websocket-version"}
    if version is not None:
        headers["sec-websocket-version"] = version
    with pytest.raises(HandshakeError) as caught:
        check_client_request("GET", "HTTP/1.1", headers)
    assert caught.value.status == 426
    assert caught.value.headers == [("Sec-WebSocket-Version", "13")]


def test_subprotocol_follows_the_servers_preference() -> None:
    assert pick_subprotocol("chat, superchat", ["superchat", "chat"]) == "superchat"
    assert pick_subprotocol("chat,superchat", ["chat"]) == "chat"
    assert pick_subprotocol("soap", ["chat"]) is None
    assert pick_subprotocol(None, ["chat"]) is None
    assert pick_subprotocol("", ["chat"]) is None


# The server answers.


def test_server_response_to_the_rfc_sample() -> None:
    assert server_response(SAMPLE_KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Server: workerman\r\n"
        b"\r\n"
    )


def test_server_response_with_subprotocol_extensions_and_headers() -> None:
    response = server_response(
        SAMPLE_KEY,
        subprotocol="chat",
        extensions="permessage-deflate",
        headers=[("Server", "mine"), ("Set-Cookie", "a=b")],
    )
    status, _, headers = parse_response_head(response)
    assert status == 101
    assert headers["sec-websocket-protocol"] == "chat"
    assert headers["sec-websocket-extensions"] == "permessage-deflate"
    assert headers["server"] == "mine"
    assert headers["set-cookie"] == "a=b"


@pytest.mark.parametrize(
    "header",
    [("X-Evil", "a\r\nInjected: yes"), ("X-Evil", "a\nb"), ("X-Evil", "a\x00"), ("Bad Name", "v")],
)
def test_server_response_refuses_header_injection(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="header"):
        server_response(SAMPLE_KEY, headers=[header])
    with pytest.raises(ValueError, match="header"):
        server_response(SAMPLE_KEY, subprotocol="chat\r\nX: y")


# The client's request.


def parse_request(raw: bytes) -> tuple[str, str, dict[str, str]]:
    """method, target and joined lower-cased headers, as h11 (a strict HTTP parser) reads them."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(raw)
    event = connection.next_event()
    assert isinstance(event, h11.Request)
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode()
        headers[key] = f"{headers[key]}, {value.decode()}" if key in headers else value.decode()
    return event.method.decode(), event.target.decode(), headers


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [
        ("example.com", 80, False, "example.com"),
        ("example.com", 443, True, "example.com"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 8080, True, "example.com:8080"),
        ("::1", 80, False, "[::1]"),
        ("::1", 9000, False, "[::1]:9000"),
        ("[::1]", 9000, False, "[::1]:9000"),
    ],
)
def test_host_leaves_out_the_default_port(
    host: str, port: int, secure: bool, expected: str
) -> None:
    _, _, headers = parse_request(client_request(host, port, "/", new_key(), secure=secure))
    assert headers["host"] == expected


def test_client_request_is_valid_http_and_a_valid_upgrade() -> None:
    key = new_key()
    raw = client_request(
        "example.com",
        80,
        "/chat?room=1",
        key,
        secure=False,
        origin="http://example.com",
        subprotocols=["chat", "superchat"],
        extensions=client_offer(),
        headers=[("Authorization", "Bearer x")],
    )
    method, target, headers = parse_request(raw)
    assert (method, target) == ("GET", "/chat?room=1")
    assert check_client_request(method, "HTTP/1.1", headers) == key
    assert headers["origin"] == "http://example.com"
    assert headers["sec-websocket-protocol"] == "chat, superchat"
    assert headers["sec-websocket-extensions"] == "permessage-deflate; client_max_window_bits"
    assert headers["authorization"] == "Bearer x"


def test_client_request_details() -> None:
    raw = client_request("h", 80, "", "k", secure=False, headers=[("Host", "other")])
    assert raw.startswith(b"GET / HTTP/1.1\r\n")
    assert raw.count(b"Host:") == 1
    assert b"Host: other\r\n" in raw
    with pytest.raises(ValueError, match="path"):
        client_request("h", 80, "/a b", "k", secure=False)
    with pytest.raises(ValueError, match="header"):
        client_request("h", 80, "/", "k", secure=False, origin="x\r\ny")


# The client checks the response.

RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)


def test_parse_response_head() -> None:
    status, reason, headers = parse_response_head(RESPONSE)
    assert (status, reason) == (101, "Switching Protocols")
    assert headers["sec-websocket-accept"] == SAMPLE_ACCEPT
    status, reason, headers = parse_response_head(
        b"HTTP/1.1 403\nX-A: 1\nx-a:  2 \n"  # bare LF, no reason, a repeated header
    )
    assert (status, reason, headers) == (403, "", {"x-a": "1, 2"})
    _, _, headers = parse_response_head(RESPONSE + b"\x81\x02hi: not a header")
    assert "\x81\x02hi" not in headers


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 1O1 OK\r\n",
        b"HTTP/1.1 101 OK\r\nno colon\r\n",
        b"HTTP/1.1 101 OK\r\nX: 1\r\n folded\r\n",
        b"HTTP/1.1 101 OK\r\nBad Name: 1\r\n",
    ],
)
def test_garbage_responses(head: bytes) -> None:
    with pytest.raises(HandshakeError) as caught:
        parse_response_head(head)
    assert caught.value.status == 0


def test_check_server_response_gives_the_subprotocol() -> None:
    status, _, headers = parse_response_head(RESPONSE)
    assert check_server_response(status, headers, SAMPLE_KEY, subprotocols=["chat"]) == "chat"
    del headers["sec-websocket-protocol"]
    assert check_server_response(status, headers, SAMPLE_KEY, subprotocols=["chat"]) is None


@pytest.mark.parametrize(
    ("status", "changes"),
    [
        (200, {}),
        (403, {}),
        (101, {"upgrade": None}),
        (101, {"upgrade": "h2c"}),
        (101, {"connection": None}),
        (101, {"sec-websocket-accept": None}),
        (101, {"sec-websocket-accept": accept_key("another key")}),
        (101, {"sec-websocket-protocol": "soap"}),
        (101, {"sec-websocket-protocol": "chat, soap"}),
        (101, {"sec-websocket-extensions": "permessage-deflate"}),
    ],
)
def test_bad_server_responses(status: int, changes: dict[str, str | None]) -> None:
    _, _, headers = parse_response_head(RESPONSE)
    headers = {k: v for k, v in {**headers, **changes}.items() if v is not None}
    with pytest.raises(HandshakeError) as caught:
        check_server_response(status, headers, SAMPLE_KEY, subprotocols=["chat"])
    assert caught.value.status == status


def test_extensions_are_fine_once_offered() -> None:
    _, _, headers = parse_response_head(RESPONSE)
    headers["sec-websocket-extensions"] = "permessage-deflate"
    assert (
        check_server_response(
            101, headers, SAMPLE_KEY, subprotocols=["chat"], extensions_offered=True
        )
        == "chat"
    )


# Against the websockets library's sans-IO handshake.


def test_our_server_side_accepts_the_websockets_client() -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com:8000/chat?x=1"),
        subprotocols=[Subprotocol("chat"), Subprotocol("superchat")],
        extensions=[ClientPerMessageDeflateFactory()],
    )
    client.send_request(client.connect())
    [raw] = client.data_to_send()
    method, target, headers = parse_request(raw)
    assert target == "/chat?x=1"
    key = check_client_request(method, "HTTP/1.1", headers)
    subprotocol = pick_subprotocol(headers.get("sec-websocket-protocol"), ["superchat", "chat"])
    accepted = server_accept(headers["sec-websocket-extensions"])
    assert accepted is not None
    client.receive_data(server_response(key, subprotocol=subprotocol, extensions=accepted[0]))
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert client.subprotocol == "superchat"
    assert [e.name for e in client.extensions] == ["permessage-deflate"]


def test_our_client_side_connects_to_the_websockets_server() -> None:
    server = ServerProtocol(
        subprotocols=[Subprotocol("superchat"), Subprotocol("chat")],
        extensions=[ServerPerMessageDeflateFactory()],
    )
    key = new_key()
    offer = client_offer()
    server.receive_data(
        client_request(
            "example.com", 80, "/", key, secure=False, subprotocols=["chat"], extensions=offer
        )
    )
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    assert server.state is State.OPEN
    [raw] = server.data_to_send()
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert rest == b""
    status, _, headers = parse_response_head(head)
    chosen = check_server_response(
        status, headers, key, subprotocols=["chat"], extensions_offered=True
    )
    assert chosen == "chat"
    extension = client_accept(headers["sec-websocket-extensions"])
    assert not extension.server_side


def test_the_websockets_server_refusing_our_client_is_a_handshake_error() -> None:
    server = ServerProtocol()
    key = new_key()
    server.receive_data(client_request("h", 80, "/", key, secure=False))
    server.events_received()
    server.send_response(server.reject(403, "go away"))
    head = b"".join(server.data_to_send()).partition(b"\r\n\r\n")[0]
    status, reason, headers = parse_response_head(head)
    assert (status, reason) == (403, "Forbidden")
    with pytest.raises(HandshakeError) as caught:
        check_server_response(status, headers, key, subprotocols=[])
    assert caught.value.status == 403
