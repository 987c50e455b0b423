"""The child side of ``benchmarks.redis``: one client (workerman-redis or redis-py), one
driver, one case, in a fresh interpreter started as ``python -m benchmarks.redis --child
{json}``; it measures its windows, fails on any warning or error logged, and prints
``RESULT {json}`` (the samples by case name) for the parent to read.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from . import _redis_common
from ._redis_common import DB, HOST, VALUE, Blocking, Sample, Settings, Window, _missing

# -- the child: one client, one driver, one case; prints RESULT {json} ------------------


class _Collect(logging.Handler):
    """Any warning or error logged (a failed callback, a lost connection) fails the run."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.append(f"{record.name}: {record.getMessage()}")


def _watch_asyncio(errors: list[str]) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        errors.append(f"event loop: {context.get('message')} {context.get('exception')!r}")
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def _seq(call: Callable[..., Awaitable[Any]], key: str, cfg: Settings) -> dict[str, Any]:
    info = Blocking()
    end = time.perf_counter() + cfg.warmup
    while time.perf_counter() < end:
        for _ in range(50):
            await call("SET", key, VALUE)
            if (reply := await call("GET", key)) != VALUE:
                _missing([reply])
    samples = {}
    window, ops = Window(info), 0
    end = time.perf_counter() + cfg.duration
    while time.perf_counter() < end:
        for _ in range(100):
            await call("SET", key, VALUE)
        ops += 100
    samples["seq SET"] = window.close(ops)
    window, ops, missing = Window(info), 0, 0
    end = time.perf_counter() + cfg.duration
    while time.perf_counter() < end:
        before = missing
        for _ in range(100):
            reply = await call("GET", key)
            if reply != VALUE:
                missing += _missing([reply])
        ops += 100
        if missing != before:
            await call("SET", key, VALUE)  # a flush removed it: put it back
    samples["seq GET"] = window.close(ops, missing=missing)
    info.close()
    return samples


async def _concurrent(
    call: Callable[..., Awaitable[Any]],
    key: str,
    cfg: Settings,
    pool: Callable[[], int],
    driver: str,
) -> dict[str, Any]:
    info = Blocking()
    state = {"ops": 0, "missing": 0, "stop": False}

    async def worker() -> None:
        while not state["stop"]:
            await call("SET", key, VALUE)
            if (reply := await call("GET", key)) != VALUE:
                state["missing"] += _missing([reply])
            state["ops"] += 2

    async def measure(sleep: Callable[[float], Awaitable[Any]]) -> Sample:
        await sleep(cfg.warmup)
        window, ops0, missing0 = Window(info), state["ops"], state["missing"]
        await sleep(cfg.duration)
        sample = window.close(state["ops"] - ops0, pool(), state["missing"] - missing0)
        state["stop"] = True
        return sample

    # The loop's own task groups: no layer of anyio's between the tasks and the client.
    if driver == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            for _ in range(cfg.tasks):
                nursery.start_soon(worker)
            sample = await measure(trio.sleep)
    else:
        import asyncio

        async with asyncio.TaskGroup() as group:
            for _ in range(cfg.tasks):
                group.create_task(worker())
            sample = await measure(asyncio.sleep)
    info.close()
    return {"concurrent": sample}


async def _pipeline(make: Callable[[], Any], key: str, cfg: Settings) -> dict[str, Any]:
    info = Blocking()

    async def batch() -> int:
        async with make() as pipe:
            for _ in range(cfg.depth):
                pipe.execute_command("GET", key)
            results = await pipe.execute()
        if len(results) != cfg.depth:
            raise RuntimeError(f"a pipeline of {cfg.depth} GETs returned {len(results)} results")
        if results.count(VALUE) == cfg.depth:
            return 0
        await make().execute_command("SET", key, VALUE).execute()  # a flush removed it
        return _missing(results)

    end = time.perf_counter() + cfg.warmup
    while time.perf_counter() < end:
        await batch()
    window, ops, missing = Window(info), 0, 0
    end = time.perf_counter() + cfg.duration
    while time.perf_counter() < end:
        missing += await batch()
        ops += cfg.depth
    sample = window.close(ops, missing=missing)
    info.close()
    return {"pipeline": sample}


async def _measure(client: Any, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    case, driver, cfg = spec["case"], spec["driver"], Settings(**spec["settings"])
    key = f"wmbench:{os.getpid()}:k"
    if kind == "workerman":
        call = client.execute

        def pool() -> int:
            return 1  # every command on the one shared connection

    else:
        call = client.execute_command
        connections = client.connection_pool

        def pool() -> int:
            return len(connections._available_connections) + len(connections._in_use_connections)

    try:
        await call("SET", key, VALUE)
        if case == "seq":
            samples = await _seq(call, key, cfg)
        elif case == "concurrent":
            samples = await _concurrent(call, key, cfg, pool, driver)
        else:
            samples = await _pipeline(lambda: client.pipeline(transaction=False), key, cfg)
    finally:
        await client.aclose()
        cleanup = Blocking()  # not through the client under test: it may be the trouble
        cleanup.call("DEL", key)
        cleanup.close()
    return {name: asdict(s) for name, s in samples.items()}


async def _child_main(spec: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    driver = spec["driver"]
    if spec["client"] == "workerman":
        from workerman.core import create_loop
        from workerman.redis import Redis

        async with create_loop(driver).open():
            if driver != "trio":
                _watch_asyncio(errors)
            ours = Redis.from_url(f"redis://{HOST}:{_redis_common.PORT}/{DB}")
            return await _measure(ours, "workerman", spec)
    import redis.asyncio

    if driver == "trio":
        raise RuntimeError("redis-py runs on asyncio only")
    _watch_asyncio(errors)
    client = redis.asyncio.Redis(host=HOST, port=_redis_common.PORT, db=DB)  # the default pool
    return await _measure(client, "redis-py", spec)


def child(spec: dict[str, Any]) -> None:
    _redis_common.PORT = spec["port"]
    errors: list[str] = []
    logging.getLogger().addHandler(_Collect(errors))
    driver = spec["driver"]
    if driver == "trio":
        import trio

        result = trio.run(_child_main, spec, errors)
    elif driver == "uvloop":
        import uvloop

        result = uvloop.run(_child_main(spec, errors))
    else:
        import asyncio

        result = asyncio.run(_child_main(spec, errors))
    if errors:
        raise RuntimeError(f"{len(errors)} error(s) logged, the first: {errors[0]}")
    print("RESULT " + json.dumps(result), flush=True)
