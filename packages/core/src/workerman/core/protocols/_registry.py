"""Protocol lookup by scheme name: built-ins, code registrations, then entry points."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points
from typing import Any

from .._exceptions import ServerError
from .._stream import is_stream_protocol
from ._codec import Codec
from ._frame import Frame
from ._text import Text

__all__ = ["ENTRY_POINT_GROUP", "get_protocol", "register_protocol", "registered_protocols"]

ENTRY_POINT_GROUP = "workerman.protocols"
"""The entry point group through which installed packages register their schemes."""

# Schemes that name a transport, never a protocol.
_TRANSPORTS = frozenset({"tcp", "udp", "unix", "ssl"})
_NAME = re.compile(r"^[a-z][a-z0-9+.-]*$")

_registry: dict[str, Codec] = {"text": Text, "frame": Frame}
_entry_points_loaded = False
# built-ins imported on first use, so a text server never loads the HTTP code
_BUILTIN = {
    "http": ("workerman.core.http", "Http"),
    "websocket": ("workerman.core.websocket", "WebSocket"),
    "ws": ("workerman.core.websocket", "Ws"),
    "wss": ("workerman.core.websocket", "Ws"),
}


def _load_builtin(name: str) -> Codec | None:
    where = _BUILTIN.get(name)
    if where is None:
        return None
    codec: Codec = getattr(importlib.import_module(where[0]), where[1])
    _registry.setdefault(name, codec)
    return _registry[name]


def _check_codec(name: str, codec: Any) -> Codec:
    if is_stream_protocol(codec):
        return codec  # type: ignore[no-any-return]
    missing = [m for m in ("input", "decode", "encode") if not callable(getattr(codec, m, None))]
    if missing:
        raise TypeError(f"protocol {name!r} lacks {', '.join(missing)}: a codec needs all three")
    return codec  # type: ignore[no-any-return]


def register_protocol(name: str, codec: Any, *, replace: bool = False) -> None:
    """Make ``name://`` in a listen or connect address use ``codec``.

    Args:
        name: the scheme, lower case (``"json"`` for ``json://``).
        codec: an object with ``input``, ``decode`` and ``encode`` (see :class:`Codec`),
            or a :class:`StreamProtocol` subclass.
        replace: allow replacing an earlier registration of the same name.

    Raises:
        ValueError: the name is a transport (tcp, udp, unix, ssl), malformed, or taken.
        TypeError: the codec lacks one of the three functions (and is no StreamProtocol).
    """
    if not _NAME.match(name) or name in _TRANSPORTS:
        raise ValueError(f"{name!r} cannot name a protocol")
    codec = _check_codec(name, codec)
    if not replace and name in _registry and _registry[name] is not codec:
        raise ValueError(f"protocol {name!r} is already registered; pass replace=True")
    _registry[name] = codec


def _load_entry_points() -> None:
    global _entry_points_loaded
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registry:
            continue
        try:
            _registry[ep.name] = _check_codec(ep.name, ep.load())
        except Exception as exc:
            raise ServerError(
                f"protocol {ep.name!r} from entry point {ep.value!r} failed to load: {exc}"
            ) from exc


def get_protocol(name: str) -> Codec:
    """Return the codec registered for ``name``; installed entry points are searched too.

    Raises:
        ServerError: no codec of that name is registered or installed.
    """
    codec = _registry.get(name)
    if codec is None:
        codec = _load_builtin(name)
    if codec is None and not _entry_points_loaded:
        _load_entry_points()
        codec = _registry.get(name)
    if codec is None:
        known = ", ".join(sorted(registered_protocols()))
        raise ServerError(f"unknown protocol {name!r} (registered: {known})")
    return codec


def registered_protocols() -> dict[str, Codec]:
    """Every protocol known now, entry points included, by name."""
    if not _entry_points_loaded:
        _load_entry_points()
    for name in _BUILTIN:
        if name not in _registry:
            _load_builtin(name)
    return dict(_registry)


def protocol_name(codec: Any) -> str:
    """The scheme ``codec`` is registered under (for a subclass of a registered class,
    its base's: ``MyHttp`` is ``http``); else its lower-cased class or module name.
    Only what is loaded is searched: naming a protocol imports nothing."""
    candidates = list(getattr(codec, "__mro__", ())) or [codec]
    for candidate in candidates:
        for name, registered in _registry.items():
            if registered is candidate:
                return name
    return str(getattr(codec, "__name__", type(codec).__name__)).lower()


def is_transport(scheme: str) -> bool:
    return scheme in _TRANSPORTS
