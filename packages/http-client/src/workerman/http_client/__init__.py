"""workerman.http_client: an async HTTP/1.1 client on the workerman loop.

Pooled keep-alive connections, streaming bodies and server-sent events, redirects, TLS
verified by default, separate timeouts per phase, typed errors, and Workerman's two
styles: ``await http.get(url)`` and ``http.get(url, callback=fn)``.
"""

from ._auth import BasicAuth as BasicAuth
from ._auth import BearerAuth as BearerAuth
from ._client import HttpClient as HttpClient
from ._cookies import Cookie as Cookie
from ._cookies import CookieJar as CookieJar
from ._exceptions import ConnectError as ConnectError
from ._exceptions import ConnectTimeout as ConnectTimeout
from ._exceptions import DecodingError as DecodingError
from ._exceptions import HttpClientError as HttpClientError
from ._exceptions import HTTPStatusError as HTTPStatusError
from ._exceptions import InvalidURL as InvalidURL
from ._exceptions import LimitError as LimitError
from ._exceptions import NetworkError as NetworkError
from ._exceptions import PoolTimeout as PoolTimeout
from ._exceptions import ProtocolError as ProtocolError
from ._exceptions import ProxyError as ProxyError
from ._exceptions import ReadTimeout as ReadTimeout
from ._exceptions import StreamConsumed as StreamConsumed
from ._exceptions import TimeoutException as TimeoutException
from ._exceptions import TooManyRedirects as TooManyRedirects
from ._exceptions import TotalTimeout as TotalTimeout
from ._exceptions import TransportError as TransportError
from ._exceptions import WriteTimeout as WriteTimeout
from ._headers import Headers as Headers
from ._parser import END as END
from ._parser import ResponseHead as ResponseHead
from ._parser import ResponseParser as ResponseParser
from ._proxy import Proxy as Proxy
from ._request import Request as Request
from ._response import Response as Response
from ._settings import Limits as Limits
from ._settings import Timeout as Timeout
from ._sse import ServerSentEvent as ServerSentEvent
from ._url import URL as URL

__all__ = [
    "END",
    "URL",
    "BasicAuth",
    "BearerAuth",
    "ConnectError",
    "ConnectTimeout",
    "Cookie",
    "CookieJar",
    "DecodingError",
    "HTTPStatusError",
    "Headers",
    "HttpClient",
    "HttpClientError",
    "InvalidURL",
    "LimitError",
    "Limits",
    "NetworkError",
    "PoolTimeout",
    "ProtocolError",
    "Proxy",
    "ProxyError",
    "ReadTimeout",
    "Request",
    "Response",
    "ResponseHead",
    "ResponseParser",
    "ServerSentEvent",
    "StreamConsumed",
    "Timeout",
    "TimeoutException",
    "TooManyRedirects",
    "TotalTimeout",
    "TransportError",
    "WriteTimeout",
]
