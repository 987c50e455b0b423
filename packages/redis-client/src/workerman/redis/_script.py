"""``Script``: a Lua script run by its SHA1, loaded on the server when it is missing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ._commands import ScriptingCommands
from ._commands._base import CallbackT, EncodableT
from ._exceptions import NoScriptError

__all__ = ["Script"]


class Script:
    """A Lua script bound to a client.

    ``await script(keys=[...], args=[...])`` sends EVALSHA; when the server does not have
    the script (NoScriptError, e.g. after a restart or SCRIPT FLUSH) it sends EVAL once,
    which runs the script and loads it for the next calls.

    In a pipeline, use ``pipe.eval(script.source, ...)``: a queued EVALSHA cannot fall back.

    Attributes:
        client: the client the script runs on.
        source: the Lua source.
        sha: the SHA1 of the source, as hex str.
    """

    __slots__ = ("client", "sha", "source")

    def __init__(self, client: ScriptingCommands, source: str | bytes) -> None:
        self.client = client
        self.source = source
        encoded = source.encode("utf-8") if isinstance(source, str) else source
        self.sha = hashlib.sha1(encoded).hexdigest()

    def __repr__(self) -> str:
        return f"<Script sha={self.sha}>"

    def __call__(
        self,
        keys: Sequence[EncodableT] = (),
        args: Sequence[EncodableT] = (),
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Run the script with ``keys`` as KEYS and ``args`` as ARGV.

        Returns:
            An awaitable of the script's result; None when ``callback`` is given, which
            is then called with ``(result, error)``.
        """
        keys = tuple(keys)
        args = tuple(args)
        if callback is None:
            return self._run(keys, args)
        done = callback

        def on_evalsha(result: Any, error: BaseException | None) -> None:
            if isinstance(error, NoScriptError):
                self.client.eval(self.source, len(keys), *keys, *args, callback=done)
            else:
                done(result, error)

        self.client.evalsha(self.sha, len(keys), *keys, *args, callback=on_evalsha)
        return None

    async def _run(self, keys: tuple[EncodableT, ...], args: tuple[EncodableT, ...]) -> Any:
        try:
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.client.eval(self.source, len(keys), *keys, *args)
