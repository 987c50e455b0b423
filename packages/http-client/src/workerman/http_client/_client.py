"""HttpClient: requests sent over pooled connections, with redirects, retries of stale
connections, timeouts, and Workerman's two calling styles."""

from __future__ import annotations

import contextlib
import inspect
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from workerman.core import EventLoop, ServerError, current_loop

from ._auth import AuthInput, auth_header
from ._body import Content, Files, encode_body
from ._connection import CONNECTING, HttpConnection, StaleConnection
from ._cookies import CookieJar
from ._decoders import supported_encodings
from ._exceptions import HttpClientError, NetworkError, TooManyRedirects, TotalTimeout
from ._exchange import Exchange
from ._follow import expects_continue, redirect, with_cookies
from ._headers import Headers, HeadersInput
from ._pool import Pool, PoolKey, Target, Waiter
from ._proxy import ConnectTunnel, Proxy, Socks5Tunnel, proxy_for
from ._request import IDEMPOTENT, Request, render_headers
from ._response import Response
from ._settings import Limits, Timeout
from ._status import track
from ._tls import Verify, make_context
from ._url import URL, Params

__all__ = ["HttpClient"]

logger = logging.getLogger("workerman.http_client")

Callback = Callable[[Response | None, BaseException | None], Any]
USER_AGENT = "workerman-http-client/0.1.0"
_UNSET: Any = object()


class _Deadline:
    """The total timeout of one call: what it is waiting on right now is aborted."""

    __slots__ = ("current", "loop", "timer")

    def __init__(self, loop: EventLoop, seconds: float | None) -> None:
        self.loop = loop
        self.current: Any = None  # a Waiter, a connecting HttpConnection or an Exchange
        self.timer = loop.delay(seconds, self._fire, seconds) if seconds is not None else 0

    def _fire(self, seconds: float) -> None:
        self.timer = 0
        current, self.current = self.current, None
        if current is not None:
            current.abort(TotalTimeout(f"the request took longer than {seconds}s"))

    def cancel(self) -> None:
        if self.timer:
            self.loop.cancel(self.timer)
            self.timer = 0


class _NoDeadline:
    """No total timeout: nothing to cancel (``current`` is written, never read, and
    cleared when a call ends)."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: Any = None

    def cancel(self) -> None:
        self.current = None


_NO_DEADLINE = _NoDeadline()


class HttpClient:
    """An async HTTP/1.1 client on the workerman loop.

    Every method works in both styles: ``await http.get(url)`` returns a :class:`Response`
    with its body read; ``http.get(url, callback=fn)`` returns None and later calls
    ``fn(response, None)`` or ``fn(None, error)``. ``http.stream(...)`` is an async context
    manager for bodies of any size. The client touches the event loop only when a request
    is made, so it can be built at import time, before workers fork.

    Args:
        base_url: joined with relative URLs given to the methods.
        headers: sent with every request (a request's own headers override them).
        timeout: a :class:`Timeout`, or seconds for every phase but ``total``.
        max_connections: a pool limit (see :class:`Limits`); ``limits`` sets all of
            them and the response limits at once.
        max_connections_per_host: a pool limit (see :class:`Limits`).
        keepalive_expiry: a pool limit (see :class:`Limits`).
        follow_redirects: follow 301, 302, 303, 307 and 308 (up to ``max_redirects``).
        verify: True (the system's CA store), a CA bundle path, an ``ssl.SSLContext``, or
            False (no certificate checks; a warning is logged once).
        cert: a client certificate file, or (certificate, key) files.
        auth: Basic (a (user, password) tuple or :class:`BasicAuth`) or :class:`BearerAuth`.
        retries: how often an idempotent request is sent again when a reused connection
            turns out closed by the server before any answer (0: never). Requests whose
            body is an iterator are never sent again.
        proxy: ``http://[user:password@]host:port`` (absolute-form requests for http://,
            CONNECT tunnels for https://) or ``socks5://[user:password@]host:port``.
        trust_env: without ``proxy``, take one from HTTP_PROXY, HTTPS_PROXY, ALL_PROXY
            (and skip the hosts in NO_PROXY), as curl and browsers do.
        cookies: a :class:`CookieJar` (or True for a new one) that keeps the cookies
            responses set and sends them back; False: no cookies are kept.
        expect_continue: bodies of at least this many bytes are sent with
            ``Expect: 100-continue``, so a server can refuse them (401, 413) before they
            travel; the body follows the 100, or after a second without an answer. A
            request's own ``Expect: 100-continue`` header does the same for it.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        headers: HeadersInput = None,
        timeout: Timeout | float | None = _UNSET,
        max_connections: int | None = None,
        max_connections_per_host: int | None = None,
        keepalive_expiry: float | None = None,
        limits: Limits | None = None,
        follow_redirects: bool = True,
        max_redirects: int = 10,
        verify: Verify = True,
        cert: str | tuple[str, str] | None = None,
        auth: AuthInput = None,
        retries: int = 1,
        proxy: str | Proxy | None = None,
        trust_env: bool = False,
        cookies: CookieJar | bool = False,
        expect_continue: int | None = None,
    ) -> None:
        limits = limits or Limits()
        overrides: dict[str, Any] = {
            "max_connections": max_connections,
            "max_connections_per_host": max_connections_per_host,
            "keepalive_expiry": keepalive_expiry,
        }
        fields = {k: v for k, v in overrides.items() if v is not None}
        if fields:
            limits = replace(limits, **fields)
        self.limits = limits
        self.timeout = Timeout() if timeout is _UNSET else Timeout.of(timeout)
        self.base_url = URL(base_url) if base_url else None
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.retries = retries
        self._proxy = Proxy(proxy) if isinstance(proxy, str) else proxy
        self.trust_env = trust_env
        self.cookies: CookieJar | None = (
            cookies if isinstance(cookies, CookieJar) else CookieJar() if cookies else None
        )
        self.expect_continue = expect_continue
        self.verify = verify
        self.cert = cert
        defaults = Headers(
            [
                ("User-Agent", USER_AGENT),
                ("Accept", "*/*"),
                ("Accept-Encoding", supported_encodings()),
            ]
        )
        for name, value in Headers(headers).raw:
            defaults.set(name, value)
        authorization = auth_header(auth)
        if authorization is not None:
            defaults.set("Authorization", authorization)
        self.headers = defaults
        self._preset = render_headers(defaults)
        self._ssl: Any = None
        self._loop: EventLoop | None = None
        self._pool: Pool | None = None
        self._urls: dict[str, URL] = {}
        self._targets: dict[tuple[str, str, int], tuple[PoolKey, Target]] = {}
        self._heads: dict[tuple[str, str], bytes] = {}  # request heads of bodiless defaults
        self._closed = False

    # -- the pool, bound to the loop of the first request ----------------------------

    def _pool_for(self, loop: EventLoop) -> Pool:
        pool = self._pool
        if pool is None or self._loop is not loop:
            if self._closed:
                raise HttpClientError("the client is closed")
            if pool is not None:
                pool.closed = True  # its loop is gone, and its connections with it
            pool = self._pool = Pool(self.limits, loop)
            self._loop = loop
            track(self)
        return pool

    def _target(self, url: URL) -> tuple[PoolKey, Target]:
        origin = (url.scheme, url.host, url.port)
        found = self._targets.get(origin)
        if found is None:
            found = self._targets[origin] = self._make_target(url)
        return found

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = make_context(self.verify, self.cert)
        return self._ssl  # type: ignore[no-any-return]

    def _make_target(self, url: URL) -> tuple[PoolKey, Target]:
        proxy = proxy_for(url, self._proxy, self.trust_env)
        https = url.scheme == "https"
        if proxy is None:
            key: PoolKey = (url.scheme, url.host, url.port, "")
            context = self._context() if https else None
            return key, Target(url.host, url.port, context, url.host if context else None)
        key = (url.scheme, url.host, url.port, proxy.text)
        host, port = url.host, url.port
        layered = (self._context(), url.host) if https else None
        if proxy.kind == "socks5":
            return key, Target(
                proxy.host,
                proxy.port,
                None,
                None,
                tunnel=lambda: Socks5Tunnel(host, port, proxy),
                layered_tls=layered,
            )
        if https:
            return key, Target(
                proxy.host,
                proxy.port,
                None,
                None,
                tunnel=lambda: ConnectTunnel(host, port, proxy),
                layered_tls=layered,
            )
        authorization = proxy.authorization()
        extra = f"Proxy-Authorization: {authorization}\r\n" if authorization else ""
        return key, Target(proxy.host, proxy.port, None, None, absolute_form=True, head_extra=extra)

    # -- building requests -----------------------------------------------------------

    def _url(self, url: str | URL, params: Params) -> URL:
        if isinstance(url, URL):
            parsed = url
        else:
            cached = self._urls.get(url)
            if cached is None:
                if self.base_url is not None and "://" not in url:
                    cached = self.base_url.join(url)
                else:
                    cached = URL(url)
                if len(self._urls) < 1024:
                    self._urls[url] = cached
            parsed = cached
        return parsed.with_params(params) if params else parsed

    def build_request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Params = None,
        headers: HeadersInput = None,
        content: Content | None = None,
        data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        files: Files | None = None,
        json: Any = None,
        auth: AuthInput = None,
    ) -> Request:
        """The :class:`Request` the methods would send (they call this)."""
        target = self._url(url, params)
        extra, body = encode_body(content, data, files, json)
        preset: str | None = self._preset
        merged = self.headers
        if headers or extra or auth is not None or target.username is not None:
            merged = self.headers.copy()
            for name, value in extra:
                merged.set(name, value)
            if target.username is not None:
                merged.set(
                    "Authorization", auth_header((target.username, target.password or "")) or ""
                )
            for name, value in Headers(headers).raw:
                merged.set(name, value)
            authorization = auth_header(auth)
            if authorization is not None:
                merged.set("Authorization", authorization)
            preset = None
        return Request(method, target, merged, body, preset=preset)

    # -- sending ---------------------------------------------------------------------

    async def send(
        self,
        request: Request,
        *,
        stream: bool = False,
        timeout: Timeout | float | None = _UNSET,
        follow_redirects: bool | None = None,
    ) -> Response:
        """Send a built request; follow redirects; return the response (its body read
        unless ``stream``: then close it with ``aclose()``)."""
        loop = current_loop()
        pool = self._pool_for(loop)
        limits = self.timeout if timeout is _UNSET else Timeout.of(timeout)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        deadline: _Deadline | _NoDeadline = (
            _Deadline(loop, limits.total) if limits.total is not None else _NO_DEADLINE
        )
        history: list[Response] = []
        jar = self.cookies
        max_body = self.limits.max_body_size
        try:
            while True:  # one turn per redirect
                sending = request if jar is None else with_cookies(request, jar)
                retries = (
                    self.retries if sending.method in IDEMPOTENT and not sending.streamed else 0
                )
                key, target = self._target(sending.url)
                hold = bool(sending.body) and expects_continue(sending, self.expect_continue)
                head = self._head_of(sending, target)
                method = sending.method.encode("ascii")
                while True:  # one turn per attempt: a stale pooled connection is retried
                    got = pool.acquire(key, target, limits.connect, limits.pool)
                    if type(got) is HttpConnection and got.state != CONNECTING:
                        conn = got
                    else:
                        conn = await self._connection(pool, got, deadline)
                    exchange = Exchange(loop, stream, limits, max_body)
                    deadline.current = exchange
                    body = sending.body
                    if isinstance(body, bytes):
                        conn.start(exchange, method, head, body, hold)
                    else:
                        conn.start(exchange, method, head, b"")
                        exchange.start_writing()
                        loop.spawn_awaitable(
                            self._stream_body(conn, exchange, body), lambda: "request body"
                        )
                    try:
                        response_head = await exchange.future
                    except StaleConnection:
                        if retries > 0:
                            retries -= 1
                            logger.debug("retrying %r on a new connection", sending)
                            continue
                        raise
                    except BaseException:
                        exchange.abandoned = True
                        exchange.abort(NetworkError("the request was cancelled"))
                        raise
                    break
                response = Response(response_head, sending.method, sending.url, exchange, max_body)
                if not stream:
                    response._load(b"".join(exchange.chunks))
                    deadline.current = None
                if jar is not None:
                    jar.extract(response.url, response.headers.get_list("set-cookie"))
                if not (follow and response.is_redirect):
                    break
                next_request = redirect(request, response)
                if next_request is None:
                    break
                if stream:
                    await response.aclose()
                history.append(response)
                if len(history) > self.max_redirects:
                    raise TooManyRedirects(
                        f"more than {self.max_redirects} redirects from "
                        f"{history[0].url.without_credentials()}",
                        history,
                    )
                request = next_request
        except BaseException:
            deadline.cancel()
            raise
        if history:
            response.history = history
        if stream:
            response._on_close = deadline.cancel
        else:
            deadline.cancel()
        return response

    async def _stream_body(
        self, conn: HttpConnection, exchange: Exchange, body: AsyncIterator[bytes]
    ) -> None:
        try:
            await conn.send_stream(exchange, body)
        except HttpClientError:
            pass  # the exchange carries the error
        except Exception as exc:
            exchange.abort(exc)  # the body's iterator raised: the request fails with it

    def _head_of(self, request: Request, target: Target) -> bytes:
        if request.preset is not self._preset or request.body != b"":
            return request.encode_head(target.absolute_form, target.head_extra)
        key = (request.method, request.url.text)
        head = self._heads.get(key)
        if head is None:
            head = request.encode_head(target.absolute_form, target.head_extra)
            if len(self._heads) < 1024:
                self._heads[key] = head
        return head

    async def _connection(
        self, pool: Pool, got: HttpConnection | Waiter, deadline: _Deadline | _NoDeadline
    ) -> HttpConnection:
        """The connection ``got`` is or will be, once it is free and open."""
        if isinstance(got, Waiter):
            deadline.current = got
            try:
                conn: HttpConnection = await got.future
            except BaseException:
                got.cancelled = True
                if got.conn is not None:  # served just before we gave up: pass it on
                    if got.conn.state == CONNECTING:
                        got.conn.abandon()
                    else:
                        pool.release(got.conn, True)
                raise
        else:
            conn = got
        if conn.state == CONNECTING:
            deadline.current = conn
            try:
                await conn.ready
            except BaseException:
                conn.abandon()
                raise
        return conn

    # -- the public methods ----------------------------------------------------------

    def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Params = None,
        headers: HeadersInput = None,
        content: Content | None = None,
        data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        files: Files | None = None,
        json: Any = None,
        auth: AuthInput = None,
        timeout: Timeout | float | None = _UNSET,
        follow_redirects: bool | None = None,
        callback: Callback | None = None,
    ) -> Any:
        """Send a request; an awaitable of the :class:`Response` (body read), or None
        with ``callback``, which gets ``(response, None)`` or ``(None, error)``.

        Args:
            method: "GET", "POST", ...
            url: absolute, or relative to ``base_url``.
            params: query parameters added to the URL.
            headers: this request's headers (over the client's).
            content: bytes, str (as UTF-8 text/plain), or an (async) iterator of bytes
                (sent chunked).
            data: form fields (urlencoded; multipart with ``files``).
            files: {field: bytes, a binary file, or (filename, data[, content type])}.
            json: a value sent as application/json.
            auth: for this request (see the client's ``auth``).
            timeout: for this request.
            follow_redirects: for this request.
            callback: Workerman's style: ``fn(response, error)``.
        """
        try:
            if (  # the plain case, without the merging build_request does
                params is None
                and headers is None
                and content is None
                and data is None
                and files is None
                and json is None
                and auth is None
                and (target := self._url(url, None)).username is None
            ):
                request = Request(method, target, self.headers, b"", preset=self._preset)
            else:
                request = self.build_request(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    content=content,
                    data=data,
                    files=files,
                    json=json,
                    auth=auth,
                )
        except HttpClientError as exc:
            if callback is None:
                raise
            current_loop().call_soon(_call_user, callback, None, exc)
            return None
        coro = self.send(request, timeout=timeout, follow_redirects=follow_redirects)
        if callback is None:
            return coro
        current_loop().spawn_awaitable(_call_back(coro, callback), lambda: "an HTTP callback")
        return None

    def get(self, url: str | URL, **kwargs: Any) -> Any:
        """GET; see :meth:`request` for the arguments."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str | URL, **kwargs: Any) -> Any:
        """HEAD; see :meth:`request`."""
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str | URL, **kwargs: Any) -> Any:
        """OPTIONS; see :meth:`request`."""
        return self.request("OPTIONS", url, **kwargs)

    def delete(self, url: str | URL, **kwargs: Any) -> Any:
        """DELETE; see :meth:`request`."""
        return self.request("DELETE", url, **kwargs)

    def post(self, url: str | URL, **kwargs: Any) -> Any:
        """POST; see :meth:`request`."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str | URL, **kwargs: Any) -> Any:
        """PUT; see :meth:`request`."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str | URL, **kwargs: Any) -> Any:
        """PATCH; see :meth:`request`."""
        return self.request("PATCH", url, **kwargs)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | URL,
        *,
        timeout: Timeout | float | None = _UNSET,
        follow_redirects: bool | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Response]:
        """``async with http.stream("GET", url) as response:`` the response with its
        head read; read the body with ``iter_bytes()``, ``iter_sse()`` and friends. The
        connection goes back to the pool at the body's end, or closes when the block is
        left before it. Takes :meth:`request`'s arguments."""
        request = self.build_request(method, url, **kwargs)
        response = await self.send(
            request, stream=True, timeout=timeout, follow_redirects=follow_redirects
        )
        try:
            yield response
        finally:
            await response.aclose()

    # -- the rest --------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, int]]:
        """Per origin: idle, in_use and waiting connection counts."""
        return self._pool.stats() if self._pool is not None else {}

    async def aclose(self) -> None:
        """Close idle connections and refuse new requests."""
        self.close()

    def close(self) -> None:
        """Close idle connections and refuse new requests (synchronous form)."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            loop: EventLoop | None = current_loop()
        except ServerError:
            loop = None
        if loop is pool.loop:
            pool.close()
        else:
            pool.closed = True  # its loop has ended, and its sockets with it

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _call_back(coro: Any, callback: Callback) -> None:
    try:
        response = await coro
    except Exception as exc:
        _call_user(callback, None, exc)
        return
    _call_user(callback, response, None)


def _call_user(callback: Callback, response: Response | None, error: BaseException | None) -> None:
    try:
        result = callback(response, error)
    except Exception:
        logger.exception("an HTTP client callback raised")
        return
    if result is not None and inspect.isawaitable(result):
        current_loop().spawn_awaitable(result, lambda: "an HTTP client callback")
