"""Gateway: clients of many processes and machines addressed by client id, uid and group,
through one Redis."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from workerman.core import Future, TcpConnection, Worker, current_loop, register_status
from workerman.redis import Redis, Script

from . import _envelope as envelope
from ._attach import attach, is_wrapped, wrap_close
from ._client import Client
from ._exceptions import GatewayError, MessageTooLargeError
from ._history import Sent
from ._history import append as append_history
from ._history import read as read_history
from ._names import Names, node_of, validate_name
from ._node import Node
from ._op import Op, await_or_call, script_future
from ._scripts import QUERY, ROUTE_ALL, ROUTE_UIDS, SESSION

__all__ = ["Callback", "Gateway"]

logger = logging.getLogger("workerman.gateway")

Callback = Callable[[Any, BaseException | None], Any] | None


class Gateway:
    """Long connections of a whole cluster, routed through Redis.

    Every node of an app (each worker process, on any machine) makes a Gateway on the same
    Redis and prefix. A node subscribes to its own channel and to the groups it has members
    in, so a message goes only to the nodes that hold its target. Presence (clients, uids,
    groups, sessions) lives in Redis under keys named after the node, with a TTL the
    heartbeat renews: a node that dies drops out within ``ttl`` seconds.

    Args:
        redis: a URL (``redis://host:port/db``) or a :class:`workerman.redis.Redis`. From a
            URL, each process makes its own client on first use (after fork).
        prefix: the namespace of every key and channel; apps sharing a Redis use their own.
        ttl: seconds a node's presence outlives its last heartbeat.
        heartbeat: seconds between heartbeats (default ``ttl / 3``).
        timeout: seconds to wait for Redis (connects, replies, confirmations).
        max_message_size: bytes in one message (MessageTooLargeError past it).
        max_name_size: bytes in a uid or group name.
        max_session_size: bytes of a session as JSON.
        history_size: entries kept (about) per uid or group history (0: no history).
        history_ttl: seconds a history outlives its last send.
    """

    def __init__(
        self,
        redis: str | Redis = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "workerman:gateway:",
        ttl: float = 15.0,
        heartbeat: float | None = None,
        timeout: float = 5.0,
        max_message_size: int = 1024 * 1024,
        max_name_size: int = 256,
        max_session_size: int = 64 * 1024,
        history_size: int = 100,
        history_ttl: float = 86400.0,
    ) -> None:
        if ttl <= 0 or timeout <= 0:
            raise ValueError("ttl and timeout must be positive")
        self.names = Names(prefix)
        self.ttl = ttl
        self.heartbeat = heartbeat if heartbeat is not None else ttl / 3
        if not 0 < self.heartbeat < ttl:
            raise ValueError("heartbeat must be positive and shorter than ttl")
        self.timeout = timeout
        self.max_message_size = max_message_size
        self.max_name_size = max_name_size
        self.max_session_size = max_session_size
        self.history_size = history_size
        self.history_ttl = history_ttl
        if not isinstance(redis, str) and redis.options.decode_responses:
            raise GatewayError("the gateway's Redis client must keep bytes: decode_responses=False")
        self._url = redis if isinstance(redis, str) else None
        self._redis: Redis | None = None if isinstance(redis, str) else redis
        self._redis_pid = os.getpid()
        self._scripts: dict[str, Script] = {}
        self._node: Node | None = None
        self._unregister_status: Callable[[], None] | None = None
        self._stop_when_idle = False

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    @property
    def redis(self) -> Redis:
        """This process's Redis client (made from the URL on first use, again after fork)."""
        if self._url is not None and (self._redis is None or self._redis_pid != os.getpid()):
            self._redis = Redis.from_url(
                self._url, connect_timeout=self.timeout, command_timeout=self.timeout
            )
            self._redis_pid = os.getpid()
            self._scripts = {}
        assert self._redis is not None
        return self._redis

    @property
    def node(self) -> Node:
        """This process's node (made on first use, again after fork)."""
        node = self._node
        if node is None or node.pid != os.getpid():
            node = self._node = Node(self)
        return node

    @property
    def node_id(self) -> str:
        """This process's node id: the first part of its clients' ids."""
        return self.node.id

    # -- life cycle -----------------------------------------------------------------------

    def attach(self, worker: Worker) -> None:
        """Make every connection of ``worker`` a client of the cluster from its connect on,
        forgotten at its close; the node starts and stops with the worker's processes.
        Callbacks may be set on the worker before or after attaching."""
        attach(self, worker)

    async def start(self) -> None:
        """Join the cluster as a node (the attached worker does this for you). Redis out
        of reach is logged and retried by the heartbeat, not raised."""
        self._stop_when_idle = False
        node = self.node
        if node.state == "stopped":  # started again after a stop: a new node
            self._node = None
            node = self.node
        if node.state == "new":
            if self._unregister_status is None:  # a "gateway:" line in each process's status
                self._unregister_status = register_status("gateway", node.status)
            await node.start()

    async def stop(self) -> None:
        """Leave the cluster: this node's keys are deleted, its listener closed."""
        node = self._node
        if node is not None and node.pid == os.getpid():
            await node.stop()  # kept, stopped: a close after this must not rejoin
        if self._unregister_status is not None:
            self._unregister_status()
            self._unregister_status = None
        if self._url is not None and self._redis is not None:
            self._redis.close()
            self._redis = None

    async def stop_when_idle(self) -> None:
        """Stop now if this node has no clients; else once the last one has closed (what
        an attached worker does when its process stops: a graceful stop lets the open
        connections finish, and they stay reachable until then)."""
        node = self._node
        if node is None or node.pid != os.getpid() or not node.clients:
            await self.stop()
        else:
            self._stop_when_idle = True

    async def aclose(self) -> None:
        """Leave the cluster: what :meth:`stop` does, for ``async with`` and awaiting code."""
        await self.stop()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def status(self) -> Mapping[str, object]:
        """This node's counters and the state of its listener (``ok``, ``lagging``,
        ``deaf``), what the ``status`` command shows."""
        return self.node.status()

    # -- clients of this node ---------------------------------------------------------------

    def _register(self, connection: TcpConnection) -> Client:
        node = self.node
        local = node.register(connection)
        if local.handle is None:
            local.handle = Client(self, local)
            if not is_wrapped(self, connection.on_close):
                connection.on_close = wrap_close(self, connection.on_close)
        if node.state == "new":
            current_loop().spawn(self.start)
        handle: Client = local.handle
        return handle

    def client(self, connection: TcpConnection) -> Client:
        """The cluster client of one of this node's connections (registered now when the
        worker is not attached: an HTTP worker that upgrades to WebSocket, say)."""
        return self._register(connection)

    def _forget(self, connection: TcpConnection) -> None:
        node = self._node
        if node is None:
            return
        local = node.by_connection.get(connection.id)
        if local is not None and local.connection is connection:
            node.unregister(local)
            if self._stop_when_idle and not node.clients:
                self._stop_when_idle = False
                current_loop().spawn(self.stop)

    def local_clients(self) -> list[Client]:
        """This node's clients."""
        return [self._register(local.connection) for local in list(self.node.clients.values())]

    # -- sending ----------------------------------------------------------------------------

    def send_to_client(
        self, client_id: str, message: str | bytes, *, callback: Callback = None
    ) -> Any:
        """Send to one client, on whichever node holds it. Result: True when its node got
        the message, False when no node has it (the client's node is gone)."""
        node = node_of(client_id)
        payload = envelope.encode(envelope.CLIENTS, [client_id], self._message(message))
        return self.run(self._publish(self.names.node_channel(node), payload), callback)

    def send_to_uid(
        self,
        uid: str | Iterable[str],
        message: str | bytes,
        *,
        history: bool = False,
        callback: Callback = None,
    ) -> Any:
        """Send to every client of ``uid`` (or of each uid of a list), on any node. Result
        (:class:`Sent`, an int): the number of nodes it went to (0: nobody of that uid is
        online). With ``history``, the message is also kept in each uid's history (read
        with :meth:`history`, also by clients that were offline) and ``result.id`` is its
        entry id."""
        uids = self._names_of("uid", uid)
        data = self._message(message)
        payload = envelope.encode(envelope.UIDS, uids, data)
        if history:
            self._check_history()
            return self.run(
                self._with_history(
                    lambda: self._route(ROUTE_UIDS, payload, *uids), "u", uids, data
                ),
                callback,
            )
        return self.run(self._route(ROUTE_UIDS, payload, *uids), callback)

    def send_to_group(
        self,
        group: str,
        message: str | bytes,
        *,
        exclude: Iterable[str] = (),
        history: bool = False,
        callback: Callback = None,
    ) -> Any:
        """Send to every member of ``group`` but the client ids in ``exclude``. Only the
        nodes with members get it. Result: as send_to_uid (``history`` likewise)."""
        group = validate_name("group", group, self.max_name_size)
        excluded = _client_ids(exclude)
        data = self._message(message)
        payload = envelope.encode(envelope.GROUP, [group, excluded], data)
        channel = self.names.group_channel(group)
        if history:
            self._check_history()
            return self.run(
                self._with_history(
                    lambda: self._publish(channel, payload, count=True), "g", [group], data
                ),
                callback,
            )
        return self.run(self._publish(channel, payload, count=True), callback)

    def history(
        self,
        *,
        uid: str | None = None,
        group: str | None = None,
        after: str | None = None,
        limit: int = 100,
        callback: Callback = None,
    ) -> Any:
        """The history of a uid or a group: the entries after the id ``after`` (the last
        one a client saw), or the latest ``limit`` when ``after`` is None; oldest first,
        as :class:`HistoryEntry` (id, message)."""
        if (uid is None) == (group is None):
            raise GatewayError("history() takes uid= or group=, one of them")
        kind, name = ("u", uid) if uid is not None else ("g", group)
        name = validate_name("uid" if kind == "u" else "group", name, self.max_name_size)
        if not 0 < limit <= 10_000:
            raise GatewayError("limit must be 1-10000")
        return self.run(read_history(self, kind, name, after, limit), callback)

    def _check_history(self) -> None:
        if self.history_size <= 0:
            raise GatewayError("history is off for this gateway: Gateway(history_size=N)")

    def _with_history(
        self, send: Callable[[], Op], kind: str, names: list[str], data: str | bytes
    ) -> Op:
        """Keep the message in each history first, then send: a client told of it finds
        it there. All of it leaves now, in that order."""
        kept = [append_history(self, kind, name, data) for name in names]
        sent = send()
        return Op([*kept, sent], _with_entry)

    def send_to_all(
        self, message: str | bytes, *, exclude: Iterable[str] = (), callback: Callback = None
    ) -> Any:
        """Send to every client of every node but those in ``exclude``. Result: nodes."""
        excluded = _client_ids(exclude)
        payload = envelope.encode(envelope.ALL, excluded, self._message(message))
        return self.run(self._route(ROUTE_ALL, payload), callback)

    def close_client(
        self, client_id: str, message: str | bytes | None = None, *, callback: Callback = None
    ) -> Any:
        """Close a client on any node (after sending ``message``, if given). Result: True
        when its node got the request."""
        node = node_of(client_id)
        data = self._message(message if message is not None else b"")
        payload = envelope.encode(envelope.CLOSE, [client_id], data)
        return self.run(self._publish(self.names.node_channel(node), payload), callback)

    # -- reading the cluster ------------------------------------------------------------

    def is_online(self, client_id: str, *, callback: Callback = None) -> Any:
        """True when the client is connected to a live node."""
        key = self.names.node(node_of(client_id), ":c")
        return self.run(
            self._ask(lambda: self.redis.execute("HEXISTS", key, client_id), bool), callback
        )

    def is_uid_online(self, uid: str, *, callback: Callback = None) -> Any:
        """True when some client of ``uid`` is connected to a live node."""
        uid = validate_name("uid", uid, self.max_name_size)
        return self.run(self._query("uid_online", uid, convert=bool), callback)

    def client_ids_of_uid(self, uid: str, *, callback: Callback = None) -> Any:
        """The ids of ``uid``'s clients, across the cluster."""
        uid = validate_name("uid", uid, self.max_name_size)
        return self.run(self._query("uid_clients", uid, convert=_texts), callback)

    def uid_of(self, client_id: str, *, callback: Callback = None) -> Any:
        """The uid bound to a client of any node, or None."""
        key = self.names.node(node_of(client_id), ":b")
        return self.run(
            self._ask(lambda: self.redis.execute("HGET", key, client_id), _text), callback
        )

    def client_count(self, *, callback: Callback = None) -> Any:
        """Clients connected to live nodes."""
        return self.run(self._query("clients", convert=int), callback)

    def uid_count(self, *, callback: Callback = None) -> Any:
        """Distinct uids with a client on a live node."""
        return self.run(self._query("uids", convert=len), callback)

    def uids(self, *, callback: Callback = None) -> Any:
        """Every uid online, across the cluster (a whole-cluster scan: for tools, not
        for every message)."""
        return self.run(self._query("uids", convert=_texts), callback)

    def groups(self, *, callback: Callback = None) -> Any:
        """Every group with a member online."""
        return self.run(self._query("groups", convert=_texts), callback)

    def group_member_count(self, group: str, *, callback: Callback = None) -> Any:
        """Members of ``group`` across the cluster."""
        group = validate_name("group", group, self.max_name_size)
        return self.run(self._query("group_count", group, convert=int), callback)

    def node_ids(self, *, callback: Callback = None) -> Any:
        """The live nodes."""
        return self.run(self._query("nodes", convert=_texts), callback)

    # -- sessions ------------------------------------------------------------------------

    def get_session(self, client_id: str, *, callback: Callback = None) -> Any:
        """The session of a client of any node (a dict), or None when there is no such
        client."""
        return self.run(self._session(client_id, "get", "{}"), callback)

    def set_session(
        self, client_id: str, data: Mapping[str, Any], *, callback: Callback = None
    ) -> Any:
        """Replace a client's session. Result: the session, or None (no such client)."""
        return self.run(self._session(client_id, "set", self._session_json(data)), callback)

    def update_session(
        self, client_id: str, data: Mapping[str, Any], *, callback: Callback = None
    ) -> Any:
        """Merge ``data`` into a client's session, atomically. Result as set_session."""
        return self.run(self._session(client_id, "update", self._session_json(data)), callback)

    # -- plumbing ---------------------------------------------------------------------------

    def run(self, work: Awaitable[Any], callback: Callback) -> Any:
        """``work`` to await, or (with ``callback``) run as a task that calls
        ``callback(result, error)``."""
        return await_or_call(work, callback)

    async def run_script(self, source: str, *args: Any) -> Any:
        """Run the Lua script ``source`` with ``args`` on the gateway's Redis (registered
        once, then run by its SHA1): the plumbing the nodes use."""
        return await self._script(source, *args)

    def _script(self, source: str, *args: Any) -> Future:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.redis.register_script(source)
        return script_future(script, args)

    def _publish(self, channel: str, payload: bytes, count: bool = False) -> Op:
        reply = self.redis.execute("PUBLISH", channel, payload)
        return Op([reply], _count if count else _any)

    def _route(self, source: str, payload: bytes, *args: Any) -> Op:
        return Op([self._script(source, self.names.prefix, payload, *args)], _count)

    def _query(self, what: str, *args: Any, convert: Callable[[Any], Any]) -> Op:
        reply = self._script(QUERY, self.names.prefix, what, *args)
        return Op([reply], lambda replies: convert(replies[0]))

    def _ask(self, command: Callable[[], Any], convert: Callable[[Any], Any]) -> Op:
        return Op([command()], lambda replies: convert(replies[0]))

    def _session(self, client_id: str, mode: str, value: str) -> Op:
        node = node_of(client_id)
        reply = self._script(
            SESSION, self.names.prefix, node, client_id, mode, value, self.max_session_size
        )
        return Op([reply], _session_of)

    def _session_json(self, data: Mapping[str, Any]) -> str:
        if not isinstance(data, Mapping):
            raise TypeError(f"a session is a mapping, not {type(data).__name__}")
        try:
            text = json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise GatewayError(f"a session must be JSON-serialisable: {exc}") from None
        if len(text.encode()) > self.max_session_size:
            raise MessageTooLargeError(f"session over {self.max_session_size} bytes")
        return text

    def _message(self, message: str | bytes) -> str | bytes:
        if isinstance(message, bytearray | memoryview):
            message = bytes(message)
        if not isinstance(message, str | bytes):
            raise TypeError(f"a message is str or bytes, not {type(message).__name__}")
        size = len(message) if isinstance(message, bytes) else len(message.encode())
        if size > self.max_message_size:
            raise MessageTooLargeError(
                f"message of {size} bytes is over max_message_size ({self.max_message_size})"
            )
        return message

    def _names_of(self, what: str, value: str | Iterable[str]) -> list[str]:
        values = [value] if isinstance(value, str) else list(value)
        if not values:
            raise GatewayError(f"no {what} given")
        return [validate_name(what, item, self.max_name_size) for item in values]

    def __repr__(self) -> str:
        return f"<Gateway prefix={self.names.prefix!r} ttl={self.ttl}>"


def _count(replies: list[Any]) -> Sent:
    return Sent(int(replies[0]))


def _any(replies: list[Any]) -> bool:
    return bool(replies[0])


def _with_entry(replies: list[Any]) -> Sent:
    """[history entry ids..., the send's Sent]: the Sent, with the last entry id."""
    entry = replies[-2]
    return Sent(int(replies[-1]), entry.decode() if isinstance(entry, bytes) else str(entry))


def _session_of(replies: list[Any]) -> dict[str, Any] | None:
    if replies[0] is None:
        return None
    session = json.loads(replies[0])
    return session if isinstance(session, dict) else {}


def _client_ids(exclude: Iterable[str]) -> list[str]:
    """``exclude`` as a list: one id given as a str is one id, not its characters."""
    if isinstance(exclude, str):
        return [exclude]
    return [str(client_id) for client_id in exclude]


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _texts(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values or ()]
