"""redis://, rediss:// and unix:// URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from ._exceptions import RedisError


@dataclass(frozen=True)
class ServerAddress:
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    tls: bool = False
    username: str | None = None
    password: str | None = None
    db: int = 0


def parse_url(url: str) -> ServerAddress:
    """``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) or
    ``unix://[[user]:password@]/path/to.sock[?db=N]``.

    Raises:
        RedisError: the URL cannot name a Redis server.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    query = parse_qs(parts.query)
    db_text = query.get("db", [""])[0]
    if scheme in ("redis", "rediss"):
        path_db = parts.path.lstrip("/")
        db_text = path_db or db_text
        try:
            port = parts.port or 6379
        except ValueError:
            raise RedisError(f"bad port in {url!r}") from None
        host = parts.hostname or "127.0.0.1"
    elif scheme == "unix":
        if not parts.path:
            raise RedisError(f"{url!r} names no socket path")
        host, port = "", 0
    else:
        raise RedisError(f"{url!r}: use redis://, rediss:// or unix://")
    try:
        db = int(db_text or 0)
    except ValueError:
        raise RedisError(f"bad database number {db_text!r} in {url!r}") from None
    return ServerAddress(
        host=host,
        port=port,
        path=parts.path if scheme == "unix" else None,
        tls=scheme == "rediss",
        username=username or None,
        password=password,
        db=db,
    )
