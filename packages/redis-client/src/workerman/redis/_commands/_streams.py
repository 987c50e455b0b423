"""Stream commands: XADD, XREAD, consumer groups and XINFO.

An entry comes back as ``(id, {field: value})``; a read as
``[[stream, [(id, {field: value})...]]...]``, for RESP2 (nested arrays) and RESP3
(a map of streams) alike. Field names of XINFO and XPENDING replies are str.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from ._base import (
    CallbackT,
    CommandsBase,
    EncodableT,
    KeyT,
    ok,
    only_one,
    pairs_to_dict,
    pairs_to_str_dict,
    to_bool,
)

StreamIdT: TypeAlias = str | bytes | int
"""An entry id (``"1700000000000-0"``), or a special one: ``"*"``, ``"$"``, ``">"``,
``"-"``, ``"+"``, ``"0"``."""
EntryT: TypeAlias = tuple[Any, dict[Any, Any] | None]
"""``(id, {field: value})``; the fields are None for an entry deleted while pending."""


def _entry(item: Any) -> EntryT:
    entry_id, fields = item
    return entry_id, None if fields is None else pairs_to_dict(fields)


def _entries(reply: Any) -> list[EntryT]:
    return [] if reply is None else [_entry(item) for item in reply]


def _entry_or_none(reply: Any) -> EntryT | None:
    return None if reply is None else _entry(reply)


def _read_reply(reply: Any) -> list[list[Any]]:
    """XREAD/XREADGROUP: RESP2 ``[[stream, entries]...]`` or RESP3 ``{stream: entries}``."""
    if reply is None:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [[stream, _entries(entries)] for stream, entries in pairs]


def _claim_reply(reply: Any) -> list[EntryT]:
    return _entries(reply)


def _autoclaim_reply(reply: Any) -> tuple[Any, list[EntryT], list[Any]]:
    next_id, entries, *rest = reply
    return next_id, _entries(entries), list(rest[0]) if rest else []


def _autoclaim_justid_reply(reply: Any) -> tuple[Any, list[Any], list[Any]]:
    next_id, ids, *rest = reply
    return next_id, list(ids), list(rest[0]) if rest else []


def _pending_summary(reply: Any) -> dict[str, Any]:
    count, low, high, consumers = reply
    return {
        "pending": int(count),
        "min": low,
        "max": high,
        "consumers": [
            {"name": name, "pending": int(pending)} for name, pending in (consumers or ())
        ],
    }


def _pending_range(reply: Any) -> list[dict[str, Any]]:
    return [
        {
            "message_id": message_id,
            "consumer": consumer,
            "time_since_delivered": int(idle),
            "times_delivered": int(deliveries),
        }
        for message_id, consumer, idle, deliveries in reply
    ]


def _info_dicts(reply: Any) -> list[dict[str, Any]]:
    return [pairs_to_str_dict(item) for item in reply]


def _info_group_full(reply: Any) -> dict[str, Any]:
    group = pairs_to_str_dict(reply)
    if "pending" in group:
        group["pending"] = [list(item) for item in group["pending"]]
    if "consumers" in group:
        consumers = _info_dicts(group["consumers"])
        for consumer in consumers:
            if "pending" in consumer:
                consumer["pending"] = [list(item) for item in consumer["pending"]]
        group["consumers"] = consumers
    return group


def _info_stream(reply: Any) -> dict[str, Any]:
    info = pairs_to_str_dict(reply)
    for name in ("first-entry", "last-entry"):
        if name in info:
            info[name] = _entry_or_none(info[name])
    if "entries" in info:  # FULL
        info["entries"] = _entries(info["entries"])
    if "groups" in info and not isinstance(info["groups"], int):  # FULL
        info["groups"] = [_info_group_full(group) for group in info["groups"]]
    return info


def _trim_args(
    maxlen: int | None, minid: StreamIdT | None, approximate: bool, limit: int | None
) -> list[EncodableT]:
    only_one(maxlen=maxlen, minid=minid)
    args: list[EncodableT] = []
    if maxlen is not None:
        args.append("MAXLEN")
        args.append("~" if approximate else "=")
        args.append(maxlen)
    elif minid is not None:
        args.append("MINID")
        args.append("~" if approximate else "=")
        args.append(minid)
    if limit is not None:
        if not args or not approximate:
            raise ValueError("limit needs maxlen or minid, approximate")
        args += ["LIMIT", limit]
    return args


def _streams_args(streams: Mapping[KeyT, StreamIdT]) -> list[EncodableT]:
    if not streams:
        raise ValueError("name at least one stream and the id to read after")
    return ["STREAMS", *streams.keys(), *streams.values()]


class StreamCommands(CommandsBase):
    """Commands on streams and consumer groups."""

    __slots__ = ()

    def xadd(
        self,
        name: KeyT,
        fields: Mapping[KeyT, EncodableT],
        id: StreamIdT = "*",
        maxlen: int | None = None,
        approximate: bool = True,
        nomkstream: bool = False,
        minid: StreamIdT | None = None,
        limit: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Append an entry; its id (None when ``nomkstream`` and no stream).

        Args:
            name: the stream.
            fields: the entry's fields and values.
            id: the entry's id; ``"*"`` lets the server choose.
            maxlen: trim the stream to about (or, not approximate, exactly) this length.
            approximate: trim with ``~`` (cheaper; may keep a few more).
            nomkstream: do not create the stream.
            minid: trim the entries with ids below this one.
            limit: at most this many entries evicted by an approximate trim.
            callback: called with the result instead of returning an awaitable.
        """
        if not fields:
            raise ValueError("xadd needs at least one field")
        args: list[EncodableT] = ["XADD", name]
        if nomkstream:
            args.append("NOMKSTREAM")
        args += _trim_args(maxlen, minid, approximate, limit)
        args.append(id)
        for pair in fields.items():
            args.extend(pair)
        return self._command(tuple(args), callback, None)

    def xlen(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The number of entries."""
        return self._command(("XLEN", name), callback, None)

    def xdel(self, name: KeyT, *ids: StreamIdT, callback: CallbackT | None = None) -> Any:
        """Delete entries; the number deleted."""
        return self._command(("XDEL", name, *ids), callback, None)

    def xtrim(
        self,
        name: KeyT,
        maxlen: int | None = None,
        approximate: bool = True,
        minid: StreamIdT | None = None,
        limit: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Trim by length (``maxlen``) or lowest id (``minid``); the number evicted."""
        if maxlen is None and minid is None:
            raise ValueError("xtrim needs maxlen or minid")
        args = ("XTRIM", name, *_trim_args(maxlen, minid, approximate, limit))
        return self._command(args, callback, None)

    def xrange(
        self,
        name: KeyT,
        min: StreamIdT = "-",
        max: StreamIdT = "+",
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Entries with ids from ``min`` to ``max``: a list of ``(id, {field: value})``."""
        args: list[EncodableT] = ["XRANGE", name, min, max]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, _entries)

    def xrevrange(
        self,
        name: KeyT,
        max: StreamIdT = "+",
        min: StreamIdT = "-",
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Entries with ids from ``max`` down to ``min``, newest first."""
        args: list[EncodableT] = ["XREVRANGE", name, max, min]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, _entries)

    def xread(
        self,
        streams: Mapping[KeyT, StreamIdT],
        count: int | None = None,
        block: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Read entries after the given ids (``{stream: id}``; ``"$"``: only new ones).

        Args:
            streams: each stream and the id after which to read.
            count: at most this many entries per stream.
            block: wait up to this many milliseconds for an entry (0: forever).
            callback: called with the result instead of returning an awaitable.

        Returns:
            ``[[stream, [(id, {field: value})...]]...]``; ``[]`` when the wait timed out.
        """
        args: list[EncodableT] = ["XREAD"]
        if count is not None:
            args += ["COUNT", count]
        if block is not None:
            args += ["BLOCK", block]
        args += _streams_args(streams)
        return self._command(tuple(args), callback, _read_reply)

    def xgroup_create(
        self,
        name: KeyT,
        groupname: KeyT,
        id: StreamIdT = "$",
        mkstream: bool = False,
        entries_read: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Create a consumer group reading after ``id`` (``"$"``: new entries only); True."""
        args: list[EncodableT] = ["XGROUP", "CREATE", name, groupname, id]
        if mkstream:
            args.append("MKSTREAM")
        if entries_read is not None:
            args += ["ENTRIESREAD", entries_read]
        return self._command(tuple(args), callback, ok)

    def xgroup_destroy(
        self, name: KeyT, groupname: KeyT, *, callback: CallbackT | None = None
    ) -> Any:
        """Delete a consumer group; True when it existed."""
        return self._command(("XGROUP", "DESTROY", name, groupname), callback, to_bool)

    def xgroup_setid(
        self,
        name: KeyT,
        groupname: KeyT,
        id: StreamIdT,
        entries_read: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Set the id after which a group reads; True."""
        args: list[EncodableT] = ["XGROUP", "SETID", name, groupname, id]
        if entries_read is not None:
            args += ["ENTRIESREAD", entries_read]
        return self._command(tuple(args), callback, ok)

    def xgroup_createconsumer(
        self,
        name: KeyT,
        groupname: KeyT,
        consumername: KeyT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Create a consumer in a group; True when it was new."""
        args = ("XGROUP", "CREATECONSUMER", name, groupname, consumername)
        return self._command(args, callback, to_bool)

    def xgroup_delconsumer(
        self,
        name: KeyT,
        groupname: KeyT,
        consumername: KeyT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Delete a consumer; the number of its pending entries (now dropped)."""
        args = ("XGROUP", "DELCONSUMER", name, groupname, consumername)
        return self._command(args, callback, None)

    def xreadgroup(
        self,
        groupname: KeyT,
        consumername: KeyT,
        streams: Mapping[KeyT, StreamIdT],
        count: int | None = None,
        block: int | None = None,
        noack: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Read as a group's consumer (``{stream: ">"}`` for new entries); like xread."""
        args: list[EncodableT] = ["XREADGROUP", "GROUP", groupname, consumername]
        if count is not None:
            args += ["COUNT", count]
        if block is not None:
            args += ["BLOCK", block]
        if noack:
            args.append("NOACK")
        args += _streams_args(streams)
        return self._command(tuple(args), callback, _read_reply)

    def xack(
        self, name: KeyT, groupname: KeyT, *ids: StreamIdT, callback: CallbackT | None = None
    ) -> Any:
        """Acknowledge entries; the number acknowledged."""
        return self._command(("XACK", name, groupname, *ids), callback, None)

    def xpending(self, name: KeyT, groupname: KeyT, *, callback: CallbackT | None = None) -> Any:
        """A group's pending summary: ``{"pending", "min", "max", "consumers": [...]}``."""
        return self._command(("XPENDING", name, groupname), callback, _pending_summary)

    def xpending_range(
        self,
        name: KeyT,
        groupname: KeyT,
        min: StreamIdT = "-",
        max: StreamIdT = "+",
        count: int = 10,
        consumername: KeyT | None = None,
        idle: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Pending entries, as dicts with ``message_id``, ``consumer``,
        ``time_since_delivered`` (ms) and ``times_delivered``."""
        args: list[EncodableT] = ["XPENDING", name, groupname]
        if idle is not None:
            args += ["IDLE", idle]
        args += [min, max, count]
        if consumername is not None:
            args.append(consumername)
        return self._command(tuple(args), callback, _pending_range)

    def xclaim(
        self,
        name: KeyT,
        groupname: KeyT,
        consumername: KeyT,
        min_idle_time: int,
        message_ids: Iterable[StreamIdT],
        idle: int | None = None,
        time: int | None = None,
        retrycount: int | None = None,
        force: bool = False,
        justid: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Take over pending entries idle for ``min_idle_time`` ms: the entries claimed
        (their ids only with ``justid``)."""
        args: list[EncodableT] = ["XCLAIM", name, groupname, consumername, min_idle_time]
        args += list(message_ids)
        if idle is not None:
            args += ["IDLE", idle]
        if time is not None:
            args += ["TIME", time]
        if retrycount is not None:
            args += ["RETRYCOUNT", retrycount]
        if force:
            args.append("FORCE")
        if justid:
            args.append("JUSTID")
        return self._command(tuple(args), callback, list if justid else _claim_reply)

    def xautoclaim(
        self,
        name: KeyT,
        groupname: KeyT,
        consumername: KeyT,
        min_idle_time: int,
        start_id: StreamIdT = "0-0",
        count: int | None = None,
        justid: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Claim entries idle for ``min_idle_time`` ms from ``start_id`` on:
        ``(next_start_id, entries or ids, deleted_ids)``."""
        args: list[EncodableT] = ["XAUTOCLAIM", name, groupname, consumername, min_idle_time]
        args.append(start_id)
        if count is not None:
            args += ["COUNT", count]
        if justid:
            args.append("JUSTID")
        transform = _autoclaim_justid_reply if justid else _autoclaim_reply
        return self._command(tuple(args), callback, transform)

    def xinfo_stream(
        self, name: KeyT, full: bool = False, *, callback: CallbackT | None = None
    ) -> Any:
        """The stream's state as a dict (``length``, ``first-entry``...; more with ``full``)."""
        args: tuple[EncodableT, ...] = ("XINFO", "STREAM", name)
        if full:
            args += ("FULL",)
        return self._command(args, callback, _info_stream)

    def xinfo_groups(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The stream's consumer groups, as a list of dicts."""
        return self._command(("XINFO", "GROUPS", name), callback, _info_dicts)

    def xinfo_consumers(
        self, name: KeyT, groupname: KeyT, *, callback: CallbackT | None = None
    ) -> Any:
        """A group's consumers, as a list of dicts."""
        return self._command(("XINFO", "CONSUMERS", name, groupname), callback, _info_dicts)
