"""Side-by-side benchmarks of workerman-core against a hand-written asyncio.Protocol echo.

Run ``uv run python -m benchmarks`` (or ``make bench``; ``--quick`` for a short run).
"""
