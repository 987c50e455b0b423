"""Lua scripting commands: EVAL, EVALSHA, SCRIPT LOAD/EXISTS/FLUSH/KILL.

For a script run many times, ``Script`` (``workerman.redis.Script``) sends EVALSHA and
falls back to EVAL once when the server does not know the script yet.
"""

from __future__ import annotations

from typing import Any

from ._base import CallbackT, CommandsBase, EncodableT, ok, to_bool_list


class ScriptingCommands(CommandsBase):
    """Commands that run and manage Lua scripts."""

    __slots__ = ()

    def eval(
        self,
        script: str | bytes,
        numkeys: int,
        *keys_and_args: EncodableT,
        callback: CallbackT | None = None,
    ) -> Any:
        """Run a Lua script: its first ``numkeys`` arguments are KEYS, the rest ARGV."""
        return self._command(("EVAL", script, numkeys, *keys_and_args), callback, None)

    def evalsha(
        self,
        sha: str | bytes,
        numkeys: int,
        *keys_and_args: EncodableT,
        callback: CallbackT | None = None,
    ) -> Any:
        """Run a loaded script by its SHA1 (NoScriptError when the server lacks it)."""
        return self._command(("EVALSHA", sha, numkeys, *keys_and_args), callback, None)

    def eval_ro(
        self,
        script: str | bytes,
        numkeys: int,
        *keys_and_args: EncodableT,
        callback: CallbackT | None = None,
    ) -> Any:
        """Run a read-only Lua script (may go to a replica)."""
        return self._command(("EVAL_RO", script, numkeys, *keys_and_args), callback, None)

    def evalsha_ro(
        self,
        sha: str | bytes,
        numkeys: int,
        *keys_and_args: EncodableT,
        callback: CallbackT | None = None,
    ) -> Any:
        """Run a loaded read-only script by its SHA1."""
        return self._command(("EVALSHA_RO", sha, numkeys, *keys_and_args), callback, None)

    def script_load(self, script: str | bytes, *, callback: CallbackT | None = None) -> Any:
        """Load a script without running it; its SHA1."""
        return self._command(("SCRIPT", "LOAD", script), callback, None)

    def script_exists(self, *shas: str | bytes, callback: CallbackT | None = None) -> Any:
        """For each SHA1, whether the server has that script: a list of bool."""
        return self._command(("SCRIPT", "EXISTS", *shas), callback, to_bool_list)

    def script_flush(
        self, sync_type: str | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """Forget all scripts (``sync_type`` ``"ASYNC"`` or ``"SYNC"``); True."""
        args: tuple[EncodableT, ...] = ("SCRIPT", "FLUSH")
        if sync_type is not None:
            mode = sync_type.upper()
            if mode not in ("ASYNC", "SYNC"):
                raise ValueError(f"sync_type must be ASYNC or SYNC, not {sync_type!r}")
            args += (mode,)
        return self._command(args, callback, ok)

    def script_kill(self, *, callback: CallbackT | None = None) -> Any:
        """Stop the running script (if it has not written); True."""
        return self._command(("SCRIPT", "KILL"), callback, ok)
