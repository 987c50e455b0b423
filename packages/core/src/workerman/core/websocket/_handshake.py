"""The WebSocket opening handshake (RFC 6455 section 4), both sides, over bytes and dicts.

The client sends an HTTP/1.1 GET with ``Upgrade: websocket``, ``Connection: Upgrade``,
a random 16-byte ``Sec-WebSocket-Key`` in base64 and ``Sec-WebSocket-Version: 13``. The
server answers ``101 Switching Protocols`` with ``Sec-WebSocket-Accept``, the base64
SHA-1 of the key joined to a fixed GUID: proof that it read this very request, not a
cached one. Either side may name a subprotocol and extensions.

Header maps given to these functions have lower-cased names, and the values of a
repeated header joined with ", ", as HTTP allows for list-valued headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence

from ._frames import CloseCode, WebSocketError

__all__ = [
    "GUID",
    "HandshakeError",
    "accept_key",
    "check_client_request",
    "check_server_response",
    "client_request",
    "new_key",
    "parse_response_head",
    "pick_subprotocol",
    "server_response",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_VERSION = re.compile(r"(?:HTTP/)?(\d+)(?:\.(\d+))?\Z")
_STATUS_LINE = re.compile(r"HTTP/1\.[01] (\d{3})(?: (.*))?\Z")
_FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")
_FORBIDDEN_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")


class HandshakeError(WebSocketError):
    """The opening handshake failed; no WebSocket connection exists.

    Attributes:
        status: on the server, the HTTP status to answer with (400, or 426 for a
            version other than 13); on the client, the status the server answered
            with, or 0 when its response was not HTTP.
        headers: response headers to send with the refusal (the server's 426 names
            the version it speaks).
    """

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(CloseCode.PROTOCOL_ERROR, reason)
        self.status = status
        self.headers = list(headers)


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value that answers the Sec-WebSocket-Key ``key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key() -> str:
    """A fresh random Sec-WebSocket-Key: 16 random bytes in base64."""
    return base64.b64encode(os.urandom(16)).decode()


def _tokens(value: str | None) -> list[str]:
    """The lower-cased elements of a comma-separated header value."""
    if not value:
        return []
    return [item.strip().lower() for item in value.split(",") if item.strip()]


def check_client_request(method: str, version: str, headers: Mapping[str, str]) -> str:
    """Check that a request asks for a WebSocket connection; return its Sec-WebSocket-Key.

    Args:
        method: the request method.
        version: the HTTP version, as ``"HTTP/1.1"`` or ``"1.1"``.
        headers: lower-cased names to values.

    Raises:
        HandshakeError: status 400 for a request that is not a valid upgrade, 426
            (with ``Sec-WebSocket-Version: 13``) for a missing or other version.
    """
    if method != "GET":
        raise HandshakeError(400, f"a WebSocket handshake is a GET, not {method}")
    match = _VERSION.match(version)
    if match is None or (int(match[1]), int(match[2] or 0)) < (1, 1):
        raise HandshakeError(400, f"a WebSocket handshake needs HTTP/1.1, not {version}")
    if "websocket" not in _tokens(headers.get("upgrade")):
        raise HandshakeError(400, "missing Upgrade: websocket")
    if "upgrade" not in _tokens(headers.get("connection")):
        raise HandshakeError(400, "missing Connection: Upgrade")
    if headers.get("sec-websocket-version", "").strip() != "13":
        raise HandshakeError(
            426, "unsupported Sec-WebSocket-Version", [("Sec-WebSocket-Version", "13")]
        )
    key = headers.get("sec-websocket-key", "").strip()
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise HandshakeError(400, "Sec-WebSocket-Key is not 16 bytes in base64")
    return key


def pick_subprotocol(offered_header: str | None, supported: Sequence[str]) -> str | None:
    """The first of ``supported`` (the server's order of preference) that the client offered.

    Subprotocol names are compared exactly, as RFC 6455 defines them as tokens.
    """
    if not offered_header:
        return None
    offered = {item.strip() for item in offered_header.split(",")}
    for name in supported:
        if name in offered:
            return name
    return None


def _header_lines(headers: Iterable[tuple[str, str]], skip: str) -> tuple[list[str], bool]:
    """Validated ``Name: value`` lines, and whether a header called ``skip`` was among them."""
    lines = []
    seen = False
    for name, value in headers:
        if not _TOKEN.match(name):
            raise ValueError(f"bad header name {name!r}")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise ValueError(f"header {name} has CR, LF or NUL in its value")
        seen = seen or name.lower() == skip
        lines.append(f"{name}: {value}\r\n")
    return lines, seen


def server_response(
    key: str,
    *,
    subprotocol: str | None = None,
    extensions: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The server's ``101 Switching Protocols`` answer to the request that sent ``key``.

    ``Server: workerman`` is added unless ``headers`` name a Server of their own.

    Raises:
        ValueError: a header name that is not a token, or a value holding CR, LF or NUL.
    """
    extra, has_server = _header_lines(headers, "server")
    chosen = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]
    if subprotocol is not None:
        chosen.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions is not None:
        chosen.append(("Sec-WebSocket-Extensions", extensions))
    if not has_server:
        chosen.append(("Server", "workerman"))
    lines, _ = _header_lines(chosen, "")
    head = ["HTTP/1.1 101 Switching Protocols\r\n", *lines, *extra, "\r\n"]
    return "".join(head).encode("latin-1")


def client_request(
    host: str,
    port: int,
    path: str,
    key: str,
    *,
    secure: bool,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The client's upgrade request.

    Args:
        host: the server's name or address (an IPv6 address is bracketed here).
        port: its port; left out of Host when it is the default of the scheme.
        path: the path with its query ("" means "/").
        key: the Sec-WebSocket-Key, from ``new_key``.
        secure: wss (default port 443) rather than ws (80).
        origin: the Origin header, if any.
        subprotocols: the subprotocols to offer, in order of preference.
        extensions: the Sec-WebSocket-Extensions offer, if any.
        headers: more headers; a Host among them replaces the computed one.

    Raises:
        ValueError: a path with spaces or control characters, a bad header.
    """
    path = path or "/"
    if _FORBIDDEN_IN_TARGET.search(path):
        raise ValueError(f"bad request path {path!r}")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if port != (443 if secure else 80):
        host = f"{host}:{port}"
    extra, has_host = _header_lines(headers, "host")
    chosen = [] if has_host else [("Host", host)]
    chosen += [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        chosen.append(("Origin", origin))
    if subprotocols:
        chosen.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions is not None:
        chosen.append(("Sec-WebSocket-Extensions", extensions))
    lines, _ = _header_lines(chosen, "")
    return "".join([f"GET {path} HTTP/1.1\r\n", *lines, *extra, "\r\n"]).encode("latin-1")


def parse_response_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    """Status, reason and headers (lower-cased names) of the server's response head.

    ``head`` runs to the blank line that ends the headers; anything after it is ignored.

    Raises:
        HandshakeError: status 0, the bytes are not an HTTP/1.x response head.
    """
    lines = head.decode("latin-1").split("\n")
    match = _STATUS_LINE.match(lines[0].rstrip("\r"))
    if match is None:
        raise HandshakeError(0, f"not an HTTP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        line = raw.rstrip("\r")
        if not line:  # the blank line that ends the head
            break
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name):
            raise HandshakeError(0, f"bad header line {line[:80]!r}")
        name = name.lower()
        value = value.strip(" \t")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(match[1]), match[2] or "", headers


def check_server_response(
    status: int,
    headers: Mapping[str, str],
    key: str,
    *,
    subprotocols: Sequence[str],
    extensions_offered: bool = False,
) -> str | None:
    """Check the server's answer to our upgrade request; return the chosen subprotocol.

    Args:
        status: the response status.
        headers: lower-cased names to values.
        key: the Sec-WebSocket-Key we sent.
        subprotocols: the subprotocols we offered.
        extensions_offered: whether we sent Sec-WebSocket-Extensions; if not, the
            server may not name any. (An answer to an offer is checked by
            ``client_accept``.)

    Raises:
        HandshakeError: not a 101, a missing Upgrade or Connection token, a wrong
            Sec-WebSocket-Accept, a subprotocol or extension we did not offer.
    """
    if status != 101:
        raise HandshakeError(status, f"the server answered {status} instead of 101")
    if "websocket" not in _tokens(headers.get("upgrade")):
        raise HandshakeError(status, "missing Upgrade: websocket in the response")
    if "upgrade" not in _tokens(headers.get("connection")):
        raise HandshakeError(status, "missing Connection: Upgrade in the response")
    if headers.get("sec-websocket-accept", "").strip() != accept_key(key):
        raise HandshakeError(status, "wrong Sec-WebSocket-Accept")
    if not extensions_offered and headers.get("sec-websocket-extensions", "").strip():
        raise HandshakeError(status, "the server named extensions we did not offer")
    chosen = headers.get("sec-websocket-protocol", "").strip()
    if not chosen:
        return None
    if chosen not in subprotocols:
        raise HandshakeError(status, f"the server chose subprotocol {chosen!r}, not offered")
    return chosen
