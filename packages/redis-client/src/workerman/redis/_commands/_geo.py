"""Geospatial commands: GEOADD, GEOPOS, GEODIST, GEOSEARCH, GEOHASH.

Coordinates and distances come back as float, positions as ``(longitude, latitude)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from ._base import (
    CallbackT,
    CommandsBase,
    EncodableT,
    KeyT,
    only_one,
    to_float,
    to_float_or_none,
)

GeoValuesT: TypeAlias = Sequence[tuple[float, float, EncodableT] | EncodableT]
"""``[(lon, lat, member)...]`` or flat ``[lon, lat, member, lon, lat, member...]``."""

_UNITS = ("m", "km", "mi", "ft")


def _unit(unit: str) -> str:
    if unit.lower() not in _UNITS:
        raise ValueError(f"unit must be one of {', '.join(_UNITS)}, not {unit!r}")
    return unit.lower()


def _position(item: Any) -> tuple[float, float] | None:
    if item is None:
        return None
    longitude, latitude = item
    return to_float(longitude), to_float(latitude)


def _positions(reply: Any) -> list[tuple[float, float] | None]:
    return [_position(item) for item in reply]


def _search_reply(withdist: bool, withhash: bool, withcoord: bool) -> Any:
    """The transform of a GEOSEARCH: members, or ``[member, dist?, hash?, (lon, lat)?]``."""
    if not (withdist or withhash or withcoord):
        return list

    def transform(reply: Any) -> list[list[Any]]:
        out: list[list[Any]] = []
        for item in reply:
            fields = iter(item)
            row: list[Any] = [next(fields)]
            if withdist:
                row.append(to_float(next(fields)))
            if withhash:
                row.append(int(next(fields)))
            if withcoord:
                row.append(_position(next(fields)))
            out.append(row)
        return out

    return transform


def _search_args(
    member: EncodableT | None,
    longitude: float | None,
    latitude: float | None,
    unit: str,
    radius: float | None,
    width: float | None,
    height: float | None,
    sort: str | None,
    count: int | None,
    any: bool,
) -> list[EncodableT]:
    args: list[EncodableT] = []
    if member is not None:
        if longitude is not None or latitude is not None:
            raise ValueError("geosearch: give member, or longitude and latitude, not both")
        args += ["FROMMEMBER", member]
    elif longitude is not None and latitude is not None:
        args += ["FROMLONLAT", longitude, latitude]
    else:
        raise ValueError("geosearch needs member, or longitude and latitude")
    if radius is not None:
        if width is not None or height is not None:
            raise ValueError("geosearch: give radius, or width and height, not both")
        args += ["BYRADIUS", radius, _unit(unit)]
    elif width is not None and height is not None:
        args += ["BYBOX", width, height, _unit(unit)]
    else:
        raise ValueError("geosearch needs radius, or width and height")
    if sort is not None:
        order = sort.upper()
        if order not in ("ASC", "DESC"):
            raise ValueError(f"sort must be ASC or DESC, not {sort!r}")
        args.append(order)
    if count is not None:
        args += ["COUNT", count]
        if any:
            args.append("ANY")
    elif any:
        raise ValueError("geosearch: any needs count")
    return args


class GeoCommands(CommandsBase):
    """Commands on geospatial indexes (sorted sets of positions)."""

    __slots__ = ()

    def geoadd(
        self,
        name: KeyT,
        values: GeoValuesT,
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Add positions; the number added (or changed with ``ch``).

        Args:
            name: the index.
            values: ``[(lon, lat, member)...]`` or flat ``[lon, lat, member...]``.
            nx: only add new members.
            xx: only update existing members.
            ch: count changed members too.
            callback: called with the result instead of returning an awaitable.
        """
        only_one(nx=nx, xx=xx)
        flat: list[Any] = []
        for value in values:
            if isinstance(value, tuple | list):
                flat.extend(value)
            else:
                flat.append(value)
        if not flat or len(flat) % 3:
            raise ValueError("geoadd needs (longitude, latitude, member) triples")
        args: list[Any] = ["GEOADD", name]
        for flag, on in (("NX", nx), ("XX", xx), ("CH", ch)):
            if on:
                args.append(flag)
        return self._command((*args, *flat), callback, None)

    def geopos(self, name: KeyT, *members: EncodableT, callback: CallbackT | None = None) -> Any:
        """The ``(longitude, latitude)`` of each member, None for missing ones."""
        return self._command(("GEOPOS", name, *members), callback, _positions)

    def geodist(
        self,
        name: KeyT,
        place1: EncodableT,
        place2: EncodableT,
        unit: str | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The distance between two members in ``unit`` (m, km, mi, ft; default m), or None."""
        args: tuple[EncodableT, ...] = ("GEODIST", name, place1, place2)
        if unit is not None:
            args += (_unit(unit),)
        return self._command(args, callback, to_float_or_none)

    def geohash(self, name: KeyT, *members: EncodableT, callback: CallbackT | None = None) -> Any:
        """The geohash string of each member, None for missing ones."""
        return self._command(("GEOHASH", name, *members), callback, list)

    def geosearch(
        self,
        name: KeyT,
        member: EncodableT | None = None,
        longitude: float | None = None,
        latitude: float | None = None,
        unit: str = "m",
        radius: float | None = None,
        width: float | None = None,
        height: float | None = None,
        sort: str | None = None,
        count: int | None = None,
        any: bool = False,
        withcoord: bool = False,
        withdist: bool = False,
        withhash: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Members within a radius or box around a member or a position.

        Args:
            name: the index.
            member: search around this member...
            longitude: ...or around this position (with ``latitude``).
            latitude: the position's latitude.
            unit: of radius, width, height and distances: m, km, mi or ft.
            radius: search in a circle of this radius...
            width: ...or in a box of this width (with ``height``).
            height: the box's height.
            sort: ``"ASC"`` (nearest first) or ``"DESC"``.
            count: at most this many.
            any: with count, stop at the first ``count`` found (unsorted).
            withcoord: add each member's ``(lon, lat)``.
            withdist: add each member's distance (float, in ``unit``).
            withhash: add each member's geohash score (int).
            callback: called with the result instead of returning an awaitable.

        Returns:
            A list of members; with any ``with*`` option a list of
            ``[member, dist?, hash?, (lon, lat)?]`` in that order.
        """
        args = [
            "GEOSEARCH",
            name,
            *_search_args(
                member, longitude, latitude, unit, radius, width, height, sort, count, any
            ),
        ]
        if withcoord:
            args.append("WITHCOORD")
        if withdist:
            args.append("WITHDIST")
        if withhash:
            args.append("WITHHASH")
        transform = _search_reply(withdist, withhash, withcoord)
        return self._command(tuple(args), callback, transform)

    def geosearchstore(
        self,
        dest: KeyT,
        name: KeyT,
        member: EncodableT | None = None,
        longitude: float | None = None,
        latitude: float | None = None,
        unit: str = "m",
        radius: float | None = None,
        width: float | None = None,
        height: float | None = None,
        sort: str | None = None,
        count: int | None = None,
        any: bool = False,
        storedist: bool = False,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Store a geosearch's members in ``dest`` (with ``storedist``, distances as
        scores); the number stored."""
        args = [
            "GEOSEARCHSTORE",
            dest,
            name,
            *_search_args(
                member, longitude, latitude, unit, radius, width, height, sort, count, any
            ),
        ]
        if storedist:
            args.append("STOREDIST")
        return self._command(tuple(args), callback, None)
