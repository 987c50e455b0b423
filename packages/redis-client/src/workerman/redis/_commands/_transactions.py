"""Transaction commands, low level: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

They only make sense on one connection held for the whole transaction; use
``pipeline(transaction=True)`` instead, which sends them for you.
"""

from __future__ import annotations

from typing import Any

from ._base import CallbackT, CommandsBase, KeyT, ok


def _exec_reply(reply: Any) -> list[Any] | None:
    return None if reply is None else list(reply)


class TransactionCommands(CommandsBase):
    """MULTI/EXEC/DISCARD/WATCH/UNWATCH as plain commands."""

    __slots__ = ()

    def multi(self, *, callback: CallbackT | None = None) -> Any:
        """Start a transaction: the commands after it are queued; True."""
        return self._command(("MULTI",), callback, ok)

    def exec(self, *, callback: CallbackT | None = None) -> Any:
        """Run the queued commands: their raw replies, or None when a watched key changed."""
        return self._command(("EXEC",), callback, _exec_reply)

    def discard(self, *, callback: CallbackT | None = None) -> Any:
        """Drop the queued commands; True."""
        return self._command(("DISCARD",), callback, ok)

    def watch(self, *names: KeyT, callback: CallbackT | None = None) -> Any:
        """Make the next EXEC fail if one of these keys changes; True."""
        return self._command(("WATCH", *names), callback, ok)

    def unwatch(self, *, callback: CallbackT | None = None) -> Any:
        """Forget all watched keys; True."""
        return self._command(("UNWATCH",), callback, ok)
