"""Http: the ``http://`` protocol, with Workerman's codec contract and its settings."""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr

from ._machine import HttpExchange
from ._protocol import HttpState
from ._request import Request, request_of

__all__ = ["Http"]

_WHOLE = 1 << 62  # the codec view has no size limit of its own: the connection's applies


@mypyc_attr(allow_interpreted_subclasses=True)  # a worker may be given a subclass
class Http(HttpState):
    """HTTP/1.1 (and 1.0) server side: requests in, responses out.

    Workers with an ``http://`` address use it. Settings are class attributes
    (``max_header_size``, ``header_timeout``, ``linger_timeout``, ``max_file_uploads``,
    ``max_fields``, ``upload_tmp_dir``); a subclass with other values, given as a
    worker's ``protocol``, applies them to that worker alone. ``max_package_size`` of the
    connection caps a request (413).

    It is a :class:`~workerman.core.protocols.StreamProtocol`: each connection has an
    instance, its HTTP state, whose :class:`~workerman.core.http.HttpExchange` reads
    the requests and encodes the responses. ``input`` and ``decode`` give the codec view
    of whole requests, for code that holds the bytes of one.
    """

    __slots__ = ()

    @classmethod
    def _first(cls, buffer: bytes) -> HttpExchange | None:
        """An exchange that has read the first request of ``buffer``, None when incomplete."""
        exchange = HttpExchange(cls.max_header_size, _WHOLE, cls.max_chunks)
        exchange.receive(buffer)
        while True:
            event = exchange.next_event()
            if event == HttpExchange.REQUEST:
                return exchange
            if event != HttpExchange.SEND:  # (a 100 Continue is not the codec's to send)
                return None

    @classmethod
    def input(cls, buffer: bytes, connection: Any) -> int:
        """The byte length of the first request in ``buffer``, 0 when it is incomplete.

        Raises:
            RequestError: bytes that are not an acceptable request (it carries the status).
        """
        exchange = cls._first(buffer)
        return 0 if exchange is None else len(buffer) - exchange.unread

    @classmethod
    def decode(cls, package: bytes, connection: Any) -> Request:
        """The :class:`Request` of one whole request as ``input`` measured it."""
        exchange = cls._first(package)
        if exchange is None:
            raise ValueError("decode() takes one whole request, as input() measured it")
        return request_of(connection, exchange.head, exchange.body, exchange.info)
