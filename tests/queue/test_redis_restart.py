"""A Redis server restarted while jobs flow (a redis-server of the test's own, with an
append-only file so its data outlives the restart): every job is still done."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests._missing import missing
from workerman.core import serve
from workerman.queue import Job, Queue, QueueSizes, QueueWorker

from .conftest import REDIS_ONLY, wait_until

pytestmark = pytest.mark.anyio


@REDIS_ONLY
def combination(request: pytest.FixtureRequest) -> tuple[str, str]:
    driver, broker = request.param
    return str(driver), str(broker)


class RedisServer:
    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.dir = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path, free_port: int) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed")
    server = RedisServer(free_port, tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.kill()
            server.process.wait(10)


async def test_jobs_survive_a_redis_restart_mid_stream(
    redis_server: RedisServer, loop: None
) -> None:
    queue = Queue.from_url(f"redis://127.0.0.1:{redis_server.port}/14", command_timeout=2.0)

    async def up() -> bool:
        try:
            await queue.sizes("work")
        except Exception:
            return False
        return True

    await wait_until(up, 10, "our redis-server to answer")
    done: dict[int, int] = {}
    gate = anyio.Event()

    async def handle(job: Job) -> None:
        if job.data >= 100:
            await gate.wait()  # jobs past the first 100 are held until Redis is back
        done[job.data] = done.get(job.data, 0) + 1

    for i in range(300):
        await queue.send("work", i)
    consumer = QueueWorker(queue, {"work": handle}, concurrency=10, lease=5.0, poll_interval=0.1)
    async with serve(consumer):
        await wait_until(lambda: len(done) >= 100, 10, "100 jobs done")
        await anyio.to_thread.run_sync(redis_server.stop)
        await anyio.to_thread.run_sync(redis_server.start)
        gate.set()
        await wait_until(lambda: len(done) == 300, 30, "every job done after the restart")
        assert await queue.send("work", 300) is not None  # producers work again too
        await wait_until(lambda: len(done) == 301, 10, "the job sent after the restart")
    assert sorted(done) == list(range(301))
    assert await queue.sizes("work") == QueueSizes(0, 0, 0, 0)
    await queue.aclose()
