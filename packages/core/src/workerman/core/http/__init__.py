"""HTTP/1.1 for workerman: the ``http://`` protocol, requests, responses and sessions.

``Worker("http://0.0.0.0:8080")`` hands each request to ``on_message(connection,
request)``; the handler answers with ``connection.send(...)``: a str or bytes (a 200
page), a :class:`Response`, then :class:`Chunk` or :class:`ServerSentEvents` pieces for a
streamed one. :class:`HttpExchange` is the exchange itself, without the connection:
fed bytes, it returns the requests, and the bytes of the responses.
"""

from ._codec import Http as Http
from ._cookies import format_cookie as format_cookie
from ._errors import RequestError as RequestError
from ._form import UploadedFile as UploadedFile
from ._head import HeadCache as HeadCache
from ._machine import HttpExchange as HttpExchange
from ._request import Request as Request
from ._response import Chunk as Chunk
from ._response import Response as Response
from ._response import ServerSentEvents as ServerSentEvents
from ._session import FileSessionHandler as FileSessionHandler
from ._session import Session as Session
from ._session import SessionHandler as SessionHandler

__all__ = [
    "Chunk",
    "FileSessionHandler",
    "HeadCache",
    "Http",
    "HttpExchange",
    "Request",
    "RequestError",
    "Response",
    "ServerSentEvents",
    "Session",
    "SessionHandler",
    "UploadedFile",
    "format_cookie",
]
