"""Errors of workerman.http_client, grouped by who is at fault.

``HttpClientError`` is the base of everything raised here. ``TransportError`` covers the
network (the request may or may not have reached the server), with timeouts as one family
beside it; ``ProtocolError`` is a server that broke HTTP; ``LimitError`` is an answer bigger
than a limit set on this side; ``HTTPStatusError`` comes only from ``raise_for_status``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._response import Response

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "HTTPStatusError",
    "HttpClientError",
    "InvalidURL",
    "LimitError",
    "NetworkError",
    "PoolTimeout",
    "ProtocolError",
    "ProxyError",
    "ReadTimeout",
    "StreamConsumed",
    "TimeoutException",
    "TooManyRedirects",
    "TotalTimeout",
    "TransportError",
    "WriteTimeout",
]


class HttpClientError(Exception):
    """Base class of every error raised by workerman.http_client."""


class InvalidURL(HttpClientError):
    """A URL that cannot be requested: no host, a scheme other than http/https, bad port."""


class TransportError(HttpClientError):
    """Something went wrong between us and the server."""


class ConnectError(TransportError):
    """The connection could not be opened (refused, no route, DNS, TLS handshake or
    certificate verification)."""


class ProxyError(ConnectError):
    """The proxy refused the tunnel or the SOCKS5 handshake failed."""


class NetworkError(TransportError):
    """An open connection failed or was closed before the response was complete."""


class ProtocolError(TransportError):
    """The server's bytes are not valid HTTP/1.1: a bad status line or header, a bad chunk
    size, a body longer than its Content-Length, bytes nobody asked for."""


class DecodingError(ProtocolError):
    """A Content-Encoding (gzip, deflate, br) body that does not decompress."""


class TimeoutException(TransportError):
    """Base class of the timeouts; each phase has its own class."""


class ConnectTimeout(TimeoutException):
    """Opening the connection (TCP and TLS) took longer than ``Timeout.connect``."""


class ReadTimeout(TimeoutException):
    """The server sent nothing for ``Timeout.read`` seconds while we waited for it."""


class WriteTimeout(TimeoutException):
    """The request could not be written for ``Timeout.write`` seconds (a server not reading)."""


class PoolTimeout(TimeoutException):
    """No connection of the pool came free within ``Timeout.pool`` seconds."""


class TotalTimeout(TimeoutException):
    """The whole request, redirects and body included, took longer than ``Timeout.total``."""


class LimitError(HttpClientError):
    """The response is larger than a limit of this client (head size, header count, body
    size, decompressed size); the connection is dropped rather than the bytes buffered."""


class TooManyRedirects(HttpClientError):
    """More redirects than ``max_redirects`` in a row.

    Attributes:
        history: the redirect responses followed so far.
    """

    def __init__(self, message: str, history: list[Response]) -> None:
        super().__init__(message)
        self.history = history


class StreamConsumed(HttpClientError):
    """The body of a streamed response was already read, or its stream was closed."""


class HTTPStatusError(HttpClientError):
    """``raise_for_status()`` on a 4xx or 5xx response.

    Attributes:
        response: the response (its body has been read).
    """

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response
