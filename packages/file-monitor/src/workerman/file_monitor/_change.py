"""One change to a watched file, as the monitor's ``on_change`` hook receives it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Change", "from_watchfiles"]

ChangeKind = Literal["added", "modified", "deleted"]
_KINDS: dict[int, ChangeKind] = {1: "added", 2: "modified", 3: "deleted"}


@dataclass(frozen=True, order=True)
class Change:
    """A watched file that was added, modified or deleted.

    Attributes:
        path: the absolute path, as the watch saw it.
        kind: ``"added"``, ``"modified"`` or ``"deleted"``.
    """

    path: str
    kind: ChangeKind


def from_watchfiles(raw: Iterable[tuple[int, str]]) -> list[Change]:
    """watchfiles' ``(Change, path)`` pairs as sorted :class:`Change` values, one per path.
    A path seen with several kinds in one batch (an editor that deletes and writes anew,
    or writes a temporary file and renames it over) is ``modified`` when it exists now and
    ``deleted`` when it does not."""
    kinds: dict[str, set[ChangeKind]] = {}
    for code, path in raw:
        kinds.setdefault(path, set()).add(_KINDS.get(int(code), "modified"))
    changes = []
    for path, seen in kinds.items():
        kind: ChangeKind
        if len(seen) == 1:
            (kind,) = seen
        else:
            kind = "modified" if os.path.exists(path) else "deleted"
        changes.append(Change(path, kind))
    return sorted(changes)
