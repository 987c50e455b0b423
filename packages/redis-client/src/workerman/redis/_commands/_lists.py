"""List commands: LPUSH, LRANGE, BLPOP and friends."""

from __future__ import annotations

from typing import Any

from ._base import (
    CallbackT,
    CommandsBase,
    EncodableT,
    KeysT,
    KeyT,
    key_list,
    ok,
    to_tuple_or_none,
)


def _mpop_reply(reply: Any) -> tuple[Any, list[Any]] | None:
    if reply is None:
        return None
    key, values = reply
    return key, list(values)


def _side(value: str) -> str:
    side = value.upper()
    if side not in ("LEFT", "RIGHT"):
        raise ValueError(f"expected LEFT or RIGHT, not {value!r}")
    return side


class ListCommands(CommandsBase):
    """Commands on lists."""

    __slots__ = ()

    def lpush(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Push values at the head; the new length."""
        return self._command(("LPUSH", name, *values), callback, None)

    def rpush(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Push values at the tail; the new length."""
        return self._command(("RPUSH", name, *values), callback, None)

    def lpushx(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Push at the head only if the list exists; the new length (0: no list)."""
        return self._command(("LPUSHX", name, *values), callback, None)

    def rpushx(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Push at the tail only if the list exists; the new length (0: no list)."""
        return self._command(("RPUSHX", name, *values), callback, None)

    def lpop(
        self, name: KeyT, count: int | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """Pop from the head: one value (or None), or a list of up to ``count``."""
        args: tuple[EncodableT, ...] = ("LPOP", name) if count is None else ("LPOP", name, count)
        return self._command(args, callback, None)

    def rpop(
        self, name: KeyT, count: int | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """Pop from the tail: one value (or None), or a list of up to ``count``."""
        args: tuple[EncodableT, ...] = ("RPOP", name) if count is None else ("RPOP", name, count)
        return self._command(args, callback, None)

    def lrange(self, name: KeyT, start: int, end: int, *, callback: CallbackT | None = None) -> Any:
        """The elements from ``start`` to ``end`` (inclusive; -1 is the last)."""
        return self._command(("LRANGE", name, start, end), callback, list)

    def llen(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The length of the list (0 when missing)."""
        return self._command(("LLEN", name), callback, None)

    def lindex(self, name: KeyT, index: int, *, callback: CallbackT | None = None) -> Any:
        """The element at ``index``, or None."""
        return self._command(("LINDEX", name, index), callback, None)

    def lset(
        self, name: KeyT, index: int, value: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Set the element at ``index``; True."""
        return self._command(("LSET", name, index, value), callback, ok)

    def lrem(
        self, name: KeyT, count: int, value: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Remove ``count`` occurrences of ``value`` (>0 from head, <0 from tail, 0 all)."""
        return self._command(("LREM", name, count, value), callback, None)

    def ltrim(self, name: KeyT, start: int, end: int, *, callback: CallbackT | None = None) -> Any:
        """Keep only the elements from ``start`` to ``end``; True."""
        return self._command(("LTRIM", name, start, end), callback, ok)

    def linsert(
        self,
        name: KeyT,
        where: str,
        refvalue: EncodableT,
        value: EncodableT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Insert ``value`` BEFORE or AFTER ``refvalue``; the new length (-1: no refvalue)."""
        position = where.upper()
        if position not in ("BEFORE", "AFTER"):
            raise ValueError(f"linsert: where must be BEFORE or AFTER, not {where!r}")
        return self._command(("LINSERT", name, position, refvalue, value), callback, None)

    def lpos(
        self,
        name: KeyT,
        value: EncodableT,
        rank: int | None = None,
        count: int | None = None,
        maxlen: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The index of ``value`` (or None); a list of indexes with ``count``."""
        args: list[EncodableT] = ["LPOS", name, value]
        if rank is not None:
            args += ["RANK", rank]
        if count is not None:
            args += ["COUNT", count]
        if maxlen is not None:
            args += ["MAXLEN", maxlen]
        return self._command(tuple(args), callback, None)

    def lmove(
        self,
        first_list: KeyT,
        second_list: KeyT,
        src: str = "LEFT",
        dest: str = "RIGHT",
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Pop from one end of ``first_list``, push on ``second_list``; the element or None."""
        args = ("LMOVE", first_list, second_list, _side(src), _side(dest))
        return self._command(args, callback, None)

    def blmove(
        self,
        first_list: KeyT,
        second_list: KeyT,
        timeout: float,
        src: str = "LEFT",
        dest: str = "RIGHT",
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Blocking lmove: waits up to ``timeout`` seconds (0: forever); None on timeout."""
        args = ("BLMOVE", first_list, second_list, _side(src), _side(dest), timeout)
        return self._command(args, callback, None)

    def rpoplpush(self, src: KeyT, dst: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Pop from the tail of ``src``, push on the head of ``dst``; the element or None."""
        return self._command(("RPOPLPUSH", src, dst), callback, None)

    def blpop(self, keys: KeysT, timeout: float = 0, *, callback: CallbackT | None = None) -> Any:
        """Pop from the head of the first non-empty list, waiting up to ``timeout`` seconds
        (0: forever); ``(key, value)``, or None on timeout."""
        args = ("BLPOP", *key_list(keys), timeout)
        return self._command(args, callback, to_tuple_or_none)

    def brpop(self, keys: KeysT, timeout: float = 0, *, callback: CallbackT | None = None) -> Any:
        """Pop from the tail of the first non-empty list, waiting up to ``timeout`` seconds
        (0: forever); ``(key, value)``, or None on timeout."""
        args = ("BRPOP", *key_list(keys), timeout)
        return self._command(args, callback, to_tuple_or_none)

    def lmpop(
        self,
        keys: KeysT,
        direction: str = "LEFT",
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Pop up to ``count`` from the first non-empty list: ``(key, [values])`` or None."""
        names = key_list(keys)
        args: list[EncodableT] = ["LMPOP", len(names), *names, _side(direction)]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, _mpop_reply)

    def blmpop(
        self,
        timeout: float,
        keys: KeysT,
        direction: str = "LEFT",
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Blocking lmpop: waits up to ``timeout`` seconds (0: forever); None on timeout."""
        names = key_list(keys)
        args: list[EncodableT] = ["BLMPOP", timeout, len(names), *names, _side(direction)]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, _mpop_reply)
