"""Pipelines and transactions: commands collected, then sent in one write."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._commands import Commands
from ._connection import Batch, Pending, RedisConnection, ReplyError, encode_command
from ._exceptions import RedisError, WatchError, error_from_reply

if TYPE_CHECKING:
    from ._client import Redis

__all__ = ["Pipeline"]


class Pipeline(Commands):
    """Collects commands (each method returns the pipeline, so calls chain) and runs
    them with :meth:`execute`, whose list holds each command's result in order.

    With ``transaction=True`` they run inside MULTI/EXEC, atomically. For an optimistic
    transaction, ``await pipe.watch("key")`` first: the pipeline then runs commands at
    once on a connection of its own (to read what the transaction depends on) until
    :meth:`multi`; ``execute`` raises :class:`WatchError` if a watched key changed.
    """

    def __init__(self, client: Redis, transaction: bool) -> None:
        self._client = client
        self._transaction = transaction
        self._queue: list[tuple[tuple[Any, ...], Callable[[Any], Any] | None]] = []
        self._watching: RedisConnection | None = None
        self._immediate = False

    def _command(
        self,
        args: tuple[Any, ...],
        callback: Callable[[Any, BaseException | None], Any] | None,
        transform: Callable[[Any], Any] | None,
    ) -> Any:
        if self._immediate:
            assert self._watching is not None
            pending = Pending(callback, transform)
            self._watching.request(args, pending)
            return pending.future
        if callback is not None:
            raise RedisError("commands in a pipeline take no callback; execute() returns all")
        self._queue.append((args, transform))
        return self

    def execute_command(self, *args: Any) -> Any:
        """Queue any command by name and arguments (and return the pipeline); between
        :meth:`watch` and :meth:`multi`, run it at once (and return the awaitable)."""
        return self._command(args, None, None)

    def __len__(self) -> int:
        return len(self._queue)

    async def watch(self, *keys: Any) -> None:  # type: ignore[override]  # pipeline semantics
        """WATCH ``keys`` on a connection of this pipeline's own; commands now run at once
        until :meth:`multi`."""
        if not self._transaction:
            raise RedisError("watch() is for transactions: pipeline(transaction=True)")
        if self._watching is None:
            self._watching = self._client.dedicated_connection()
        pending = Pending(None, None)
        self._watching.request(("WATCH", *keys), pending)
        await pending.future  # type: ignore[misc]
        self._immediate = True

    def multi(self) -> None:  # type: ignore[override]  # pipeline semantics
        """End the immediate mode that watch() began: commands are queued again."""
        self._immediate = False

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send the queued commands in one write and return their results in order.

        Args:
            raise_on_error: raise the first command's error (after all have run); False
                puts the exceptions in the list instead.

        Raises:
            WatchError: a watched key changed; nothing ran.
            ResponseError: a command failed (``raise_on_error``).
            ExecAbortError: a command was refused when queued (its error is the cause,
                and in the message); nothing ran.
        """
        queue, self._queue = self._queue, []
        self._immediate = False
        conn = self._watching or self._client._main
        try:
            if self._transaction:
                results = await self._run_transaction(conn, queue)
            else:
                results = await self._run_pipeline(conn, queue)
        finally:
            self._release()
        if raise_on_error:
            for result in results:
                if isinstance(result, Exception):
                    raise result
        return results

    async def _run_pipeline(
        self, conn: RedisConnection, queue: list[tuple[tuple[Any, ...], Any]]
    ) -> list[Any]:
        if not queue:
            return []
        # One write and one future for the lot, not one per command.
        batch = Batch([transform for _args, transform in queue])
        conn.send(b"".join(encode_command(args) for args, _ in queue), batch, len(queue))
        replies = await batch.future
        return [_error_or_value(reply) for reply in replies]

    async def _run_transaction(
        self, conn: RedisConnection, queue: list[tuple[tuple[Any, ...], Any]]
    ) -> list[Any]:
        if not queue:
            return []
        commands = [("MULTI",), *(args for args, _ in queue), ("EXEC",)]
        batch = Batch([None] * len(commands))
        conn.send(b"".join(encode_command(args) for args in commands), batch, len(commands))
        *queued, reply = await batch.future
        if isinstance(reply, ReplyError):
            # EXECABORT: a command was refused when queued; its own error says why
            causes = [str(q) for q in queued if isinstance(q, ReplyError)]
            if not causes:
                raise error_from_reply(str(reply))
            raise error_from_reply(f"{reply} ({causes[0]})") from error_from_reply(causes[0])
        if reply is None:
            raise WatchError("a watched key changed; the transaction did not run")
        results = []
        for (_args, transform), value in zip(queue, reply, strict=True):
            if isinstance(value, ReplyError):
                results.append(error_from_reply(str(value)))
            elif transform is not None:
                results.append(transform(value))
            else:
                results.append(value)
        return results

    def reset(self) -> None:
        """Forget queued commands and any WATCH."""
        self._queue.clear()
        self._release()

    def _release(self) -> None:
        self._immediate = False
        if self._watching is not None:
            self._watching.close()
            self._watching = None

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reset()


def _error_or_value(reply: Any) -> Any:
    return error_from_reply(str(reply)) if isinstance(reply, ReplyError) else reply
