"""``python -m workerman.queue failed ...`` run as a real command against the real Redis."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

from workerman.core import serve
from workerman.queue import Job, Queue, QueueWorker

from .conftest import counts, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[("asyncio", "redis"), ("asyncio", "amqp")], ids=["redis", "amqp"])
def combination(request: pytest.FixtureRequest) -> tuple[str, str]:
    # the command runs in a process of its own: one driver is enough here
    driver, broker = request.param
    return str(driver), str(broker)


async def cli(url: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = await anyio.run_process(
        [sys.executable, "-m", "workerman.queue", *args, "--url", url, "--prefix", prefix],
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


async def fail_jobs(queue: Queue, count: int) -> list[str]:
    def handle(job: Job) -> None:
        raise ValueError(f"bad address {job.data['to']}")

    consumer = QueueWorker(queue, {"mail": handle}, max_attempts=1)
    ids = [await queue.send("mail", {"to": f"user{i}@example.org"}) for i in range(count)]
    async with serve(consumer):
        await wait_until(lambda: consumer.stats.failed == count)
    return [i for i in ids if i is not None]


async def test_failed_list_and_show_print_the_jobs_and_their_errors(
    queue: Queue, broker_url: str, prefix: str
) -> None:
    ids = await fail_jobs(queue, 2)
    listed = await cli(broker_url, prefix, "failed", "list", "mail")
    assert listed.returncode == 0, listed.stderr
    assert all(job_id in listed.stdout for job_id in ids)
    assert "ValueError('bad address user1@example.org')" in listed.stdout
    assert "2 shown of 2 failed in 'mail'" in listed.stdout
    shown = await cli(broker_url, prefix, "failed", "show", "mail", ids[0])
    assert shown.returncode == 0, shown.stderr
    assert f"id:        {ids[0]}" in shown.stdout
    assert '"to": "user0@example.org"' in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout
    assert "in handle" in shown.stdout
    missing = await cli(broker_url, prefix, "failed", "show", "mail", "no-such-job")
    assert missing.returncode == 1 and "no failed job 'no-such-job'" in missing.stderr


async def test_failed_retry_sends_jobs_again_and_purge_deletes_them(
    queue: Queue, broker_url: str, prefix: str
) -> None:
    ids = await fail_jobs(queue, 3)
    retried = await cli(broker_url, prefix, "failed", "retry", "mail", ids[0])
    assert retried.returncode == 0 and "1 job(s) sent again" in retried.stdout
    assert counts(await queue.sizes("mail")) == (1, 0, 2)
    done: list[tuple[str, int]] = []
    consumer = QueueWorker(queue, {"mail": lambda job: done.append((job.id, job.attempts))})
    async with serve(consumer):
        await wait_until(lambda: bool(done))
    assert done == [(ids[0], 1)]  # attempts start again
    usage = await cli(broker_url, prefix, "failed", "purge", "mail")
    assert usage.returncode == 2 and "give job ids or --all" in usage.stderr
    purged = await cli(broker_url, prefix, "failed", "purge", "mail", "--all")
    assert purged.returncode == 0 and "2 failed job(s) deleted" in purged.stdout
    assert counts(await queue.sizes("mail")) == (0, 0, 0)
    sizes = await cli(broker_url, prefix, "sizes", "mail")
    assert sizes.returncode == 0 and "failed     0" in sizes.stdout


@pytest.mark.parametrize("combination", [("asyncio", "redis")], indirect=True)
async def test_an_unreachable_broker_exits_1_with_the_reason(free_port: int) -> None:
    result = await cli(f"redis://127.0.0.1:{free_port}/14", "x", "failed", "list", "mail")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Redis")
