"""Headers: an ordered, case-insensitive multi-map of header names to values."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Union

__all__ = ["Headers", "HeadersInput"]

HeadersInput = Union["Headers", Mapping[str, str], Iterable[tuple[str, str]], None]


class Headers(Mapping[str, str]):
    """Header fields in the order they came, looked up by name in any case.

    ``headers["content-type"]`` gives the value (repeated fields joined with ", ", as RFC
    9110 allows for list-valued fields); ``get_list("set-cookie")`` gives each field
    apart, which is what Set-Cookie needs. ``raw`` is the list of (name, value) pairs as
    sent, names in their original case.
    """

    __slots__ = ("_index", "raw")

    def __init__(self, headers: HeadersInput = None) -> None:
        if headers is None:
            self.raw: list[tuple[str, str]] = []
        elif isinstance(headers, Headers):
            self.raw = list(headers.raw)
        elif isinstance(headers, Mapping):
            self.raw = [(str(k), str(v)) for k, v in headers.items()]
        else:
            self.raw = [(str(k), str(v)) for k, v in headers]
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Headers that take ``pairs`` (str names and values) as they are, without a copy."""
        headers = cls.__new__(cls)
        headers.raw = pairs
        headers._index = None
        return headers

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self.raw:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        values = self._lookup()[name.lower()]
        return values[0] if len(values) == 1 else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def get_list(self, name: str) -> list[str]:
        """Every value of the field ``name``, in order (empty when absent)."""
        return list(self._lookup().get(name.lower(), ()))

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` (any case) with one."""
        lower = name.lower()
        self.raw = [(k, v) for k, v in self.raw if k.lower() != lower]
        self.raw.append((name, value))
        self._index = None

    def add(self, name: str, value: str) -> None:
        """Add a field, keeping those of the same name."""
        self.raw.append((name, value))
        self._index = None

    def remove(self, name: str) -> None:
        """Drop every field called ``name`` (any case); absent is fine."""
        lower = name.lower()
        self.raw = [(k, v) for k, v in self.raw if k.lower() != lower]
        self._index = None

    def copy(self) -> Headers:
        return Headers(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted((k.lower(), v) for k, v in self.raw) == sorted(
                (k.lower(), v) for k, v in other.raw
            )
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"
