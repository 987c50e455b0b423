"""Connection and server commands: PING, INFO, CONFIG, CLIENT, HELLO and friends."""

from __future__ import annotations

from typing import Any

from ._base import (
    CallbackT,
    CommandsBase,
    EncodableT,
    KeyT,
    ok,
    pairs_to_dict,
    pairs_to_str_dict,
    parse_info,
    text,
    to_int_or_none,
)


def _pong(reply: Any) -> bool:
    return reply is not None


def _time_reply(reply: Any) -> tuple[int, int]:
    seconds, micros = reply
    return int(seconds), int(micros)


def _client_fields(line: str) -> dict[str, str]:
    return dict(part.partition("=")[::2] for part in line.split(" ") if part)


def _client_list(reply: Any) -> list[dict[str, str]]:
    return [_client_fields(line) for line in text(reply).splitlines() if line.strip()]


def _client_info(reply: Any) -> dict[str, str]:
    return _client_fields(text(reply).strip())


class ServerCommands(CommandsBase):
    """Connection, server and introspection commands."""

    __slots__ = ()

    def ping(self, message: EncodableT | None = None, *, callback: CallbackT | None = None) -> Any:
        """True (PONG); with ``message``, the message echoed back."""
        if message is not None:
            return self._command(("PING", message), callback, None)
        return self._command(("PING",), callback, _pong)

    def echo(self, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """``value``, sent back by the server."""
        return self._command(("ECHO", value), callback, None)

    def info(self, *sections: str, callback: CallbackT | None = None) -> Any:
        """Server information: ``{section: {name: value}}``, numbers as int or float.

        Args:
            sections: only these sections (``"server"``, ``"memory"``...; ``"all"``,
                ``"everything"``); the default ones when none is given.
            callback: called with the result instead of returning an awaitable.
        """
        return self._command(("INFO", *sections), callback, parse_info)

    def dbsize(self, *, callback: CallbackT | None = None) -> Any:
        """The number of keys in the database."""
        return self._command(("DBSIZE",), callback, None)

    def flushdb(self, asynchronous: bool = False, *, callback: CallbackT | None = None) -> Any:
        """Delete every key of the current database; True."""
        args: tuple[str, ...] = ("FLUSHDB", "ASYNC") if asynchronous else ("FLUSHDB",)
        return self._command(args, callback, ok)

    def flushall(self, asynchronous: bool = False, *, callback: CallbackT | None = None) -> Any:
        """Delete every key of every database; True."""
        args: tuple[str, ...] = ("FLUSHALL", "ASYNC") if asynchronous else ("FLUSHALL",)
        return self._command(args, callback, ok)

    def time(self, *, callback: CallbackT | None = None) -> Any:
        """The server's clock: ``(seconds, microseconds)``."""
        return self._command(("TIME",), callback, _time_reply)

    def lastsave(self, *, callback: CallbackT | None = None) -> Any:
        """The Unix time of the last successful save to disk."""
        return self._command(("LASTSAVE",), callback, None)

    def config_get(
        self, pattern: str = "*", *patterns: str, callback: CallbackT | None = None
    ) -> Any:
        """Configuration parameters matching the patterns, as a dict."""
        return self._command(("CONFIG", "GET", pattern, *patterns), callback, pairs_to_dict)

    def config_set(self, name: str, value: EncodableT, *, callback: CallbackT | None = None) -> Any:
        """Set a configuration parameter; True."""
        return self._command(("CONFIG", "SET", name, value), callback, ok)

    def config_resetstat(self, *, callback: CallbackT | None = None) -> Any:
        """Reset the statistics that INFO reports; True."""
        return self._command(("CONFIG", "RESETSTAT"), callback, ok)

    def client_setname(self, name: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Name the connection that runs this; True."""
        return self._command(("CLIENT", "SETNAME", name), callback, ok)

    def client_getname(self, *, callback: CallbackT | None = None) -> Any:
        """The name of the connection that runs this, or None."""
        return self._command(("CLIENT", "GETNAME"), callback, None)

    def client_id(self, *, callback: CallbackT | None = None) -> Any:
        """The id of the connection that runs this."""
        return self._command(("CLIENT", "ID"), callback, None)

    def client_list(self, _type: str | None = None, *, callback: CallbackT | None = None) -> Any:
        """The server's connections (of a type: normal, master, replica, pubsub), as dicts
        of str."""
        args: tuple[str, ...] = ("CLIENT", "LIST")
        if _type is not None:
            args += ("TYPE", _type)
        return self._command(args, callback, _client_list)

    def client_info(self, *, callback: CallbackT | None = None) -> Any:
        """The connection that runs this, as a dict of str."""
        return self._command(("CLIENT", "INFO"), callback, _client_info)

    def client_kill(self, address: str, *, callback: CallbackT | None = None) -> Any:
        """Close the connection from ``address`` (``ip:port``); True."""
        return self._command(("CLIENT", "KILL", address), callback, ok)

    def client_kill_filter(
        self,
        _id: int | None = None,
        _type: str | None = None,
        addr: str | None = None,
        skipme: bool | None = None,
        laddr: str | None = None,
        user: str | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """Close every connection matching all the filters given; how many."""
        args: list[EncodableT] = ["CLIENT", "KILL"]
        for option, value in (("ID", _id), ("TYPE", _type), ("ADDR", addr), ("LADDR", laddr)):
            if value is not None:
                args += [option, value]
        if user is not None:
            args += ["USER", user]
        if skipme is not None:
            args += ["SKIPME", "yes" if skipme else "no"]
        if len(args) == 2:
            raise ValueError("client_kill_filter needs at least one filter")
        return self._command(tuple(args), callback, None)

    def select(self, index: int, *, callback: CallbackT | None = None) -> Any:
        """Switch the connection that runs this to database ``index``; True.

        Pick the database in the URL instead: a pooled client has several connections."""
        return self._command(("SELECT", index), callback, ok)

    def hello(
        self,
        protover: int | None = None,
        username: str | None = None,
        password: str | None = None,
        setname: str | None = None,
        *,
        callback: CallbackT | None = None,
    ) -> Any:
        """The handshake: the server's ``server``, ``version``, ``proto``, ``id``... as a dict.

        Use the client's ``protocol=`` to choose RESP2/RESP3 rather than changing it here."""
        args: list[EncodableT] = ["HELLO"]
        if protover is not None:
            args.append(protover)
        elif username is not None or password is not None or setname is not None:
            raise ValueError("hello: auth and setname need protover")
        if password is not None:
            args += ["AUTH", username or "default", password]
        if setname is not None:
            args += ["SETNAME", setname]
        return self._command(tuple(args), callback, pairs_to_str_dict)

    def memory_usage(
        self, key: KeyT, samples: int | None = None, *, callback: CallbackT | None = None
    ) -> Any:
        """The bytes that ``key`` and its value take, or None when it does not exist."""
        args: tuple[EncodableT, ...] = ("MEMORY", "USAGE", key)
        if samples is not None:
            args += ("SAMPLES", samples)
        return self._command(args, callback, to_int_or_none)

    def object_encoding(self, key: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The internal encoding of the value (``listpack``, ``int``...), or None."""
        return self._command(("OBJECT", "ENCODING", key), callback, None)

    def object_idletime(self, key: KeyT, *, callback: CallbackT | None = None) -> Any:
        """Seconds since the value was last read or written, or None."""
        return self._command(("OBJECT", "IDLETIME", key), callback, to_int_or_none)

    def object_refcount(self, key: KeyT, *, callback: CallbackT | None = None) -> Any:
        """The reference count of the value, or None."""
        return self._command(("OBJECT", "REFCOUNT", key), callback, to_int_or_none)

    def wait(self, num_replicas: int, timeout: int, *, callback: CallbackT | None = None) -> Any:
        """Wait up to ``timeout`` ms for ``num_replicas`` replicas to ack the writes so far;
        how many did."""
        return self._command(("WAIT", num_replicas, timeout), callback, None)
