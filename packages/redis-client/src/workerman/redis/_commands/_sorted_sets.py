"""Sorted set commands: ZADD, ZRANGE, ZPOPMIN and friends.

Scores come back as float, members with scores as ``(member, score)`` tuples, for RESP2
(flat lists of strings) and RESP3 (pairs of doubles) alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from ._base import (
    CallbackT,
    CommandsBase,
    EncodableT,
    KeysT,
    KeyT,
    key_list,
    only_one,
    to_float,
    to_float_or_none,
    to_float_or_none_list,
    to_int_or_none,
    with_scores,
)

ScoreBoundT: TypeAlias = float | str | bytes
"""A score bound: a number, ``"-inf"``/``"+inf"``, or exclusive as ``"(1.5"``;
for lex ranges ``"[a"``, ``"(a"``, ``"-"`` or ``"+"``."""
ScoreT: TypeAlias = float | str | bytes
"""A score: a number, or ``"-inf"``/``"+inf"``."""
AggregateT: TypeAlias = str
"""``"SUM"``, ``"MIN"`` or ``"MAX"``."""


def _bzpop_reply(reply: Any) -> tuple[Any, Any, float] | None:
    if reply is None:
        return None
    key, member, score = reply
    return key, member, to_float(score)


def _zscan_reply(reply: Any) -> tuple[int, list[tuple[Any, float]]]:
    cursor, items = reply
    return int(cursor), with_scores(items)


def _zmpop_reply(reply: Any) -> tuple[Any, list[tuple[Any, float]]] | None:
    if reply is None:
        return None
    key, items = reply
    return key, with_scores(items)


def _list(reply: Any) -> list[Any]:
    return list(reply)


def _limit(offset: int | None, count: int | None) -> list[EncodableT]:
    if offset is None and count is None:
        return []
    if offset is None or count is None:
        raise ValueError("offset and count go together")
    return ["LIMIT", offset, count]


def _weighted(keys: KeysT | Mapping[KeyT, float], aggregate: AggregateT | None) -> list[Any]:
    """``numkeys key... [WEIGHTS w...] [AGGREGATE x]`` for ZUNION/ZINTER(STORE)."""
    if isinstance(keys, Mapping):
        names: list[Any] = list(keys)
        args: list[Any] = [len(names), *names, "WEIGHTS", *keys.values()]
    else:
        names = key_list(keys)
        args = [len(names), *names]
    if aggregate is not None:
        args += ["AGGREGATE", aggregate.upper()]
    return args


class SortedSetCommands(CommandsBase):
    """Commands on sorted sets."""

    __slots__ = ()

    def zadd(
        self,
        name: KeyT,
        mapping: Mapping[EncodableT, ScoreT],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Add members with scores (``{member: score}``).

        Args:
            name: the sorted set.
            mapping: members and their scores.
            nx: only add new members.
            xx: only update existing members.
            ch: count changed members too, not only added ones.
            incr: add the (single) score to the member's, like zincrby.
            gt: only update when the new score is greater.
            lt: only update when the new score is less.
            callback: called with the result instead of returning an awaitable.

        Returns:
            The number added (or changed with ``ch``); with ``incr`` the new score as
            float, or None when a condition prevented it.
        """
        if not mapping:
            raise ValueError("zadd needs at least one member")
        only_one(nx=nx, xx=xx)
        only_one(nx=nx, gt=gt, lt=lt)
        if incr and len(mapping) != 1:
            raise ValueError("zadd with incr takes exactly one member")
        args: list[Any] = ["ZADD", name]
        for flag, on in (("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt), ("CH", ch)):
            if on:
                args.append(flag)
        if incr:
            args.append("INCR")
        for member, score in mapping.items():
            args += [score, member]
        return self._command(tuple(args), callback, to_float_or_none if incr else None)

    def zrem(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Remove members; the number removed."""
        return self._command(("ZREM", name, *values), callback, None)

    def zscore(self, name: KeyT, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """The score of a member as float, or None."""
        return self._command(("ZSCORE", name, value), callback, to_float_or_none)

    def zmscore(
        self, key: KeyT, members: Iterable[EncodableT], *, callback: CallbackT | None = None
    ) -> Any:
        """The scores of several members (None for missing ones)."""
        args = ("ZMSCORE", key, *members)
        return self._command(args, callback, to_float_or_none_list)

    def zincrby(
        self, name: KeyT, amount: float, value: EncodableT, *, callback: CallbackT | None = None
    ) -> Any:
        """Add ``amount`` to a member's score; the new score as float."""
        return self._command(("ZINCRBY", name, amount, value), callback, to_float)

    def zcard(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The number of members."""
        return self._command(("ZCARD", name), callback, None)

    def zcount(
        self,
        name: KeyT,
        min: ScoreBoundT,
        max: ScoreBoundT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The number of members with a score between ``min`` and ``max``."""
        return self._command(("ZCOUNT", name, min, max), callback, None)

    def zlexcount(
        self,
        name: KeyT,
        min: ScoreBoundT,
        max: ScoreBoundT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The number of members between two lex bounds (``"[a"``, ``"(b"``, ``"-"``, ``"+"``)."""
        return self._command(("ZLEXCOUNT", name, min, max), callback, None)

    def zrange(
        self,
        name: KeyT,
        start: ScoreBoundT,
        end: ScoreBoundT,
        withscores: bool = False,
        byscore: bool = False,
        bylex: bool = False,
        rev: bool = False,
        offset: int | None = None,
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Members in a range of ranks (default), scores (``byscore``) or lex (``bylex``).

        Args:
            name: the sorted set.
            start: the first rank, score or lex bound.
            end: the last rank, score or lex bound.
            withscores: return ``(member, score)`` tuples.
            byscore: ``start``/``end`` are scores.
            bylex: ``start``/``end`` are lex bounds.
            rev: highest first (then ``start`` is the higher bound for byscore/bylex).
            offset: with ``count``, skip this many (byscore/bylex only).
            count: with ``offset``, return at most this many.
            callback: called with the result instead of returning an awaitable.
        """
        only_one(byscore=byscore, bylex=bylex)
        only_one(bylex=bylex, withscores=withscores)
        if (offset is not None or count is not None) and not (byscore or bylex):
            raise ValueError("zrange: offset/count need byscore or bylex")
        args: list[EncodableT] = ["ZRANGE", name, start, end]
        if byscore:
            args.append("BYSCORE")
        if bylex:
            args.append("BYLEX")
        if rev:
            args.append("REV")
        args += _limit(offset, count)
        if withscores:
            args.append("WITHSCORES")
        return self._command(tuple(args), callback, with_scores if withscores else _list)

    def zrevrange(
        self,
        name: KeyT,
        start: int,
        end: int,
        withscores: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Members from rank ``start`` to ``end``, highest score first."""
        return self.zrange(name, start, end, withscores=withscores, rev=True, callback=callback)

    def zrangebyscore(
        self,
        name: KeyT,
        min: ScoreBoundT,
        max: ScoreBoundT,
        offset: int | None = None,
        count: int | None = None,
        withscores: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Members with scores between ``min`` and ``max``, lowest first."""
        args: list[EncodableT] = ["ZRANGEBYSCORE", name, min, max, *_limit(offset, count)]
        if withscores:
            args.append("WITHSCORES")
        return self._command(tuple(args), callback, with_scores if withscores else _list)

    def zrevrangebyscore(
        self,
        name: KeyT,
        max: ScoreBoundT,
        min: ScoreBoundT,
        offset: int | None = None,
        count: int | None = None,
        withscores: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Members with scores between ``max`` and ``min``, highest first."""
        args: list[EncodableT] = ["ZREVRANGEBYSCORE", name, max, min, *_limit(offset, count)]
        if withscores:
            args.append("WITHSCORES")
        return self._command(tuple(args), callback, with_scores if withscores else _list)

    def zrangebylex(
        self,
        name: KeyT,
        min: ScoreBoundT,
        max: ScoreBoundT,
        offset: int | None = None,
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Members between two lex bounds (all scores equal), in order."""
        args = ("ZRANGEBYLEX", name, min, max, *_limit(offset, count))
        return self._command(args, callback, _list)

    def zrangestore(
        self,
        dest: KeyT,
        name: KeyT,
        start: ScoreBoundT,
        end: ScoreBoundT,
        byscore: bool = False,
        bylex: bool = False,
        rev: bool = False,
        offset: int | None = None,
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Store a zrange of ``name`` in ``dest``; the number stored."""
        only_one(byscore=byscore, bylex=bylex)
        args: list[EncodableT] = ["ZRANGESTORE", dest, name, start, end]
        if byscore:
            args.append("BYSCORE")
        if bylex:
            args.append("BYLEX")
        if rev:
            args.append("REV")
        args += _limit(offset, count)
        return self._command(tuple(args), callback, None)

    def zrank(self, name: KeyT, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """The rank of a member (lowest score is 0), or None."""
        return self._command(("ZRANK", name, value), callback, to_int_or_none)

    def zrevrank(self, name: KeyT, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """The rank of a member (highest score is 0), or None."""
        return self._command(("ZREVRANK", name, value), callback, to_int_or_none)

    def zpopmin(
        self, name: KeyT, count: int | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """Remove and return the lowest members: a list of ``(member, score)``."""
        args: tuple[Any, ...] = ("ZPOPMIN", name) if count is None else ("ZPOPMIN", name, count)
        return self._command(args, callback, with_scores)

    def zpopmax(
        self, name: KeyT, count: int | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """Remove and return the highest members: a list of ``(member, score)``."""
        args: tuple[Any, ...] = ("ZPOPMAX", name) if count is None else ("ZPOPMAX", name, count)
        return self._command(args, callback, with_scores)

    def bzpopmin(
        self, keys: KeysT, timeout: float = 0, *, callback: CallbackT | None = None
    ) -> Any:
        """Blocking zpopmin over several keys: ``(key, member, score)``, None on timeout."""
        return self._command(("BZPOPMIN", *key_list(keys), timeout), callback, _bzpop_reply)

    def bzpopmax(
        self, keys: KeysT, timeout: float = 0, *, callback: CallbackT | None = None
    ) -> Any:
        """Blocking zpopmax over several keys: ``(key, member, score)``, None on timeout."""
        return self._command(("BZPOPMAX", *key_list(keys), timeout), callback, _bzpop_reply)

    def zmpop(
        self,
        keys: KeysT,
        min: bool = True,
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Pop the lowest (or with ``min=False`` highest) members of the first non-empty
        sorted set: ``(key, [(member, score)...])`` or None."""
        names = key_list(keys)
        args: list[EncodableT] = ["ZMPOP", len(names), *names, "MIN" if min else "MAX"]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, _zmpop_reply)

    def zrandmember(
        self,
        key: KeyT,
        count: int | None = None,
        withscores: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """A random member; a list of ``count`` (``(member, score)`` with withscores)."""
        if count is None:
            if withscores:
                raise ValueError("zrandmember: withscores needs a count")
            return self._command(("ZRANDMEMBER", key), callback, None)
        if withscores:
            return self._command(("ZRANDMEMBER", key, count, "WITHSCORES"), callback, with_scores)
        return self._command(("ZRANDMEMBER", key, count), callback, _list)

    def zremrangebyscore(
        self,
        name: KeyT,
        min: ScoreBoundT,
        max: ScoreBoundT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Remove the members with scores between ``min`` and ``max``; the number removed."""
        return self._command(("ZREMRANGEBYSCORE", name, min, max), callback, None)

    def zremrangebyrank(
        self, name: KeyT, start: int, end: int, *, callback: CallbackT | None = None
    ) -> Any:
        """Remove the members from rank ``start`` to ``end``; the number removed."""
        return self._command(("ZREMRANGEBYRANK", name, start, end), callback, None)

    def zremrangebylex(
        self,
        name: KeyT,
        min: ScoreBoundT,
        max: ScoreBoundT,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Remove the members between two lex bounds; the number removed."""
        return self._command(("ZREMRANGEBYLEX", name, min, max), callback, None)

    def zunionstore(
        self,
        dest: KeyT,
        keys: KeysT | Mapping[KeyT, float],
        aggregate: AggregateT | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Store the union of sorted sets (a mapping gives weights); its size."""
        return self._command(("ZUNIONSTORE", dest, *_weighted(keys, aggregate)), callback, None)

    def zinterstore(
        self,
        dest: KeyT,
        keys: KeysT | Mapping[KeyT, float],
        aggregate: AggregateT | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Store the intersection of sorted sets (a mapping gives weights); its size."""
        return self._command(("ZINTERSTORE", dest, *_weighted(keys, aggregate)), callback, None)

    def zunion(
        self,
        keys: KeysT | Mapping[KeyT, float],
        aggregate: AggregateT | None = None,
        withscores: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The union of sorted sets (a mapping gives weights), as a list of members."""
        args = ["ZUNION", *_weighted(keys, aggregate)]
        if withscores:
            args.append("WITHSCORES")
        return self._command(tuple(args), callback, with_scores if withscores else _list)

    def zinter(
        self,
        keys: KeysT | Mapping[KeyT, float],
        aggregate: AggregateT | None = None,
        withscores: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The intersection of sorted sets (a mapping gives weights), as a list of members."""
        args = ["ZINTER", *_weighted(keys, aggregate)]
        if withscores:
            args.append("WITHSCORES")
        return self._command(tuple(args), callback, with_scores if withscores else _list)

    def zscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: KeyT | None = None,
        count: int | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """One step of a member scan: ``(next_cursor, [(member, score)...])``."""
        args: list[EncodableT] = ["ZSCAN", name, cursor]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", count]
        return self._command(tuple(args), callback, _zscan_reply)
