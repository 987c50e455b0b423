"""workerman.core: event loop, workers, connections, protocols and timers."""

# first: it decides compiled or pure before any of the per-message modules is imported
from . import _extensions  # noqa: F401

# isort: split
from . import _cli  # noqa: F401 (the command line, which Worker.run_all() hands over to)
from ._async_connection import AsyncTcpConnection as AsyncTcpConnection
from ._connection import CONNECT_FAIL as CONNECT_FAIL
from ._connection import SEND_FAIL as SEND_FAIL
from ._connection import ConnectionStatus as ConnectionStatus
from ._connection import TcpConnection as TcpConnection
from ._connection import live_connections as live_connections
from ._exceptions import AddressInUseError as AddressInUseError
from ._exceptions import ProtocolError as ProtocolError
from ._exceptions import ServerError as ServerError
from ._exceptions import WorkermanError as WorkermanError
from ._loop import EventLoop as EventLoop
from ._loop import Future as Future
from ._loop import create_loop as create_loop
from ._loop import current_loop as current_loop
from ._statistics import Statistics as Statistics
from ._statistics import register_status as register_status
from ._statistics import statistics as statistics
from ._timer import Timer as Timer
from ._udp import AsyncUdpConnection as AsyncUdpConnection
from ._udp import UdpConnection as UdpConnection
from ._worker import Worker as Worker
from ._worker import serve as serve
from .protocols import register_protocol as register_protocol

__all__ = [
    "CONNECT_FAIL",
    "SEND_FAIL",
    "AddressInUseError",
    "AsyncTcpConnection",
    "AsyncUdpConnection",
    "ConnectionStatus",
    "EventLoop",
    "Future",
    "ProtocolError",
    "ServerError",
    "Statistics",
    "TcpConnection",
    "Timer",
    "UdpConnection",
    "Worker",
    "WorkermanError",
    "create_loop",
    "current_loop",
    "live_connections",
    "register_protocol",
    "register_status",
    "serve",
    "statistics",
]
