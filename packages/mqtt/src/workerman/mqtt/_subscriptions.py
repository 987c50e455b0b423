"""The subscriptions a client holds, and the SUBSCRIBE/UNSUBSCRIBE requests on their way.

The book is what "subscriptions restored after a reconnect" means: every filter the
broker granted (or has been asked for) is kept with its options; a connection that
comes up without a session is subscribed to all of them again. Requests that were
waiting for an answer when the connection dropped are sent again on the next one, so
their callers get the new connection's answer instead of an error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from paho.mqtt.client import MQTT_ERR_NO_CONN, MQTT_ERR_SUCCESS, error_string

from ._exceptions import MqttConnectionError, MqttError, MqttSubscribeError, MqttTimeoutError
from ._pending import Pending
from ._topics import check_filter

if TYPE_CHECKING:
    from ._state import ClientState

__all__ = ["SubscriptionBook"]

logger = logging.getLogger("workerman.mqtt")


class _Request:
    __slots__ = ("entries", "kind", "pending", "properties")

    def __init__(self, kind: str, entries: list[Any], properties: Any, pending: Pending | None):
        self.kind = kind  # "sub": entries are (filter, qos or options); "unsub": filters
        self.entries = entries
        self.properties = properties
        self.pending = pending

    def names(self) -> list[str]:
        if self.kind == "sub":
            return [name for name, _option in self.entries]
        return list(self.entries)


class SubscriptionBook:
    def __init__(self) -> None:
        self.filters: dict[str, tuple[Any, Any]] = {}  # filter -> (qos or options, properties)
        self._waiting: list[_Request] = []
        self._inflight: dict[int, _Request] = {}

    # -- requests ------------------------------------------------------------------------

    def subscribe(
        self, client: ClientState, entries: list[Any], properties: Any, pending: Pending
    ) -> None:
        if not entries:
            raise MqttError("subscribe to at least one topic filter")
        for name, option in entries:
            check_filter(name)
            qos = option if isinstance(option, int) else option.QoS
            if qos not in (0, 1, 2):
                raise MqttError(f"qos must be 0, 1 or 2, not {qos!r}")
        for name, option in entries:
            self.filters[name] = (option, properties)
        self._submit(client, _Request("sub", entries, properties, pending))

    def unsubscribe(
        self, client: ClientState, names: list[str], properties: Any, pending: Pending
    ) -> None:
        if not names:
            raise MqttError("unsubscribe from at least one topic filter")
        for name in names:
            check_filter(name)
            self.filters.pop(name, None)
        self._submit(client, _Request("unsub", names, properties, pending))

    def _submit(self, client: ClientState, request: _Request) -> None:
        if client.connected:
            self._send(client, request)
        else:
            self._waiting.append(request)

    def _send(self, client: ClientState, request: _Request) -> None:
        engine = client._engine
        assert engine is not None
        if request.kind == "sub":
            rc, mid = engine.subscribe(request.entries, properties=request.properties)
        else:
            rc, mid = engine.unsubscribe(request.entries, properties=request.properties)
        if rc == MQTT_ERR_NO_CONN:
            self._waiting.append(request)
        elif rc != MQTT_ERR_SUCCESS or mid is None:
            self._fail(request, MqttConnectionError(f"{request.kind}scribe: {error_string(rc)}"))
        else:
            self._inflight[mid] = request

    # -- the connection ------------------------------------------------------------------

    def on_connected(self, client: ClientState, session_present: bool) -> None:
        requests, self._waiting = self._waiting, []
        if not session_present:
            asked = {
                name for request in requests if request.kind == "sub" for name in request.names()
            }
            restore: dict[int, _Request] = {}
            for name, (option, properties) in self.filters.items():
                if name in asked:
                    continue
                key = id(properties)
                if key not in restore:
                    restore[key] = _Request("sub", [], properties, None)
                restore[key].entries.append((name, option))
            requests = [*restore.values(), *requests]
            client.statistics.resubscribed += sum(len(r.entries) for r in restore.values())
        for request in requests:
            self._send(client, request)

    def on_lost(self) -> None:
        inflight = [self._inflight[mid] for mid in sorted(self._inflight)]
        self._inflight.clear()
        self._waiting = [
            request for request in inflight if request.pending is not None or request.kind == "sub"
        ] + self._waiting

    # -- answers -------------------------------------------------------------------------

    def on_suback(self, mid: int, reasons: list[tuple[int, str]]) -> None:
        request = self._inflight.pop(mid, None)
        if request is None:
            return
        granted: list[int] = []
        refused: dict[str, int] = {}
        first: tuple[int, str] | None = None
        for name, (code, reason) in zip(request.names(), reasons, strict=False):
            if code >= 0x80:
                refused[name] = code
                first = first or (code, reason)
                self.filters.pop(name, None)
            else:
                granted.append(code)
        if first is not None:
            error = MqttSubscribeError(
                f"the broker refused {', '.join(refused)}", first[0], first[1], refused
            )
            if request.pending is None:
                logger.warning("restoring subscriptions: %s", error)
            self._fail(request, error)
        elif request.pending is not None:
            request.pending.resolve(granted)

    def on_unsuback(self, mid: int, reasons: list[tuple[int, str]]) -> None:
        request = self._inflight.pop(mid, None)
        if request is None or request.pending is None:
            return
        refused = {
            name: code
            for name, (code, _reason) in zip(request.names(), reasons, strict=False)
            if code >= 0x80
        }
        if refused:
            code = next(iter(refused.values()))
            reason = next(r for c, r in reasons if c == code)
            request.pending.fail(
                MqttSubscribeError("the broker refused to unsubscribe", code, reason, refused)
            )
        else:
            request.pending.resolve(None)

    def expire(self, now: float, timeout: float) -> None:
        for request in (*self._inflight.values(), *self._waiting):
            pending = request.pending
            if pending is not None and pending.deadline and pending.deadline <= now:
                request.pending = None
                pending.fail(
                    MqttTimeoutError(f"no answer to {request.kind}scribe within {timeout}s")
                )

    def forget_waiters(self) -> None:
        """The loop whose futures the callers await has ended: drop those (callbacks stay),
        and send every request again on the next connection."""
        requests = [self._inflight[mid] for mid in sorted(self._inflight)] + self._waiting
        self._inflight.clear()
        for request in requests:
            if request.pending is not None and request.pending.callback is None:
                request.pending = None
        self._waiting = requests

    def fail_all(self, error: BaseException) -> None:
        requests = [*self._inflight.values(), *self._waiting]
        self._inflight.clear()
        self._waiting.clear()
        for request in requests:
            self._fail(request, error)

    @staticmethod
    def _fail(request: _Request, error: BaseException) -> None:
        pending, request.pending = request.pending, None
        if pending is not None:
            pending.fail(error)
