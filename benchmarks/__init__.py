"""Side-by-side benchmarks of workerman-core against a hand-written asyncio.Protocol echo.

Run ``uv run python -m benchmarks`` (or ``make bench``; ``--quick`` for a short run).

The Redis client (workerman-redis) against redis-py and redis-benchmark, on the Redis at
127.0.0.1:6379 (db 15): ``uv run python -m benchmarks.redis`` (``--quick`` for a short run).

The HTTP server against uvicorn and a Protocol + httptools ceiling, with wrk:
``uv run python -m benchmarks.http``. The WebSocket server against the websockets library
and a line-echo ceiling (echo, memory per idle connection, broadcast fan-out):
``uv run python -m benchmarks.websocket``. Both take ``--quick``.
"""
