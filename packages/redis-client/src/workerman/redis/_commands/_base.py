"""What every command mixin shares: the host's ``_command`` hook, argument types, and the
reply transforms that turn RESP2 and RESP3 shapes into one Python shape."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

EncodableT: TypeAlias = str | bytes | int | float
"""An argument the client can put on the wire."""
KeyT: TypeAlias = str | bytes
"""A key (or any name: a stream, a group, a member)."""
KeysT: TypeAlias = KeyT | Iterable[KeyT]
"""One key, or an iterable of keys."""
ExpiryT: TypeAlias = int | timedelta
"""A relative time: seconds (or milliseconds for the ``p`` variants), or a timedelta."""
AbsExpiryT: TypeAlias = int | datetime
"""An absolute time: a Unix timestamp, or a datetime."""
CallbackT: TypeAlias = Callable[[Any, BaseException | None], Any]
"""``callback(result, error)``: called once with the transformed reply or the error."""
TransformT: TypeAlias = Callable[[Any], Any]


class CommandsBase:
    """The base of every command mixin: declares the hook that the host class provides."""

    __slots__ = ()

    if TYPE_CHECKING:

        def _command(
            self,
            args: tuple[Any, ...],
            callback: CallbackT | None,
            transform: TransformT | None,
        ) -> Any: ...


# -- argument helpers ---------------------------------------------------------------------


def key_list(keys: KeysT, args: tuple[KeyT, ...] = ()) -> list[KeyT]:
    """``keys`` (one key or an iterable of them) followed by ``args``, as a list."""
    out: list[KeyT] = [keys] if isinstance(keys, str | bytes) else list(keys)
    out.extend(args)
    return out


def seconds(value: ExpiryT) -> int:
    """A relative expiry in whole seconds."""
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return value


def milliseconds(value: ExpiryT) -> int:
    """A relative expiry in milliseconds."""
    if isinstance(value, timedelta):
        return int(value.total_seconds() * 1000)
    return value


def timestamp(value: AbsExpiryT) -> int:
    """An absolute expiry as a Unix time in seconds."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def timestamp_ms(value: AbsExpiryT) -> int:
    """An absolute expiry as a Unix time in milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def only_one(**options: object) -> None:
    """Raise ValueError when more than one of ``options`` is set."""
    given = [name for name, value in options.items() if value is not None and value is not False]
    if len(given) > 1:
        raise ValueError(f"{' and '.join(given)} cannot be combined")


# -- reply transforms ---------------------------------------------------------------------


def text(value: Any) -> str:
    """A reply element as str (bytes are decoded as UTF-8)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def ok(reply: Any) -> bool:
    """``+OK`` (or any other status reply) -> True."""
    return reply is not None and reply is not False


def ok_or_none(reply: Any) -> bool | None:
    """``+OK`` -> True, nil -> None (SET with NX/XX not met)."""
    return None if reply is None else True


def to_bool(reply: Any) -> bool:
    """An integer reply (or RESP3 boolean) -> bool."""
    return bool(reply)


def to_bool_list(reply: Any) -> list[bool]:
    """An array of integers -> list of bool."""
    return [bool(item) for item in reply]


def to_float(reply: Any) -> float:
    """A RESP2 bulk string or RESP3 double -> float."""
    return reply if isinstance(reply, float) else float(reply)


def to_float_or_none(reply: Any) -> float | None:
    """Like to_float, nil -> None."""
    return None if reply is None else to_float(reply)


def to_float_or_none_list(reply: Any) -> list[float | None]:
    """An array of scores (nil for missing) -> list of float or None."""
    return [to_float_or_none(item) for item in reply]


def to_int_or_none(reply: Any) -> int | None:
    """An integer (or nil) reply -> int or None."""
    return None if reply is None else int(reply)


def to_list(reply: Any) -> list[Any]:
    """An array (RESP2) or set (RESP3) -> list; nil -> empty list."""
    return [] if reply is None else list(reply)


def to_set(reply: Any) -> set[Any]:
    """An array (RESP2) or set (RESP3) -> set; nil -> empty set."""
    return set() if reply is None else set(reply)


def to_tuple_or_none(reply: Any) -> tuple[Any, ...] | None:
    """An array (e.g. BLPOP's ``[key, value]``) -> tuple; nil -> None."""
    return None if reply is None else tuple(reply)


def pairs_to_dict(reply: Any) -> dict[Any, Any]:
    """A flat ``[k1, v1, k2, v2...]`` (RESP2) or a map (RESP3) -> dict; nil -> {}."""
    if reply is None:
        return {}
    if isinstance(reply, dict):
        return dict(reply)
    it = iter(reply)
    return dict(zip(it, it, strict=True))


def pairs_to_str_dict(reply: Any) -> dict[str, Any]:
    """Like pairs_to_dict, with the keys (field names chosen by Redis) as str."""
    return {text(key): value for key, value in pairs_to_dict(reply).items()}


def pairs_to_tuples(reply: Any) -> list[tuple[Any, Any]]:
    """A flat ``[a1, b1, a2, b2...]`` (RESP2), an array of ``[a, b]`` pairs or a map
    (RESP3) -> list of ``(a, b)`` tuples."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(reply.items())
    if isinstance(reply[0], list | tuple):
        return [(item[0], item[1]) for item in reply]
    it = iter(reply)
    return list(zip(it, it, strict=True))


def with_scores(reply: Any) -> list[tuple[Any, float]]:
    """Members with scores, flat (RESP2) or as pairs (RESP3) -> list of ``(member, score)``."""
    return [(member, to_float(score)) for member, score in pairs_to_tuples(reply)]


def scan_reply(reply: Any) -> tuple[int, list[Any]]:
    """SCAN's ``[cursor, [items...]]`` -> ``(cursor, items)``."""
    cursor, items = reply
    return int(cursor), list(items)


_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")


def info_value(value: str) -> Any:
    """One INFO value: int, float, ``a=1,b=2`` -> dict, or str."""
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if "=" in value:
        parts = value.split(",")
        if all("=" in part for part in parts):
            return {name: info_value(item) for name, _, item in (p.partition("=") for p in parts)}
    return value


def parse_info(reply: Any) -> dict[str, dict[str, Any]]:
    """INFO's text -> ``{section: {name: value}}``, section names lowercased."""
    sections: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = sections.setdefault("default", {})
    for raw_line in text(reply).splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line[1:].strip().lower(), {})
            continue
        name, sep, value = line.partition(":")
        if sep:
            current[name] = info_value(value)
    if not sections["default"]:
        del sections["default"]
    return sections


def merge_mapping(mapping: Mapping[Any, Any] | None, items: Iterable[Any] = ()) -> list[Any]:
    """A mapping (and extra flat items) as a flat ``[k1, v1, ...]`` argument list."""
    out: list[Any] = []
    if mapping:
        for key, value in mapping.items():
            out.extend((key, value))
    out.extend(items)
    return out
