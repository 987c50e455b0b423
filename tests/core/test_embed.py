"""Serving workers in the caller's own event loop, and the pytest plugin built on it."""

from __future__ import annotations

import os
import textwrap

import anyio
import pytest

from workerman.core import Timer, Worker, current_loop, serve, statistics
from workerman.core._loop import current_loop_or_none

from .conftest import read_lines, running_loop

pytestmark = pytest.mark.anyio

pytest_plugins = ["pytester"]


def _echo(name: str = "echo") -> Worker:
    worker = Worker("text://127.0.0.1:0", name=name)
    worker.on_message = lambda connection, line: connection.send(line.upper())
    return worker


async def test_serve_binds_an_ephemeral_port_and_stops_everything_on_exit(
    anyio_backend: str,
) -> None:
    events: list[str] = []
    worker = _echo()
    worker.on_worker_start = lambda w: events.append("start")
    worker.on_worker_stop = lambda w: events.append("stop")
    async with serve(worker) as (host, port):
        assert port != 0
        assert events == ["start"]
        client = await anyio.connect_tcp(host, port)
        await client.send(b"hi\n")
        assert await read_lines(client, 1) == [b"HI\n"]
    assert events == ["start", "stop"]
    with anyio.fail_after(5):  # the worker closed our connection on the way out
        assert await read_lines(client, 1) == []
    await client.aclose()
    with pytest.raises(OSError):
        await anyio.connect_tcp(host, port)
    assert current_loop_or_none() is None


async def test_worker_serving_is_the_same_for_one_worker(anyio_backend: str) -> None:
    worker = _echo()
    async with worker.serving() as address, await anyio.connect_tcp(*address) as client:
        await client.send(b"one\n")
        assert await read_lines(client, 1) == [b"ONE\n"]


async def test_serve_runs_several_workers_and_gives_each_address(anyio_backend: str) -> None:
    first, second = _echo("a"), _echo("b")
    async with serve(first, second) as (one, two):
        assert one != two
        for address in (one, two):
            async with await anyio.connect_tcp(*address) as client:
                await client.send(b"x\n")
                assert await read_lines(client, 1) == [b"X\n"]


async def test_timers_and_tasks_started_in_the_block_end_with_it(anyio_backend: str) -> None:
    ticks: list[int] = []
    worker = _echo()

    async def forever() -> None:
        await anyio.sleep_forever()

    def on_worker_start(w: Worker) -> None:
        Timer.add(0.01, ticks.append, 1)
        current_loop().spawn(forever)

    worker.on_worker_start = on_worker_start
    async with serve(worker):
        with anyio.fail_after(5):
            while len(ticks) < 2:
                await anyio.sleep(0.01)
        assert Timer.count() == 1
    assert Timer.count() == 0
    seen = len(ticks)
    await anyio.sleep(0.05)
    assert len(ticks) == seen


async def test_cancelling_the_block_still_stops_the_worker_cleanly(anyio_backend: str) -> None:
    events: list[str] = []
    worker = _echo()
    worker.on_worker_stop = lambda w: events.append("stop")
    with anyio.move_on_after(0.2):
        async with serve(worker) as address:
            client = await anyio.connect_tcp(*address)
            await anyio.sleep_forever()
    assert events == ["stop"]
    assert worker.connections == {}
    with anyio.fail_after(5):
        assert await read_lines(client, 1) == []
    await client.aclose()


async def test_callback_errors_are_logged_and_counted_as_in_a_worker_process(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker("text://127.0.0.1:0", name="embedded")

    def on_message(connection: object, line: str) -> None:
        raise RuntimeError("bug in handler")

    worker.on_message = on_message
    async with serve(worker) as address, await anyio.connect_tcp(*address) as client:
        await client.send(b"x\n")
        with anyio.fail_after(5):
            while not statistics.throw_exception:
                await anyio.sleep(0.01)
    assert any("on_message of worker 'embedded'" in r.getMessage() for r in caplog.records)


async def test_two_hundred_starts_and_stops_leak_no_descriptors_and_no_tasks(
    anyio_backend: str,
) -> None:
    async with running_loop(anyio_backend) as loop:

        def tasks() -> int:
            if anyio_backend == "trio":
                return len(loop._nursery.child_tasks)  # type: ignore[attr-defined]
            import asyncio

            return len(asyncio.all_tasks())

        worker = _echo()
        async with serve(worker) as address, await anyio.connect_tcp(*address) as client:
            await client.send(b"warm\n")
            await read_lines(client, 1)
        fds, running = len(os.listdir("/proc/self/fd")), tasks()
        for _ in range(200):
            async with serve(worker) as address, await anyio.connect_tcp(*address) as client:
                await client.send(b"x\n")
                assert await read_lines(client, 1) == [b"X\n"]
        await anyio.sleep(0.05)
        assert len(os.listdir("/proc/self/fd")) == fds
        assert tasks() == running


PLUGIN_TEST = textwrap.dedent(
    """
    import anyio
    import pytest
    from workerman.core import Worker

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(request):
        return request.param

    @pytest.mark.anyio
    async def test_echo_server(serve, free_port):
        worker = Worker(f"text://127.0.0.1:{free_port}")
        worker.on_message = lambda c, line: c.send(line)
        async with serve(worker) as address:
            assert address == ("127.0.0.1", free_port)
            async with await anyio.connect_tcp(*address) as client:
                await client.send(b"ping\\n")
                assert await client.receive() == b"ping\\n"
    """
)


def test_the_plugin_serve_fixture_works_on_both_drivers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plugin=PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_service_fixture_fails_clearly_when_nothing_answers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    pytester.makepyfile(test_service="def test_needs_redis(redis_url):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*Redis does not answer at 127.0.0.1:{port}*start it, or point REDIS_URL at one*"]
    )


def test_a_service_fixture_gives_the_url_when_the_service_answers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port))
        listener.listen()
        monkeypatch.setenv("MQTT_URL", f"mqtt://127.0.0.1:{free_port}")
        pytester.makepyfile(
            test_service=(
                f"def test_url(mqtt_url):\n    assert mqtt_url == 'mqtt://127.0.0.1:{free_port}'\n"
            )
        )
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
