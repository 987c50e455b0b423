"""The settings of the ``http://`` protocol, apart from the code that reads them."""

from __future__ import annotations

from typing import ClassVar

from mypy_extensions import mypyc_attr

from workerman.core.protocols import StreamProtocol

__all__ = ["HttpSettings"]


@mypyc_attr(allow_interpreted_subclasses=True)  # Http and the subclasses workers are given
class HttpSettings(StreamProtocol):
    """Class attributes that ``Http`` (and a subclass a worker is given) carries: the
    ``http://`` protocol's settings, on the stream protocol it is."""

    __slots__ = ()

    #: a request head (request line and fields) over this many bytes is answered 431.
    max_header_size: ClassVar[int] = 16 * 1024
    #: seconds a client has to finish a request head it has begun (then 408 and close).
    header_timeout: ClassVar[float] = 30.0
    #: a request body must keep coming: while one is incomplete, each ``body_timeout``
    #: seconds must bring at least ``min_body_rate`` bytes a second of it (and at least a
    #: byte), or it is answered 408 and closed (``body_timeout`` 0: no deadline).
    body_timeout: ClassVar[float] = 20.0
    #: see ``body_timeout``; 240 bytes a second is Kestrel's default.
    min_body_rate: ClassVar[float] = 240.0
    #: a body declared (by Content-Length) larger than this many bytes is written to a
    #: temporary file in ``upload_tmp_dir`` as it arrives, not held in memory (0: never).
    body_spool_size: ClassVar[int] = 1024 * 1024
    #: chunks one chunked request body may have (413 beyond): each costs a parse step,
    #: so this bounds the CPU a body of tiny chunks takes.
    max_chunks: ClassVar[int] = 16 * 1024
    #: requests one keep-alive connection may carry; the last is answered with
    #: ``Connection: close`` and the client opens a new one (0: no limit). As nginx's
    #: ``keepalive_requests``: long-lived clients spread again over the worker processes
    #: (a replacement process gets its share), and per-connection state is renewed.
    max_keepalive_requests: ClassVar[int] = 1000
    #: seconds a connection may stay quiet with no request in progress (between keep-alive
    #: requests, or before its first byte) before it is closed (0: never).
    idle_timeout: ClassVar[float] = 60.0
    #: after answering a bad request, seconds to keep reading (and dropping) what the client
    #: still sends before closing, so it reads the answer instead of a reset (0: close at once).
    linger_timeout: ClassVar[float] = 5.0
    #: uploaded files one multipart request may carry (413 beyond).
    max_file_uploads: ClassVar[int] = 1024
    #: form fields one urlencoded or multipart body may carry (413 beyond).
    max_fields: ClassVar[int] = 1000
    #: where uploads are spooled ("" for the system's temporary directory).
    upload_tmp_dir: ClassVar[str] = ""
