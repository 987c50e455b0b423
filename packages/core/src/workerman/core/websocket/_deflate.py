"""permessage-deflate (RFC 7692): the negotiation, and the compressor and decompressor it sets up.

A compressed message is the raw DEFLATE stream of its payload, flushed with a sync
flush whose closing empty stored block (``00 00 ff ff``) is left off; the receiver
puts it back before inflating. With context takeover (the default) each side keeps
its LZ77 window from one message to the next; a ``*_no_context_takeover`` parameter
makes that side start every message afresh. ``*_max_window_bits`` caps a side's
window, which caps the memory its peer's decompressor needs.

zlib refuses an 8-bit window for raw deflate, so a side that negotiated 8 compresses
with 9. That is still correct for a peer inflating with a 256-byte window: zlib never
emits a match farther back than the window size minus 262, which for a 512-byte
window is 250 bytes.

Compressor and decompressor are created on first use and dropped after each message
when their context is not taken over, so an idle connection holds no zlib state.
"""

from __future__ import annotations

import re
import zlib

from ._frames import CloseCode, WebSocketError

__all__ = ["PerMessageDeflate", "client_accept", "client_offer", "server_accept"]

_TAIL = b"\x00\x00\xff\xff"
_NAME = "permessage-deflate"
_SMALL = 2048  # below this, appending the tail beats a second inflate call

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_EXTENSION = re.compile(rf"[ \t]*({_TOKEN})")
_PARAM = re.compile(rf'[ \t]*;[ \t]*({_TOKEN})(?:[ \t]*=[ \t]*({_TOKEN}|"(?:[^"\\]|\\.)*"))?')
_SEPARATOR = re.compile(r"[ \t]*(?:,|\Z)")
_BITS = re.compile(r"(?:8|9|1[0-5])\Z")  # 8..15, no leading zero

_Params = dict[str, str | None]


def _parse_extensions(header: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Split a Sec-WebSocket-Extensions value into (name, [(param, value)]) offers.

    Raises:
        ValueError: the value does not follow the grammar of RFC 6455 section 9.1.
    """
    offers: list[tuple[str, list[tuple[str, str | None]]]] = []
    pos = 0
    end = len(header)
    while pos < end:
        if header[pos] in " \t,":  # empty list elements are allowed (RFC 7230 7)
            pos += 1
            continue
        match = _EXTENSION.match(header, pos)
        if match is None:
            raise ValueError(f"bad extension list: {header!r}")
        name = match[1].lower()
        pos = match.end()
        params: list[tuple[str, str | None]] = []
        while (match := _PARAM.match(header, pos)) is not None:
            value = match[2]
            if value is not None and value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params.append((match[1].lower(), value))
            pos = match.end()
        match = _SEPARATOR.match(header, pos)
        if match is None:
            raise ValueError(f"bad extension list: {header!r}")
        pos = match.end()
        offers.append((name, params))
    return offers


def _read_params(params: list[tuple[str, str | None]], *, offer: bool) -> _Params | None:
    """The parameters as a dict, or None when one is unknown, repeated or has a bad value."""
    found: _Params = {}
    for name, value in params:
        if name in found:
            return None
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
        elif name in {"server_max_window_bits", "client_max_window_bits"}:
            # Only an offer may name client_max_window_bits without a value.
            if value is None and not (offer and name == "client_max_window_bits"):
                return None
            if value is not None and not _BITS.match(value):
                return None
        else:
            return None
        found[name] = value
    return found


def _check_bits(name: str, bits: int) -> None:
    if not 8 <= bits <= 15:
        raise ValueError(f"{name} must be between 8 and 15, not {bits}")


class PerMessageDeflate:
    """The negotiated permessage-deflate of one connection: compress out, decompress in.

    Args:
        server_side: whether this end is the server (its own parameters are then the
            ``server_*`` ones and its peer's the ``client_*`` ones).
        server_no_context_takeover: the server starts every message with an empty window.
        client_no_context_takeover: the client starts every message with an empty window.
        server_max_window_bits: the server compresses with at most this window (8..15).
        client_max_window_bits: the client compresses with at most this window (8..15).
        compress_threshold: messages shorter than this are sent uncompressed (read by
            ``encode_message``; ``compress`` itself always compresses).
        mem_level: zlib's memLevel (1..9) for our compressor. With context takeover a
            compressor holds about ``2**(bits + 2) + 2**(mem_level + 9)`` bytes between
            messages: 256 KiB at 15 bits and level 8, 32 KiB at 12 bits and level 5.
    """

    __slots__ = (
        "_compressor",
        "_decompressor",
        "_local_bits",
        "_local_reset",
        "_remote_bits",
        "_remote_reset",
        "client_max_window_bits",
        "client_no_context_takeover",
        "compress_threshold",
        "mem_level",
        "server_max_window_bits",
        "server_no_context_takeover",
        "server_side",
    )

    def __init__(
        self,
        *,
        server_side: bool,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
        compress_threshold: int = 0,
        mem_level: int = 8,
    ) -> None:
        _check_bits("server_max_window_bits", server_max_window_bits)
        _check_bits("client_max_window_bits", client_max_window_bits)
        if not 1 <= mem_level <= 9:
            raise ValueError(f"mem_level must be between 1 and 9, not {mem_level}")
        self.mem_level = mem_level
        self.server_side = server_side
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_threshold = compress_threshold
        if server_side:
            local_reset, local_bits = server_no_context_takeover, server_max_window_bits
            self._remote_reset = client_no_context_takeover
            self._remote_bits = client_max_window_bits
        else:
            local_reset, local_bits = client_no_context_takeover, client_max_window_bits
            self._remote_reset = server_no_context_takeover
            self._remote_bits = server_max_window_bits
        self._local_reset = local_reset
        self._local_bits = max(local_bits, 9)  # see the module docstring
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    def __repr__(self) -> str:
        side = "server" if self.server_side else "client"
        return (
            f"PerMessageDeflate({side}, server_no_context_takeover="
            f"{self.server_no_context_takeover}, client_no_context_takeover="
            f"{self.client_no_context_takeover}, server_max_window_bits="
            f"{self.server_max_window_bits}, client_max_window_bits={self.client_max_window_bits})"
        )

    def compress(self, data: bytes) -> bytes:
        """The compressed payload of one whole message, to send with RSV1 set."""
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._local_bits, self.mem_level
            )
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        self._compressor = None if self._local_reset else compressor
        return out[:-4]  # a sync flush always ends with the empty stored block 00 00 ff ff

    def decompress(self, data: bytes, max_size: int, *, fin: bool = True) -> bytes:
        """Inflate the payload of a compressed message, or of one fragment of it.

        Args:
            data: the payload as received.
            max_size: the most bytes this call may produce (for a fragment, what is
                left of the message limit).
            fin: whether ``data`` ends the message (the flush tail is then added).

        Raises:
            WebSocketError: 1009 when the output would pass ``max_size`` (the data is
                never inflated further than that), 1007 for corrupt data.
        """
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = zlib.decompressobj(-self._remote_bits)
        budget = max_size + 1  # zlib reads max_length=0 as "no limit"
        try:
            if fin and len(data) < _SMALL:
                out = decompressor.decompress(data + _TAIL, budget)
            else:
                out = decompressor.decompress(data, budget)
                if fin and len(out) <= max_size and not decompressor.eof:
                    out += decompressor.decompress(_TAIL, budget - len(out))
        except zlib.error as exc:
            raise WebSocketError(CloseCode.INVALID_DATA, f"bad compressed data: {exc}") from None
        if len(out) > max_size:
            raise WebSocketError(CloseCode.MESSAGE_TOO_BIG, "message too big")
        if decompressor.eof:
            # The peer ended its deflate stream (a BFINAL block, RFC 7692 7.2.3.3); only
            # the flush tail we added may follow, and the next message starts a new stream.
            if decompressor.unused_data not in (b"", _TAIL):
                raise WebSocketError(CloseCode.INVALID_DATA, "data after the final deflate block")
            decompressor = None
        self._decompressor = None if fin and self._remote_reset else decompressor
        return out


def server_accept(
    offer_header: str,
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int = 15,
    client_max_window_bits: int = 15,
    compress_threshold: int = 0,
    mem_level: int = 8,
) -> tuple[str, PerMessageDeflate] | None:
    """Answer a client's Sec-WebSocket-Extensions: accept its first valid permessage-deflate.

    Offers of other extensions are skipped, and so is a permessage-deflate offer whose
    parameters are unknown, repeated or out of range (RFC 7692 section 7: the offer is
    declined, the handshake goes on). The keyword arguments are this server's wishes;
    the reply grants the client's requests and adds them.
    ``client_max_window_bits`` limits the client only if the client offered that
    parameter; otherwise its messages are inflated with a full window.
    ``compress_threshold`` and ``mem_level`` go to ``PerMessageDeflate``.

    Returns:
        The Sec-WebSocket-Extensions value to reply with and the extension's state,
        or None when no offer was acceptable (then reply with no such header).
    """
    _check_bits("server_max_window_bits", server_max_window_bits)
    _check_bits("client_max_window_bits", client_max_window_bits)
    try:
        offers = _parse_extensions(offer_header)
    except ValueError:
        return None
    for name, raw in offers:
        if name != _NAME:
            continue
        params = _read_params(raw, offer=True)
        if params is None:
            continue
        reply = [_NAME]
        server_reset = server_no_context_takeover or "server_no_context_takeover" in params
        if server_reset:
            reply.append("server_no_context_takeover")
        if client_no_context_takeover:
            reply.append("client_no_context_takeover")
        server_bits = server_max_window_bits
        requested = params.get("server_max_window_bits")
        if requested is not None:
            server_bits = min(server_bits, int(requested))
        if requested is not None or server_bits < 15:  # a request must be answered
            reply.append(f"server_max_window_bits={server_bits}")
        client_bits = 15
        if "client_max_window_bits" in params:
            hint = params["client_max_window_bits"]
            client_bits = min(client_max_window_bits, int(hint) if hint else 15)
            if client_bits < 15:
                reply.append(f"client_max_window_bits={client_bits}")
        extension = PerMessageDeflate(
            server_side=True,
            server_no_context_takeover=server_reset,
            client_no_context_takeover=client_no_context_takeover,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
            compress_threshold=compress_threshold,
            mem_level=mem_level,
        )
        return "; ".join(reply), extension
    return None


def client_offer(
    *,
    client_max_window_bits: bool | int = True,
    server_max_window_bits: int | None = None,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
) -> str:
    """The Sec-WebSocket-Extensions value a client sends to offer permessage-deflate.

    Args:
        client_max_window_bits: True to let the server cap our window, an int (8..15)
            to announce our own cap, False to leave the parameter out.
        server_max_window_bits: ask the server to cap its window (8..15).
        client_no_context_takeover: announce that we reset our window per message.
        server_no_context_takeover: ask the server to reset its window per message.
    """
    offer = [_NAME]
    if client_no_context_takeover:
        offer.append("client_no_context_takeover")
    if server_no_context_takeover:
        offer.append("server_no_context_takeover")
    if server_max_window_bits is not None:
        _check_bits("server_max_window_bits", server_max_window_bits)
        offer.append(f"server_max_window_bits={server_max_window_bits}")
    if client_max_window_bits is True:
        offer.append("client_max_window_bits")
    elif client_max_window_bits is not False:
        _check_bits("client_max_window_bits", client_max_window_bits)
        offer.append(f"client_max_window_bits={client_max_window_bits}")
    return "; ".join(offer)


def client_accept(
    response_header: str,
    *,
    client_max_window_bits: bool | int = True,
    server_max_window_bits: int | None = None,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
    compress_threshold: int = 0,
    mem_level: int = 8,
) -> PerMessageDeflate:
    """Check the server's Sec-WebSocket-Extensions against our offer; set up the extension.

    Pass the same keyword arguments as to ``client_offer``; ``compress_threshold`` and
    ``mem_level`` go to ``PerMessageDeflate``.

    Raises:
        WebSocketError: 1002 when the reply is malformed or its parameters invalid,
            1010 when it is not an acceptable answer to our offer (another extension,
            a parameter we did not offer, a larger window than we asked for, a request
            of ours left out).
    """
    try:
        answers = _parse_extensions(response_header)
    except ValueError:
        raise WebSocketError(
            CloseCode.PROTOCOL_ERROR, "malformed Sec-WebSocket-Extensions"
        ) from None
    if len(answers) != 1 or answers[0][0] != _NAME:
        raise WebSocketError(
            CloseCode.MANDATORY_EXTENSION,
            f"server accepted extensions we did not offer: {response_header!r}",
        )
    params = _read_params(answers[0][1], offer=False)
    if params is None:
        raise WebSocketError(
            CloseCode.PROTOCOL_ERROR, f"bad permessage-deflate reply: {response_header!r}"
        )

    def refuse(why: str) -> WebSocketError:
        return WebSocketError(CloseCode.MANDATORY_EXTENSION, f"permessage-deflate: {why}")

    server_reset = "server_no_context_takeover" in params
    if server_no_context_takeover and not server_reset:
        raise refuse("server_no_context_takeover was requested, not granted")
    server_bits = 15
    if "server_max_window_bits" in params:
        server_bits = int(params["server_max_window_bits"] or 15)
        if server_max_window_bits is not None and server_bits > server_max_window_bits:
            raise refuse("server_max_window_bits larger than requested")
    elif server_max_window_bits is not None:
        raise refuse("server_max_window_bits was requested, not granted")
    client_bits = 15 if client_max_window_bits is True else int(client_max_window_bits or 15)
    if "client_max_window_bits" in params:
        granted = int(params["client_max_window_bits"] or 15)
        if client_max_window_bits is False:
            raise refuse("client_max_window_bits was not offered")
        if granted > client_bits:
            raise refuse("client_max_window_bits larger than offered")
        client_bits = granted
    return PerMessageDeflate(
        server_side=False,
        server_no_context_takeover=server_reset,
        client_no_context_takeover=client_no_context_takeover
        or "client_no_context_takeover" in params,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        compress_threshold=compress_threshold,
        mem_level=mem_level,
    )
