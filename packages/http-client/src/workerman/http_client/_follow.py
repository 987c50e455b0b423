"""What a response asks of the next request: a redirect to follow (RFC 9110 15.4), the
cookies a jar adds, and whether a body waits for 100 Continue."""

from __future__ import annotations

from ._cookies import CookieJar
from ._exceptions import HttpClientError
from ._request import Request
from ._response import Response

__all__ = ["expects_continue", "redirect", "with_cookies"]

_CROSS_ORIGIN_DROPPED = ("authorization", "proxy-authorization", "cookie")


def redirect(request: Request, response: Response) -> Request | None:
    """The request a redirect asks for, or None when it cannot be followed."""
    location = response.headers["location"]
    try:
        url = request.url.join(location)
    except HttpClientError:
        return None
    status = response.status_code
    method, body = request.method, request.body
    headers = request.headers.copy()
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", b""
        for name in ("content-type", "content-length", "transfer-encoding", "content-encoding"):
            headers.remove(name)
    elif request.streamed:
        return None  # a 307/308 would need the body again, and it is gone
    if url.origin != request.url.origin:
        for name in _CROSS_ORIGIN_DROPPED:
            headers.remove(name)
    headers.remove("host")
    preset = request.preset if headers == request.headers else None
    return Request(method, url, headers, body, preset=preset)


def with_cookies(request: Request, jar: CookieJar) -> Request:
    """``request`` with the jar's cookies for its URL (after any Cookie of its own)."""
    header = jar.header_for(request.url)
    if header is None:
        return request
    headers = request.headers.copy()
    own = headers.get("cookie")
    headers.set("Cookie", f"{own}; {header}" if own else header)
    return Request(request.method, request.url, headers, request.body)


def expects_continue(request: Request, threshold: int | None) -> bool:
    """Whether to hold the body until the server's 100 Continue (adding the header when
    the client's threshold asks for it)."""
    if request.preset is None and request.headers.get("expect", "").lower() == "100-continue":
        return True
    body = request.body
    if threshold is None or not isinstance(body, bytes) or len(body) < threshold:
        return False
    request.headers = request.headers.copy()
    request.headers.set("Expect", "100-continue")
    request.preset = None
    return True
