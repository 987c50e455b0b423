"""Hash commands: HSET, HGET, HGETALL and friends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._base import (
    CallbackT,
    CommandsBase,
    EncodableT,
    KeysT,
    KeyT,
    key_list,
    merge_mapping,
    pairs_to_dict,
    pairs_to_tuples,
    to_bool,
    to_float,
)


def _hscan_reply(reply: Any) -> tuple[int, dict[Any, Any]]:
    cursor, items = reply
    return int(cursor), pairs_to_dict(items)


class HashCommands(CommandsBase):
    """Commands on hashes."""

    __slots__ = ()

    def hset(
        self,
        name: KeyT,
        key: KeyT | None = None,
        value: EncodableT | None = None,
        mapping: Mapping[KeyT, EncodableT] | None = None,
        items: Iterable[EncodableT] | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Set fields of the hash ``name``; the number of fields added.

        Args:
            name: the hash.
            key: one field to set, with ``value``.
            value: the value of ``key``.
            mapping: fields and values to set.
            items: a flat ``[field, value, field, value...]`` sequence to set.
            callback: called with the result instead of returning an awaitable.
        """
        pairs: list[Any] = []
        if key is not None:
            if value is None:
                raise ValueError("hset: key given without a value")
            pairs += [key, value]
        pairs += merge_mapping(mapping, items or ())
        if not pairs or len(pairs) % 2:
            raise ValueError("hset needs a key and value, a mapping, or items in pairs")
        return self._command(("HSET", name, *pairs), callback, None)

    def hsetnx(
        self, name: KeyT, key: KeyT, value: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Set a field only when it does not exist; True when set."""
        return self._command(("HSETNX", name, key, value), callback, to_bool)

    def hget(self, name: KeyT, key: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The value of field ``key``, or None."""
        return self._command(("HGET", name, key), callback, None)

    def hmget(self, name: KeyT, keys: KeysT, *args: KeyT, callback: CallbackT | None = None) -> Any:
        """The values of several fields (None for missing ones), in order."""
        return self._command(("HMGET", name, *key_list(keys, args)), callback, list)

    def hgetall(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """All fields and values as a dict ({} when the key is missing)."""
        return self._command(("HGETALL", name), callback, pairs_to_dict)

    def hdel(self, name: KeyT, *keys: KeyT, callback: CallbackT | None = None) -> Any:
        """Delete fields; the number deleted."""
        return self._command(("HDEL", name, *keys), callback, None)

    def hexists(self, name: KeyT, key: KeyT, *, callback: CallbackT | None = None) -> Any:
        """True when the field exists."""
        return self._command(("HEXISTS", name, key), callback, to_bool)

    def hincrby(
        self, name: KeyT, key: KeyT, amount: int = 1, *, callback: CallbackT | None = None
    ) -> Any:
        """Add ``amount`` to an integer field; the new value."""
        return self._command(("HINCRBY", name, key, amount), callback, None)

    def hincrbyfloat(
        self, name: KeyT, key: KeyT, amount: float = 1.0, *, callback: CallbackT | None = None
    ) -> Any:
        """Add ``amount`` to a numeric field; the new value as float."""
        return self._command(("HINCRBYFLOAT", name, key, amount), callback, to_float)

    def hkeys(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The field names, as a list."""
        return self._command(("HKEYS", name), callback, list)

    def hvals(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The values, as a list."""
        return self._command(("HVALS", name), callback, list)

    def hlen(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The number of fields."""
        return self._command(("HLEN", name), callback, None)

    def hstrlen(self, name: KeyT, key: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The length of a field's value (0 when missing)."""
        return self._command(("HSTRLEN", name, key), callback, None)

    def hrandfield(
        self,
        key: KeyT,
        count: int | None = None,
        withvalues: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Random fields: one field (no count), a list, or ``(field, value)`` tuples."""
        args: list[EncodableT] = ["HRANDFIELD", key]
        if count is not None:
            args.append(count)
            if withvalues:
                args.append("WITHVALUES")
                return self._command(tuple(args), callback, pairs_to_tuples)
            return self._command(tuple(args), callback, list)
        if withvalues:
            raise ValueError("hrandfield: withvalues needs a count")
        return self._command(tuple(args), callback, None)

    def hscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: KeyT | None = None,
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """One step of a field scan: ``(next_cursor, {field: value})``."""
        args: list[EncodableT] = ["HSCAN", name, cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, _hscan_reply)
