"""Response: status, headers, and the body, read whole or streamed."""

from __future__ import annotations

import codecs
import json as json_module
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ._decoders import Decoder, make_decoder
from ._exceptions import HTTPStatusError, LimitError, StreamConsumed
from ._headers import Headers
from ._parser import ResponseHead
from ._sse import ServerSentEvent, decode_sse
from ._url import URL

if TYPE_CHECKING:
    from ._exchange import Exchange

__all__ = ["Response"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Response:
    """An HTTP response.

    From ``await client.get(...)`` (or a callback) the body has been read: ``content``
    holds it. From ``client.stream(...)`` only the head has: read the body with ``read()``
    or the ``iter_*`` methods, once.

    Attributes:
        status_code: the status, e.g. 200.
        reason_phrase: the reason the server gave, e.g. "OK".
        http_version: "HTTP/1.1" or "HTTP/1.0".
        headers: a case-insensitive :class:`Headers`.
        url: the URL that gave this response (the last one after redirects).
        method: the request's method.
        history: the redirect responses that led here, oldest first.
    """

    __slots__ = (
        "_content",
        "_encoding",
        "_exchange",
        "_max_body",
        "_on_close",
        "_streamed",
        "headers",
        "history",
        "http_version",
        "method",
        "reason_phrase",
        "status_code",
        "url",
    )

    def __init__(
        self,
        head: ResponseHead,
        method: str,
        url: URL,
        exchange: Exchange | None,
        max_body: int,
    ) -> None:
        self.status_code = head.status
        self.reason_phrase = head.reason
        self.http_version = "HTTP/1.1" if head.version == "1.1" else "HTTP/1.0"
        self.headers = Headers.from_pairs(head.headers)
        self._encoding = head.content_encoding
        self.method = method
        self.url = url
        self.history: list[Response] = []
        self._exchange = exchange
        self._max_body = max_body
        self._content: bytes | None = None
        self._streamed = False
        self._on_close: Any = None

    # -- state -------------------------------------------------------------------------

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in _REDIRECTS and "location" in self.headers

    @property
    def is_closed(self) -> bool:
        """The body has been read to its end, or the stream closed."""
        return self._exchange is None

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, when it names a known codec."""
        content_type = self.headers.get("content-type", "")
        for param in content_type.split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                value = value.strip().strip('"')
                try:
                    codecs.lookup(value)
                except LookupError:
                    return None
                return value
        return None

    def raise_for_status(self) -> Response:
        """Raise HTTPStatusError for a 4xx or 5xx status; return the response otherwise."""
        if self.status_code >= 400:
            kind = "client error" if self.status_code < 500 else "server error"
            raise HTTPStatusError(
                f"{kind} {self.status_code} {self.reason_phrase} for {self.method} "
                f"{self.url.without_credentials()}",
                self,
            )
        return self

    # -- a body already read -----------------------------------------------------------

    @property
    def content(self) -> bytes:
        """The body, decoded from its Content-Encoding (read already)."""
        if self._content is None:
            raise StreamConsumed("the body has not been read: await response.read() first")
        return self._content

    def decode(self) -> str:
        """The body as text: its charset, else UTF-8 (invalid bytes replaced)."""
        return self.content.decode(self.charset or "utf-8", errors="replace")

    def parse_json(self) -> Any:
        """The body parsed as JSON."""
        return json_module.loads(self.content)

    # -- reading -----------------------------------------------------------------------

    async def read(self) -> bytes:
        """The whole body (up to ``Limits.max_body_size`` bytes after decoding)."""
        if self._content is None:
            parts: list[bytes] = []
            size = 0
            async with aclosing(self.iter_bytes()) as pieces:
                async for piece in pieces:
                    size += len(piece)
                    if size > self._max_body:
                        await self.aclose()
                        raise LimitError(f"the response body is over {self._max_body} bytes")
                    parts.append(piece)
            self._content = b"".join(parts)
        return self._content

    async def text(self) -> str:
        """The body as text (see :meth:`decode`)."""
        await self.read()
        return self.decode()

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return json_module.loads(await self.read())

    async def iter_raw(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives, still in its Content-Encoding."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        exchange = self._exchange
        if exchange is None or self._streamed:
            raise StreamConsumed("the body was already read or the stream closed")
        self._streamed = True
        try:
            while True:
                chunk = await exchange.next_chunk()
                if chunk is None:
                    break
                yield chunk
        finally:
            self._end()

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives, decoded from gzip, deflate or br."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        decoder = self._decoder()
        async with aclosing(self.iter_raw()) as chunks:
            if decoder is None:
                async for chunk in chunks:
                    yield chunk
                return
            async for chunk in chunks:
                for piece in decoder.decode(chunk):
                    yield piece
        for piece in decoder.flush():
            yield piece

    async def iter_text(self) -> AsyncGenerator[str, None]:
        """The body as text pieces, decoded incrementally with its charset."""
        decoder = codecs.getincrementaldecoder(self.charset or "utf-8")(errors="replace")
        async with aclosing(self.iter_bytes()) as chunks:
            async for chunk in chunks:
                text = decoder.decode(chunk)
                if text:
                    yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def iter_lines(self) -> AsyncGenerator[str, None]:
        """The body as lines of text, without their line ends."""
        pending = ""
        async with aclosing(self.iter_text()) as texts:
            async for text in texts:
                pending += text
                lines = pending.splitlines(keepends=True)
                pending = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
                for line in lines:
                    yield line.rstrip("\r\n")
        if pending:
            yield pending

    async def iter_sse(self, max_line: int = 1024 * 1024) -> AsyncGenerator[ServerSentEvent, None]:
        """The body as server-sent events (text/event-stream)."""
        async with (
            aclosing(self.iter_bytes()) as chunks,
            aclosing(decode_sse(chunks, max_line)) as events,
        ):
            async for event in events:
                yield event

    def _decoder(self) -> Decoder | None:
        return make_decoder(self._encoding) if self._encoding else None

    async def aclose(self) -> None:
        """Stop reading: a body not read to its end closes its connection."""
        self._end()

    def _end(self) -> None:
        exchange = self._exchange
        if exchange is not None and not exchange.ended:
            exchange.abort(StreamConsumed("the response stream was closed"))
        self._finish()

    def _finish(self) -> None:
        self._exchange = None
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def _load(self, content: bytes) -> None:
        """The whole raw body arrived (a request that was not streamed): decode it."""
        self._exchange = None
        if not self._encoding:
            self._content = content
            return
        decoder = self._decoder()
        if decoder is None:
            self._content = content
            return
        parts: list[bytes] = []
        size = 0
        for piece in decoder.decode(content):
            size += len(piece)
            if size > self._max_body:
                raise LimitError(f"the decoded response body is over {self._max_body} bytes")
            parts.append(piece)
        for piece in decoder.flush():
            size += len(piece)
            if size > self._max_body:
                raise LimitError(f"the decoded response body is over {self._max_body} bytes")
            parts.append(piece)
        self._content = b"".join(parts)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason_phrase}]>"
