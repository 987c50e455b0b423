"""Reading a request head: validate it whole, then pull out the fields that frame the body.

A head is checked against the grammar of RFC 9112 (:data:`GRAMMAR`, a regular expression)
by byte-table passes that accept exactly what it matches: every byte of the head in one
``translate``, CR and LF only as line ends, each field name a token. A regular expression
engine takes some 25 instructions per byte of a head, the tables a few, and a browser's
head is half a kilobyte. The handful of fields the server itself needs (Content-Length,
Transfer-Encoding, Host, Connection, Expect) are found by searching the lower-cased head.
Results for a head seen before are cached: clients repeat the same head over and over.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from ._errors import RequestError

V = TypeVar("V")

__all__ = [
    "GRAMMAR",
    "Head",
    "HeadCache",
    "analyse",
    "dechunk_size",
    "field_values",
    "find",
    "valid",
]

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TARGET = rb"[\x21-\x7e\x80-\xff]+"
_VALUE = rb"[\t\x20-\x7e\x80-\xff]*"
_LINE = rb"(" + _TOKEN + rb") (" + _TARGET + rb") HTTP/(\d\.\d)"
#: The request line and field lines of a head (RFC 9112 2.1, 3, 5), as :func:`valid` reads it.
GRAMMAR = re.compile(_LINE + rb"(?:\r\n" + _TOKEN + rb":" + _VALUE + rb")*")
_REQUEST_LINE = re.compile(_LINE)
# the request line at the start of a head: one pass, where splitting and checking its
# three parts takes a call per check
_REQUEST_LINE_AT = re.compile(_LINE + rb"(?:\r\n|\Z)")
_FIELD = re.compile(_TOKEN + rb":" + _VALUE)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")

_TOKEN_CHARS = rb"!#$%&'*+\-.^_`|~0-9a-z"  # a token, lower-cased
# lower-cases, and makes every byte a head may not hold (a control character other than
# HTAB, CR and LF, or DEL) a NUL, for one search to find
_LOWER_CHECK = bytes(
    c + 32 if 65 <= c <= 90 else 0 if (c < 32 and c not in (9, 10, 13)) or c == 127 else c
    for c in range(256)
)
# at each line of a lower-cased head: the name of a field that frames the request, or b""
# for a line that does not start "name:" (nothing for the other fields)
_FRAMING = re.compile(
    rb"\r\n(?:(content-length|transfer-encoding|host|connection|expect):|(?!["
    + _TOKEN_CHARS
    + rb"]+:))"
)


class Head:
    """What a request head says that frames the request and its answer (made once per
    distinct head, which is cached). A class with slots, not a NamedTuple: its fields are
    read by name on the per-request path, where a slot is a plain load."""

    __slots__ = (
        "chunked",
        "expect_continue",
        "keep_alive",
        "length",
        "method",
        "path",
        "plain",
        "uri",
        "version",
    )

    def __init__(
        self,
        method: str,
        uri: str,
        version: str,
        keep_alive: bool,
        length: int,
        chunked: bool,
        expect_continue: bool,
    ) -> None:
        self.method = method
        self.uri = uri
        self.version = version  # "1.1" or "1.0"
        self.keep_alive = keep_alive
        self.length = length  # Content-Length, 0 when absent
        self.chunked = chunked
        self.expect_continue = expect_continue
        # keep-alive HTTP/1.1 and not HEAD: the common case of an answer (HttpExchange.hello)
        self.plain = keep_alive and version == "1.1" and method != "HEAD"
        # the target's path, decoded (Request.path), once a request of this head asks
        self.path: str | None = None

    def __repr__(self) -> str:
        return f"<Head {self.method} {self.uri} HTTP/{self.version}>"


class HeadCache(Generic[V]):
    """What is worked out from request heads, kept by head for the heads that come again.

    Look a head up in :attr:`known` (a dict by the head's bytes); :meth:`offer` what was
    worked out for one that was not there. A value is kept the second time its head is
    offered, not the first: heads that never come again (a browser's, with its path, query
    and cookies) are the most, and kept at once each would hold fresh memory until the
    table is cleared, so that every request touched memory no cache of the processor holds
    (several hundred misses a request). Heads over ``longest`` bytes are not kept; each
    table is cleared when it holds ``size`` heads.
    """

    __slots__ = ("known", "longest", "seen", "size")

    def __init__(self, size: int = 1024, longest: int = 2048) -> None:
        self.known: dict[bytes, V] = {}
        self.seen: set[int] = set()  # the hashes of heads offered once
        self.size = size
        self.longest = longest

    def offer(self, head: bytes, value: V) -> None:
        """Keep ``value`` for ``head`` if the head was offered before."""
        if len(head) > self.longest:
            return
        key = hash(head)  # (the bytes keep it: the lookup in known made it)
        seen = self.seen
        if key in seen:
            known = self.known
            if len(known) >= self.size:
                known.clear()
            known[head] = value
        else:
            if len(seen) >= self.size:
                seen.clear()
            seen.add(key)


_cache: Final[HeadCache[Head]] = HeadCache()


def _values(lower: bytes, needle: bytes, head: bytes | None = None) -> list[bytes]:
    """Every value of the field ``needle`` (``b"\\r\\nname:"``) in a lower-cased head,
    lower-cased, or as in ``head`` (the head before lowering) when given."""
    parts = lower.split(needle)
    found: list[bytes] = []
    if len(parts) == 1:
        return found
    source = lower if head is None else head
    at = len(parts[0])
    skip = len(needle)
    for i in range(1, len(parts)):
        part = parts[i]
        at += skip
        size = len(part.partition(b"\r\n")[0])
        found.append(source[at : at + size].strip(b" \t"))
        at += len(part)
    return found


class _Lowered:
    """The head :func:`valid` passed last and its lower-cased bytes: a handler that reads
    a field of the request it was just given (:func:`field_values`) finds it lowered."""

    __slots__ = ("head", "lower")

    def __init__(self) -> None:
        self.head = b""
        self.lower = b""


_lowered: Final = _Lowered()


def field_values(head: bytes, name: bytes) -> list[bytes]:
    """Every value of the field ``name`` (lower case) in a valid head, as sent: one field
    read without making the dict of them all."""
    lower = _lowered.lower if head is _lowered.head else head.lower()
    return _field(lower, b"\r\n" + name + b":", head)


def _tokens(values: list[bytes]) -> list[bytes]:
    return [t.strip(b" \t") for v in values for t in v.split(b",") if t.strip(b" \t")]


def _diagnose(head: bytes) -> RequestError:
    lines = head.split(b"\r\n")
    if not _REQUEST_LINE.fullmatch(lines[0]):
        return RequestError(400, "malformed request line")
    for line in lines[1:]:
        if not _FIELD.fullmatch(line):
            name = line.partition(b":")[0]
            if line[:1] in (b" ", b"\t"):
                return RequestError(400, "obsolete line folding in the header block")
            if b":" not in line or not re.fullmatch(_TOKEN, name):
                return RequestError(400, f"invalid header name {name[:40]!r}")
            return RequestError(400, f"invalid characters in the value of header {name[:40]!r}")
    return RequestError(400, "malformed header block")


def _request_line(head: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The method, target and version (``b"1.1"``) of the request line that starts a head
    :data:`GRAMMAR` accepts (its bytes already known to be field-value bytes), else None."""
    line = _REQUEST_LINE_AT.match(head)
    if line is None:
        return None
    return line[1], line[2], line[3]


def valid(head: bytes) -> tuple[tuple[bytes, bytes, bytes], bytes, list[bytes]] | None:
    """For a head that :data:`GRAMMAR` matches whole: its method, target and version
    (``b"1.1"``), the head lower-cased, and the names of the fields in it that frame the
    request, in order; else None. The same answer as the expression's, in passes over the
    bytes that take a few instructions per byte where it takes 25."""
    lower = head.translate(_LOWER_CHECK)
    # (partition, not find: bytes.find parses its arguments as a tuple, a few hundred
    # instructions a call; partition takes one, and copies nothing when it finds nothing)
    if lower.partition(b"\x00")[1]:
        return None  # a control character (other than HTAB) or DEL
    lines = lower.replace(b"\r\n", b"")
    if lines.partition(b"\r")[1] or lines.partition(b"\n")[1]:
        return None  # a bare CR or LF
    framing = _FRAMING.findall(lower)
    if b"" in framing:
        return None  # an empty line, or a field name that is not a token
    parts = _request_line(head)
    if parts is None:
        return None
    return parts, lower, framing


_Checked = tuple[tuple[bytes, bytes, bytes], bytes, list[bytes]]


def _kernels() -> tuple[
    Callable[[bytes], _Checked | None],
    Callable[[bytes, bytes, bytes], list[bytes]],
    Callable[[bytes, bytes, int], int],
]:
    """:func:`valid`, :func:`_values` and ``bytes.find`` in C where the build has them
    (``_scan.c``, one pass over the bytes each), else themselves."""
    try:
        from ._scan import find, values  # noqa: PLC0415 (the compiled build's)
        from ._scan import valid as scan  # noqa: PLC0415
    except ImportError:  # the pure build
        return valid, _values, bytes.find
    return scan, values, find


_KERNELS: Final = _kernels()
_valid: Final = _KERNELS[0]
_field: Final = _KERNELS[1]
#: ``bytes.find(haystack, needle, start)``; in C where the build has it: the end of a head
#: is looked for once per request, and the method parses its arguments as a tuple (most of
#: what a search of a short head costs)
find: Final = _KERNELS[2]


def analyse(head: bytes) -> Head:
    """Validate a head (request line and fields, without the blank line that ends it).

    Raises:
        RequestError: 400 for bad syntax, a missing or repeated Host on HTTP/1.1,
            conflicting framing; 501 for a transfer coding other than chunked; 505 for
            an HTTP version other than 1.0 and 1.1; 417 for an unknown expectation.
    """
    known = _cache.known.get(head)
    if known is not None:
        return known
    checked = _valid(head)
    if checked is None:
        raise _diagnose(head)
    (method, uri, version), lower, framing = checked
    _lowered.head = head
    _lowered.lower = lower
    if version not in (b"1.1", b"1.0"):
        raise RequestError(505, f"HTTP/{version.decode()} is not supported")
    v11 = version == b"1.1"
    hosts = framing.count(b"host")
    lengths: list[bytes] = []
    codings: list[bytes] = []
    connection: list[bytes] = []
    expectations: list[bytes] = []
    if len(framing) > hosts:  # (most heads have none of the others)
        if b"content-length" in framing:
            lengths = _field(lower, b"\r\ncontent-length:", lower)
        if b"transfer-encoding" in framing:
            codings = _tokens(_field(lower, b"\r\ntransfer-encoding:", lower))
        if b"connection" in framing:
            connection = _tokens(_field(lower, b"\r\nconnection:", lower))
        if b"expect" in framing:
            expectations = _field(lower, b"\r\nexpect:", lower)
    if hosts > 1 or (v11 and not hosts):
        raise RequestError(400, "HTTP/1.1 needs exactly one Host header")
    length = 0
    chunked = False
    if codings:
        if lengths:
            raise RequestError(400, "both Content-Length and Transfer-Encoding")
        if not v11:
            raise RequestError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if codings != [b"chunked"]:
            raise RequestError(501, "only the chunked transfer coding is supported")
        chunked = True
    elif lengths:
        if len(set(lengths)) != 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
            raise RequestError(400, "invalid Content-Length")
        length = int(lengths[0])
    keep_alive = v11
    if connection:
        keep_alive = b"close" not in connection and (v11 or b"keep-alive" in connection)
    expect = False
    if expectations:
        if _tokens(expectations) != [b"100-continue"]:
            raise RequestError(417, "the only expectation supported is 100-continue")
        expect = v11
    result = Head(
        method.decode(),
        uri.decode("latin-1"),
        version.decode(),
        keep_alive,
        length,
        chunked,
        expect,
    )
    _cache.offer(head, result)
    return result


_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
# RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
_CHUNK_EXT = re.compile(
    rb"(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
)


def dechunk_size(line: bytes) -> int:
    """The size of a chunk from its size line; extensions are checked, then ignored.

    Raises:
        RequestError: 400 when the line is not a hex size, or an extension is malformed
            (a NUL, a bare LF or CR, a control character: the "funky chunks" that let a
            proxy and a server disagree on where a body ends).
    """
    size, semicolon, extensions = line.partition(b";")
    size = size.rstrip(b" \t")
    if not _HEX.fullmatch(size):
        raise RequestError(400, f"invalid chunk size line {line[:40]!r}")
    if semicolon and not _CHUNK_EXT.fullmatch(b";" + extensions):
        raise RequestError(400, f"malformed chunk extension in {line[:40]!r}")
    return int(size, 16)
