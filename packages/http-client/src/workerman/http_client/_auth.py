"""Authentication helpers: what goes into the Authorization header."""

from __future__ import annotations

import base64

__all__ = ["AuthInput", "BasicAuth", "BearerAuth", "auth_header"]


class BasicAuth:
    """HTTP Basic authentication (RFC 7617), credentials encoded as UTF-8."""

    __slots__ = ("password", "username")

    def __init__(self, username: str, password: str = "") -> None:
        self.username = username
        self.password = password

    def header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, '***')"


class BearerAuth:
    """A bearer token (RFC 6750), e.g. an OAuth 2 access token or an API key."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def header(self) -> str:
        return f"Bearer {self.token}"

    def __repr__(self) -> str:
        return "BearerAuth('***')"


AuthInput = BasicAuth | BearerAuth | tuple[str, str] | None


def auth_header(auth: AuthInput) -> str | None:
    """The Authorization value for ``auth`` (a (user, password) tuple means Basic)."""
    if auth is None:
        return None
    if isinstance(auth, tuple):
        return BasicAuth(*auth).header()
    return auth.header()
