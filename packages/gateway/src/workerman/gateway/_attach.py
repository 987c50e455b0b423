"""Attaching a gateway to a worker: its connections become clients of the cluster.

``gateway.attach(worker)`` must not depend on the order the user sets callbacks in (the
usual program attaches first and sets ``on_connect`` later). So the worker's class is
swapped for a subclass whose ``on_connect``, ``on_close``, ``on_worker_start`` and
``on_worker_stop`` are properties: setting one stores the user's callback, reading one
gives the user's callback with the gateway's step around it. The core reads them like
any attribute, so nothing in the core needs to know.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workerman.core import TcpConnection, Worker

from ._exceptions import GatewayError

if TYPE_CHECKING:
    from ._gateway import Gateway

__all__ = ["attach", "wrap_close"]

_HOOKS = ("on_connect", "on_close", "on_worker_start", "on_worker_stop")
_MARK = "_workerman_gateway"
_subclasses: dict[type, type] = {}

Callback = Callable[..., Any] | None


def _compose(name: str, gateway: Gateway, user: Callback) -> Callable[..., Any]:
    if name == "on_connect":

        def on_connect(connection: TcpConnection) -> Any:
            gateway._register(connection)
            return None if user is None else user(connection)

        return on_connect
    if name == "on_close":
        return wrap_close(gateway, user)
    if name == "on_worker_start":

        async def on_worker_start(worker: Worker) -> None:
            await gateway.start()
            await _call(user, worker)

        return on_worker_start

    async def on_worker_stop(worker: Worker) -> None:
        try:
            await _call(user, worker)
        finally:
            # A graceful stop (or reload) lets the open connections finish: the node
            # serves them until the last one closes, then leaves the cluster.
            await gateway.stop_when_idle()

    return on_worker_stop


async def _call(user: Callback, *args: Any) -> None:
    if user is not None:
        result = user(*args)
        if inspect.isawaitable(result):
            await result


def wrap_close(gateway: Gateway, user: Callback) -> Callable[[TcpConnection], Any]:
    """``on_close`` that runs the user's first (the client's uid and groups are still
    there to read), then forgets the client, even when the user's raised."""

    def on_close(connection: TcpConnection) -> Any:
        try:
            result = None if user is None else user(connection)
        except BaseException:
            gateway._forget(connection)
            raise
        if inspect.isawaitable(result):
            return _close_after(gateway, connection, result)
        gateway._forget(connection)
        return None

    setattr(on_close, _MARK, gateway)
    return on_close


async def _close_after(gateway: Gateway, connection: TcpConnection, result: Any) -> None:
    try:
        await result
    finally:
        gateway._forget(connection)


def is_wrapped(gateway: Gateway, callback: Any) -> bool:
    return getattr(callback, _MARK, None) is gateway


def _hook_property(name: str) -> property:
    def get(self: Any) -> Callable[..., Any]:
        return _compose(name, self.__dict__[_MARK], self.__dict__["_gateway_user"][name])

    def set_(self: Any, value: Callback) -> None:
        self.__dict__["_gateway_user"][name] = value

    return property(get, set_, doc=f"{name}, with the gateway's step around it")


def attach(gateway: Gateway, worker: Worker) -> None:
    """Make ``worker``'s connections clients of ``gateway`` (see Gateway.attach)."""
    if not isinstance(worker, Worker):
        raise TypeError(f"attach() takes a Worker, not {type(worker).__name__}")
    current = worker.__dict__.get(_MARK)
    if current is gateway:
        return
    if current is not None:
        raise GatewayError(f"{worker!r} is already attached to another gateway")
    cls = type(worker)
    sub = _subclasses.get(cls)
    if sub is None:
        namespace: dict[str, Any] = {name: _hook_property(name) for name in _HOOKS}
        namespace["__module__"] = cls.__module__
        namespace["__qualname__"] = cls.__qualname__
        sub = _subclasses[cls] = type(cls.__name__, (cls,), namespace)
    user = {name: worker.__dict__.pop(name, None) for name in _HOOKS}
    worker.__dict__[_MARK] = gateway
    worker.__dict__["_gateway_user"] = user
    worker.__class__ = sub
