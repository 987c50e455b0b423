"""Http: the ``http://`` protocol, with Workerman's codec contract and its settings."""

from __future__ import annotations

from typing import Any, ClassVar

from ._errors import RequestError
from ._exchange import HttpState
from ._exchange import encode as _encode
from ._head import analyse
from ._parser import _dechunk, parse_http
from ._request import Request

__all__ = ["Http"]


class Http:
    """HTTP/1.1 (and 1.0) server side: requests in, responses out.

    Workers with an ``http://`` address use it. Settings are class attributes; a
    subclass with other values, given as a worker's ``protocol``, applies them to that
    worker alone. ``max_package_size`` of the connection caps a request body (413).
    """

    #: a request head (request line and fields) over this many bytes is answered 431.
    max_header_size: ClassVar[int] = 16 * 1024
    #: seconds a client has to finish a request head it has begun (then 408 and close).
    header_timeout: ClassVar[float] = 30.0
    #: after answering a bad request, seconds to keep reading (and dropping) what the client
    #: still sends before closing, so it reads the answer instead of a reset (0: close at once).
    linger_timeout: ClassVar[float] = 5.0
    #: uploaded files one multipart request may carry (413 beyond).
    max_file_uploads: ClassVar[int] = 1024
    #: form fields one urlencoded or multipart body may carry (413 beyond).
    max_fields: ClassVar[int] = 1000
    #: where uploads are spooled ("" for the system's temporary directory).
    upload_tmp_dir: ClassVar[str] = ""

    _parse = staticmethod(parse_http)

    @classmethod
    def input(cls, buffer: bytes, connection: Any) -> int:
        """The byte length of the first request in ``buffer``, 0 when it is incomplete.

        Raises:
            RequestError: bytes that are not an acceptable request (it carries the status).
        """
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > cls.max_header_size:
                raise RequestError(431, "request header block too large")
            return 0
        if end > cls.max_header_size:
            raise RequestError(431, "request header block too large")
        info = analyse(buffer[:end])
        if info.chunked:
            body, stop = _dechunk(HttpState(), buffer, 0, end + 4, 1 << 62, cls.max_header_size)
            return 0 if body is None else stop
        return end + 4 + info.length

    @staticmethod
    def decode(package: bytes, connection: Any) -> Request:
        """The :class:`Request` of one whole request as ``input`` measured it."""
        end = package.find(b"\r\n\r\n")
        head = package[:end]
        info = analyse(head)
        body = package[end + 4 :]
        if info.chunked:
            found = _dechunk(HttpState(), package, 0, end + 4, 1 << 62, Http.max_header_size)
            body = found[0] or b""
        return Request(connection, head, body, info.method, info.uri, info.version, info.keep_alive)

    #: Queue a message (str, bytes, Response, Chunk, ServerSentEvents) as the response to
    #: the connection's current request; returns b"" (the bytes are already queued).
    encode = staticmethod(_encode)
