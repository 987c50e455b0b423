"""HTTP sessions: data kept on the server under an id the browser carries in a cookie.

A :class:`Session` reads its storage on first access, so a request that never touches
its session costs nothing. The server calls :meth:`Session.save` after the response is
sent: changed data is written, unchanged data only kept alive (a ``utime`` for files).
Storage is pluggable (:class:`SessionHandler`); ids reach it only after
:func:`valid_session_id` accepted them, so a cookie can never name a path. A handler on
an async store (Redis) returns awaitables; its sessions are loaded with
``await session.load()``, and what saving writes is awaited on the loop.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import secrets
import stat
import tempfile
import time
from abc import ABCMeta
from collections.abc import Awaitable, Iterator, Mapping, MutableMapping
from contextlib import suppress
from inspect import isawaitable, iscoroutine
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from workerman.core import current_loop

from ._cookies import format_cookie

__all__ = [
    "FileSessionHandler",
    "JsonSerializer",
    "Serializer",
    "Session",
    "SessionHandler",
    "create_session_id",
    "valid_session_id",
]

logger = logging.getLogger("workerman.core")

_VALID_ID = re.compile(r"[A-Za-z0-9,-]{16,128}")


def create_session_id() -> str:
    """A new random session id: 32 hex characters (128 bits from :mod:`secrets`)."""
    return secrets.token_hex(16)


def valid_session_id(text: str) -> bool:
    """Whether ``text`` may be used as a session id: 16 to 128 of ``A-Z a-z 0-9 , -``."""
    return _VALID_ID.fullmatch(text) is not None


def _checked(session_id: str) -> str:
    if not valid_session_id(session_id):
        raise ValueError(f"invalid session id {session_id[:40]!r}")
    return session_id


@runtime_checkable
class SessionHandler(Protocol):
    """Where session data lives. Every method receives ids already validated.

    ``lifetime`` is the number of seconds of inactivity after which the data
    expires; a handler that cannot expire entries by itself relies on :meth:`gc`.

    Each method may instead return an awaitable of its result (a future, or a coroutine:
    an ``async def`` method), for storage reached over the network. Sessions of such a
    handler must be loaded with ``await session.load()`` before use; saving hands the
    writes to a task of the running loop, which awaits them in order and logs failures.
    """

    def read(self, session_id: str) -> bytes | Awaitable[bytes | None] | None:
        """The stored data, or None when there is none or it expired."""

    def write(self, session_id: str, data: bytes, lifetime: int) -> Awaitable[Any] | None:
        """Store ``data``, replacing what was there, for ``lifetime`` seconds."""

    def touch(self, session_id: str, lifetime: int) -> Awaitable[Any] | None:
        """Restart the lifetime of unchanged data; nothing when none is stored."""

    def destroy(self, session_id: str) -> Awaitable[Any] | None:
        """Remove the data; nothing when none is stored."""

    def gc(self, max_lifetime: int) -> int | Awaitable[int]:
        """Remove data idle for more than ``max_lifetime`` seconds; return how many."""


def _settle(results: list[Any]) -> None:
    """Await, in order on the running loop, what an async handler returned; stop at the
    first failure (so a stale id is not destroyed after its data failed to move)."""
    pending = [result for result in results if isawaitable(result)]
    if not pending:
        return

    async def settle() -> None:
        for index, awaitable in enumerate(pending):
            try:
                await awaitable
            except Exception:
                logger.exception("session storage failed")
                for rest in pending[index + 1 :]:
                    if iscoroutine(rest):
                        rest.close()
                return

    current_loop().spawn(settle)


class Serializer(Protocol):
    """Turns session data into bytes and back; the :mod:`pickle` module is one."""

    def dumps(self, obj: Any, /) -> bytes:
        """The bytes of ``obj``."""

    def loads(self, data: bytes, /) -> Any:
        """The object of ``data``."""


class JsonSerializer:
    """The default serializer: compact UTF-8 JSON.

    Values must be JSON-able; tuples come back as lists, non-string keys as strings.
    """

    def dumps(self, obj: Any, /) -> bytes:
        """The JSON of ``obj``; TypeError for a value JSON cannot carry."""
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    def loads(self, data: bytes, /) -> Any:
        """The object of JSON ``data``."""
        return json.loads(data)


_FILE_PREFIX = "ses_"
_TEMP_PREFIX = ".tmp_ses_"
_HEADER_MAX = 24


class FileSessionHandler:
    """Sessions as files named ``ses_<id>`` in one directory.

    A file holds the lifetime it was written with on its first line, then the data;
    its mtime is the time of last use, so the data has expired once the file is older
    than that lifetime. Writes go to a temporary file renamed over the old one, so a
    reader sees the old data or the new, never part of either. Writes are not fsynced:
    a session is worth less than a disk flush per request.

    Args:
        save_path: the directory, created (mode 0o700) when missing. The default,
            ``<tempdir>/workerman-sessions``, must belong to this user.
    """

    __slots__ = ("save_path",)

    def __init__(self, save_path: str | None = None) -> None:
        default = not save_path
        self.save_path = save_path or os.path.join(tempfile.gettempdir(), "workerman-sessions")
        os.makedirs(self.save_path, mode=0o700, exist_ok=True)
        if default:
            _ensure_private(self.save_path)

    def read(self, session_id: str) -> bytes | None:
        """The data of a live session file; None when missing, expired or malformed."""
        stored = self._load(self._path(session_id), body=True)
        return None if stored is None else stored[1]

    def write(self, session_id: str, data: bytes, lifetime: int) -> None:
        """Replace the file atomically. Raises ValueError for a lifetime under 1."""
        if lifetime < 1:
            raise ValueError(f"session lifetime must be at least 1 second, not {lifetime}")
        path = self._path(session_id)
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.save_path)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(b"%d\n" % lifetime)
                file.write(data)
            os.replace(temp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def touch(self, session_id: str, lifetime: int) -> None:
        """Set the file's mtime to now; rewrite it when ``lifetime`` changed.

        An expired file is left as it is: touching must not bring stale data back.
        """
        path = self._path(session_id)
        stored = self._load(path, body=False)
        if stored is None:
            return
        if stored[0] == lifetime:
            with suppress(FileNotFoundError):
                os.utime(path)
        elif (current := self._load(path, body=True)) is not None:
            self.write(session_id, current[1], lifetime)

    def destroy(self, session_id: str) -> None:
        """Delete the file, if any."""
        with suppress(FileNotFoundError):
            os.unlink(self._path(session_id))

    def gc(self, max_lifetime: int) -> int:
        """Delete session files (and abandoned temporary files) unused for more than
        ``max_lifetime`` seconds; return how many session files went."""
        cutoff = time.time() - max_lifetime
        removed = 0
        with os.scandir(self.save_path) as entries:
            for entry in entries:
                is_session = entry.name.startswith(_FILE_PREFIX)
                if not (is_session or entry.name.startswith(_TEMP_PREFIX)):
                    continue
                # A file renamed into place between the stat and the unlink is lost with
                # the stale one; the window is one syscall, as with PHP's file sessions.
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += is_session
                except FileNotFoundError:
                    continue
        return removed

    def _path(self, session_id: str) -> str:
        return os.path.join(self.save_path, _FILE_PREFIX + _checked(session_id))

    def _load(self, path: str, *, body: bool) -> tuple[int, bytes] | None:
        """The lifetime and (with ``body``) data of a live session file."""
        try:
            file = open(path, "rb")  # noqa: SIM115 (the with below closes it)
        except FileNotFoundError:
            return None
        with file:
            mtime = os.fstat(file.fileno()).st_mtime
            header = file.readline(_HEADER_MAX)
            data = file.read() if body else b""
        digits = header[:-1]
        if not header.endswith(b"\n") or not digits.isdigit():
            logger.warning("session file %s has no lifetime header; ignored", path)
            return None
        lifetime = int(digits)
        if time.time() - mtime > lifetime:
            return None
        return lifetime, data


def _ensure_private(path: str) -> None:
    """Refuse a directory in the shared temp dir that another user made."""
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"session directory {path} is not a plain directory")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise PermissionError(f"session directory {path} belongs to another user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


class _SessionType(ABCMeta):
    """Gives ``Session.handler`` a default created on first use, and checks assignments."""

    _handler: SessionHandler | None = None

    @property
    def handler(cls) -> SessionHandler:
        """The storage of all sessions; a :class:`FileSessionHandler` unless set."""
        if cls._handler is None:
            cls._handler = FileSessionHandler()
        return cls._handler

    @handler.setter
    def handler(cls, value: SessionHandler) -> None:
        if not isinstance(value, SessionHandler):
            raise TypeError(f"{type(value).__name__} does not implement SessionHandler")
        cls._handler = value


class Session(MutableMapping[str, Any], metaclass=_SessionType):
    """The data of one session id, a mutable mapping of str keys, as Workerman's ``Session``.

    Settings are class attributes, shared by all sessions; ``Session.handler`` is the
    storage (a :class:`FileSessionHandler` in the temp directory unless set).

    Data is read from the handler on first access. Changes are tracked by the
    mapping operations; after mutating a stored value in place (appending to a list),
    set :attr:`modified`. Values must suit :attr:`serializer` (JSON by default).

    Args:
        session_id: the id from the cookie, or :func:`create_session_id` for a new one.

    Raises:
        ValueError: ``session_id`` fails :func:`valid_session_id`.
    """

    name: ClassVar[str] = "WMSESSID"  # of the cookie
    lifetime: ClassVar[int] = 1440  # seconds unused before the data expires
    cookie_lifetime: ClassVar[int] = 0  # cookie Max-Age; 0: until the browser closes
    cookie_path: ClassVar[str] = "/"
    domain: ClassVar[str] = ""
    secure: ClassVar[bool] = False
    http_only: ClassVar[bool] = True
    same_site: ClassVar[str] = "Lax"
    gc_probability: ClassVar[tuple[int, int]] = (1, 20000)  # chance of a gc run per save
    serializer: ClassVar[Serializer] = JsonSerializer()

    __slots__ = ("_data", "_id", "_stale_id", "_stored", "id_changed", "modified")

    def __init__(self, session_id: str) -> None:
        self._id = _checked(session_id)
        self._data: dict[str, Any] | None = None
        self._stored = False  # the handler held live data for this id when last seen
        self._stale_id: str | None = None  # an id given up by regenerate_id, destroyed on save
        self.modified = False
        """Whether :meth:`save` writes; set it after changing a stored value in place."""
        self.id_changed = False
        """Whether the response must set :meth:`cookie_header`: a new session, a new id."""

    @classmethod
    def from_cookie(cls, value: str | None) -> Self:
        """The session a request's cookie names, or a new one when ``value`` is missing or
        not a valid id; a new one has :attr:`id_changed` set, so its cookie gets sent."""
        if value is not None and valid_session_id(value):
            return cls(value)
        session = cls(create_session_id())
        session.id_changed = True
        return session

    @property
    def id(self) -> str:
        """The session id."""
        return self._id

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            raw = type(self).handler.read(self._id)
            if isawaitable(raw):
                if iscoroutine(raw):
                    raw.close()
                raise RuntimeError(
                    "the session handler is async: `await session.load()` before using it"
                )
            self._loaded(raw)
            assert self._data is not None
        return self._data

    def _loaded(self, raw: bytes | None) -> None:
        self._data = {} if raw is None else self._decode(raw)
        self._stored = bool(self._data)

    async def load(self) -> Self:
        """Read the stored data now, awaiting an async handler; returns this session.
        Needed before using a session whose handler is async, harmless otherwise."""
        if self._data is None:
            raw = type(self).handler.read(self._id)
            if isawaitable(raw):
                raw = await raw
            if self._data is None:  # unless a concurrent load won
                self._loaded(raw)
        return self

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            data = type(self).serializer.loads(raw)
            if isinstance(data, dict):
                return data
            problem = f"a {type(data).__name__}, not a mapping"
        except Exception as exc:
            problem = repr(exc)
        logger.warning(
            "session %.6s...: stored data unreadable (%s); starting empty", self._id, problem
        )
        return {}

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default``."""
        return self._load().get(name, default)

    def set(self, name: str, value: Any) -> None:
        """Set ``name`` to ``value``."""
        self._load()[name] = value
        self.modified = True

    def put(self, values: Mapping[str, Any]) -> None:
        """Set every key of ``values``."""
        self._load().update(values)
        self.modified = True

    def delete(self, name: str) -> None:
        """Remove ``name``; nothing when absent."""
        data = self._load()
        if name in data:
            del data[name]
            self.modified = True

    def pull(self, name: str, default: Any = None) -> Any:
        """Remove ``name`` and return its value, or ``default`` when absent."""
        value = self.get(name, default)
        self.delete(name)
        return value

    def all(self) -> dict[str, Any]:
        """A shallow copy of the data."""
        return dict(self._load())

    def has(self, name: str) -> bool:
        """Whether ``name`` is set to something other than None."""
        return self._load().get(name) is not None

    def exists(self, name: str) -> bool:
        """Whether ``name`` is set, even to None."""
        return name in self._load()

    def flush(self) -> None:
        """Remove all data; the stored copy goes on :meth:`save`."""
        self._load().clear()
        self.modified = True

    clear = flush

    def __getitem__(self, name: str) -> Any:
        return self._load()[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        del self._load()[name]
        self.modified = True

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        state = repr(self._data) if self._data is not None else "<not loaded>"
        return f"<Session {self._id[:6]}... {state}>"

    def save(self) -> None:
        """Write the data when it changed (delete it when empty), else keep it alive.

        Rolls :attr:`gc_probability` for a :meth:`gc` run. Nothing is read or written
        for a session that was never accessed. Handler errors propagate.
        """
        cls = type(self)
        handler = cls.handler
        done: list[Any] = []  # what an async handler returned, awaited in order after
        if self.modified and self._data is not None:
            if self._data:
                data = cls.serializer.dumps(self._data)
                done.append(handler.write(self._id, data, cls.lifetime))
            else:
                done.append(handler.destroy(self._id))
            self._stored = bool(self._data)
            self.modified = False
        elif self._stored:
            done.append(handler.touch(self._id, cls.lifetime))
        if self._stale_id is not None:
            # After the new id is written: a failed write must not lose the data.
            done.append(handler.destroy(self._stale_id))
            self._stale_id = None
        chance, out_of = cls.gc_probability
        if chance > 0 and random.randrange(out_of) < chance:
            try:
                done.append(cls.gc())
            except Exception:
                logger.exception("session gc failed")
        _settle(done)

    def destroy(self) -> None:
        """Delete the stored data now and empty this session."""
        handler = type(self).handler
        done = [handler.destroy(self._id)]
        if self._stale_id is not None:
            done.append(handler.destroy(self._stale_id))
            self._stale_id = None
        _settle(done)
        self._data = {}
        self.modified = self._stored = False

    def regenerate_id(self) -> str:
        """Move the data to a new id, as after a login (against session fixation).

        The old id's data is destroyed on :meth:`save`; :attr:`id_changed` tells the
        server to send the new :meth:`cookie_header`.

        Returns:
            The new id.
        """
        data = self._load()
        if self._stale_id is None:
            self._stale_id = self._id
        self._id = create_session_id()
        self.modified = self.modified or bool(data)
        self._stored = False
        self.id_changed = True
        return self._id

    def cookie_header(self) -> str:
        """The ``Set-Cookie`` value carrying this session's id, per the class settings."""
        cls = type(self)
        return format_cookie(
            cls.name,
            self._id,
            max_age=cls.cookie_lifetime if cls.cookie_lifetime > 0 else None,
            path=cls.cookie_path,
            domain=cls.domain,
            secure=cls.secure,
            http_only=cls.http_only,
            same_site=cls.same_site,
        )

    @classmethod
    def gc(cls) -> int | Awaitable[int]:
        """Remove sessions idle for more than :attr:`lifetime`; return how many (an
        awaitable of it, with an async handler)."""
        return cls.handler.gc(cls.lifetime)
