"""workerman.redis: an async Redis client on the workerman loop.

Pipelined by default (concurrent callers share one connection), with explicit pipelines
and transactions, pub/sub, RESP2 and RESP3, and both styles Workerman users know:
``await redis.get("k")`` and ``redis.get("k", callback=fn)``.
"""

from ._client import Redis as Redis
from ._exceptions import AuthenticationError as AuthenticationError
from ._exceptions import BusyError as BusyError
from ._exceptions import ExecAbortError as ExecAbortError
from ._exceptions import NoScriptError as NoScriptError
from ._exceptions import ReadOnlyError as ReadOnlyError
from ._exceptions import RedisConnectionError as RedisConnectionError
from ._exceptions import RedisError as RedisError
from ._exceptions import RedisProtocolError as RedisProtocolError
from ._exceptions import RedisTimeoutError as RedisTimeoutError
from ._exceptions import ResponseError as ResponseError
from ._exceptions import WatchError as WatchError
from ._exceptions import WrongTypeError as WrongTypeError
from ._pipeline import Pipeline as Pipeline
from ._pubsub import Message as Message
from ._pubsub import PubSub as PubSub
from ._script import Script as Script
from ._session import RedisSessionHandler as RedisSessionHandler

__all__ = [
    "AuthenticationError",
    "BusyError",
    "ExecAbortError",
    "Message",
    "NoScriptError",
    "Pipeline",
    "PubSub",
    "ReadOnlyError",
    "Redis",
    "RedisConnectionError",
    "RedisError",
    "RedisProtocolError",
    "RedisSessionHandler",
    "RedisTimeoutError",
    "ResponseError",
    "Script",
    "WatchError",
    "WrongTypeError",
]
