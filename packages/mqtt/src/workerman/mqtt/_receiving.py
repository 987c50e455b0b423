"""Receiving: subscriptions (kept in the book, restored after reconnects), and routing
each message to the handlers, streams and ``on_message`` it concerns."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from paho.mqtt.client import MQTTMessage
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from workerman.core import current_loop

from ._engine import reason_of
from ._exceptions import MqttClosedError, MqttError
from ._message import Message
from ._pending import Callback, Pending, call_user
from ._state import ClientState
from ._streams import MessageStream
from ._topics import check_filter, matches, split_filter

__all__ = ["Receiving"]


class Receiving(ClientState):
    # -- subscribe -----------------------------------------------------------------------

    def subscribe(
        self,
        topic: str | Iterable[tuple[str, int]],
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        properties: Properties | None = None,
        callback: Callback | None = None,
    ) -> Any:
        """Subscribe to a filter (``"a/+/c"``, ``"a/#"``, ``"$share/group/a/b"``), or to
        several ``[(filter, qos), ...]`` at once; MQTT 5 options as keywords.

        Returns the granted QoS per filter (a list). The subscription is kept: after a
        reconnect without a session the client subscribes again by itself.

        Raises:
            MqttSubscribeError: the broker refused a filter (with its reason code); the
                refused filters are not kept.
            MqttTimeoutError: no SUBACK within ``timeout``.
        """
        entries = [(topic, qos)] if isinstance(topic, str) else list(topic)
        if self.protocol == 5:
            options: Any = [
                (
                    name,
                    SubscribeOptions(
                        qos=level,
                        noLocal=no_local,
                        retainAsPublished=retain_as_published,
                        retainHandling=retain_handling,
                    ),
                )
                for name, level in entries
            ]
        else:
            if no_local or retain_as_published or retain_handling:
                raise MqttError("subscription options need MQTT 5 (protocol=5)")
            options = entries
        self._check_loop()
        pending = Pending(callback, self._deadline(self.timeout))
        if self._state in ("closing", "closed"):
            pending.fail(MqttClosedError("the client is closed"))
            return pending.awaitable
        self._book.subscribe(self, options, properties, pending)
        return pending.awaitable

    def unsubscribe(
        self,
        topic: str | Iterable[str],
        *,
        properties: Properties | None = None,
        callback: Callback | None = None,
    ) -> Any:
        """Unsubscribe from one filter or several; returns when the broker answered."""
        names = [topic] if isinstance(topic, str) else list(topic)
        self._check_loop()
        pending = Pending(callback, self._deadline(self.timeout))
        if self._state in ("closing", "closed"):
            pending.fail(MqttClosedError("the client is closed"))
            return pending.awaitable
        self._book.unsubscribe(self, names, properties, pending)
        return pending.awaitable

    def _on_suback(
        self, _client: Any, _userdata: Any, mid: int, reasons: Any, _properties: Any
    ) -> None:
        self._book.on_suback(mid, [reason_of(reason) for reason in reasons])

    def _on_unsuback(
        self, _client: Any, _userdata: Any, mid: int, reasons: Any, _properties: Any
    ) -> None:
        self._book.on_unsuback(mid, [reason_of(reason) for reason in reasons])

    # -- receiving -----------------------------------------------------------------------

    def messages(self, topic_filter: str | None = None, *, maxsize: int | None = None) -> Any:
        """An async iterator over received messages (those matching ``topic_filter``).

        Messages are kept from this call on, up to ``maxsize`` (default
        ``max_buffered_messages``); a full stream pauses reading from the broker until
        it is half empty. ``async with client.messages() as stream:`` closes it after.
        """
        self._check_loop()
        stream = MessageStream(
            topic_filter,
            maxsize or self.max_buffered_messages,
            self._pause_reading,
            self._resume_reading,
            self._forget_stream,
        )
        self._streams = [*self._live_streams(), weakref.ref(stream)]
        if self._state == "closed":
            stream.end()
        return stream

    def add_handler(
        self, topic_filter: str, handler: Callable[[Message], Any]
    ) -> Callable[[], None]:
        """Call ``handler(message)`` for each message matching ``topic_filter`` (besides
        ``on_message``). Returns a function that removes it."""
        check_filter(topic_filter)
        entry = (split_filter(topic_filter), handler)
        self._handlers = [*self._handlers, entry]

        def remove() -> None:
            self._handlers = [item for item in self._handlers if item is not entry]

        return remove

    def _live_streams(self) -> list[weakref.ref[MessageStream]]:
        return [ref for ref in self._streams if ref() is not None]

    def _forget_stream(self, stream: MessageStream) -> None:
        self._streams = [ref for ref in self._streams if ref() not in (None, stream)]

    def _on_engine_message(self, _client: Any, _userdata: Any, raw: MQTTMessage) -> None:
        try:
            topic = raw.topic
        except UnicodeDecodeError:
            self.statistics.bad_messages += 1
            return
        message = Message(
            topic,
            bytes(raw.payload),
            raw.qos,
            bool(raw.retain),
            raw.mid,
            raw.properties if self.protocol == 5 else None,
        )
        self.statistics.received += 1
        for levels, handler in self._handlers:
            if matches(levels, topic):
                call_user(handler, message)
        for ref in self._streams:
            stream = ref()
            if stream is not None and stream.accepts(message):
                stream.put(message)
        if self.on_message is not None:
            call_user(self.on_message, message)

    def _pause_reading(self, stream: MessageStream) -> None:
        self._full_streams.add(id(stream))
        if not self._reading_paused:
            self._reading_paused = True
            self.statistics.read_pauses += 1
            if self._transport is not None:
                self._transport.stop_reading()

    def _resume_reading(self, stream: MessageStream) -> None:
        self._full_streams.discard(id(stream))
        if self._reading_paused and not self._full_streams:
            self._reading_paused = False
            transport = self._transport
            if transport is not None:
                transport.start_reading()
                current_loop().call_soon(self._on_input)  # what was read before the pause
