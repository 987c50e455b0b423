"""Errors of workerman.mqtt, by who is at fault: the network, the broker's answer, or
the caller. Broker refusals carry the MQTT reason code they came with."""

from __future__ import annotations

__all__ = [
    "MqttClosedError",
    "MqttConnectError",
    "MqttConnectionError",
    "MqttConnectionLostError",
    "MqttError",
    "MqttNotAuthorizedError",
    "MqttPublishError",
    "MqttQueueFullError",
    "MqttSubscribeError",
    "MqttTimeoutError",
]


class MqttError(Exception):
    """Base class of every error raised by workerman.mqtt."""


class MqttConnectionError(MqttError):
    """The network side: a connection could not be made or did not last."""


class MqttTimeoutError(MqttConnectionError):
    """A connect, or the wait for an acknowledgement, took longer than its timeout.

    A publish that times out is still in the client's session: it may yet be delivered.
    """


class MqttConnectionLostError(MqttConnectionError):
    """The connection dropped and the client does not reconnect (``reconnect=False``)."""


class MqttClosedError(MqttError):
    """The client was closed; what it had not sent or had not had acknowledged fails."""


class MqttQueueFullError(MqttError):
    """``max_queued_messages`` publishes already wait to be sent: this one was refused."""


class _Refusal(MqttError):
    """An answer from the broker that says no.

    Attributes:
        reason_code: the MQTT reason code (MQTT 5) or return code (3.1.1), an int.
        reason: its name as the specification gives it.
    """

    def __init__(self, message: str, reason_code: int, reason: str) -> None:
        super().__init__(f"{message}: {reason} (reason code {reason_code:#04x})")
        self.reason_code = reason_code
        self.reason = reason


class MqttConnectError(_Refusal):
    """The broker refused the connection (CONNACK with a failure code)."""


class MqttNotAuthorizedError(MqttConnectError):
    """The broker refused the credentials: bad user name or password, or not authorised."""


class MqttSubscribeError(_Refusal):
    """The broker refused a subscription.

    Attributes:
        refused: the topic filters it refused, each with its reason code.
    """

    def __init__(
        self, message: str, reason_code: int, reason: str, refused: dict[str, int]
    ) -> None:
        super().__init__(message, reason_code, reason)
        self.refused = refused


class MqttPublishError(_Refusal):
    """The broker refused a QoS 1 or 2 publish (MQTT 5 PUBACK/PUBREC with a failure code)."""


# CONNACK codes that mean "who you are is not accepted": MQTT 3.1.1 return codes 4
# and 5, MQTT 5 reason codes 0x86 (bad user name or password) and 0x87 (not authorised).
NOT_AUTHORIZED_CODES = frozenset({4, 5, 0x86, 0x87})
