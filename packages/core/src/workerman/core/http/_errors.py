"""The error a request can fail with: it carries the HTTP status to answer."""

from __future__ import annotations

from workerman.core import ProtocolError

__all__ = ["RequestError"]


class RequestError(ProtocolError):
    """A request the server refuses; the client gets ``status`` and the reason.

    Raised by the parser (400, 413, 431 ...) and by the lazy parts of a request
    (a malformed multipart body, too many uploads) when the handler asks for them.
    A handler may raise it too: the connection answers with that status.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
