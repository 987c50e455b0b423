"""HttpExchange: the HTTP/1.1 exchange of one connection as a sans-IO state machine.

The machine is fed the bytes a client sends (:meth:`HttpExchange.receive`) and says,
one event at a time (:meth:`HttpExchange.next_event`), what they mean: a whole request,
the head of a request whose large body follows in parts, a part of that body, bytes to
send now (a ``100 Continue``), or that it needs more bytes, or that it waits for the
response to the request it handed out. Every response is encoded by the machine too, and
what it returns are the bytes to send. It owns the decisions of the exchange, and
nothing else: no socket, loop, timer or file is in sight, so it is tested by feeding it
bytes, and the connection's glue (``_protocol``, ``_reading``, ``_exchange``) acts on
what it says.

The theory is the one of HTTP/1.1 on one connection (RFC 9112), for a server:

- Requests are framed by their head: no body, a ``Content-Length``, or chunked (with
  the chunk cursor kept between reads, so a body arriving in many reads is decoded once).
  The whole request counts against ``max_size``, a head against ``max_header_size``
  (431), the chunks against ``max_chunks`` (413).
- One request is outstanding at a time: a pipelined request after it stays unread until
  the response is complete (a whole body, the last chunk, the end of a pumped body),
  so responses leave in request order whatever the handler does.
- Whether the connection stays open is decided per request: the client's keep-alive
  (HTTP/1.0 asks for it, 1.1 has it unless ``Connection: close``), the countdown of
  ``max_keepalive_requests``, a draining server, and a ``Connection: close`` the
  response sets. When the response is complete, :attr:`close_after` says whether the
  connection closes now.

What the glue needs to run deadlines is in ``phase``: ``IDLE`` (nothing of a request
in), ``HEAD_BEGUN`` (a head has begun), ``BODY_BEGUN`` (a head is in, its body is not).
Once a response with ``close_after`` is complete, the exchange is over: the connection
closes.

On the per-request path every step counts (benchmarks/hotpath.py): ``next_event(data)``
takes the bytes and parses in one call, the head's fields are slots (``Head``), and the
close decision is made when asked (``close_after``), not per request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import FunctionType
from typing import Final

from ._errors import RequestError
from ._head import Head, _cache, analyse, dechunk_size, find
from ._response import Encoded, Response, date_header, reason_of, status_line

__all__ = ["CONTINUE", "HttpExchange", "error_bytes"]

#: what a client that sent ``Expect: 100-continue`` waits for before its body
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

#: a response body at least this large is kept apart from its head (encode_apart), not
#: copied into one piece with it
JOIN_MAX: Final = 64 * 1024

_SERVER: Final = b"Server: workerman\r\n"
_HTML: Final = b"Content-Type: text/html;charset=utf-8\r\n"
_NO_BODY: Final = frozenset({204, 304})
_LENGTH: Final = frozenset({"content-length"})
_FRAMING: Final = frozenset({"content-length", "transfer-encoding"})

# how the body of a response whose head is out goes on (HttpExchange.streaming)
_CHUNKED: Final = 1  # chunks, ended by the last chunk
_BARE: Final = 2  # as it is, under a Content-Length or ended by the close
_EVENTS: Final = 3  # server-sent events: bare, and only the close ends them
_DISCARD: Final = 4  # a chunked answer to HEAD: chunks are dropped, the last one ends it

_NO_HEAD = Head("", "", "1.1", False, 0, False, False)  # before the first request


_time: Final = time.time
_heads: Final = _cache.known  # (the dict itself: one lookup a new head, no attribute)


def _native() -> bool:
    """Whether this module is compiled (its functions are native, not FunctionType)."""
    return not isinstance(_native, FunctionType)


# Compiled, a repeated head is compared where it lies in the read (bytes.startswith is a
# C call there), not copied out first; in pure Python that method call costs more than
# the copy and compare it saves.
_IN_PLACE: Final = _native()
_find: Final = find
_HEAD_END: Final = b"\r\n\r\n"


class _Hellos:
    """The heads of hello() answers by body length, for the second before ``until`` (an
    object, not module globals: compiled code reads a rebound global through the module's
    dict, a field directly)."""

    __slots__ = ("head", "heads", "size", "until")

    def __init__(self) -> None:
        self.heads: dict[int, bytes] = {}
        self.until = 0.0
        self.size = -1  # the length of the last answer's body, and its head
        self.head = b""


_hellos: Final = _Hellos()


class HttpExchange:
    """The exchange of one HTTP/1.1 server connection, fed bytes, returning events and
    the bytes to send.

    Args:
        max_header_size: a head over this many bytes is refused (431).
        max_size: a whole request (head and body) over this many bytes is refused (413);
            the glue may change the attribute between reads.
        max_chunks: chunks one chunked body may have (413 beyond).
        spool_size: a body declared larger than this (0: none) that is not whole in the
            bytes at hand is handed out in parts (``HEAD``, ``DATA``..., ``END``)
            instead of being held until whole.
        max_keepalive_requests: requests on the connection; the last closes it (0: no limit).

    ``next_event()`` returns one of the event constants of the class; what goes with an
    event is in attributes: ``head`` (the head's bytes), ``info`` (its fields, a ``Head``),
    ``body`` (bytes), ``data`` (a body part, or bytes to send).
    """

    #: a whole request: ``head``, ``info``, ``body``; it is outstanding now
    REQUEST: Final = 1
    #: the head of a request whose body follows as ``DATA`` parts: ``head``, ``info``
    HEAD: Final = 2
    #: a part of that body: ``data``
    DATA: Final = 3
    #: that body is whole: the request (``head``, ``info``) is outstanding now
    END: Final = 4
    #: send ``data`` now (``100 Continue``: the client waits for it to send its body)
    SEND: Final = 5
    #: more bytes are needed (``phase`` says for what)
    NEED_DATA: Final = 6
    #: a request is outstanding: nothing more until its response is complete
    PAUSED: Final = 7

    #: phases of the reading side: what the bytes at hand are (the glue's deadlines)
    IDLE: Final = 0
    HEAD_BEGUN: Final = 1
    BODY_BEGUN: Final = 2

    __slots__ = (
        "_acc",
        "_buffer",
        "_closing",
        "_continued",
        "_cparts",
        "_cpos",
        "_csize",
        "_held",
        "_left",
        "_parts",
        "_plain",
        "_start",
        "_want",
        "body",
        "data",
        "head",
        "info",
        "max_chunks",
        "max_header_size",
        "max_size",
        "outstanding",
        "phase",
        "requests_left",
        "spool_size",
        "streaming",
    )

    def __init__(
        self,
        max_header_size: int = 16 * 1024,
        max_size: int = 10 * 1024 * 1024,
        max_chunks: int = 16 * 1024,
        spool_size: int = 0,
        max_keepalive_requests: int = 0,
    ) -> None:
        self.max_header_size = max_header_size
        self.max_size = max_size
        self.max_chunks = max_chunks
        self.spool_size = spool_size
        self.requests_left = max_keepalive_requests or -1  # the last one closes
        self.head = b""
        self.info = _NO_HEAD
        self.body = b""
        self.data = b""
        self.phase = 0
        self.outstanding = False  # a request is out; its response is not complete
        self._closing = False  # the connection closes after this response, whatever comes
        self.streaming = 0  # the response's head is out, its body goes on (_CHUNKED ...)
        self._plain: object = False  # its answer may be hello()'s (see Head.plain), not the last
        self._held = False  # bytes are held back: an incomplete request, a body in parts
        self._continued = 0  # requests_left of the request a 100 Continue was sent for
        self._buffer = b""  # the bytes at hand, unread from _start on
        self._start = 0
        self._acc: bytearray | None = None  # or there: an incomplete request, growing
        self._want = 0  # ... until it holds this many bytes (0: unknown)
        self._cpos = 0  # a chunked body: where decoding resumes, from the request's start
        self._cparts: list[bytes] = []
        self._csize = 0
        self._parts = False  # a body is being handed out in parts
        self._left = 0  # bytes of it still to come

    # -- receiving ---------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Take bytes the client sent."""
        if not data:
            return
        acc = self._acc
        if acc is not None:
            acc += data
            return
        buffer = self._buffer
        start = self._start
        if start < len(buffer):  # unread bytes: these come after them
            acc = self._acc = bytearray(buffer[start:] if start else buffer)
            acc += data
            self._want = 0
            self._buffer = b""
            self._start = 0
            self._held = True
        else:
            self._buffer = data
            self._start = 0

    @property
    def unread(self) -> int:
        """How many bytes the machine holds that it has not handed out."""
        acc = self._acc
        return len(acc) if acc is not None else len(self._buffer) - self._start

    def next_event(self, data: bytes = b"") -> int:
        """What the bytes at hand give next; with ``data``, after taking it (as
        ``receive(data)`` does, in the same call).

        Raises:
            RequestError: bytes that are not an acceptable request (it carries the
                status to answer with: 400, 413, 417, 431, 501, 505); the connection is
                answered and closed, the machine is used no more.
        """
        if self.outstanding or self._held:
            self.receive(data)
            return self._next_held()
        if data:
            if self.phase:  # bytes of the next request are unread: these come after them
                self.receive(data)
                return self._next_held()
            buffer = self._buffer = data  # the common case: nothing was left over
            start = 0
        else:
            buffer = self._buffer
            start = self._start
        size = len(buffer)
        if start >= size:
            self.phase = 0
            return 6  # NEED_DATA
        if buffer[start] == 13:
            while buffer.startswith(b"\r\n", start):
                start += 2  # empty lines before a request
            self._start = start
            if start >= size:
                self.phase = 0
                return 6  # NEED_DATA
        end = _find(buffer, _HEAD_END, start)
        if end < 0 or end - start > self.max_header_size:
            if end >= 0 or size - start > self.max_header_size:
                raise RequestError(431, "request header block too large")
            self._keep(start, 0)
            self.phase = 1
            return 6  # NEED_DATA
        info: Head | None
        if _IN_PLACE and start == 0 and end == len(self.head) and buffer.startswith(self.head):
            # the last request's head again, as clients repeat theirs, at the start of
            # the read (one request a read): compared where it lies, and not copied
            head = self.head
            info = self.info
        elif (head := buffer[start:end]) == self.head:  # again, in a pipelined read
            info = self.info
        else:
            info = _heads.get(head)
            if info is None:
                info = analyse(head)
            self.head = head
            self.info = info
        body_start = end + 4
        length = info.length
        if info.chunked:
            found, stop = self._dechunk(buffer, start, body_start)
            if found is None:
                self._compact(buffer, start, body_start, stop)
                return self._awaiting(info)
            body = found
        elif length:
            stop = body_start + length
            # the whole request counts: it is held while it arrives, under one limit
            if stop - start > self.max_size:
                raise RequestError(413, f"a request of {stop - start} bytes is over the limit")
            if stop > size:
                if 0 < self.spool_size < length:
                    self.head = head
                    self.info = info
                    self._parts = self._held = True
                    self._left = length
                    self._start = body_start
                    self.phase = 2
                    return 2  # HEAD
                self._keep(start, stop - start)
                return self._awaiting(info)
            body = buffer[body_start:stop]
        else:
            body = b""
            stop = body_start
        self._start = stop
        self.body = body
        # the request is out (as in _begin, written out: this is the per-request path)
        self.outstanding = True
        self.phase = stop < size  # (True, 1: the next request has begun)
        # (1 once draining: this request is the last)
        self.requests_left = left = self.requests_left - 1
        # hello() may answer (False once the response closes: close_after decides the rest)
        self._plain = left and info.plain
        return 1  # REQUEST

    def _next_held(self) -> int:
        """next_event() where a request is outstanding, or bytes are held back (an
        incomplete request, a body handed out in parts)."""
        if self.outstanding:
            return 7  # PAUSED
        acc = self._acc
        if acc is not None:
            if len(acc) < self._want:
                return 6  # NEED_DATA
            self._buffer = bytes(acc)
            self._start = 0
            self._acc = None
            self._want = 0
        if self._parts:
            return self._part()
        self._held = False
        return self.next_event()

    def _begin(self, info: Head) -> None:
        """A request is handed out: decide what its response ends with."""
        self.outstanding = True
        self.phase = 1 if self._start < len(self._buffer) else 0
        left = self.requests_left - 1  # (1 once draining: this request is the last)
        self.requests_left = left
        self._plain = left and info.plain

    def _awaiting(self, info: Head) -> int:
        """A head is in, its body is not: a client that waits for leave to send it gets it."""
        self.phase = 2
        # (requests_left counts down per request: no reset needed for the next one)
        if info.expect_continue and self._continued != self.requests_left:
            self._continued = self.requests_left
            self.data = CONTINUE
            return 5  # SEND
        return 6  # NEED_DATA

    def _part(self) -> int:
        """The next event of a body handed out in parts."""
        left = self._left
        if not left:
            self._parts = self._held = False
            self._begin(self.info)
            return 4  # END
        buffer = self._buffer
        start = self._start
        have = len(buffer) - start
        if have <= 0:
            return self._awaiting(self.info)
        take = min(have, left)
        self.data = buffer if not start and take == have else buffer[start : start + take]
        self._start = start + take
        self._left = left - take
        return 3  # DATA

    def _keep(self, start: int, want: int) -> None:
        """The request from ``start`` on is incomplete: hold it until ``want`` bytes of
        it are in (0: look again at every read)."""
        buffer = self._buffer
        self._acc = bytearray(buffer[start:] if start else buffer)
        self._want = want
        self._buffer = b""
        self._start = 0
        self._held = True

    def _compact(self, buffer: bytes, start: int, body_start: int, want: int) -> None:
        """An incomplete chunked request: keep its head, then what is not decoded yet
        (the decoded chunks are in ``_cparts``). Keeping the decoded bytes too would copy
        them again at every read: quadratic in a body of small chunks trickling in."""
        head = body_start - start
        done = self._cpos - head  # decoded body bytes, chunk lines included
        if done < 4096:
            self._keep(start, want)
            return
        self._cpos = head
        acc = self._acc = bytearray(buffer[start:body_start])
        acc += memoryview(buffer)[start + head + done :]
        self._want = want - done if want else 0
        self._buffer = b""
        self._start = 0
        self._held = True

    def _dechunk(self, buffer: bytes, start: int, pos: int) -> tuple[bytes | None, int]:
        """A chunked body from ``pos``: (body, where the request ends), or (None, how
        many bytes from ``start`` to wait for, 0 when unknown)."""
        limit = self.max_size
        if self._cpos:
            pos = start + self._cpos
        size = len(buffer)
        parts = self._cparts
        want = 0
        while True:
            eol = buffer.find(b"\r\n", pos)
            if eol < 0:
                if size - pos > 1024:
                    raise RequestError(400, "chunk size line too long")
                break
            count = dechunk_size(buffer[pos:eol])
            if count == 0:  # the last chunk, then optional trailer fields and a blank line
                if buffer.startswith(b"\r\n", eol + 2):
                    stop = eol + 4
                else:
                    blank = buffer.find(b"\r\n\r\n", eol + 2)
                    if blank < 0:
                        if size - eol > self.max_header_size:
                            raise RequestError(431, "chunked trailer section too large")
                        break
                    stop = blank + 4
                body = b"".join(parts)
                self._cpos = 0
                self._cparts = []
                self._csize = 0
                return body, stop
            data_end = eol + 2 + count
            if data_end + 2 - start > limit or self._csize + count > limit:
                raise RequestError(413, f"a chunked request over {limit} bytes")
            if data_end + 2 > size:
                want = data_end + 2 - start
                break
            if buffer[data_end : data_end + 2] != b"\r\n":
                raise RequestError(400, "chunk data is not followed by CRLF")
            if len(parts) >= self.max_chunks:
                raise RequestError(413, f"a chunked request of more than {self.max_chunks} chunks")
            parts.append(buffer[eol + 2 : data_end])
            self._csize += count
            pos = data_end + 2
        self._cpos = pos - start
        return None, want

    def take_rest(self) -> bytes:
        """The bytes after the outstanding request, which the machine will not read: a
        protocol the connection switches to (WebSocket) takes them."""
        acc = self._acc
        rest = bytes(acc) if acc is not None else self._buffer[self._start :]
        self._acc = None
        self._held = self._parts
        self._buffer = b""
        self._start = 0
        self._want = 0
        return rest

    @property
    def close_after(self) -> bool:
        """The connection closes once the response to the outstanding (or last) request
        is complete: the client did not ask to keep it, it was the last of
        ``max_keepalive_requests``, the server drains, or the response said so."""
        return self._closing or not (self.info.keep_alive and self.requests_left)

    def drain(self) -> None:
        """The server is stopping: the response in progress, or the next one, is the
        last (``Connection: close``, unless its head is out)."""
        if self.outstanding:
            self._closing = True
            self._plain = False
        else:
            self.requests_left = 1

    # -- responding --------------------------------------------------------------

    def hello(self, body: bytes) -> bytes | None:
        """The whole response ``200 OK``, text/html, with ``body``, when the outstanding
        request is a keep-alive HTTP/1.1 one other than HEAD (it is complete then);
        None otherwise (encode a Response), and for a body of ``JOIN_MAX`` bytes or more
        (:meth:`encode_apart` keeps that apart from its head). The head is cached per
        length and second."""
        size = len(body)
        if not self._plain or size >= JOIN_MAX:
            return None
        hellos = _hellos
        heads = hellos.heads
        now = _time()
        if now >= hellos.until:
            heads.clear()
            hellos.until = int(now) + 1.0
            hellos.size = -1
        self.outstanding = False
        if size == hellos.size:  # the last answer's length again: its head, no lookup
            return hellos.head + body
        try:
            head = heads[size]  # (a subscript, not get(): no method call in pure Python)
        except KeyError:
            head = b"".join(
                (
                    b"HTTP/1.1 200 OK\r\n",
                    _SERVER,
                    date_header(),
                    _HTML,
                    b"Content-Length: %d\r\n\r\n" % size,
                )
            )
            if len(heads) < 64:
                heads[size] = head
        hellos.size = size
        hellos.head = head
        return head + body

    def encode(self, response: Response, extra: bytes = b"") -> bytes:
        """The bytes of ``response`` (a body in memory) to the outstanding request, with
        ``extra`` header lines (CRLF-terminated). A chunked or event-stream response
        stays open: later pieces are :meth:`piece`, its end :meth:`end`. Otherwise the
        response is complete: ``outstanding`` is False, ``close_after`` says whether the
        connection closes now."""
        data, body = self.encode_apart(response, extra)
        return data + body if body else data

    def encode_apart(self, response: Response, extra: bytes = b"") -> tuple[bytes, bytes]:
        """:meth:`encode` in two parts, to send one after the other: a body of at least
        ``JOIN_MAX`` bytes comes apart from its head, not copied into one piece with it
        (the connection hands a large body to the kernel in pieces as the peer reads);
        otherwise everything is in the first part and the second is empty."""
        fields = response._encoded
        if fields is not None and fields.plain and not extra:
            head = self._known_head(response, fields)
            if head is not None:
                return head + response._body, b""
        headers = response._headers
        head_only = self.info.method == "HEAD"
        coding = headers.get("transfer-encoding")
        kind = headers.get("content-type")
        if coding is not None and "chunked" in str(coding[1]).lower():
            if self.info.version == "1.0":
                self._closing = True
                self.streaming = _BARE  # the chunks go out bare and the close ends them
            else:
                self.streaming = _CHUNKED
            lines = self._head(response, None, extra)
            if head_only:  # the handler still sends its chunks: the response ends with the last
                self.streaming = _DISCARD
                return b"".join(lines), b""
            if response._body:
                lines.append(self.piece(response._body))
            return b"".join(lines), b""
        if kind is not None and str(kind[1]).lower().startswith("text/event-stream"):
            if "cache-control" not in headers:
                response.header("Cache-Control", "no-cache")
            self.streaming = _EVENTS
            if head_only:  # events have no last one to end the response with: close after it
                self._closing = True
            lines = self._head(response, None, extra)
            if head_only:
                self._complete()
                return b"".join(lines), b""
            lines.append(response._body)
            return b"".join(lines), b""
        body = response._body
        lines = self._head(response, len(body), extra)
        self._complete()
        if head_only or response._status in _NO_BODY:
            return b"".join(lines), b""
        if len(body) >= JOIN_MAX:
            return b"".join(lines), body
        lines.append(body)
        return b"".join(lines), b""

    def _known_head(self, response: Response, fields: Encoded) -> bytes | None:
        """The head of a ``Response.from_fields`` response whose fields frame nothing, as
        :meth:`_head` makes it, kept in ``fields`` for the current second; the response
        is complete then. None where the case is not the common one (a HEAD request, a
        status without a body, the last response of the connection, a large body, a
        reason or cookies of its own): the general path encodes it."""
        body = response._body
        status = response._status
        info = self.info
        if (
            response._reason
            or response._cookies
            or status in _NO_BODY
            or len(body) >= JOIN_MAX
            or info.method == "HEAD"
            or self.close_after
        ):
            return None
        version = response._version or info.version
        key = (status << 18) | (len(body) << 1) | (version == "1.0")
        now = _time()
        heads = fields.heads
        if now >= fields.until:
            heads.clear()
            fields.until = int(now) + 1.0
        head = heads.get(key)
        if head is None:
            head = b"".join(self._head(response, len(body), b""))
            if len(heads) < 64:
                heads[key] = head
        self._complete()
        return head

    def encode_head(
        self, response: Response, length: int | None, chunked: bool = False, extra: bytes = b""
    ) -> bytes:
        """The head of ``response``, whose body the glue sends as it goes (a file, an
        iterator): ``length`` bytes, chunks (``chunked``: pieces framed by :meth:`piece`),
        or bytes that the close ends (neither). :meth:`end` ends the body. When none
        may follow (a HEAD request, a 204 or 304), the response is complete at once."""
        if chunked:
            self.streaming = _CHUNKED
        else:
            self.streaming = _BARE
            if length is None:
                self._closing = True  # the close ends the body
        lines = self._head(response, length, extra)
        if self.info.method == "HEAD" or response._status in _NO_BODY:
            self._complete()
        return b"".join(lines)

    def piece(self, data: bytes) -> bytes:
        """``data`` framed as a piece of the open response (a chunk; bare for an HTTP/1.0
        client, events and a pumped body; nothing for a HEAD request's chunks)."""
        mode = self.streaming
        if mode == _CHUNKED:
            return b"%x\r\n%b\r\n" % (len(data), data) if data else b""
        if mode == _DISCARD:
            return b""
        return data

    def end(self) -> bytes:
        """The end of the open response (the last chunk; nothing where the length or the
        close ends it): the response is complete."""
        mode = self.streaming
        if mode == _EVENTS:  # nothing to end them with but the close
            self._closing = True
        self._complete()
        return b"0\r\n\r\n" if mode == _CHUNKED else b""

    def fail(self, status: int, reason: str) -> bytes | None:
        """The answer ``status`` to the outstanding request, which closes the connection
        (the response is complete); None when its response has begun (the connection
        can only be closed)."""
        self._closing = True
        if self.streaming:
            return None
        self._complete()
        return error_bytes(status, (reason or reason_of(status)).encode())

    def finish(self) -> None:
        """The outstanding request needs no response from the machine (the connection
        speaks another protocol now, or the glue answered it)."""
        self._complete()

    def _complete(self) -> None:
        self.outstanding = False
        self.streaming = 0

    def _head(self, response: Response, length: int | None, extra: bytes) -> list[bytes]:
        """The head of ``response`` as a list of lines, blank line included."""
        status = response._status
        version = response._version or self.info.version
        headers = response._headers
        lines = [status_line(status, response._reason or reason_of(status), version)]
        if "server" not in headers:
            lines.append(_SERVER)
        if "date" not in headers:
            lines.append(date_header())
        if "content-type" not in headers and status not in _NO_BODY:
            lines.append(_HTML)
        given = headers.get("connection")
        if given is not None:
            if "close" in str(given[1]).lower():
                self._closing = True
        elif self.close_after:
            lines.append(b"Connection: close\r\n")
        elif version == "1.0":
            lines.append(b"Connection: keep-alive\r\n")
        if length is not None and status not in _NO_BODY and status >= 200:
            lines.append(b"Content-Length: %d\r\n" % length)
        if extra:
            lines.append(extra)
        bare = self.streaming == _BARE and length is None
        lines.extend(response._head_fields(_FRAMING if bare else _LENGTH))
        lines.append(b"\r\n")
        return lines


def error_bytes(status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A whole plain-text error response that closes the connection, with ``headers``."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")
    return b"".join(
        (
            status_line(status, reason_of(status)),
            _SERVER,
            date_header(),
            b"Content-Type: text/plain;charset=utf-8\r\nConnection: close\r\n",
            extra,
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        )
    )
