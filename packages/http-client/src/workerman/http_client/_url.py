"""Request URLs: parsed once into what the pool (origin) and the request line (target) need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit

from ._exceptions import InvalidURL

__all__ = ["URL", "Origin", "Params"]

Params = Mapping[str, object] | Iterable[tuple[str, object]] | str | None
Origin = tuple[str, str, int]  # scheme, host, port

_DEFAULT_PORTS = {"http": 80, "https": 443}


class URL:
    """An absolute http or https URL.

    Attributes:
        scheme: "http" or "https".
        host: the host name (IDNA-encoded) or address, without brackets.
        port: the port, explicit or the scheme's default.
        target: path and query, as sent on the request line.
        username, password: credentials in the URL, percent-decoded (or None).
    """

    __slots__ = ("fragment", "host", "password", "port", "scheme", "target", "text", "username")

    def __init__(self, text: str) -> None:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise InvalidURL(f"{text!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise InvalidURL(f"{text!r}: the scheme must be http or https")
        host = parts.hostname
        if not host:
            raise InvalidURL(f"{text!r}: no host")
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise InvalidURL(f"{text!r}: host {host!r} is not a valid name: {exc}") from None
        self.scheme = scheme
        self.host = host
        self.port = port if port is not None else _DEFAULT_PORTS[scheme]
        path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~") or "/"
        query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~") if parts.query else ""
        self.target = f"{path}?{query}" if query else path
        self.fragment = parts.fragment
        self.username = _unquote(parts.username)
        self.password = _unquote(parts.password)
        self.text = text

    @property
    def origin(self) -> Origin:
        """(scheme, host, port): the connections of one origin are pooled together."""
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        """The Host header: the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def with_params(self, params: Params) -> URL:
        """This URL with ``params`` added to its query."""
        if not params:
            return self
        extra = params if isinstance(params, str) else urlencode(_pairs(params), doseq=True)
        base = self.text.split("#", 1)[0]
        joined = f"{base}&{extra}" if "?" in base else f"{base}?{extra}"
        return URL(joined)

    def join(self, location: str) -> URL:
        """Resolve a Location header against this URL."""
        return URL(urljoin(self.text, location))

    def without_credentials(self) -> str:
        """The URL as text with any user:password removed (for logs and errors)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.target}"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"URL({self.without_credentials()!r})"


def _unquote(value: str | None) -> str | None:
    return None if value is None else unquote(value)


def _pairs(params: Mapping[str, object] | Iterable[tuple[str, object]]) -> list[tuple[str, object]]:
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, object]] = []
    for key, value in items:
        if value is None:
            continue
        out.append((key, ("true" if value else "false") if isinstance(value, bool) else value))
    return out
