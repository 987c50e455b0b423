"""One node: this process's clients, their uids and groups, kept in memory and mirrored
into Redis under keys with the node's TTL; the listener that delivers what other nodes
route here; the heartbeat that keeps the keys alive and writes them again when they went.

The node is the only writer of its own keys, so its memory is the truth: any write that
fails marks the node dirty and the next heartbeat writes the whole state again (also what
happens when Redis restarted empty, or the keys expired while Redis was out of reach).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

import anyio

from workerman.core import ConnectionStatus, TcpConnection, current_loop

from . import _envelope as envelope
from ._exceptions import translate
from ._names import new_node_id
from ._scripts import HEARTBEAT

if TYPE_CHECKING:
    from ._gateway import Gateway

__all__ = ["LocalClient", "Node"]

logger = logging.getLogger("workerman.gateway")


class LocalClient:
    """What the node knows of one of its connections."""

    __slots__ = ("connection", "groups", "handle", "id", "uid")

    def __init__(self, client_id: str, connection: TcpConnection) -> None:
        self.id = client_id
        self.connection = connection
        self.uid: str | None = None
        self.groups: set[str] = set()
        self.handle: Any = None  # the public Client, made on first ask


class Node:
    """This process's part of the cluster (created in the process that serves, after fork)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.id = new_node_id()
        self.names = gateway.names
        self.pid = os.getpid()
        self.clients: dict[str, LocalClient] = {}
        self.by_connection: dict[int, LocalClient] = {}
        self.uids: dict[str, dict[str, None]] = {}  # uid -> client ids, in bind order
        self.groups: dict[str, dict[str, None]] = {}
        self._next = 0
        self._pubsub: Any = None
        self._timer = 0
        self._beating = False
        self.state = "new"  # new, running, stopped
        self.dirty = True
        self.redis_up = False
        self._unanswered = 0.0  # loop time of the oldest ping not come back (0: none)
        self.lag = 0.0
        self.delivered = 0
        self.received = 0
        self.bad_messages = 0
        self.write_errors = 0
        self.resyncs = 0

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to this node's channel, write the node into Redis, start beating.
        Redis out of reach is logged, not raised: the heartbeat keeps trying."""
        if self.state != "new":
            return
        self.state = "running"
        self._pubsub = self.gateway.redis.pubsub()
        loop = current_loop()
        self._timer = loop.repeat(self.gateway.heartbeat, self._tick)
        try:
            with anyio.fail_after(self.gateway.timeout):
                await self._pubsub.subscribe(
                    self.names.node_channel(self.id), callback=self._on_message
                )
            await self._resync()
            self.redis_up = True
        except Exception as exc:
            logger.warning("gateway node %s: Redis not reachable at start: %s", self.id, exc)

    async def stop(self) -> None:
        """Leave the cluster: delete this node's keys, close the listener."""
        if self.state != "running":
            self.state = "stopped"
            return
        self.state = "stopped"
        if self._timer:
            current_loop().cancel(self._timer)
            self._timer = 0
        redis = self.gateway.redis
        try:
            with anyio.fail_after(self.gateway.timeout):
                await redis.execute("ZREM", self.names.nodes, self.id)
                await redis.execute("DEL", *self.names.node_keys(self.id))
        except Exception as exc:
            logger.warning("gateway node %s: could not remove its keys: %s", self.id, exc)
        if self._pubsub is not None:
            self._pubsub.close()

    # -- clients -------------------------------------------------------------------------

    def register(self, connection: TcpConnection) -> LocalClient:
        found = self.by_connection.get(connection.id)
        if found is not None and found.connection is connection:
            return found
        self._next += 1
        client = LocalClient(f"{self.id}-{self._next:x}", connection)
        self.clients[client.id] = client
        self.by_connection[connection.id] = client
        if self.state == "running":
            key = self.names.node(self.id, ":c")
            self._send(("HSET", key, client.id, "{}"))
            self._send(("PEXPIRE", key, self.gateway.ttl_ms))
        return client

    def unregister(self, client: LocalClient) -> None:
        if self.clients.pop(client.id, None) is None:
            return
        self.by_connection.pop(client.connection.id, None)
        for group in list(client.groups):
            self._leave_local(client, group)
        uid = client.uid
        if uid is not None:
            self._unbind_local(client)
        if self.state != "running":
            return
        names = self.names
        self._send(("HDEL", names.node(self.id, ":c"), client.id))
        if uid is not None:
            self._send(("HDEL", names.node(self.id, ":b"), client.id))
            self._send(self._uid_write(uid))
        for group in client.groups:
            self._send(self._group_write(group))
        client.groups.clear()

    async def bind(self, client: LocalClient, uid: str) -> None:
        if client.uid == uid:
            return
        if client.uid is not None:
            await self.unbind(client)
        client.uid = uid
        self.uids.setdefault(uid, {})[client.id] = None
        names, ttl = self.names, self.gateway.ttl_ms
        try:
            await self._write(
                self._uid_write(uid),
                ("PEXPIRE", names.node(self.id, ":u"), ttl),
                ("HSET", names.node(self.id, ":b"), client.id, uid),
                ("PEXPIRE", names.node(self.id, ":b"), ttl),
            )
        except BaseException:
            self._unbind_local(client)
            raise

    async def unbind(self, client: LocalClient) -> None:
        uid = client.uid
        if uid is None:
            return
        self._unbind_local(client)
        try:
            await self._write(
                self._uid_write(uid), ("HDEL", self.names.node(self.id, ":b"), client.id)
            )
        except BaseException:
            client.uid = uid
            self.uids.setdefault(uid, {})[client.id] = None
            raise

    async def join(self, client: LocalClient, group: str) -> None:
        if group in client.groups or client.id not in self.clients:
            return
        client.groups.add(group)
        members = self.groups.setdefault(group, {})
        members[client.id] = None
        try:
            if len(members) == 1:
                with anyio.fail_after(self.gateway.timeout):
                    await self._pubsub.subscribe(
                        self.names.group_channel(group), callback=self._on_message
                    )
            await self._write(
                self._group_write(group),
                ("PEXPIRE", self.names.node(self.id, ":g"), self.gateway.ttl_ms),
            )
        except Exception as exc:
            if group in client.groups:
                self._leave_local(client, group)
                client.groups.discard(group)
            raise translate(exc) from exc

    async def leave(self, client: LocalClient, group: str) -> None:
        if group not in client.groups:
            return
        self._leave_local(client, group)
        client.groups.discard(group)
        await self._write(self._group_write(group))

    def _unbind_local(self, client: LocalClient) -> None:
        uid, client.uid = client.uid, None
        if uid is None:
            return
        ids = self.uids.get(uid)
        if ids is not None:
            ids.pop(client.id, None)
            if not ids:
                del self.uids[uid]

    def _leave_local(self, client: LocalClient, group: str) -> None:
        """Drop ``client`` from the group here; the last member out unsubscribes."""
        members = self.groups.get(group)
        if members is None:
            return
        members.pop(client.id, None)
        if not members:
            del self.groups[group]
            if self._pubsub is not None and self.state == "running":
                current_loop().spawn(self._unsubscribe, group)

    async def _unsubscribe(self, group: str) -> None:
        if group in self.groups:  # joined again meanwhile
            return
        try:
            with anyio.fail_after(self.gateway.timeout):
                await self._pubsub.unsubscribe(self.names.group_channel(group))
        except Exception as exc:  # the subscription is gone from the table: no resubscribe
            logger.info("gateway: unsubscribe from group %r: %s", group, exc)

    # -- writes --------------------------------------------------------------------------

    def _uid_write(self, uid: str) -> tuple[Any, ...]:
        key = self.names.node(self.id, ":u")
        ids = self.uids.get(uid)
        return ("HSET", key, uid, " ".join(ids)) if ids else ("HDEL", key, uid)

    def _group_write(self, group: str) -> tuple[Any, ...]:
        key = self.names.node(self.id, ":g")
        members = self.groups.get(group)
        return ("HSET", key, group, len(members)) if members else ("HDEL", key, group)

    def _send(self, command: tuple[Any, ...]) -> None:
        """A write nobody awaits: a failure marks the node dirty (the heartbeat rewrites)."""
        self.gateway.redis.execute(*command, callback=self._sent)

    def _sent(self, _result: Any, error: BaseException | None) -> None:
        if error is not None:
            self._write_failed(error)

    def _write_failed(self, error: BaseException) -> None:
        self.write_errors += 1
        if not self.dirty:
            logger.warning("gateway node %s: a write to Redis failed (%s)", self.id, error)
        self.dirty = True

    async def _write(self, *commands: tuple[Any, ...]) -> None:
        """Send the commands (pipelined) and wait for all; a failure is the gateway's error."""
        if self.state != "running":
            return
        redis = self.gateway.redis
        futures = [redis.execute(*command) for command in commands]
        error: BaseException | None = None
        for future in futures:
            try:
                await future
            except Exception as exc:
                error = error or exc
        if error is not None:
            self._write_failed(error)
            raise translate(error) from error

    # -- heartbeat -------------------------------------------------------------------------

    def _tick(self) -> None:
        for client in [c for c in self.clients.values() if c.connection.status is _CLOSED]:
            self.gateway._forget(client.connection)  # closed behind our back (on_close replaced)
        self._probe()
        if not self._beating:
            self._beating = True
            current_loop().spawn(self._beat)

    async def _beat(self) -> None:
        if self.state != "running":
            self._beating = False
            return
        try:
            with anyio.fail_after(self.gateway.timeout):
                if self.dirty:
                    await self._resync()
                else:
                    alive = await self.gateway.run_script(
                        HEARTBEAT, self.names.prefix, self.id, self.gateway.ttl_ms
                    )
                    if not alive:
                        logger.warning("gateway node %s: its keys had gone; writing again", self.id)
                        await self._resync()
            if not self.redis_up:
                logger.info("gateway node %s: Redis reachable", self.id)
            self.redis_up = True
        except Exception as exc:
            if self.redis_up:
                logger.warning("gateway node %s: heartbeat failed: %s", self.id, exc)
            self.redis_up = False
            self.dirty = True
        finally:
            self._beating = False

    def _probe(self) -> None:
        """Publish a ping to our own channel (each heartbeat): one coming back shows the
        listener hears; none for over a heartbeat shows it deaf."""
        now = current_loop().time()
        if not self._unanswered:
            self._unanswered = now
        payload = envelope.encode(envelope.PING, now, b"")
        channel = self.names.node_channel(self.id)
        self.gateway.redis.execute("PUBLISH", channel, payload, callback=_ignore)

    async def _resync(self) -> None:
        """Write this node's whole state (keeping the sessions of clients it still has)."""
        names, ttl, node = self.names, self.gateway.ttl_ms, self.id
        redis = self.gateway.redis
        self.dirty = False
        try:
            stored = await redis.execute("HKEYS", names.node(node, ":c"))
            if self.state != "running":  # stopped meanwhile: its keys stay deleted
                return
            stale = {k.decode() if isinstance(k, bytes) else k for k in stored} - set(self.clients)
            info = {"pid": self.pid, "host": socket.gethostname()}
            async with redis.pipeline(transaction=True) as pipe:
                pipe.execute_command("DEL", *[names.node(node, s) for s in (":u", ":g", ":b")])
                pipe.execute_command("SET", names.node(node), json.dumps(info), "PX", ttl)
                if stale:
                    pipe.execute_command("HDEL", names.node(node, ":c"), *stale)
                for client_id in self.clients:
                    pipe.execute_command("HSETNX", names.node(node, ":c"), client_id, "{}")
                for suffix, values in self._state_fields():
                    if values:
                        pipe.execute_command("HSET", names.node(node, suffix), *values)
                pipe.execute_command(
                    "EVAL", HEARTBEAT, 0, names.prefix, node, ttl
                )  # expiries and the node's place in <prefix>nodes
                await pipe.execute()
        except BaseException:
            self.dirty = True
            raise
        self.resyncs += 1

    def _state_fields(self) -> list[tuple[str, list[Any]]]:
        uids: list[Any] = []
        for uid, ids in self.uids.items():
            uids += [uid, " ".join(ids)]
        groups: list[Any] = []
        for group, members in self.groups.items():
            groups += [group, len(members)]
        binds: list[Any] = []
        for client in self.clients.values():
            if client.uid is not None:
                binds += [client.id, client.uid]
        return [(":u", uids), (":g", groups), (":b", binds)]

    # -- delivery ----------------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        self.received += 1
        try:
            op, header, data = envelope.decode(bytes(message.data))
        except (ValueError, UnicodeDecodeError) as exc:
            self.bad_messages += 1
            logger.warning("gateway node %s: a message it cannot read: %s", self.id, exc)
            return
        try:
            self._dispatch(op, header, data)
        except (TypeError, ValueError, AttributeError) as exc:  # a header of the wrong shape
            self.bad_messages += 1
            logger.warning("gateway node %s: a message it cannot route: %s", self.id, exc)

    def _dispatch(self, op: bytes, header: Any, data: str | bytes) -> None:
        deliver = self._deliver
        if op == envelope.UIDS:
            for uid in header:
                for client_id in list(self.uids.get(uid, ())):
                    deliver(client_id, data)
        elif op == envelope.GROUP:
            group, exclude = header
            skip = set(exclude)
            for client_id in list(self.groups.get(group, ())):
                if client_id not in skip:
                    deliver(client_id, data)
        elif op == envelope.CLIENTS:
            for client_id in header:
                deliver(client_id, data)
        elif op == envelope.ALL:
            skip = set(header)
            for client_id in list(self.clients):
                if client_id not in skip:
                    deliver(client_id, data)
        elif op == envelope.CLOSE:
            for client_id in header:
                client = self.clients.get(client_id)
                if client is not None:
                    client.connection.close(data or None)
        elif op == envelope.PING and isinstance(header, float):
            self.lag = current_loop().time() - header
            self._unanswered = 0.0

    def _deliver(self, client_id: str, data: str | bytes) -> None:
        client = self.clients.get(client_id)
        if client is not None and client.connection.send(data) is not False:
            self.delivered += 1

    # -- status ------------------------------------------------------------------------------

    def listener_state(self) -> str:
        if self.state != "running":
            return self.state
        if self._unanswered and current_loop().time() - self._unanswered > self.gateway.heartbeat:
            return "deaf"  # no ping of ours has come back for over a heartbeat
        if self.lag > 1.0:
            return "lagging"
        return "ok"

    def status(self) -> dict[str, object]:
        return {
            "node": self.id,
            "clients": len(self.clients),
            "uids": len(self.uids),
            "groups": len(self.groups),
            "redis": "up" if self.redis_up else "down",
            "listener": self.listener_state(),
            "lag_ms": round(self.lag * 1000, 1),
            "received": self.received,
            "delivered": self.delivered,
            "bad_messages": self.bad_messages,
            "write_errors": self.write_errors,
            "resyncs": self.resyncs,
        }


_CLOSED = ConnectionStatus.CLOSED


def _ignore(_result: Any, _error: BaseException | None) -> None:
    """A ping that fails to go out: the missing answer is what shows (as deaf)."""
