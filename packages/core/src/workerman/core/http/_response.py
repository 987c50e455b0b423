"""What a handler sends: Response, Chunk and ServerSentEvents, and the bytes they become."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final

from mypy_extensions import mypyc_attr

from ._cookies import format_cookie

__all__ = ["Chunk", "Response", "ServerSentEvents", "date_header", "reason_of", "status_line"]

_REASONS: dict[int, str] = {s.value: s.phrase for s in HTTPStatus}
_REASONS[419] = "Page Expired"  # not in http.HTTPStatus, but Laravel and Workerman name it
_BAD_FIELD: Final = frozenset("\r\n\0")


def reason_of(status: int) -> str:
    """The standard reason phrase of ``status`` ('' for an unknown code)."""
    return _REASONS.get(status, "")


_status_lines: Final[dict[tuple[int, str, str], bytes]] = {}


def status_line(status: int, reason: str, version: str = "1.1") -> bytes:
    """``HTTP/1.1 200 OK\\r\\n``, cached per (status, reason, version)."""
    key = (status, reason, version)
    line = _status_lines.get(key)
    if line is None:
        line = f"HTTP/{version} {status} {reason}\r\n".encode("latin-1")
        if len(_status_lines) < 256:
            _status_lines[key] = line
    return line


class _Clock:
    """The Date header line of the current second (an object, not two rebound globals:
    compiled code reads a rebound global through the module's dict, a field directly)."""

    __slots__ = ("line", "until")

    def __init__(self) -> None:
        self.line = b""
        self.until = 0.0


_clock: Final = _Clock()
_time: Final = time.time


def date_header() -> bytes:
    """``Date: ...`` and CRLF, formatted once a second."""
    clock = _clock
    now = _time()
    if now >= clock.until:
        second = int(now)
        clock.until = second + 1.0
        clock.line = b"Date: " + formatdate(second, usegmt=True).encode() + b"\r\n"
    return clock.line


# the header names the answer code reads from ``_headers`` (a response built from encoded
# fields keeps only these there), and those of them that frame the body (kept out of its
# encoded block: the server writes its own, or drops them)
_INSPECTED: Final = frozenset(
    {"server", "date", "content-type", "connection", "content-length", "transfer-encoding"}
)
_FRAMING_NAMES: Final = frozenset({"content-length", "transfer-encoding"})
_BAD_NAME: Final = frozenset(b"\r\n\0: ")
_BAD_VALUE: Final = frozenset(b"\r\n\0")
# (Any: a compiled build would check each pair's type, and lists are as valid as tuples)
Fields = tuple[Any, ...]


class Encoded:
    """A list of header fields as ``Response.from_fields`` encodes it, kept per list seen
    before (apps send the same header lists again and again): the block of its lines (all
    but the framing ones), the entries of the inspected names, and, when nothing in it
    changes how the body is framed or the connection kept (``plain``), the whole heads
    answered with it, by status, body length and version, for the current second (their
    ``Date``): the exchange (``HttpExchange.encode_apart``) builds each head once."""

    __slots__ = ("block", "heads", "inspected", "plain", "until")

    def __init__(self, block: bytes, inspected: dict[str, tuple[str, Any]]) -> None:
        self.block = block
        self.inspected = inspected
        kind = inspected.get("content-type")
        self.plain = (
            "transfer-encoding" not in inspected
            and "connection" not in inspected
            and (kind is None or not str(kind[1]).lower().startswith("text/event-stream"))
        )
        self.heads: dict[int, bytes] = {}
        self.until = 0.0


# encoded fields seen before -> their encoding
_encoded: Final[dict[Fields, Encoded]] = {}


def _encode_fields(fields: Fields) -> Encoded:
    """The block of ``name: value`` lines of ``fields`` (all but the framing ones), and
    the entries of the inspected names, as ``Response.header`` would have made them."""
    lines: list[bytes] = []
    inspected: dict[str, tuple[str, Any]] = {}
    for name, value in fields:
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError(f"header fields are (bytes, bytes) pairs, not {(name, value)!r}")
        if not name or not _BAD_NAME.isdisjoint(name):
            raise ValueError(f"{name!r} is not a header name (empty, CR, LF, NUL, : or space)")
        if not _BAD_VALUE.isdisjoint(value):
            raise ValueError(f"header value {value!r} contains CR, LF or NUL")
        text = name.decode("latin-1")
        key = text.lower()
        if key in _INSPECTED:
            _add_entry(inspected, key, text, value.decode("latin-1"))
            if key in _FRAMING_NAMES:
                continue
        lines.append(b"%b: %b\r\n" % (name, value))
    return Encoded(b"".join(lines), inspected)


def _add_entry(headers: dict[str, tuple[str, Any]], key: str, name: str, value: str) -> None:
    """Add a field to ``headers`` (lower-cased name -> (name, value)): a name seen before
    gets a list of its values, in order."""
    seen = headers.get(key)
    if seen is None:
        headers[key] = (name, value)
    elif isinstance(seen[1], list):
        seen[1].append(value)
    else:
        headers[key] = (seen[0], [seen[1], value])


def _check_status(status: int) -> int:
    if not 100 <= status <= 999:
        raise ValueError(f"status {status} is not a three-digit HTTP status")
    return status


def _check_field(text: str, what: str) -> str:
    if not _BAD_FIELD.isdisjoint(text):
        raise ValueError(f"header {what} {text!r} contains CR, LF or NUL")
    return text


@mypyc_attr(allow_interpreted_subclasses=True)  # a public class: users subclass it
class Response:
    """An HTTP response: status, headers and a body, a file, or the head of a stream.

    ``Response(200, {"Content-Type": "application/json"}, b'{"ok":true}')``. Header
    names keep the case they were given in and are matched without case. Every
    ``with_*``/``header`` method changes this response and returns it, so calls chain.

    A body of ``str`` is sent as UTF-8. A body that is an iterable of ``str``/``bytes``
    pieces (a generator) is streamed: a piece is taken each time the client has read the
    last ones, so the whole never sits in memory; it goes chunked, or as it is under a
    ``Content-Length`` header the handler gives. A ``Transfer-Encoding: chunked`` header makes
    the response a stream of :class:`Chunk` sends (an empty Chunk ends it); a
    ``Content-Type: text/event-stream`` header makes it a stream of
    :class:`ServerSentEvents` that lasts until the connection closes.
    """

    __slots__ = (
        "_body",
        "_cookies",
        "_encoded",
        "_file",
        "_headers",
        "_raw",
        "_reason",
        "_source",
        "_status",
        "_version",
    )

    def __init__(
        self,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: str | bytes | Iterable[str | bytes] = b"",
    ) -> None:
        self._status = status
        self._reason = ""
        self._version = ""
        # lower-cased name -> (name as given, value or list of values)
        self._headers: dict[str, tuple[str, Any]] = {}
        # from_fields: the encoded header lines, ``_headers`` holding only the names the
        # answer code reads (any other use of the headers decodes the lines first)
        self._raw: bytes | None = None
        # ... and their Encoded, while the lines are the response's headers
        self._encoded: Encoded | None = None
        self._cookies: list[str] | None = None
        self._file: tuple[str, int, int] | None = None
        self._body: bytes = b""
        self._source: Iterator[str | bytes] | None = None
        self._set_body(body)
        if headers:
            for name, value in headers.items():
                self.header(name, value)

    @classmethod
    def from_fields(
        cls,
        status: int,
        fields: Iterable[tuple[bytes, bytes]],
        body: str | bytes | Iterable[str | bytes] = b"",
    ) -> Response:
        """A response whose header fields are already bytes: ``(name, value)`` pairs, as
        an ASGI app sends them, sent as given (in order, names in the case given, a
        repeated name repeated). The server's framing applies as for :meth:`header`: a
        ``Content-Length`` is replaced by the body's own length.

        Cheaper than setting each header: the lines of a list of fields seen before are
        reused, not checked and encoded again.

        Raises:
            ValueError: a status outside 100-999, an empty name, a name with a CR, LF,
                NUL, colon or space, or a value with a CR, LF or NUL.
        """
        _check_status(status)
        key: Fields = tuple(fields)
        try:
            known = _encoded.get(key)
        except TypeError:  # [name, value] lists, or bytearray: as valid, but not hashable
            key = tuple((bytes(name), bytes(value)) for name, value in key)
            known = _encoded.get(key)
        if known is None:
            known = _encode_fields(key)
            if len(_encoded) >= 256:
                _encoded.clear()
            _encoded[key] = known
        # (compiled, a call of the class itself is direct; of ``cls``, generic)
        response = Response(status, None, body) if cls is Response else cls(status, None, body)
        response._raw = known.block
        response._encoded = known
        response._headers = known.inspected.copy()
        return response

    def _decode_raw(self) -> None:
        """Turn the encoded lines of a :meth:`from_fields` response into ``_headers``
        entries, for the methods that read or change headers one by one."""
        raw = self._raw
        if raw is None:
            return
        self._raw = None
        self._encoded = None
        framing = self._headers
        headers: dict[str, tuple[str, Any]] = {}
        for line in raw.split(b"\r\n")[:-1]:
            name, _, value = line.partition(b": ")
            text = name.decode("latin-1")
            _add_entry(headers, text.lower(), text, value.decode("latin-1"))
        for framing_key in _FRAMING_NAMES:
            given = framing.get(framing_key)
            if given is not None:  # a list of values is the cache's: this response's own copy
                given_name, given_value = given
                if isinstance(given_value, list):
                    given = (given_name, list(given_value))
                headers[framing_key] = given
        self._headers = headers

    # -- status --------------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._status

    @property
    def reason(self) -> str:
        """The reason phrase: the one set with :meth:`with_status`, else the standard one."""
        return self._reason or reason_of(self._status)

    def with_status(self, status: int, reason: str = "") -> Response:
        """Set the status code (100-999) and, optionally, the reason phrase."""
        self._status = _check_status(status)
        self._reason = _check_field(reason, "reason")
        return self

    def with_protocol_version(self, version: str) -> Response:
        """Answer as HTTP/``version`` ("1.0" or "1.1") instead of the request's version."""
        if version not in ("1.0", "1.1"):
            raise ValueError(f"HTTP version {version!r} is not 1.0 or 1.1")
        self._version = version
        return self

    # -- headers -------------------------------------------------------------------

    def header(self, name: str, value: Any) -> Response:
        """Set header ``name`` (replacing any value it had); a list value repeats it."""
        if self._raw is not None:
            self._decode_raw()
        _check_field(name, "name")
        if not name or ":" in name or " " in name:
            raise ValueError(f"{name!r} is not a header name")
        if isinstance(value, list | tuple):
            value = [_check_field(str(v), "value") for v in value]
        else:
            value = _check_field(str(value), "value")
        self._headers[name.lower()] = (name, value)
        return self

    def with_header(self, name: str, value: Any) -> Response:
        """The same as :meth:`header`."""
        return self.header(name, value)

    def with_headers(self, headers: dict[str, Any]) -> Response:
        """Set every header of ``headers`` (as :meth:`header` does, one by one)."""
        for name, value in headers.items():
            self.header(name, value)
        return self

    def without_header(self, name: str) -> Response:
        """Remove the header ``name`` (any case), if set."""
        if self._raw is not None:
            self._decode_raw()
        self._headers.pop(name.lower(), None)
        return self

    def get_header(self, name: str, default: Any = None) -> Any:
        """The value of the header ``name`` (any case), or ``default``."""
        if self._raw is not None:
            self._decode_raw()
        entry = self._headers.get(name.lower())
        return default if entry is None else entry[1]

    @property
    def headers(self) -> dict[str, Any]:
        """The headers as set, by the name they were given."""
        if self._raw is not None:
            self._decode_raw()
        return {name: value for name, value in self._headers.values()}

    def cookie(
        self,
        name: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: float | None = None,
        path: str = "",
        domain: str = "",
        secure: bool = False,
        http_only: bool = False,
        same_site: str = "",
        partitioned: bool = False,
    ) -> Response:
        """Add a ``Set-Cookie`` header; ``max_age=0`` deletes the cookie in the browser."""
        if self._cookies is None:
            self._cookies = []
        self._cookies.append(
            format_cookie(
                name,
                value,
                max_age=max_age,
                expires=expires,
                path=path,
                domain=domain,
                secure=secure,
                http_only=http_only,
                same_site=same_site,
                partitioned=partitioned,
            )
        )
        return self

    # -- body ----------------------------------------------------------------------

    @property
    def body(self) -> bytes:
        return self._body

    def with_body(self, body: str | bytes | Iterable[str | bytes]) -> Response:
        """Replace the body (a ``str`` is encoded as UTF-8; an iterable of pieces is
        streamed)."""
        self._set_body(body)
        return self

    def _set_body(self, body: Any) -> None:
        kind = type(body)
        self._source = None
        if kind is bytes:
            self._body = body
        elif kind is str:
            self._body = body.encode()
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self._body = bytes(body)
        elif hasattr(body, "__aiter__"):
            raise TypeError(
                "a Response body cannot be an async iterable: send Chunk pieces from an "
                "async handler instead (see Transfer-Encoding: chunked)"
            )
        elif hasattr(body, "__iter__") and not isinstance(body, (dict, set, frozenset)):
            self._body = b""
            self._source = iter(body)
        else:
            raise TypeError(
                f"a Response body is str, bytes or an iterable of them, not {kind.__name__}"
            )

    def with_file(self, path: str | os.PathLike[str], offset: int = 0, length: int = 0) -> Response:
        """Send the file at ``path`` (from ``offset``, ``length`` bytes; 0: to the end),
        read and sent in pieces as the client takes them. A request's Range header is
        honoured (206, or 416 when it cannot be satisfied) when neither is given; a
        missing file is a 404."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        if self._raw is not None:  # the file's sending reads headers one by one
            self._decode_raw()
        self._file = (os.fspath(path), offset, length)
        return self

    @property
    def file(self) -> tuple[str, int, int] | None:
        """(path, offset, length) given to :meth:`with_file`, or None."""
        return self._file

    def _head_fields(self, skip: frozenset[str] = frozenset()) -> list[bytes]:
        """The header lines as set (Set-Cookie lines included), CRLF-terminated, but
        for the (lower-cased) names in ``skip``."""
        lines: list[bytes] = []
        raw = self._raw
        if raw is not None:
            lines.append(raw)
        for key, (name, value) in self._headers.items():
            if key in skip or (raw is not None and key not in _FRAMING_NAMES):
                continue
            if isinstance(value, list):
                lines.extend(f"{name}: {v}\r\n".encode("latin-1") for v in value)
            else:
                lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        if self._cookies:
            lines.extend(f"Set-Cookie: {c}\r\n".encode("latin-1") for c in self._cookies)
        return lines

    def __repr__(self) -> str:
        return f"<Response {self._status} {self.reason}>"


@mypyc_attr(allow_interpreted_subclasses=True)  # a public class: users subclass it
class Chunk:
    """One piece of a chunked response; ``Chunk(b"")`` (or ``Chunk()``) ends it."""

    __slots__ = ("data",)

    def __init__(self, data: str | bytes = b"") -> None:
        self.data = data.encode() if isinstance(data, str) else bytes(data)

    def encode(self) -> bytes:
        data = self.data
        if not data:
            return b"0\r\n\r\n"
        return b"%x\r\n%b\r\n" % (len(data), data)


@mypyc_attr(allow_interpreted_subclasses=True)  # a public class: users subclass it
class ServerSentEvents:
    """One event of a ``text/event-stream`` response.

    ``ServerSentEvents(data="hello", event="greeting", id="7", retry=3000)``, or a dict
    with those keys; ``comment`` sends a ``:`` line (a keep-alive). Multi-line data is
    split into several ``data:`` lines, as the format requires.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: str | dict[str, Any] | None = None,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if isinstance(data, dict):
            fields = data
            data = fields.get("data")
            event = fields.get("event", event)
            id = fields.get("id", id)
            retry = fields.get("retry", retry)
            comment = fields.get("comment", comment)
        for what, text in (("event", event), ("id", id)):
            if text is not None and not _BAD_FIELD.isdisjoint(str(text)):
                raise ValueError(f"server-sent event {what} cannot contain CR, LF or NUL")
        self.data = None if data is None else str(data)
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        parts: list[str] = []
        if self.comment is not None:
            parts.extend(f": {line}\n" for line in self.comment.splitlines() or [""])
        if self.event is not None:
            parts.append(f"event: {self.event}\n")
        if self.id is not None:
            parts.append(f"id: {self.id}\n")
        if self.retry is not None:
            parts.append(f"retry: {int(self.retry)}\n")
        if self.data is not None:
            lines = self.data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            parts.extend(f"data: {line}\n" for line in lines)
        parts.append("\n")
        return "".join(parts).encode()
