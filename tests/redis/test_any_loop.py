"""The client in plain scripts: asyncio.run, uvloop.run and trio.run, no workerman setup."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import trio
import uvloop

from workerman.redis import Redis


async def _round_trip(url: str, key: str) -> bytes | None:
    redis = Redis.from_url(url)
    try:
        await redis.set(key, "v", ex=30)
        got = await redis.get(key)
        await redis.delete(key)
        return got  # type: ignore[no-any-return]
    finally:
        await redis.aclose()


def test_asyncio_run_twice_in_one_process(test_url: str) -> None:
    assert asyncio.run(_round_trip(test_url, "anyloop:a")) == b"v"
    assert asyncio.run(_round_trip(test_url, "anyloop:a")) == b"v"


def test_uvloop_run(test_url: str) -> None:
    assert uvloop.run(_round_trip(test_url, "anyloop:u")) == b"v"


def test_trio_run(test_url: str) -> None:
    assert trio.run(_round_trip, test_url, "anyloop:t") == b"v"


def test_one_client_object_across_two_asyncio_runs(test_url: str) -> None:
    redis = Redis.from_url(test_url)

    async def use() -> bytes | None:
        await redis.set("anyloop:shared", "x", ex=30)
        return await redis.get("anyloop:shared")  # type: ignore[no-any-return]

    assert asyncio.run(use()) == b"x"
    assert asyncio.run(use()) == b"x"  # the connection of the ended loop is not reused
    asyncio.run(redis.aclose())


def test_the_readme_script_runs_as_a_program(test_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from workerman.redis import Redis

        async def main():
            redis = Redis.from_url({test_url!r})
            await redis.set("anyloop:script", "hello", ex=30)
            print((await redis.get("anyloop:script")).decode())
            await redis.aclose()

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"
