"""workerman.asgi: ASGI apps (FastAPI, Starlette, Litestar) on workerman-core's HTTP and
WebSocket server, with its processes, command line and graceful reload.

``AsgiWorker("main:app", "http://0.0.0.0:8000", count=4)`` then ``Worker.run_all()``;
or ``python -m workerman.asgi main:app --listen http://0.0.0.0:8000 --count 4 start``.
"""

# first: it decides compiled or pure before any of the per-request modules is imported
from . import _extensions  # noqa: F401

# isort: split
from ._exceptions import AsgiError as AsgiError
from ._exceptions import ClientDisconnected as ClientDisconnected
from ._exceptions import LifespanError as LifespanError
from ._worker import AsgiWorker as AsgiWorker

__all__ = ["AsgiError", "AsgiWorker", "ClientDisconnected", "LifespanError"]
