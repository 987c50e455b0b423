"""One benchmark client in its own process: ``python -m benchmarks._http_client_child
CLIENT CASE URL COUNT CONCURRENCY``; prints one JSON line (seconds, CPU, requests, bytes).

CLIENT: workerman-uvloop, workerman-asyncio, workerman-trio, aiohttp, httpx (the last two
on uvloop). CASE: ``get`` (COUNT GETs of ``URL`` from CONCURRENCY tasks sharing one
client, after a warm-up) or ``stream`` (one GET of ``URL`` read to its end in pieces).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

WARMUP = 500


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sys_cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


async def drive(get: Callable[[], Awaitable[int]], count: int, concurrency: int) -> dict[str, Any]:
    import anyio

    left = WARMUP

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if await get() != 11:
                raise SystemExit("wrong body")

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    left = count
    start, start_cpu, start_sys = time.perf_counter(), cpu(), sys_cpu()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return {
        "seconds": time.perf_counter() - start,
        "cpu": cpu() - start_cpu,
        "sys": sys_cpu() - start_sys,
        "requests": count,
    }


async def stream(read: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    start, start_cpu, start_sys = time.perf_counter(), cpu(), sys_cpu()
    size = await read()
    return {
        "seconds": time.perf_counter() - start,
        "cpu": cpu() - start_cpu,
        "sys": sys_cpu() - start_sys,
        "bytes": size,
    }


async def run_workerman(case: str, url: str, count: int, concurrency: int) -> dict[str, Any]:
    from workerman.http_client import HttpClient, Timeout

    async with HttpClient(max_connections_per_host=concurrency, timeout=Timeout(read=60)) as http:
        if case == "get":

            async def get() -> int:
                return len((await http.get(url)).content)

            return await drive(get, count, concurrency)

        async def read() -> int:
            size = 0
            async with http.stream("GET", url) as response:
                async for chunk in response.iter_bytes():
                    size += len(chunk)
            return size

        return await stream(read)


async def run_aiohttp(case: str, url: str, count: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        if case == "get":

            async def get() -> int:
                async with session.get(url) as response:
                    return len(await response.read())

            return await drive(get, count, concurrency)

        async def read() -> int:
            size = 0
            async with session.get(url) as response:
                async for chunk in response.content.iter_any():
                    size += len(chunk)
            return size

        return await stream(read)


async def run_httpx(case: str, url: str, count: int, concurrency: int) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        if case == "get":

            async def get() -> int:
                return len((await client.get(url)).content)

            return await drive(get, count, concurrency)

        async def read() -> int:
            size = 0
            async with client.stream("GET", url) as response:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
            return size

        return await stream(read)


def main(argv: list[str]) -> None:
    client, case, url, count, concurrency = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    cpu_pin = os.environ.get("BENCH_CPU")
    if cpu_pin:
        os.sched_setaffinity(0, {int(cpu_pin)})
    result: dict[str, Any] = {}
    if client.startswith("workerman-"):
        from workerman.core import create_loop

        loop = create_loop(client.removeprefix("workerman-"))

        async def body() -> None:
            result.update(await run_workerman(case, url, count, concurrency))
            loop.stop()

        loop.run(body)
    else:
        import uvloop

        runner = run_aiohttp if client == "aiohttp" else run_httpx
        result.update(uvloop.run(runner(case, url, count, concurrency)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
