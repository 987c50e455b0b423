"""A request made ready to send: its URL, headers and body, and the head's bytes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from ._exceptions import HttpClientError
from ._headers import Headers
from ._url import URL

__all__ = ["IDEMPOTENT", "Request", "render_headers"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00\r\n]")
_KNOWN = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


class Request:
    """What is sent: method, URL, headers (Host and framing headers included) and body.

    Attributes:
        method: upper-case method name.
        url: the URL requested.
        headers: the request's headers as they go out.
        body: bytes, or an async iterator of bytes for a chunked body (sent once only).
        absolute_form: the request line carries the whole URL (through an HTTP proxy).
    """

    __slots__ = ("absolute_form", "body", "headers", "method", "preset", "url")

    def __init__(
        self,
        method: str,
        url: URL,
        headers: Headers,
        body: bytes | AsyncIterator[bytes],
        absolute_form: bool = False,
        preset: str | None = None,
    ) -> None:
        if method not in _KNOWN:
            method = method.upper()
            if not _TOKEN.fullmatch(method):
                raise HttpClientError(f"invalid method {method!r}")
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.absolute_form = absolute_form
        self.preset = preset  # ``headers`` rendered and checked already (the client's defaults)

    @property
    def streamed(self) -> bool:
        """The body is an iterator: it cannot be sent again (no retry, no 307 replay)."""
        return not isinstance(self.body, bytes)

    def encode_head(self, absolute_form: bool = False, extra: str = "") -> bytes:
        """The request line and header block, with Host and the body's framing header
        (``absolute_form`` and ``extra`` header lines: for an HTTP proxy)."""
        url = self.url
        target = (
            f"{url.scheme}://{url.host_header}{url.target}"
            if absolute_form or self.absolute_form
            else url.target
        )
        lines = [f"{self.method} {target} HTTP/1.1\r\n"]
        headers = self.headers
        if "host" not in headers:
            lines.append(f"Host: {url.host_header}\r\n")
        body = self.body
        if isinstance(body, bytes):
            if (
                body or self.method in ("POST", "PUT", "PATCH")
            ) and "content-length" not in headers:
                lines.append(f"Content-Length: {len(body)}\r\n")
        elif "transfer-encoding" not in headers:
            lines.append("Transfer-Encoding: chunked\r\n")
        lines.append(self.preset if self.preset is not None else render_headers(headers))
        lines.append(extra)
        lines.append("\r\n")
        try:
            return "".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            return "".join(lines).encode("utf-8")

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url.without_credentials()}>"


def render_headers(headers: Headers) -> str:
    """Header lines for ``headers``, each name and value checked."""
    lines = []
    for name, value in headers.raw:
        if not _TOKEN.fullmatch(name):
            raise HttpClientError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise HttpClientError(f"header {name!r} has a CR, LF or NUL in its value")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)
