"""WebSocket frames (RFC 6455 section 5): encode them, and decode a byte stream into messages.

A frame is a 2-byte head (FIN, RSV1-3, opcode; MASK, 7-bit length), a 2- or 8-byte
length when the 7-bit one says 126 or 127, a 4-byte masking key (client frames only),
then the payload. A message is a text or binary frame with FIN set, or a first frame
and continuations up to one with FIN set; control frames (close, ping, pong) are short,
never fragmented, and may come between the fragments of a message.

``FrameDecoder.feed`` walks a read by offset and keeps only the tail of an incomplete
frame: many small frames in one read cost one pass and no copy of the rest per frame.
Everything a frame's head can tell (bits, opcode, masking, length against the limit) is
checked before its payload is waited for, so a huge announced length fails at once.
"""

from __future__ import annotations

import codecs
import enum
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from mypy_extensions import mypyc_attr

from workerman.core import ProtocolError

if TYPE_CHECKING:
    from ._deflate import PerMessageDeflate

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "CloseCode",
    "FrameDecoder",
    "WebSocketError",
    "close_code_allowed",
    "encode_close",
    "encode_frame",
    "encode_message",
    "parse_close",
]

OP_CONT: Final = 0
OP_TEXT: Final = 1
OP_BINARY: Final = 2
OP_CLOSE: Final = 8
OP_PING: Final = 9
OP_PONG: Final = 10

_FIN: Final = 0x80
_RSV1: Final = 0x40
_MASK: Final = 0x80
_MAX_CONTROL: Final = 125
_MAX_REASON: Final = 123  # a close payload is at most 125 bytes, two of them the code


class CloseCode(enum.IntEnum):
    """Close codes of RFC 6455 section 7.4.1 and the IANA registry."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


def close_code_allowed(code: int) -> bool:
    """Whether ``code`` may be sent in a Close frame.

    1005, 1006 and 1015 only report what happened locally; 1004 and the rest of
    0-2999 are reserved; 3000-3999 are registered by libraries and 4000-4999 are
    private to applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


@mypyc_attr(allow_interpreted_subclasses=True)  # HandshakeError
class WebSocketError(ProtocolError):
    """The peer broke the WebSocket protocol; the connection must close with ``code``.

    Attributes:
        code: the close code to send (1002 protocol error, 1007 invalid data,
            1009 message too big, 1010 missing extension ...).
        reason: what went wrong, fit for the close frame and the log.
        events: the events that ``FrameDecoder.feed`` had decoded from the same
            bytes before the offending frame; deliver them before closing.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.events: list[tuple[int, Any]] = []


def _protocol_error(reason: str) -> WebSocketError:
    return WebSocketError(CloseCode.PROTOCOL_ERROR, reason)


# Masking keys come from os.urandom in blocks, one system call per 256 keys instead of
# one per frame; list.pop is atomic, so threads never share a key. The pool is emptied
# in a forked child so that worker processes do not mask with their parent's keys.
_keys: list[bytes] = []
os.register_at_fork(after_in_child=_keys.clear)


def _refill_keys() -> None:
    block = os.urandom(1024)
    # An all-zero key would send the payload in clear: leave it out.
    _keys.extend([key for i in range(0, 1024, 4) if (key := block[i : i + 4]) != b"\0\0\0\0"])


# Masking a payload of up to _SMALL_MASK bytes: the key as an integer times _REPEAT[n]
# repeats it over ceil(n/4) words, and _TRIM[n] cuts that to n bytes.
_SMALL_MASK: Final = 125
# (Any, not int: compiled, these big integers then stay Python ints from one operation to
# the next instead of being converted to mypyc's tagged ints and back each time)
_REPEAT: Final[list[Any]] = [
    sum(1 << (32 * word) for word in range((n + 3) // 4)) for n in range(_SMALL_MASK + 1)
]
_TRIM: Final[list[Any]] = [(1 << (8 * n)) - 1 for n in range(_SMALL_MASK + 1)]
# a constant where compiled (a call through it, no attribute look-up on int each time)
_from_bytes: Final[Callable[..., Any]] = int.from_bytes


def _xor(data: bytes | bytearray, key: bytes | bytearray) -> bytes:
    # One big-integer XOR instead of a Python loop over bytes: linear and in C.
    n = len(data)
    mask = int.from_bytes((key * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ mask).to_bytes(n, "little")


def _unmask(view: bytes, start: int, stop: int) -> bytes:
    """The payload ``view[start:stop]`` unmasked with the key of the four bytes before it."""
    n = stop - start
    if n > _SMALL_MASK:
        return _xor(view[start:stop], view[start - 4 : start])
    # the key over ceil(n/4) words, cut to n bytes where n is not a multiple of 4
    mask = _from_bytes(view[start - 4 : start], "little") * _REPEAT[n]
    if n & 3:
        mask &= _TRIM[n]
    # (an int again for to_bytes, which mypyc calls directly)
    word: int = _from_bytes(view[start:stop], "little") ^ mask
    return word.to_bytes(n, "little")


def _plain(
    view: bytes, pos: int, events: list[tuple[int, Any]], max_size: int, masked: bool
) -> int:
    """Decode the frames from ``pos`` on that are a whole text or binary message each
    (FIN, no extension bits: ``0x81``, ``0x82``), masked as ``masked`` says, at most
    ``max_size`` bytes and, text, UTF-8; append their events to ``events``; return the
    position of the first frame that is not one of them or is not all in ``view``.

    The common frame, the whole of most reads, in one call and one loop that checks
    nothing twice; whatever it stops at, :meth:`FrameDecoder.feed` reads its own way
    (and raises what a frame breaks). The compiled build runs ``_mask.plain`` instead.
    """
    end = len(view)
    mask_bit = _MASK if masked else 0
    while end - pos >= 2:
        b0 = view[pos]
        # (two compares: compiled, a set test is a call, and pure, a chained comparison
        # costs more)
        if b0 != 0x81 and b0 != 0x82:  # noqa: PLR1714
            break
        length = view[pos + 1]
        if length & _MASK != mask_bit:
            break
        length &= 0x7F
        start = pos + 6 if masked else pos + 2
        if length >= 126:
            if length == 126:
                if end - pos < 4:
                    break
                length = view[pos + 2] << 8 | view[pos + 3]
                start += 2
            else:
                if end - pos < 10:
                    break
                length = _from_bytes(view[pos + 2 : pos + 10], "big")
                start += 8
        stop = start + length
        if length > max_size or stop > end:
            break
        if not masked:
            payload = view[start:stop]
        elif length <= _SMALL_MASK:  # _unmask, without the call
            mask = _from_bytes(view[start - 4 : start], "little") * _REPEAT[length]
            if length & 3:
                mask &= _TRIM[length]
            word: int = _from_bytes(view[start:stop], "little") ^ mask
            payload = word.to_bytes(length, "little")
        else:
            payload = _xor(view[start:stop], view[start - 4 : start])
        if b0 == 0x82:
            events.append((OP_BINARY, payload))
        else:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                break  # feed raises the 1007
            events.append((OP_TEXT, text))
        pos = stop
    return pos


def _kernels() -> tuple[
    Callable[[bytes, int, list[tuple[int, Any]], int, bool], int],
    Callable[[bytes, int, int], bytes],
]:
    """:func:`_plain` and :func:`_unmask` in C where the build has them (``_mask.c``: the
    payload read once, a word at a time, into the bytes or str it gives), else themselves."""
    try:
        from ._mask import plain, unmask  # noqa: PLC0415 (the compiled build's)
    except ImportError:  # the pure build
        return _plain, _unmask
    return plain, unmask


_KERNELS: Final = _kernels()
_plain_frames: Final = _KERNELS[0]
_unmasked: Final = _KERNELS[1]


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, mask: bool = False
) -> bytes:
    """One frame on the wire.

    Args:
        opcode: ``OP_TEXT``, ``OP_BINARY``, ``OP_CONT``, ``OP_CLOSE``, ``OP_PING``, ``OP_PONG``.
        payload: the payload, already UTF-8 (text) or compressed (``rsv1``).
        fin: whether this is the last frame of its message.
        rsv1: the per-message-compressed bit, on the first frame of a compressed message.
        mask: mask with a fresh random key, as a client must.

    Raises:
        ValueError: a control frame longer than 125 bytes or without ``fin``.
    """
    n = len(payload)
    b0 = opcode | _FIN if fin else opcode
    if rsv1:
        b0 |= _RSV1
    if opcode >= OP_CLOSE and (n > _MAX_CONTROL or not fin):
        raise ValueError("a control frame has at most 125 bytes of payload and is never fragmented")
    if mask:
        try:
            key = _keys.pop()
        except IndexError:
            _refill_keys()
            key = _keys.pop()
        if n <= _SMALL_MASK:
            word: int = _from_bytes(payload, "little") ^ (
                _from_bytes(key, "little") * _REPEAT[n] & _TRIM[n]
            )
            masked = word.to_bytes(n, "little")
            return bytes((b0, n | _MASK)) + key + masked
        if n < 65536:
            head = bytes((b0, 126 | _MASK)) + n.to_bytes(2, "big")
        else:
            head = bytes((b0, 127 | _MASK)) + n.to_bytes(8, "big")
        return head + key + _xor(payload, key)
    if n < 126:
        return bytes((b0, n)) + payload
    if n < 65536:
        return bytes((b0, 126)) + n.to_bytes(2, "big") + payload
    return bytes((b0, 127)) + n.to_bytes(8, "big") + payload


def encode_message(
    opcode: int, payload: bytes, *, mask: bool = False, deflate: PerMessageDeflate | None = None
) -> bytes:
    """A whole text or binary message as one frame, compressed when ``deflate`` says so.

    A message is compressed when permessage-deflate was negotiated (``deflate``) and
    it is at least ``deflate.compress_threshold`` bytes long.
    """
    if deflate is not None and len(payload) >= deflate.compress_threshold:
        return encode_frame(opcode, deflate.compress(payload), rsv1=True, mask=mask)
    return encode_frame(opcode, payload, mask=mask)


def encode_close(code: int = 1000, reason: str = "") -> bytes:
    """The payload of a Close frame: the code, then the reason in UTF-8.

    ``CloseCode.NO_STATUS`` (1005) gives an empty payload, the way to close without a
    code. A reason longer than 123 bytes of UTF-8 is cut short, never inside a character.

    Raises:
        ValueError: ``code`` may not be sent (see ``close_code_allowed``).
    """
    if code == CloseCode.NO_STATUS:
        return b""
    if not close_code_allowed(code):
        raise ValueError(f"close code {code} may not be sent in a Close frame")
    raw = reason.encode()
    if len(raw) > _MAX_REASON:
        # Cutting may split a character; "ignore" drops its orphaned leading bytes.
        raw = raw[:_MAX_REASON].decode(errors="ignore").encode()
    return code.to_bytes(2, "big") + raw


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a received Close frame.

    An empty payload gives ``(1005, "")``.

    Raises:
        WebSocketError: 1002 for a 1-byte payload or a code that may not be sent,
            1007 for a reason that is not UTF-8.
    """
    if not payload:
        return CloseCode.NO_STATUS, ""
    if len(payload) == 1:
        raise _protocol_error("close frame with a 1-byte payload")
    code = payload[0] << 8 | payload[1]
    if not close_code_allowed(code):
        raise _protocol_error(f"close code {code} is not allowed")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise WebSocketError(CloseCode.INVALID_DATA, "close reason is not UTF-8") from None
    return code, reason


class FrameDecoder:
    """Streaming decoder: bytes in, complete messages and control frames out.

    Events are ``(OP_TEXT, str)``, ``(OP_BINARY, bytes)``, ``(OP_PING, bytes)``,
    ``(OP_PONG, bytes)`` and ``(OP_CLOSE, (code, reason))``. Fragmented messages are
    reassembled, compressed ones inflated (with ``deflate``, the negotiated
    permessage-deflate), text checked to be UTF-8. After the Close event, and after an
    error, the decoder is finished and ``feed`` returns nothing.

    Args:
        server_side: decode what a client sends (frames must be masked), or else what
            a server sends (frames must not be masked).
        max_message_size: the largest message, in bytes after decompression.
        deflate: the permessage-deflate state when the extension was negotiated.
    """

    __slots__ = (
        "_buffer",
        "_compressed",
        "_deflate",
        "_done",
        "_masked",
        "_max_size",
        "_message",
        "_need",
        "_parts",
        "_size",
        "_text",
        "_wire_size",
    )

    def __init__(
        self, *, server_side: bool, max_message_size: int, deflate: PerMessageDeflate | None = None
    ) -> None:
        self._masked = server_side
        self._max_size = max_message_size
        self._deflate = deflate
        self._buffer = bytearray()
        self._need = 0  # bytes the incomplete frame at the head of the buffer needs
        self._done = False
        self._message = OP_CONT  # opcode of the fragmented message under way, 0: none
        self._compressed = False
        self._parts: list[Any] = []
        self._size = 0  # bytes of the message so far, after decompression
        self._wire_size = 0  # bytes of the message so far, as received
        self._text: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> list[tuple[int, Any]]:
        """Take the bytes of one read; return the events they complete, in order.

        Raises:
            WebSocketError: the peer broke the protocol; its ``code`` is the close code
                to send and its ``events`` what was decoded before the bad frame.
        """
        if self._done:
            return []
        buffer = self._buffer
        view: bytes
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return []
            # the loop reads bytes (compiled, a typed bytes is indexed and sliced in C):
            # one copy of a kept tail once its frame is whole
            view = bytes(buffer)
        elif data:
            view = data
        else:
            return []
        events: list[tuple[int, Any]] = []
        self._need = 0
        end = len(view)
        masked = self._masked
        max_size = self._max_size
        pos = 0
        if not self._message:
            pos = _plain_frames(view, 0, events, max_size, masked)
            if pos == end:  # whole messages only, the common read
                if buffer:
                    buffer.clear()
                return events
        mask_bit = _MASK if masked else 0
        try:
            # the frames _plain_frames leaves: control frames, fragments, compressed ones,
            # a frame not all here, and the frame that breaks the protocol
            while end - pos >= 2:
                b0 = view[pos]
                length = view[pos + 1]
                if length & _MASK != mask_bit:
                    raise _protocol_error(
                        "client frame is not masked" if masked else "server frame is masked",
                    )
                length &= 0x7F
                start = pos + 6 if masked else pos + 2
                if length >= 126:
                    length, start = self._long_length(view, pos, length, start)
                    if length < 0:
                        break
                self._check(b0, length)
                stop = start + length
                if stop > end:
                    self._need = stop - pos
                    break
                payload = _unmasked(view, start, stop) if masked else view[start:stop]
                pos = stop
                if self._frame(b0, payload, events):
                    self._finish()
                    return events
                if not self._message:
                    pos = _plain_frames(view, pos, events, max_size, masked)
        except WebSocketError as exc:
            self._finish()
            exc.events = events
            raise
        if buffer:
            del buffer[:pos]
        elif pos < end:
            buffer += memoryview(data)[pos:]
        return events

    @staticmethod
    def _long_length(view: bytes, pos: int, length: int, start: int) -> tuple[int, int]:
        """The 16- or 64-bit length and where the payload starts; (-1, 0) if not all here."""
        if length == 126:
            if len(view) - pos < 4:
                return -1, 0
            return view[pos + 2] << 8 | view[pos + 3], start + 2
        if len(view) - pos < 10:
            return -1, 0
        length = _from_bytes(view[pos + 2 : pos + 10], "big")
        if length >> 63:
            raise _protocol_error("64-bit length with the top bit set")
        return length, start + 8

    def _finish(self) -> None:
        self._done = True
        self._buffer = bytearray()
        self._parts = []
        self._text = None

    def _check(self, b0: int, length: int) -> None:
        """Refuse a frame on its head alone: bits, opcode, sequence, size."""
        opcode = b0 & 0x0F
        if b0 & 0x30:
            raise _protocol_error("reserved bits RSV2/RSV3 set")
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                raise _protocol_error(f"unknown opcode {opcode}")
            if b0 & _RSV1:
                raise _protocol_error("RSV1 set on a control frame")
            if not b0 & _FIN:
                raise _protocol_error("fragmented control frame")
            if length > _MAX_CONTROL:
                raise _protocol_error("control frame over 125 bytes")
            return
        if opcode > OP_BINARY:
            raise _protocol_error(f"unknown opcode {opcode}")
        if opcode == OP_CONT:
            if not self._message:
                raise _protocol_error("continuation without a message")
            if b0 & _RSV1:
                raise _protocol_error("RSV1 set on a continuation")
            compressed = self._compressed
            wire = self._wire_size + length
        else:
            if self._message:
                raise _protocol_error("new message inside a fragmented one")
            compressed = bool(b0 & _RSV1)
            if compressed and self._deflate is None:
                raise _protocol_error("RSV1 set without permessage-deflate")
            wire = length
        # Compressed bytes are bounded too, loosely (deflate may expand a little), so
        # that a flood of empty deflate blocks cannot fill memory.
        limit = 2 * self._max_size + 1024 if compressed else self._max_size
        if wire > limit:
            raise WebSocketError(CloseCode.MESSAGE_TOO_BIG, "message too big")

    def _frame(self, b0: int, payload: bytes, events: list[tuple[int, Any]]) -> bool:
        """Handle a checked frame off the fast path; True when it was the Close frame."""
        opcode = b0 & 0x0F
        if opcode >= OP_CLOSE:
            if opcode == OP_CLOSE:
                events.append((OP_CLOSE, parse_close(payload)))
                return True
            events.append((opcode, payload))
            return False
        fin = bool(b0 & _FIN)
        if opcode != OP_CONT:  # the first frame of a message
            self._message = opcode
            self._compressed = bool(b0 & _RSV1)
            self._size = self._wire_size = 0
            self._parts = []
            self._text = None
            if opcode == OP_TEXT and not fin:  # check fragments as they come
                self._text = codecs.getincrementaldecoder("utf-8")()
        self._wire_size += len(payload)
        if self._compressed:
            assert self._deflate is not None  # _check refused RSV1 without it
            payload = self._deflate.decompress(payload, self._max_size - self._size, fin=fin)
            self._size += len(payload)
        else:
            self._size = self._wire_size
        try:
            if self._text is not None:
                self._parts.append(self._text.decode(payload, fin))
            elif fin and self._message == OP_TEXT:
                self._parts.append(payload.decode())
            else:
                self._parts.append(payload)
        except UnicodeDecodeError:
            raise WebSocketError(CloseCode.INVALID_DATA, "text message is not UTF-8") from None
        if fin:
            parts = self._parts
            message: Any
            if len(parts) == 1:
                message = parts[0]
            elif self._message == OP_TEXT:
                message = "".join(parts)
            else:
                message = b"".join(parts)
            events.append((self._message, message))
            self._message = OP_CONT
            self._parts = []
            self._text = None
        return False
