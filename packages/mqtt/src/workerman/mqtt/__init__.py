"""workerman.mqtt: an MQTT 3.1.1 and 5 client on the workerman loop.

paho-mqtt's protocol engine, driven by the core loop's readiness watchers and timers
(no thread, no blocking call); ``await client.publish(...)`` or ``callback=fn``;
reconnects with backoff that lose nothing.
"""

from ._client import MqttClient as MqttClient
from ._exceptions import MqttClosedError as MqttClosedError
from ._exceptions import MqttConnectError as MqttConnectError
from ._exceptions import MqttConnectionError as MqttConnectionError
from ._exceptions import MqttConnectionLostError as MqttConnectionLostError
from ._exceptions import MqttError as MqttError
from ._exceptions import MqttNotAuthorizedError as MqttNotAuthorizedError
from ._exceptions import MqttPublishError as MqttPublishError
from ._exceptions import MqttQueueFullError as MqttQueueFullError
from ._exceptions import MqttSubscribeError as MqttSubscribeError
from ._exceptions import MqttTimeoutError as MqttTimeoutError
from ._message import ConnectResult as ConnectResult
from ._message import Message as Message
from ._message import Will as Will
from ._streams import MessageStream as MessageStream
from ._topics import matches as _matches
from ._topics import split_filter as _split_filter

__all__ = [
    "ConnectResult",
    "Message",
    "MessageStream",
    "MqttClient",
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
    "Will",
    "topic_matches",
]


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter`` (``+``, ``#``, ``$share/group/``)."""
    return _matches(_split_filter(topic_filter), topic)
