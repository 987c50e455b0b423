"""String commands: GET, SET, INCR and friends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import (
    AbsExpiryT,
    CallbackT,
    CommandsBase,
    EncodableT,
    ExpiryT,
    KeysT,
    KeyT,
    key_list,
    milliseconds,
    ok,
    ok_or_none,
    only_one,
    seconds,
    timestamp,
    timestamp_ms,
    to_bool,
    to_float,
)


class StringCommands(CommandsBase):
    """Commands on string values."""

    __slots__ = ()

    def get(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The value of ``name``, or None when it does not exist."""
        return self._command(("GET", name), callback, None)

    def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: ExpiryT | None = None,
        px: ExpiryT | None = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
        exat: AbsExpiryT | None = None,
        pxat: AbsExpiryT | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Set ``name`` to ``value``.

        Args:
            name: the key.
            value: the value.
            ex: expire after this many seconds (or a timedelta).
            px: expire after this many milliseconds (or a timedelta).
            nx: only set when the key does not exist.
            xx: only set when the key exists.
            keepttl: keep the key's time to live.
            get: return the old value instead.
            exat: expire at this Unix time in seconds (or a datetime).
            pxat: expire at this Unix time in milliseconds (or a datetime).
            callback: called with the result instead of returning an awaitable.

        Returns:
            True, None when ``nx``/``xx`` prevented the write, or the old value with ``get``.
        """
        only_one(nx=nx, xx=xx)
        only_one(ex=ex, px=px, exat=exat, pxat=pxat, keepttl=keepttl)
        args: list[EncodableT] = ["SET", name, value]
        if ex is not None:
            args += ["EX", seconds(ex)]
        if px is not None:
            args += ["PX", milliseconds(px)]
        if exat is not None:
            args += ["EXAT", timestamp(exat)]
        if pxat is not None:
            args += ["PXAT", timestamp_ms(pxat)]
        if keepttl:
            args.append("KEEPTTL")
        if nx:
            args.append("NX")
        if xx:
            args.append("XX")
        if get:
            args.append("GET")
        return self._command(tuple(args), callback, None if get else ok_or_none)

    def mget(self, keys: KeysT, *args: KeyT, callback: CallbackT | None = None) -> Any:
        """The values of several keys (None for missing ones), in order."""
        return self._command(("MGET", *key_list(keys, args)), callback, list)

    def mset(self, mapping: Mapping[KeyT, EncodableT], *, callback: CallbackT | None = None) -> Any:
        """Set several keys at once; True."""
        items = [part for pair in mapping.items() for part in pair]
        return self._command(("MSET", *items), callback, ok)

    def msetnx(
        self, mapping: Mapping[KeyT, EncodableT], *, callback: CallbackT | None = None
    ) -> Any:
        """Set several keys only if none exists; True when they were set."""
        items = [part for pair in mapping.items() for part in pair]
        return self._command(("MSETNX", *items), callback, to_bool)

    def setnx(self, name: KeyT, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """Set ``name`` only when it does not exist; True when it was set."""
        return self._command(("SETNX", name, value), callback, to_bool)

    def setex(
        self,
        name: KeyT,
        time: ExpiryT,
        value: EncodableT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Set ``name`` with a time to live in seconds; True."""
        return self._command(("SETEX", name, seconds(time), value), callback, ok)

    def psetex(
        self,
        name: KeyT,
        time_ms: ExpiryT,
        value: EncodableT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Set ``name`` with a time to live in milliseconds; True."""
        return self._command(("PSETEX", name, milliseconds(time_ms), value), callback, ok)

    def getset(self, name: KeyT, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """Set ``name`` and return its old value (prefer ``set(..., get=True)``)."""
        return self._command(("GETSET", name, value), callback, None)

    def getdel(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Return the value of ``name`` and delete it."""
        return self._command(("GETDEL", name), callback, None)

    def getex(
        self,
        name: KeyT,
        ex: ExpiryT | None = None,
        px: ExpiryT | None = None,
        exat: AbsExpiryT | None = None,
        pxat: AbsExpiryT | None = None,
        persist: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Return the value of ``name`` and set (or with ``persist`` remove) its expiry."""
        only_one(ex=ex, px=px, exat=exat, pxat=pxat, persist=persist)
        args: list[EncodableT] = ["GETEX", name]
        if ex is not None:
            args += ["EX", seconds(ex)]
        if px is not None:
            args += ["PX", milliseconds(px)]
        if exat is not None:
            args += ["EXAT", timestamp(exat)]
        if pxat is not None:
            args += ["PXAT", timestamp_ms(pxat)]
        if persist:
            args.append("PERSIST")
        return self._command(tuple(args), callback, None)

    def incr(self, name: KeyT, amount: int = 1, *, callback: CallbackT | None = None) -> Any:
        """Add ``amount`` (default 1) to the integer at ``name``; the new value."""
        if amount == 1:
            return self._command(("INCR", name), callback, None)
        return self._command(("INCRBY", name, amount), callback, None)

    def incrby(self, name: KeyT, amount: int = 1, *, callback: CallbackT | None = None) -> Any:
        """Add ``amount`` to the integer at ``name``; the new value."""
        return self._command(("INCRBY", name, amount), callback, None)

    def incrbyfloat(
        self, name: KeyT, amount: float = 1.0, *, callback: CallbackT | None = None
    ) -> Any:
        """Add ``amount`` to the number at ``name``; the new value as float."""
        return self._command(("INCRBYFLOAT", name, amount), callback, to_float)

    def decr(self, name: KeyT, amount: int = 1, *, callback: CallbackT | None = None) -> Any:
        """Subtract ``amount`` (default 1) from the integer at ``name``; the new value."""
        if amount == 1:
            return self._command(("DECR", name), callback, None)
        return self._command(("DECRBY", name, amount), callback, None)

    def decrby(self, name: KeyT, amount: int = 1, *, callback: CallbackT | None = None) -> Any:
        """Subtract ``amount`` from the integer at ``name``; the new value."""
        return self._command(("DECRBY", name, amount), callback, None)

    def append(self, name: KeyT, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """Append ``value`` to the string at ``name``; the new length."""
        return self._command(("APPEND", name, value), callback, None)

    def strlen(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The length of the string at ``name`` (0 when missing)."""
        return self._command(("STRLEN", name), callback, None)

    def getrange(
        self, name: KeyT, start: int, end: int, *, callback: CallbackT | None = None
    ) -> Any:
        """The substring between ``start`` and ``end`` (both inclusive, negative from the end)."""
        return self._command(("GETRANGE", name, start, end), callback, None)

    def setrange(
        self, name: KeyT, offset: int, value: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Overwrite part of the string at ``name`` from ``offset``; the new length."""
        return self._command(("SETRANGE", name, offset, value), callback, None)

    def setbit(
        self, name: KeyT, offset: int, value: int, *, callback: CallbackT | None = None
    ) -> Any:
        """Set the bit at ``offset`` to ``value`` (0 or 1); the bit's old value."""
        return self._command(("SETBIT", name, offset, 1 if value else 0), callback, None)

    def getbit(self, name: KeyT, offset: int, *, callback: CallbackT | None = None) -> Any:
        """The bit at ``offset`` (0 or 1)."""
        return self._command(("GETBIT", name, offset), callback, None)

    def bitcount(
        self,
        name: KeyT,
        start: int | None = None,
        end: int | None = None,
        mode: str | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The number of set bits, in the whole string or a BYTE/BIT range."""
        args: list[EncodableT] = ["BITCOUNT", name]
        if start is not None and end is not None:
            args += [start, end]
            if mode is not None:
                args.append(mode)
        elif start is not None or end is not None:
            raise ValueError("bitcount needs both start and end")
        return self._command(tuple(args), callback, None)
