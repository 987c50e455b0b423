"""Generic key commands: DEL, EXISTS, EXPIRE, SCAN and friends."""

from __future__ import annotations

from typing import Any

from ._base import (
    AbsExpiryT,
    CallbackT,
    CommandsBase,
    EncodableT,
    ExpiryT,
    KeyT,
    milliseconds,
    ok,
    only_one,
    scan_reply,
    seconds,
    timestamp,
    timestamp_ms,
    to_bool,
)


def _expire_options(nx: bool, xx: bool, gt: bool, lt: bool) -> list[EncodableT]:
    only_one(nx=nx, xx=xx, gt=gt)
    only_one(nx=nx, lt=lt)
    flags: list[EncodableT] = []
    for flag, on in (("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt)):
        if on:
            flags.append(flag)
    return flags


class KeyCommands(CommandsBase):
    """Commands on keys of any type."""

    __slots__ = ()

    def delete(self, *names: KeyT, callback: CallbackT | None = None) -> Any:
        """Delete keys (DEL); the number deleted."""
        return self._command(("DEL", *names), callback, None)

    def unlink(self, *names: KeyT, callback: CallbackT | None = None) -> Any:
        """Delete keys, freeing memory in the background; the number removed."""
        return self._command(("UNLINK", *names), callback, None)

    def exists(self, *names: KeyT, callback: CallbackT | None = None) -> Any:
        """How many of ``names`` exist (a key named twice counts twice)."""
        return self._command(("EXISTS", *names), callback, None)

    def touch(self, *names: KeyT, callback: CallbackT | None = None) -> Any:
        """Update the access time of keys; how many exist."""
        return self._command(("TOUCH", *names), callback, None)

    def type(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The type of ``name`` (``string``, ``list``, ... or ``none``)."""
        return self._command(("TYPE", name), callback, None)

    def expire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Expire ``name`` after ``time`` seconds (or a timedelta); True when set."""
        args = ("EXPIRE", name, seconds(time), *_expire_options(nx, xx, gt, lt))
        return self._command(args, callback, to_bool)

    def pexpire(
        self,
        name: KeyT,
        time: ExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Expire ``name`` after ``time`` milliseconds (or a timedelta); True when set."""
        args = ("PEXPIRE", name, milliseconds(time), *_expire_options(nx, xx, gt, lt))
        return self._command(args, callback, to_bool)

    def expireat(
        self,
        name: KeyT,
        when: AbsExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Expire ``name`` at a Unix time in seconds (or a datetime); True when set."""
        args = ("EXPIREAT", name, timestamp(when), *_expire_options(nx, xx, gt, lt))
        return self._command(args, callback, to_bool)

    def pexpireat(
        self,
        name: KeyT,
        when: AbsExpiryT,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Expire ``name`` at a Unix time in milliseconds (or a datetime); True when set."""
        args = ("PEXPIREAT", name, timestamp_ms(when), *_expire_options(nx, xx, gt, lt))
        return self._command(args, callback, to_bool)

    def expiretime(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The Unix time (seconds) at which ``name`` expires; -1 none, -2 no such key."""
        return self._command(("EXPIRETIME", name), callback, None)

    def ttl(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Seconds left to live; -1 when no expiry, -2 when no such key."""
        return self._command(("TTL", name), callback, None)

    def pttl(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Milliseconds left to live; -1 when no expiry, -2 when no such key."""
        return self._command(("PTTL", name), callback, None)

    def persist(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Remove the expiry of ``name``; True when it had one."""
        return self._command(("PERSIST", name), callback, to_bool)

    def rename(self, src: KeyT, dst: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Rename ``src`` to ``dst`` (overwriting it); True."""
        return self._command(("RENAME", src, dst), callback, ok)

    def renamenx(self, src: KeyT, dst: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Rename ``src`` to ``dst`` only if ``dst`` does not exist; True when renamed."""
        return self._command(("RENAMENX", src, dst), callback, to_bool)

    def copy(
        self,
        source: KeyT,
        destination: KeyT,
        destination_db: int | None = None,
        replace: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Copy ``source`` to ``destination``; True when copied."""
        args: list[EncodableT] = ["COPY", source, destination]
        if destination_db is not None:
            args += ["DB", destination_db]
        if replace:
            args.append("REPLACE")
        return self._command(tuple(args), callback, to_bool)

    def move(self, name: KeyT, db: int, *, callback: CallbackT | None = None) -> Any:
        """Move ``name`` to database ``db``; True when moved."""
        return self._command(("MOVE", name, db), callback, to_bool)

    def keys(self, pattern: KeyT = "*", *, callback: CallbackT | None = None) -> Any:
        """All keys matching ``pattern`` (blocks the server: prefer scan)."""
        return self._command(("KEYS", pattern), callback, list)

    def randomkey(self, *, callback: CallbackT | None = None) -> Any:
        """A random key, or None when the database is empty."""
        return self._command(("RANDOMKEY",), callback, None)

    def scan(
        self,
        cursor: int = 0,
        match: KeyT | None = None,
        count: int | None = None,
        type: str | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """One step of a key scan.

        Args:
            cursor: 0 to start, then the cursor of the previous step.
            match: a glob pattern the keys match.
            count: a hint of how many keys to look at in this step.
            type: only keys of this type (``string``, ``hash``...).
            callback: called with the result instead of returning an awaitable.

        Returns:
            ``(next_cursor, keys)``; the scan is over when next_cursor is 0.
        """
        args: list[EncodableT] = ["SCAN", cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        if type is not None:
            args += ["TYPE", type]
        return self._command(tuple(args), callback, scan_reply)

    def dump(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The serialized value of ``name`` (for restore), or None."""
        return self._command(("DUMP", name), callback, None)

    def restore(
        self,
        name: KeyT,
        ttl: int,
        value: bytes,
        replace: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Create ``name`` from a dump; ``ttl`` in milliseconds (0: none); True."""
        args: list[EncodableT] = ["RESTORE", name, ttl, value]
        if replace:
            args.append("REPLACE")
        return self._command(tuple(args), callback, ok)
