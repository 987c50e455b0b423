"""MQTT over WebSocket (RFC 6455), sans-IO: the client's upgrade request and the check
of the answer, and the framing of the byte stream both ways.

MQTT rides in binary messages (the ``mqtt`` subprotocol); a message boundary means
nothing to it, so incoming payloads are simply concatenated. The client masks every
frame it sends (a random key per frame), answers Pings, and reads a Close as the end of
the stream. paho's own websocket wrapper does its upgrade with blocking reads, which is
why this layer exists: the upgrade runs on the loop's watchers like the rest.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from ._exceptions import MqttConnectionError

__all__ = ["WebSocketCodec", "check_upgrade", "upgrade_request"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 16 * 1024
MAX_FRAME = 256 * 1024 * 1024 + 16  # an MQTT packet at its largest, framed


def upgrade_request(host: str, port: int, path: str, tls: bool) -> tuple[bytes, bytes]:
    """The GET that asks for the upgrade, and the key its answer must echo."""
    key = base64.b64encode(os.urandom(16))
    default = 443 if tls else 80
    authority = host if port == default else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        authority = f"[{host}]" if port == default else f"[{host}]:{port}"
    request = (
        (
            f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: mqtt\r\n"
        ).encode()
        + b"Sec-WebSocket-Key: "
        + key
        + b"\r\n\r\n"
    )
    return request, key


def check_upgrade(head: bytes, key: bytes) -> None:
    """Raise MqttConnectionError unless ``head`` (up to the blank line) accepts it."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        raise MqttConnectionError(f"the WebSocket upgrade was refused: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        raise MqttConnectionError("the WebSocket upgrade answer has a wrong Sec-WebSocket-Accept")
    protocol = headers.get("sec-websocket-protocol")
    if protocol is not None and protocol.lower() != "mqtt":
        raise MqttConnectionError(f"the server chose the WebSocket subprotocol {protocol!r}")


class WebSocketCodec:
    """Client-side framing: ``encode(data)`` is one masked binary frame; ``feed(data)``
    returns the application bytes in it, and leaves in ``replies`` what must be sent
    back (Pongs, the answering Close) and sets ``closed`` on a Close."""

    def __init__(self) -> None:
        self._buffer = b""
        self.replies: list[bytes] = []
        self.closed = False

    @staticmethod
    def encode(data: bytes, opcode: int = 0x2) -> bytes:
        size = len(data)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = os.urandom(4)
        return head + mask + _masked(data, mask)

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer + data if self._buffer else data
        out: list[bytes] = []
        pos = 0
        size = len(buffer)
        while not self.closed and size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            if first & 0x70:
                raise MqttConnectionError("a WebSocket frame with reserved bits set")
            if second & 0x80:
                raise MqttConnectionError("a masked WebSocket frame from the server")
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - start < 2:
                    break
                length = struct.unpack_from("!H", buffer, start)[0]
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = struct.unpack_from("!Q", buffer, start)[0]
                start += 8
            if length > MAX_FRAME:
                raise MqttConnectionError(f"a WebSocket frame of {length} bytes")
            if size - start < length:
                break
            payload = buffer[start : start + length]
            pos = start + length
            opcode = first & 0x0F
            if opcode in (0x0, 0x1, 0x2):
                out.append(payload)
            elif opcode == 0x9:
                self.replies.append(self.encode(payload, 0xA))
            elif opcode == 0x8:
                self.closed = True
                self.replies.append(self.encode(payload[:2], 0x8))
            elif opcode != 0xA:
                raise MqttConnectionError(f"an unknown WebSocket opcode {opcode:#x}")
        self._buffer = buffer[pos:]
        return out[0] if len(out) == 1 else b"".join(out)


def _masked(data: bytes, mask: bytes) -> bytes:
    if not data:
        return b""
    key = int.from_bytes((mask * (len(data) // 4 + 1))[: len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")
