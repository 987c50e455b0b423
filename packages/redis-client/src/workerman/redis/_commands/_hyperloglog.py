"""HyperLogLog commands: PFADD, PFCOUNT, PFMERGE."""

from __future__ import annotations

from typing import Any

from ._base import CallbackT, CommandsBase, EncodableT, KeyT, ok, to_bool


class HyperLogLogCommands(CommandsBase):
    """Commands on HyperLogLog cardinality estimators."""

    __slots__ = ()

    def pfadd(self, name: KeyT, *values: EncodableT, callback: CallbackT | None = None) -> Any:
        """Add elements; True when the estimate changed."""
        return self._command(("PFADD", name, *values), callback, to_bool)

    def pfcount(self, *sources: KeyT, callback: CallbackT | None = None) -> Any:
        """The estimated number of distinct elements (of the union, for several keys)."""
        return self._command(("PFCOUNT", *sources), callback, None)

    def pfmerge(self, dest: KeyT, *sources: KeyT, callback: CallbackT | None = None) -> Any:
        """Merge HyperLogLogs into ``dest``; True."""
        return self._command(("PFMERGE", dest, *sources), callback, ok)
