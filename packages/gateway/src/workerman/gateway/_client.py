"""Client: one connection of this node as the cluster sees it (an id, a uid, groups)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workerman.core import TcpConnection

from ._names import validate_name
from ._node import LocalClient

if TYPE_CHECKING:
    from ._gateway import Callback, Gateway

__all__ = ["Client"]


class Client:
    """A connection of this node, known to the whole cluster by :attr:`id`.

    Get one with ``gateway.client(connection)``. Membership changes are awaited until
    Redis has them (or raise :class:`GatewayUnavailableError`, leaving the client as it
    was); each method also takes ``callback=fn``, called as ``fn(result, error)``.
    """

    __slots__ = ("_gateway", "_local")

    def __init__(self, gateway: Gateway, local: LocalClient) -> None:
        self._gateway = gateway
        self._local = local

    @property
    def id(self) -> str:
        """Unique in the cluster; names its node (``<node>-<n>``)."""
        return self._local.id

    @property
    def connection(self) -> TcpConnection:
        return self._local.connection

    @property
    def uid(self) -> str | None:
        """The uid bound to this client, if any."""
        return self._local.uid

    @property
    def groups(self) -> frozenset[str]:
        """The groups this client is in."""
        return frozenset(self._local.groups)

    def bind_uid(self, uid: str, *, callback: Callback = None) -> Any:
        """Bind ``uid`` (replacing a uid bound before). A uid may have many clients, on
        any nodes; ``send_to_uid`` reaches them all."""
        uid = validate_name("uid", uid, self._gateway.max_name_size)
        return self._gateway.run(self._gateway.node.bind(self._local, uid), callback)

    def unbind_uid(self, *, callback: Callback = None) -> Any:
        """Unbind the uid, if one is bound."""
        return self._gateway.run(self._gateway.node.unbind(self._local), callback)

    def join_group(self, group: str, *, callback: Callback = None) -> Any:
        """Join ``group``; this node subscribes to the group while it has members."""
        group = validate_name("group", group, self._gateway.max_name_size)
        return self._gateway.run(self._gateway.node.join(self._local, group), callback)

    def leave_group(self, group: str, *, callback: Callback = None) -> Any:
        """Leave ``group``; this node unsubscribes once the group has no members here."""
        group = validate_name("group", group, self._gateway.max_name_size)
        return self._gateway.run(self._gateway.node.leave(self._local, group), callback)

    def send(self, message: str | bytes) -> bool | None:
        """Send on the connection directly (no Redis): what ``connection.send`` returns."""
        return self._local.connection.send(message)

    def close(self, message: str | bytes | None = None) -> None:
        """Close the connection, after sending ``message`` when given."""
        self._local.connection.close(message)

    def get_session(self, *, callback: Callback = None) -> Any:
        """This client's session (a dict), as every node reads it."""
        return self._gateway.get_session(self.id, callback=callback)

    def set_session(self, data: Mapping[str, Any], *, callback: Callback = None) -> Any:
        """Replace the session with ``data`` (JSON-serialisable, at most
        ``max_session_size`` bytes)."""
        return self._gateway.set_session(self.id, data, callback=callback)

    def update_session(self, data: Mapping[str, Any], *, callback: Callback = None) -> Any:
        """Merge ``data`` into the session (atomically, in Redis)."""
        return self._gateway.update_session(self.id, data, callback=callback)

    def __repr__(self) -> str:
        return f"<Client {self.id} uid={self.uid!r} groups={sorted(self._local.groups)}>"
