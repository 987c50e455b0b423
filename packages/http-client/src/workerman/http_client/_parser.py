"""A sans-IO HTTP/1.1 response parser: bytes in, events out, no socket in sight.

The client tells the parser which request a response answers (``expect(method)``),
because the method decides the framing: a HEAD response, a 1xx, 204 or 304 never has a
body, and a 2xx to CONNECT turns the connection into a tunnel. Then ``feed(data)`` returns
the events the bytes complete, in order:

- a :class:`ResponseHead` (status, reason, version, header pairs, framing). Informational
  heads (1xx) come first when the server sends them; the final head follows.
- ``bytes``: a piece of the body, chunked coding removed, as it arrives.
- :data:`END`: the response is complete.

Framing follows RFC 9112 section 6.3: no body for the cases above, else chunked when the
final transfer coding is chunked, else Content-Length, else the body runs until the server
closes (``feed_eof()`` then ends it). Bytes after a complete response wait in ``unread``:
the client never pipelines, so any there are the server's fault (a body longer than its
Content-Length), which the connection reports. Every malformed input raises
:class:`ProtocolError` and every oversized one :class:`LimitError`; after either the parser
is unusable, as is the connection it served.
"""

from __future__ import annotations

import re
from typing import Final

from ._exceptions import LimitError, ProtocolError

__all__ = ["END", "ResponseHead", "ResponseParser"]


class _End:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


#: the event that closes a response
END: Final = _End()

_HEAD_END = re.compile(rb"\n\r?\n")
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?")
_MAX_CHUNK_LINE = 4096

# states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE = range(7)
_DONE, _TUNNEL, _BROKEN = 7, 8, 9


class ResponseHead:
    """A parsed status line and header block.

    Attributes:
        status: the status code.
        reason: the reason phrase (may be empty).
        version: "1.1" or "1.0".
        headers: (name, value) pairs as sent, decoded as latin-1.
        keep_alive: the connection may carry another request after this response.
        content_length: the declared body length, or None (chunked or until close).
        chunked: the body is in chunked transfer coding.
        content_encoding: the Content-Encoding header ("" when none).
    """

    __slots__ = (
        "chunked",
        "content_encoding",
        "content_length",
        "headers",
        "keep_alive",
        "reason",
        "status",
        "version",
    )

    def __init__(
        self,
        status: int,
        reason: str,
        version: str,
        headers: list[tuple[str, str]],
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.keep_alive = True
        self.content_length: int | None = None
        self.chunked = False
        self.content_encoding = ""

    def __repr__(self) -> str:
        return f"<ResponseHead {self.status} {self.reason!r} HTTP/{self.version}>"


# one match per well-formed line; a line it cannot match leaves the count short
_FIELDS = re.compile(r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*)\r?\n", re.MULTILINE)
_STATUS_TEXT = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?\r?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_head(block: bytes, max_headers: int) -> ResponseHead:
    """The status line and fields of one head (``block`` ends before the blank line).

    The usual head is checked and split by a few regular expressions over the whole
    block; one they do not accept (folded lines, bad bytes) goes line by line, which
    also names what is wrong."""
    text = block.decode("latin-1")
    newline = text.find("\n")
    status_line = text if newline < 0 else text[:newline]
    match = _STATUS_TEXT.fullmatch(status_line)
    if match is None:
        raise ProtocolError(f"malformed status line {status_line[:100]!r}")
    minor, code, reason = match.groups()
    fields = "" if newline < 0 else text[newline + 1 :]
    if fields and not fields.endswith("\n"):
        fields += "\n"
    if not fields:
        headers: list[tuple[str, str]] = []
    else:
        headers = _FIELDS.findall(fields)
        if len(headers) != fields.count("\n") or _CONTROL.search(fields) is not None:
            headers = _fields_line_by_line(block.split(b"\n")[1:])
        elif " \r" in fields or "\t\r" in fields or " \n" in fields or "\t\n" in fields:
            headers = [(name, value.rstrip(" \t")) for name, value in headers]
    if len(headers) > max_headers:
        raise LimitError(f"more than {max_headers} header fields in the response")
    return ResponseHead(int(code), reason or "", "1.1" if minor == "1" else "1.0", headers)


def _fields_line_by_line(lines: list[bytes]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for raw in lines:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line:
            continue
        if line[0] in b" \t":  # obs-fold: RFC 9112 5.2 says a user agent unfolds it
            if not headers:
                raise ProtocolError("a header block that starts with a continuation line")
            if _BAD_VALUE.search(line):
                raise ProtocolError(f"invalid header value {line[:100]!r}")
            name, value = headers[-1]
            more = line.strip(b" \t").decode("latin-1")
            headers[-1] = (name, f"{value} {more}".rstrip())
            continue
        field = _FIELD.fullmatch(line)
        if field is None:
            raise ProtocolError(f"malformed header line {line[:100]!r}")
        value_bytes = field.group(2)
        if _BAD_VALUE.search(value_bytes):
            raise ProtocolError(f"invalid header value {line[:100]!r}")
        headers.append((field.group(1).decode("ascii"), value_bytes.decode("latin-1")))
    return headers


def _frame(head: ResponseHead, method: bytes) -> int:
    """Set the head's framing fields; return the state that reads its body."""
    status = head.status
    connection = transfer = ""
    lengths: list[str] = []
    for name, value in head.headers:
        if name[0] not in "cCtT":  # none of the names below
            continue
        lower = name.lower()
        if lower == "content-length":
            lengths.append(value)
        elif lower == "transfer-encoding":
            transfer = f"{transfer},{value}" if transfer else value
        elif lower == "connection":
            connection = f"{connection},{value}" if connection else value
        elif lower == "content-encoding":
            head.content_encoding = (
                f"{head.content_encoding},{value}" if head.content_encoding else value
            )
    if not connection:
        head.keep_alive = head.version == "1.1"
    else:
        lowered = connection.lower()
        tokens = {t.strip() for t in lowered.split(",")} if "," in lowered else {lowered.strip()}
        if head.version == "1.1":
            head.keep_alive = "close" not in tokens
        else:
            head.keep_alive = "keep-alive" in tokens and "close" not in tokens
    if status < 200 or status in (204, 304) or method == b"HEAD":
        return _DONE
    if method == b"CONNECT" and status < 300:
        return _TUNNEL
    if transfer:
        codings = [c.strip().lower() for c in transfer.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise ProtocolError(f"unsupported transfer coding {transfer!r}")
        if lengths:  # RFC 9112 6.3: Transfer-Encoding wins, and the connection must close
            head.keep_alive = False
        head.chunked = True
        return _CHUNK_SIZE
    if lengths:
        if len(lengths) == 1 and "," not in lengths[0]:
            text = lengths[0]  # values come stripped from parse_head
        else:
            values = {v.strip() for item in lengths for v in item.split(",")}
            if len(values) != 1:
                raise ProtocolError(f"conflicting Content-Length values {lengths!r}")
            text = values.pop()
        if not text.isdigit() or not text.isascii() or len(text) > 18:
            raise ProtocolError(f"invalid Content-Length {text!r}")
        head.content_length = int(text)
        return _LENGTH
    head.keep_alive = False  # the body ends when the connection does
    return _UNTIL_CLOSE


class ResponseParser:
    """Parses the responses of one connection, one after another.

    Args:
        max_head_size: bytes a head (status line and fields) may take; more is a LimitError.
        max_headers: header fields a head may have.
    """

    __slots__ = (
        "_buf",
        "_method",
        "_remaining",
        "_scan",
        "_state",
        "_trailer_size",
        "head",
        "max_head_size",
        "max_headers",
    )

    def __init__(self, max_head_size: int = 64 * 1024, max_headers: int = 100) -> None:
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        self._buf = b""
        self._state = _DONE
        self._method = b"GET"
        self._remaining = 0
        self._scan = 0
        self._trailer_size = 0
        self.head: ResponseHead | None = None  # the final head of the current response

    def expect(self, method: str | bytes) -> None:
        """Get ready for the response to a request of ``method``."""
        if self._state not in (_DONE, _HEAD):
            raise ProtocolError("a new response was expected before the last one ended")
        self._method = method.encode("ascii") if isinstance(method, str) else method
        self._state = _HEAD
        self._scan = 0
        self.head = None

    @property
    def unread(self) -> bytes:
        """Bytes after the end of the response (or the tunnel's first bytes)."""
        return self._buf if self._state in (_DONE, _TUNNEL) else b""

    @property
    def complete(self) -> bool:
        """The response is complete (or became a tunnel)."""
        return self._state in (_DONE, _TUNNEL)

    @property
    def started(self) -> bool:
        """Some byte of the current response has arrived."""
        return self._state != _HEAD or bool(self._buf)

    def feed(self, data: bytes) -> list[object]:
        """Parse ``data``; return the events it completes."""
        buf = self._buf + data if self._buf else data
        pos = 0
        end = len(buf)
        events: list[object] = []
        try:
            while pos < end:
                state = self._state
                if state in (_LENGTH, _CHUNK_DATA):
                    take = min(end - pos, self._remaining)
                    events.append(buf if take == end and pos == 0 else buf[pos : pos + take])
                    pos += take
                    self._remaining -= take
                    if not self._remaining:
                        if state == _LENGTH:
                            self._state = _DONE
                            events.append(END)
                        else:
                            self._state = _CHUNK_END
                elif state == _HEAD:
                    found = _HEAD_END.search(buf, pos + self._scan)
                    if found is None:
                        if end - pos > self.max_head_size:
                            raise LimitError(f"response head over {self.max_head_size} bytes")
                        self._scan = max(0, end - pos - 2)
                        break
                    if found.start() - pos > self.max_head_size:
                        raise LimitError(f"response head over {self.max_head_size} bytes")
                    head = parse_head(buf[pos : found.start()], self.max_headers)
                    pos = found.end()
                    self._scan = 0
                    events.append(head)
                    if head.status < 200:
                        if head.status == 101:
                            raise ProtocolError(
                                "101 Switching Protocols to a request without Upgrade"
                            )
                        continue  # informational: the final head follows
                    self.head = head
                    next_state = _frame(head, self._method)
                    if next_state == _LENGTH:
                        assert head.content_length is not None
                        self._remaining = head.content_length
                        if not self._remaining:
                            next_state = _DONE
                    self._state = next_state
                    if next_state == _DONE:
                        events.append(END)
                    elif next_state == _CHUNK_SIZE:
                        self._trailer_size = 0
                elif state == _CHUNK_SIZE:
                    newline = buf.find(b"\n", pos, pos + _MAX_CHUNK_LINE)
                    if newline < 0:
                        if end - pos >= _MAX_CHUNK_LINE:
                            raise ProtocolError("a chunk size line that does not end")
                        break
                    line = buf[pos:newline]
                    match = _CHUNK_LINE.fullmatch(line[:-1] if line.endswith(b"\r") else line)
                    if match is None:
                        raise ProtocolError(f"bad chunk size line {line[:100]!r}")
                    pos = newline + 1
                    self._remaining = int(match.group(1), 16)
                    self._state = _CHUNK_DATA if self._remaining else _TRAILERS
                elif state == _CHUNK_END:
                    if buf.startswith(b"\r\n", pos):
                        pos += 2
                    elif buf.startswith(b"\n", pos):
                        pos += 1
                    elif end - pos == 1 and buf[pos] == 13:
                        break  # the \n is on its way
                    else:
                        raise ProtocolError("chunk data longer than its chunk size")
                    self._state = _CHUNK_SIZE
                elif state == _TRAILERS:
                    newline = buf.find(b"\n", pos)
                    if newline < 0:
                        if self._trailer_size + end - pos > self.max_head_size:
                            raise LimitError(f"trailers over {self.max_head_size} bytes")
                        break
                    line = buf[pos:newline]
                    self._trailer_size += newline + 1 - pos
                    if self._trailer_size > self.max_head_size:
                        raise LimitError(f"trailers over {self.max_head_size} bytes")
                    pos = newline + 1
                    if line in (b"", b"\r"):
                        self._state = _DONE
                        events.append(END)
                    elif _FIELD.fullmatch(line.rstrip(b"\r")) is None:
                        raise ProtocolError(f"malformed trailer line {line[:100]!r}")
                elif state == _UNTIL_CLOSE:
                    events.append(buf if pos == 0 else buf[pos:])
                    pos = end
                else:  # done, tunnel: what follows is not ours to parse now
                    break
        except (ProtocolError, LimitError):
            self._state = _BROKEN
            self._buf = b""
            raise
        self._buf = buf[pos:] if pos else buf
        return events

    def feed_eof(self) -> list[object]:
        """The server closed its side: end a body that runs until close, or raise
        ProtocolError for a response cut short."""
        state = self._state
        if state == _UNTIL_CLOSE:
            self._state = _DONE
            return [END]
        if state in (_DONE, _TUNNEL):
            return []
        self._state = _BROKEN
        if state == _HEAD:
            raise ProtocolError("the server closed the connection without a complete response head")
        raise ProtocolError("the server closed the connection before the response body ended")
