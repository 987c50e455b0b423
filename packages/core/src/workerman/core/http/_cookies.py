"""Cookie headers: parse what a browser sends, format what a server sets."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Final

__all__ = ["format_cookie", "parse_cookies"]

# RFC 6265 cookie-name is a token; a value may be quoted.
_PAIR = re.compile(r"\s*([^=;,\s]+)\s*=\s*(\"[^\"]*\"|[^;]*?)\s*(?:;|$)")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\x00-\x20\x7f\",;\\]")
_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def parse_cookies(header: str) -> dict[str, str]:
    """The cookies of a ``Cookie`` header; the first of a repeated name wins (the most
    specific path, as browsers order them). Quotes around a value are removed.

    What a browser sends (``a=1; b=2``, no quotes, names without spaces or commas) is read
    by splitting at the semicolons; anything else by :data:`_PAIR`, whose reading the split
    gives exactly, at a tenth of the cost."""
    if '"' not in header:
        cookies = _plain(header)
        if cookies is not None:
            return cookies
    cookies = {}
    for name, raw in _PAIR.findall(header):
        quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
        cookies.setdefault(name, raw[1:-1] if quoted else raw)
    return cookies


def _split(header: str) -> dict[str, str] | None:
    """The cookies of an unquoted header, or None where a name has a space or a comma
    (which :data:`_PAIR` reads in its own way)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, equals, value = part.partition("=")
        if not equals:
            continue  # no pair in this part
        name = name.strip()
        if not name or "," in name or len(name.split()) != 1:
            return None
        if name not in cookies:
            cookies[name] = value.strip()
    return cookies


def _kernel() -> Callable[[str], dict[str, str] | None]:
    """:func:`_split` in C where the build has it (``_scan.c``), else itself."""
    try:
        from ._scan import cookies  # noqa: PLC0415 (the compiled build's)
    except ImportError:  # the pure build
        return _split
    return cookies


_plain: Final = _kernel()


def format_cookie(
    name: str,
    value: str = "",
    *,
    max_age: int | None = None,
    expires: float | None = None,
    path: str = "",
    domain: str = "",
    secure: bool = False,
    http_only: bool = False,
    same_site: str = "",
    partitioned: bool = False,
) -> str:
    """A ``Set-Cookie`` header value.

    Args:
        max_age: seconds the cookie lives (0 or less deletes it).
        expires: a Unix time for the Expires attribute.
        same_site: "Strict", "Lax" or "None" (None requires ``secure``).

    Raises:
        ValueError: a name that is not a token, a value with characters a cookie
            cannot carry, or an unknown same_site.
    """
    if not _TOKEN.match(name):
        raise ValueError(f"cookie name {name!r} is not an HTTP token")
    if _BAD_VALUE.search(value):
        raise ValueError(f"cookie value {value!r} has characters a cookie cannot carry")
    parts = [f"{name}={value}"]
    if expires is not None:
        parts.append("Expires=" + formatdate(expires, usegmt=True))
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
        if expires is None:
            parts.append("Expires=" + formatdate(time.time() + max_age, usegmt=True))
    if domain:
        parts.append(f"Domain={domain}")
    if path:
        parts.append(f"Path={path}")
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    if same_site:
        canonical = _SAME_SITE.get(same_site.lower())
        if canonical is None:
            raise ValueError(f"same_site must be Strict, Lax or None, not {same_site!r}")
        if canonical == "None" and not secure:
            raise ValueError("same_site=None needs secure=True (browsers drop it otherwise)")
        parts.append(f"SameSite={canonical}")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)
