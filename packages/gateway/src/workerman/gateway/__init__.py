"""workerman.gateway: long-connection apps across processes and machines, on Redis.

Client ids that name their node, uids and groups routed only to the nodes that hold them,
presence with node-scoped TTLs, and Channel for app events between processes.
"""

from ._channel import Channel as Channel
from ._client import Client as Client
from ._exceptions import GatewayError as GatewayError
from ._exceptions import GatewayTimeoutError as GatewayTimeoutError
from ._exceptions import GatewayUnavailableError as GatewayUnavailableError
from ._exceptions import InvalidTargetError as InvalidTargetError
from ._exceptions import MessageTooLargeError as MessageTooLargeError
from ._gateway import Gateway as Gateway
from ._history import HistoryEntry as HistoryEntry
from ._history import Sent as Sent

__all__ = [
    "Channel",
    "Client",
    "Gateway",
    "GatewayError",
    "GatewayTimeoutError",
    "GatewayUnavailableError",
    "HistoryEntry",
    "InvalidTargetError",
    "MessageTooLargeError",
    "Sent",
]
