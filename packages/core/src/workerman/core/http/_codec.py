"""Http: the ``http://`` protocol, with Workerman's codec contract and its settings."""

from __future__ import annotations

from typing import Any

from ._errors import RequestError
from ._head import analyse
from ._parser import ChunkCursor, _dechunk
from ._protocol import HttpState
from ._request import Request

__all__ = ["Http"]


class Http(HttpState):
    """HTTP/1.1 (and 1.0) server side: requests in, responses out.

    Workers with an ``http://`` address use it. Settings are class attributes
    (``max_header_size``, ``header_timeout``, ``linger_timeout``, ``max_file_uploads``,
    ``max_fields``, ``upload_tmp_dir``); a subclass with other values, given as a
    worker's ``protocol``, applies them to that worker alone. ``max_package_size`` of the
    connection caps a request (413).

    It is a :class:`~workerman.core.protocols.StreamProtocol`: each connection has an
    instance, its HTTP state. ``input`` and ``decode`` give the codec view of whole
    requests, for code that holds the bytes of one.
    """

    __slots__ = ()

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
            body, stop = _dechunk(
                ChunkCursor(), buffer, 0, end + 4, 1 << 62, cls.max_header_size, cls.max_chunks
            )
            return 0 if body is None else stop
        return end + 4 + info.length

    @classmethod
    def decode(cls, package: bytes, connection: Any) -> Request:
        """The :class:`Request` of one whole request as ``input`` measured it."""
        end = package.find(b"\r\n\r\n")
        head = package[:end]
        info = analyse(head)
        body = package[end + 4 :]
        if info.chunked:
            found = _dechunk(
                ChunkCursor(), package, 0, end + 4, 1 << 62, cls.max_header_size, cls.max_chunks
            )
            body = found[0] or b""
        return Request(connection, head, body, info.method, info.uri, info.version, info.keep_alive)
