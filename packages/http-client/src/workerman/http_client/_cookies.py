"""A cookie jar: cookies from Set-Cookie kept per domain and path (RFC 6265, simplified)
and sent back to the URLs they match."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, Morsel, SimpleCookie
from typing import Any

from ._url import URL

__all__ = ["Cookie", "CookieJar"]


@dataclass(slots=True)
class Cookie:
    """One stored cookie."""

    name: str
    value: str
    domain: str
    path: str = "/"
    host_only: bool = True
    secure: bool = False
    expires: float | None = None  # a Unix time; None: until the jar is dropped

    def matches(self, url: URL, now: float) -> bool:
        if self.expires is not None and self.expires <= now:
            return False
        if self.secure and url.scheme != "https":
            return False
        host = url.host.lower()
        if self.host_only:
            if host != self.domain:
                return False
        elif host != self.domain and not host.endswith("." + self.domain):
            return False
        path = url.target.split("?", 1)[0]
        return path == self.path or path.startswith(
            self.path if self.path.endswith("/") else self.path + "/"
        )


class CookieJar:
    """Cookies the client got, sent back where they belong.

    ``HttpClient(cookies=CookieJar())`` (or ``cookies=True``) stores every Set-Cookie of
    every response, redirects included, and adds a Cookie header to the requests they
    match (domain, path, Secure, expiry). ``jar.set(...)`` adds one by hand.

    Args:
        max_cookies: cookies kept at most; beyond that the oldest go.
    """

    def __init__(self, max_cookies: int = 3000) -> None:
        self.max_cookies = max_cookies
        self._cookies: dict[tuple[str, str, str], Cookie] = {}

    def __len__(self) -> int:
        return len(self._cookies)

    def __iter__(self) -> Iterator[Cookie]:
        return iter(list(self._cookies.values()))

    def get(self, name: str, domain: str | None = None) -> str | None:
        """The value of a cookie called ``name`` (of ``domain`` if given), or None."""
        for cookie in self._cookies.values():
            if cookie.name == name and (domain is None or cookie.domain == domain):
                return cookie.value
        return None

    def set(self, name: str, value: str, domain: str, path: str = "/") -> None:
        """Store a cookie for ``domain`` and its subdomains."""
        cookie = Cookie(name, value, domain.lower().lstrip("."), path, host_only=False)
        self._store(cookie)

    def clear(self) -> None:
        self._cookies.clear()

    def header_for(self, url: URL) -> str | None:
        """The Cookie header for a request to ``url``, or None."""
        if not self._cookies:
            return None
        now = time.time()
        found = [c for c in self._cookies.values() if c.matches(url, now)]
        if not found:
            return None
        found.sort(key=lambda c: -len(c.path))  # longer paths first, as RFC 6265 asks
        return "; ".join(f"{c.name}={c.value}" for c in found)

    def extract(self, url: URL, set_cookies: list[str]) -> None:
        """Store the cookies of the Set-Cookie values a response to ``url`` carried."""
        now = time.time()
        for header in set_cookies:
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(header)
            except CookieError:
                continue
            for name, morsel in parsed.items():
                cookie = self._from_morsel(url, name, morsel, now)
                if cookie is None:
                    continue
                if cookie.expires is not None and cookie.expires <= now:
                    self._cookies.pop((cookie.domain, cookie.path, cookie.name), None)
                else:
                    self._store(cookie)

    def _from_morsel(self, url: URL, name: str, morsel: Morsel[Any], now: float) -> Cookie | None:
        host = url.host.lower()
        domain_attr = str(morsel.get("domain", "")).lower().lstrip(".")
        if domain_attr:
            if host != domain_attr and not host.endswith("." + domain_attr):
                return None  # a cookie for a domain this host is not in: refused
            domain, host_only = domain_attr, False
        else:
            domain, host_only = host, True
        path = str(morsel.get("path", ""))
        if not path.startswith("/"):
            request_path = url.target.split("?", 1)[0]
            path = request_path[: request_path.rfind("/")] or "/"
        expires: float | None = None
        max_age = str(morsel.get("max-age", ""))
        if max_age.lstrip("-").isdigit():
            expires = now + int(max_age)
        elif morsel.get("expires"):
            try:
                expires = parsedate_to_datetime(str(morsel["expires"])).timestamp()
            except (TypeError, ValueError):
                expires = None
        secure = bool(morsel.get("secure"))
        return Cookie(name, morsel.value, domain, path, host_only, secure, expires)

    def _store(self, cookie: Cookie) -> None:
        key = (cookie.domain, cookie.path, cookie.name)
        self._cookies.pop(key, None)
        self._cookies[key] = cookie
        while len(self._cookies) > self.max_cookies:
            del self._cookies[next(iter(self._cookies))]
