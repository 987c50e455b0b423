"""What the client hands the application: received messages, connect results, wills."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ConnectResult", "Message", "Will"]


class Message:
    """A message received from the broker.

    Attributes:
        topic: the topic name it was published to.
        payload: its bytes.
        qos: the QoS it was delivered with (0, 1 or 2).
        retain: True when the broker sent it from its retained store.
        mid: the packet identifier (0 for QoS 0).
        properties: MQTT 5 properties (paho's ``Properties``), or None.
    """

    __slots__ = ("mid", "payload", "properties", "qos", "retain", "topic")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        retain: bool = False,
        mid: int = 0,
        properties: Any = None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.mid = mid
        self.properties = properties

    @property
    def user_properties(self) -> list[tuple[str, str]]:
        """MQTT 5 user properties as (name, value) pairs; empty without any."""
        found = getattr(self.properties, "UserProperty", None)
        return list(found) if found else []

    def __repr__(self) -> str:
        return (
            f"Message(topic={self.topic!r}, payload={self.payload[:40]!r}, "
            f"qos={self.qos}, retain={self.retain})"
        )


@dataclass(frozen=True)
class ConnectResult:
    """The broker's CONNACK.

    Attributes:
        session_present: the broker kept a session for this client id.
        reason_code: 0 on success.
        properties: MQTT 5 CONNACK properties (paho's ``Properties``), or None.
    """

    session_present: bool
    reason_code: int = 0
    properties: Any = None


@dataclass(frozen=True)
class Will:
    """The message the broker publishes when this client vanishes without DISCONNECT.

    A plain tuple ``(topic, payload, qos, retain)`` works wherever a Will does.
    """

    topic: str
    payload: bytes | str = b""
    qos: int = 0
    retain: bool = False
    properties: Any = None
