"""Set commands: SADD, SMEMBERS, SINTER and friends."""

from __future__ import annotations

from typing import Any

from ._base import (
    CallbackT,
    CommandsBase,
    EncodableT,
    KeysT,
    KeyT,
    key_list,
    scan_reply,
    to_bool,
    to_bool_list,
    to_list,
    to_set,
)


class SetCommands(CommandsBase):
    """Commands on sets. Whole sets come back as Python sets."""

    __slots__ = ()

    def sadd(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Add members; the number that were new."""
        return self._command(("SADD", name, *values), callback, None)

    def srem(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Remove members; the number removed."""
        return self._command(("SREM", name, *values), callback, None)

    def smembers(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """All members, as a set."""
        return self._command(("SMEMBERS", name), callback, to_set)

    def sismember(self, name: KeyT, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """True when ``value`` is a member."""
        return self._command(("SISMEMBER", name, value), callback, to_bool)

    def smismember(
        self, name: KeyT, values: KeysT, *args: KeyT, callback: CallbackT | None = None
    ) -> Any:
        """For each value, whether it is a member: a list of bool."""
        args_ = ("SMISMEMBER", name, *key_list(values, args))
        return self._command(args_, callback, to_bool_list)

    def scard(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The number of members."""
        return self._command(("SCARD", name), callback, None)

    def spop(
        self, name: KeyT, count: int | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """Remove and return a random member (or None); a list of up to ``count``."""
        if count is None:
            return self._command(("SPOP", name), callback, None)
        return self._command(("SPOP", name, count), callback, to_list)

    def srandmember(
        self, name: KeyT, number: int | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """A random member (or None); a list of ``number`` (negative: may repeat)."""
        if number is None:
            return self._command(("SRANDMEMBER", name), callback, None)
        return self._command(("SRANDMEMBER", name, number), callback, to_list)

    def smove(
        self, src: KeyT, dst: KeyT, value: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Move a member from ``src`` to ``dst``; True when it was moved."""
        return self._command(("SMOVE", src, dst, value), callback, to_bool)

    def sinter(self, keys: KeysT, *args: KeyT, callback: CallbackT | None = None) -> Any:
        """The intersection of the sets, as a set."""
        return self._command(("SINTER", *key_list(keys, args)), callback, to_set)

    def sunion(self, keys: KeysT, *args: KeyT, callback: CallbackT | None = None) -> Any:
        """The union of the sets, as a set."""
        return self._command(("SUNION", *key_list(keys, args)), callback, to_set)

    def sdiff(self, keys: KeysT, *args: KeyT, callback: CallbackT | None = None) -> Any:
        """The members of the first set not in the others, as a set."""
        return self._command(("SDIFF", *key_list(keys, args)), callback, to_set)

    def sinterstore(
        self, dest: KeyT, keys: KeysT, *args: KeyT, callback: CallbackT | None = None
    ) -> Any:
        """Store the intersection in ``dest``; its size."""
        return self._command(("SINTERSTORE", dest, *key_list(keys, args)), callback, None)

    def sunionstore(
        self, dest: KeyT, keys: KeysT, *args: KeyT, callback: CallbackT | None = None
    ) -> Any:
        """Store the union in ``dest``; its size."""
        return self._command(("SUNIONSTORE", dest, *key_list(keys, args)), callback, None)

    def sdiffstore(
        self, dest: KeyT, keys: KeysT, *args: KeyT, callback: CallbackT | None = None
    ) -> Any:
        """Store the difference in ``dest``; its size."""
        return self._command(("SDIFFSTORE", dest, *key_list(keys, args)), callback, None)

    def sintercard(self, keys: KeysT, limit: int = 0, *, callback: CallbackT | None = None) -> Any:
        """The size of the intersection (counting stops at ``limit`` when not 0)."""
        names = key_list(keys)
        args = ("SINTERCARD", len(names), *names, "LIMIT", limit)
        return self._command(args, callback, None)

    def sscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: KeyT | None = None,
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """One step of a member scan: ``(next_cursor, [members])``."""
        args: list[EncodableT] = ["SSCAN", name, cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, scan_reply)
