"""Request: one parsed HTTP request; everything beyond the request line is parsed on demand."""

from __future__ import annotations

import io
from types import FunctionType
from typing import TYPE_CHECKING, Any, BinaryIO, Final
from urllib.parse import unquote

from mypy_extensions import mypyc_attr

from ._cookies import parse_cookies
from ._errors import RequestError
from ._form import boundary_of, parse_json, parse_multipart, parse_query
from ._head import field_values
from ._session import Session
from ._settings import HttpSettings
from ._spool import Spool

if TYPE_CHECKING:
    from workerman.core import TcpConnection

    from ._form import UploadedFile
    from ._head import Head

__all__ = ["Request", "request_of"]

_FORM: Final = "application/x-www-form-urlencoded"


@mypyc_attr(allow_interpreted_subclasses=True)  # a public class: users subclass it
class Request:
    """An HTTP request as ``on_message`` gets it.

    The request line is parsed before the handler runs; headers, the query string,
    cookies, the body's fields and uploads, and the session are parsed the first time
    the handler asks for them.

    Attributes:
        connection: the connection it came on.
        method: ``GET``, ``POST`` ... as sent.
        uri: the request target as sent (``/path?query``).
        protocol_version: ``"1.1"`` or ``"1.0"``.
        keep_alive: whether the connection stays open after the response.
    """

    # The request line's fields are slots; what is parsed on demand starts as these class
    # defaults and lands in the instance __dict__ only when a handler asks for it, so a
    # request that is answered without looking costs no stores for it.
    __slots__ = (
        "__dict__",
        "_body",
        "_head",
        "_info",
        "connection",
        "keep_alive",
        "method",
        "protocol_version",
        "uri",
    )
    _headers: dict[str, str] | None = None
    _query: dict[str, list[str]] | None = None
    _post: Any = None
    _json = False
    _files: dict[str, list[UploadedFile]] | None = None
    _cookies: dict[str, str] | None = None
    _session: Session | None = None

    def __init__(
        self,
        # `| Any`: unchecked when compiled, as a codec's decode() may be given no connection
        connection: TcpConnection | Any,
        head: bytes,
        body: bytes | Spool,
        method: str,
        uri: str,
        version: str,
        keep_alive: bool,
    ) -> None:
        self.connection = connection
        self._head = head
        self._body = body
        self.method = method
        self.uri = uri
        self.protocol_version = version
        self.keep_alive = keep_alive
        self._info: Head | None = None  # what the exchange read of the head (request_of's)

    # -- the request line ---------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path of the target, percent-decoded (``/a b`` for ``/a%20b?x=1``)."""
        target = self.uri
        info = self._info
        if info is not None:
            if info.uri is not target:  # the uri was changed after the head was read
                info = None
            elif info.path is not None:  # kept with the head by an earlier request
                return info.path
        if target[0] != "/":  # absolute-form (a proxy request), or * for OPTIONS
            _, sep, rest = target.partition("://")
            target = "/" + rest.partition("/")[2] if sep else target
        path = target.partition("?")[0].partition("#")[0]
        if not path.isascii():  # raw UTF-8 (the head is read as latin-1), as %XX would be
            path = path.encode("latin-1").decode("utf-8", "replace")
        if "%" in path:
            path = unquote(path)
        if info is not None:  # the first request of this head to ask: kept with the head
            info.path = path
        return path

    @property
    def query_string(self) -> str:
        return self.uri.partition("?")[2].partition("#")[0]

    def get(self, name: str | None = None, default: Any = None) -> Any:
        """A query parameter (the first, when repeated); all of them as a dict (first
        values) when ``name`` is None. See :meth:`get_list` for repeated ones."""
        query = self._query
        if query is None:
            text = self.query_string  # as bytes when not ASCII: raw UTF-8 is decoded as such
            query = self._query = parse_query(text if text.isascii() else text.encode("latin-1"))
        if name is None:
            return {key: values[0] for key, values in query.items()}
        values = query.get(name)
        return default if values is None else values[0]

    def get_list(self, name: str) -> list[str]:
        """Every value of a query parameter, in order."""
        self.get()
        assert self._query is not None
        return list(self._query.get(name, ()))

    # -- headers -------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased header names to values; repeated headers joined with ", "
        (cookies with "; ")."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            lines = self._head.decode("latin-1").split("\r\n")
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                name = name.lower()
                value = value.strip(" \t")
                if name in headers:
                    value = headers[name] + ("; " if name == "cookie" else ", ") + value
                headers[name] = value
        return headers

    def header(self, name: str | None = None, default: Any = None) -> Any:
        """One header by name (any case), or all of them when ``name`` is None."""
        if name is None:
            return self.headers
        return self.headers.get(name.lower(), default)

    @property
    def host(self) -> str:
        """The host the request is for (with its port, if sent): the authority of an
        absolute-form target (``GET http://a.example/x``), which wins over the Host header
        (RFC 9112 3.2.2), else the Host header."""
        target = self.uri
        if target[0] != "/" and "://" in target:
            authority = target.partition("://")[2].partition("/")[0]
            authority = authority.partition("?")[0].rpartition("@")[2]
            if authority:
                return authority
        return self.headers.get("host", "")

    @property
    def raw_head(self) -> bytes:
        """The request line and header lines, as received."""
        return self._head

    @property
    def raw_body(self) -> bytes:
        """The body as received (chunked transfer coding removed). A body over
        ``Http.body_spool_size`` was stored in a temporary file: this reads it all."""
        body = self._body
        return body if type(body) is bytes else body.read()  # type: ignore[union-attr]

    @property
    def body_file(self) -> BinaryIO:
        """The body as a binary file at its start, to read in pieces: the temporary file
        of a spooled body (closed when the response is complete), or one over the bytes."""
        body = self._body
        if type(body) is bytes:
            return io.BytesIO(body)
        return body.rewound()  # type: ignore[union-attr]

    @property
    def body_spooled(self) -> bool:
        """Whether the body arrived into a temporary file (see ``Http.body_spool_size``)."""
        return type(self._body) is not bytes

    def cookie(self, name: str | None = None, default: Any = None) -> Any:
        """A cookie's value, or all of them as a dict when ``name`` is None."""
        cookies = self._cookies
        if cookies is None:
            headers = self._headers
            if headers is not None:
                header = headers.get("cookie")
            else:  # the one field, not the dict of all (as headers joins repeated ones)
                header = "; ".join(
                    [v.decode("latin-1") for v in field_values(self._head, b"cookie")]
                )
            cookies = self._cookies = parse_cookies(header) if header else {}
        if name is None:
            return dict(cookies)
        return cookies.get(name, default)

    # -- the body ------------------------------------------------------------------------

    def _parse_body(self) -> None:
        self._post = {}
        self._files = {}
        settings: Any = self.connection.protocol
        if not (isinstance(settings, type) and issubclass(settings, HttpSettings)):
            settings = HttpSettings  # a worker's own Http subclass carries its limits
        body = self.raw_body
        if not body:
            return
        content_type = self.headers.get("content-type", "")
        kind = content_type.partition(";")[0].strip().lower()
        if kind == _FORM:
            self._post = parse_query(body, max_fields=settings.max_fields)
        elif kind == "multipart/form-data":
            boundary = boundary_of(content_type)
            if boundary is None:
                raise RequestError(400, "multipart/form-data without a valid boundary")
            self._post, self._files = parse_multipart(
                body,
                boundary,
                max_files=settings.max_file_uploads,
                max_fields=settings.max_fields,
                tmp_dir=settings.upload_tmp_dir or None,
            )
        elif kind == "application/json" or kind.endswith("+json"):
            self._post = parse_json(body)
            self._json = True

    def post(self, name: str | None = None, default: Any = None) -> Any:
        """A field of the body: urlencoded and multipart forms (the first value when
        repeated) and JSON objects. With no ``name``: all fields as a dict, or the
        parsed JSON value.

        Raises:
            RequestError: a malformed body (400) or one over the upload limits (413);
                raised from a handler, the client gets that status.
        """
        if self._post is None:
            self._parse_body()
        post = self._post
        if not self._json:
            if name is None:
                return {key: values[0] for key, values in post.items()}
            values = post.get(name)
            return default if values is None else values[0]
        if name is None:
            return post
        return post.get(name, default) if isinstance(post, dict) else default

    def post_list(self, name: str) -> list[str]:
        """Every value of a form field, in order."""
        if self._post is None:
            self._parse_body()
        post = self._post
        if self._json:
            value = post.get(name) if isinstance(post, dict) else None
            return [] if value is None else list(value) if isinstance(value, list) else [value]
        return list(post.get(name, ()))

    def file(self, name: str | None = None) -> Any:
        """The uploaded file of a multipart field (the first, when several), or all of
        them as a dict of lists when ``name`` is None. Files live in temporary files
        that are removed once the response is sent, unless moved with ``save()``."""
        if self._files is None:
            self._parse_body()
        files = self._files
        assert files is not None
        if name is None:
            return {key: list(items) for key, items in files.items()}
        items = files.get(name)
        return items[0] if items else None

    def _session_cookie(self) -> str | None:
        """The ``Set-Cookie`` value the answer must carry: a session this request started
        (or gave a new id) names itself to the client."""
        session = self._session
        return session.cookie_header() if session is not None and session.id_changed else None

    def _finish(self) -> None:
        """The answer has gone out: save the session it used, drop leftover uploads."""
        session = self._session
        if session is not None:
            try:
                session.save()
            except Exception as exc:
                self.connection.report("session save", exc)
        self._cleanup()

    def _cleanup(self) -> None:
        """Remove upload temporary files still in place, and a spooled body's file."""
        if type(self._body) is not bytes:
            self._body.close()  # type: ignore[union-attr]
        if self._files:
            for items in self._files.values():
                for upload in items:
                    upload.cleanup()

    # -- the rest ------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """This client's session, from its cookie; a new one (and its cookie on the
        response) when it has none. Saved after the response is sent."""
        session = self._session
        if session is None:
            session = self._session = Session.from_cookie(self.cookie(Session.name))
        return session

    @property
    def remote_ip(self) -> str:
        return self.connection.remote_ip

    @property
    def remote_port(self) -> int:
        return self.connection.remote_port

    @property
    def remote_address(self) -> str:
        return self.connection.remote_address

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} HTTP/{self.protocol_version}>"


def request_of(
    connection: TcpConnection | Any, head: bytes, body: bytes | Spool, info: Head
) -> Request:
    """The :class:`Request` of a head the exchange has read (``info``, what it says)."""
    request = Request(connection, head, body, info.method, info.uri, info.version, info.keep_alive)
    request._info = info
    return request


_new: Final = object.__new__


def _made(connection: TcpConnection | Any, head: bytes, body: bytes | Spool, info: Head) -> Request:
    """:func:`request_of` as the pure build runs it: the request's fields set here, as
    ``Request.__init__`` sets them, without calling it (type() calling ``__init__`` is
    most of what making a request costs in pure Python)."""
    request: Request = _new(Request)
    request.connection = connection
    request._head = head
    request._body = body
    request.method = info.method
    request.uri = info.uri
    request.protocol_version = info.version
    request.keep_alive = info.keep_alive
    request._info = info
    return request


# Pure Python: _made is request_of, the same request made in fewer steps. Compiled, the
# constructor is a direct call (and object.__new__ does not make a native instance).
if isinstance(request_of, FunctionType):
    request_of = _made
