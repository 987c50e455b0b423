"""The EventLoop facade every component shares, on each driver."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from workerman.core import EventLoop, ServerError, create_loop, current_loop, statistics
from workerman.core._loop import current_loop_or_none

from .conftest import running_loop

pytestmark = pytest.mark.anyio

TICK = 0.01


async def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(TICK / 2)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected, non-blocking socket pair, closed after the loop is gone."""
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    with left, right:
        yield left, right


# -- timers ---------------------------------------------------------------------------


async def test_delay_calls_once_with_args(anyio_backend: str) -> None:
    calls: list[tuple[Any, ...]] = []
    async with running_loop(anyio_backend) as loop:
        loop.delay(TICK, lambda *args: calls.append(args), "x", 1)
        assert loop.timer_count() == 1
        await wait_until(lambda: bool(calls))
        await anyio.sleep(TICK * 10)
        assert calls == [("x", 1)]
        assert loop.timer_count() == 0


async def test_repeat_calls_until_cancelled(anyio_backend: str) -> None:
    calls: list[str] = []
    async with running_loop(anyio_backend) as loop:
        timer_id = loop.repeat(TICK, calls.append, "tick")
        await wait_until(lambda: len(calls) >= 3)
        assert loop.timer_count() == 1
        assert loop.cancel(timer_id) is True
        count = len(calls)
        await anyio.sleep(TICK * 10)
        assert len(calls) == count
        assert loop.timer_count() == 0


async def test_cancel_is_false_after_a_delay_ran_and_for_unknown_ids(anyio_backend: str) -> None:
    calls: list[int] = []
    async with running_loop(anyio_backend) as loop:
        timer_id = loop.delay(TICK, calls.append, 1)
        await wait_until(lambda: bool(calls))
        assert loop.cancel(timer_id) is False
        assert loop.cancel(123_456_789) is False


async def test_cancelled_delay_never_fires(anyio_backend: str) -> None:
    calls: list[int] = []
    async with running_loop(anyio_backend) as loop:
        timer_id = loop.delay(TICK * 3, calls.append, 1)
        assert loop.cancel(timer_id) is True
        await anyio.sleep(TICK * 10)
    assert calls == []


async def test_timers_fire_in_deadline_order(anyio_backend: str) -> None:
    order: list[str] = []
    async with running_loop(anyio_backend) as loop:
        loop.delay(TICK * 6, order.append, "third")
        loop.delay(TICK * 2, order.append, "first")
        loop.delay(TICK * 4, order.append, "second")
        await wait_until(lambda: len(order) == 3)
    assert order == ["first", "second", "third"]


async def test_timer_ids_are_unique(anyio_backend: str) -> None:
    async with running_loop(anyio_backend) as loop:
        ids = {loop.delay(60, print) for _ in range(5)} | {loop.repeat(60, print) for _ in range(5)}
        assert len(ids) == 10
        assert loop.timer_count() == 10
        loop.cancel_all()
        assert loop.timer_count() == 0


@pytest.mark.parametrize("interval", [0, -1, float("nan")])
async def test_non_positive_interval_raises_value_error(
    anyio_backend: str, interval: float
) -> None:
    async with running_loop(anyio_backend) as loop:
        with pytest.raises(ValueError, match="positive"):
            loop.delay(interval, print)
        with pytest.raises(ValueError, match="positive"):
            loop.repeat(interval, print)


async def test_time_is_monotonic_seconds(anyio_backend: str) -> None:
    async with running_loop(anyio_backend) as loop:
        before = loop.time()
        await anyio.sleep(TICK * 5)
        assert TICK * 4 <= loop.time() - before < 5


# -- current loop -----------------------------------------------------------------------


async def test_current_loop_is_the_opened_loop_while_open_and_an_adopted_one_after(
    anyio_backend: str,
) -> None:
    async with running_loop(anyio_backend) as loop:
        assert current_loop() is loop
        assert loop.name == anyio_backend
    assert current_loop_or_none() is None
    adopted = current_loop()  # bound on first use to the test's own loop
    assert adopted is not loop
    assert adopted.name == anyio_backend


async def test_a_second_loop_cannot_open_while_one_runs(anyio_backend: str) -> None:
    async with running_loop(anyio_backend) as loop:
        with pytest.raises(ServerError, match="already running"):
            async with running_loop(anyio_backend):
                pass
        assert current_loop() is loop


# -- readiness --------------------------------------------------------------------------


async def test_on_readable_fires_when_data_arrives_and_stops_after_off_readable(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    received: list[bytes] = []
    seen: list[Any] = []

    def readable(fd: Any) -> None:
        seen.append(fd)
        received.append(left.recv(1024))

    async with running_loop(anyio_backend) as loop:
        loop.on_readable(left, readable)
        await anyio.sleep(TICK * 5)
        assert received == []  # nothing to read yet

        right.send(b"ping")
        await wait_until(lambda: received == [b"ping"])
        right.send(b"pong")
        await wait_until(lambda: received == [b"ping", b"pong"])
        assert seen == [left, left]

        assert loop.off_readable(left) is True
        assert loop.off_readable(left) is False
        right.send(b"unread")
        await anyio.sleep(TICK * 10)
        assert received == [b"ping", b"pong"]
    assert left.recv(1024) == b"unread"


async def test_on_readable_accepts_a_file_descriptor_number(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    seen: list[Any] = []

    def readable(fd: Any) -> None:
        seen.append(fd)
        left.recv(1024)

    async with running_loop(anyio_backend) as loop:
        loop.on_readable(left.fileno(), readable)
        right.send(b"x")
        await wait_until(lambda: bool(seen))
        assert seen[0] == left.fileno()
        assert loop.off_readable(left) is True  # the socket and its number are one watch


async def test_on_readable_again_replaces_the_callback(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    calls: list[str] = []

    def first(fd: Any) -> None:
        calls.append("first")
        left.recv(1024)

    def second(fd: Any) -> None:
        calls.append("second")
        left.recv(1024)

    async with running_loop(anyio_backend) as loop:
        for _ in range(20):  # the order the two watchers start in varies: try often
            loop.on_readable(left, first)
            loop.on_readable(left, second)
            await anyio.sleep(TICK / 10)
        right.send(b"x")
        await wait_until(lambda: bool(calls))
        await anyio.sleep(TICK * 5)
        assert calls == ["second"]


async def test_off_readable_then_on_readable_at_once_keeps_watching(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    received: list[bytes] = []

    def readable(fd: Any) -> None:
        received.append(left.recv(1024))

    async with running_loop(anyio_backend) as loop:
        for _ in range(20):  # the order the two watchers start in varies: try often
            loop.on_readable(left, readable)
            assert loop.off_readable(left) is True
            loop.on_readable(left, readable)
            await anyio.sleep(TICK / 10)
            assert loop.off_readable(left) is True
        loop.on_readable(left, readable)
        right.send(b"still here")
        await wait_until(lambda: received == [b"still here"])


async def test_on_writable_fires_until_off_writable(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    seen: list[Any] = []

    async with running_loop(anyio_backend) as loop:

        def writable(fd: Any) -> None:
            # Workerman's pattern: write what is pending, then stop watching.
            seen.append(fd)
            fd.send(b"queued")
            loop.off_writable(fd)

        loop.on_writable(left, writable)
        await wait_until(lambda: bool(seen))
        await anyio.sleep(TICK * 10)
        assert seen == [left]
        assert loop.off_writable(left) is False
    assert right.recv(1024) == b"queued"


async def test_writable_watch_keeps_firing_while_the_socket_stays_writable(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, _right = pair
    seen: list[Any] = []
    async with running_loop(anyio_backend) as loop:
        loop.on_writable(left, seen.append)
        await wait_until(lambda: len(seen) >= 3)
        assert loop.off_writable(left) is True
        count = len(seen)
        await anyio.sleep(TICK * 10)
        assert len(seen) == count


@pytest.mark.parametrize("direction", ["readable", "writable"])
async def test_no_callback_runs_after_off_even_while_the_fd_stays_ready(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket], direction: str
) -> None:
    left, right = pair
    right.send(b"never read: left stays readable")
    seen: list[Any] = []
    async with running_loop(anyio_backend) as loop:
        on = getattr(loop, f"on_{direction}")
        off = getattr(loop, f"off_{direction}")
        for _ in range(50):  # unwatch at many points of the watcher's cycle
            on(left, seen.append)
            await wait_until(lambda: bool(seen))
            assert off(left) is True
            seen.clear()
            for _ in range(5):
                await anyio.sleep(0)
            assert seen == []


async def test_exception_in_readiness_callback_is_logged_not_fatal(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    left, right = pair
    calls: list[bytes] = []

    def readable(fd: Any) -> None:
        calls.append(left.recv(1024))
        raise RuntimeError("reader boom")

    caplog.set_level(logging.ERROR, logger="workerman.core")
    async with running_loop(anyio_backend) as loop:
        loop.on_readable(left, readable)
        right.send(b"a")
        await wait_until(lambda: len(calls) == 1)
        right.send(b"b")
        await wait_until(lambda: len(calls) == 2)
    assert calls == [b"a", b"b"]
    assert statistics.throw_exception == 2
    assert "reader boom" in caplog.text


async def test_watchers_end_with_the_loop(
    anyio_backend: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    calls: list[Any] = []
    async with running_loop(anyio_backend) as loop:
        loop.on_readable(left, calls.append)
        loop.on_writable(right, calls.append)
    calls.clear()
    right.send(b"x")
    await anyio.sleep(TICK * 10)
    assert calls == []
    assert loop.off_readable(left) is False
    assert loop.off_writable(right) is False


# -- signals ---------------------------------------------------------------------------


@pytest.fixture
def unhandled() -> Iterator[list[int]]:
    """Signals that reached the process's own handler instead of the loop.

    SIGUSR1 and SIGUSR2 get a recording handler for the test, so a loop that loses
    its handler shows up here rather than killing the test run; the originals are
    put back after.
    """
    caught: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    for signum in previous:
        signal.signal(signum, lambda signum, _frame: caught.append(signum))
    yield caught
    for signum, handler in previous.items():
        signal.signal(signum, handler)


async def test_on_signal_calls_back_with_the_signum_until_off_signal(
    anyio_backend: str, unhandled: list[int]
) -> None:
    got: list[int] = []
    async with running_loop(anyio_backend) as loop:
        loop.on_signal(signal.SIGUSR1, got.append)
        os.kill(os.getpid(), signal.SIGUSR1)
        await wait_until(lambda: got == [signal.SIGUSR1])
        os.kill(os.getpid(), signal.SIGUSR1)
        await wait_until(lambda: got == [signal.SIGUSR1, signal.SIGUSR1])
        assert loop.off_signal(signal.SIGUSR1) is True
        assert loop.off_signal(signal.SIGUSR1) is False
        assert loop.off_signal(signal.SIGUSR2) is False
    assert unhandled == []


async def test_on_signal_again_replaces_the_callback(
    anyio_backend: str, unhandled: list[int]
) -> None:
    calls: list[tuple[str, int]] = []
    async with running_loop(anyio_backend) as loop:
        loop.on_signal(signal.SIGUSR2, lambda signum: calls.append(("first", signum)))
        await anyio.sleep(TICK * 5)  # the first watcher is up and waiting
        loop.on_signal(signal.SIGUSR2, lambda signum: calls.append(("second", signum)))
        await anyio.sleep(TICK * 5)  # the first watcher has gone
        os.kill(os.getpid(), signal.SIGUSR2)
        await wait_until(lambda: bool(calls) or bool(unhandled))
        await anyio.sleep(TICK * 5)
        assert calls == [("second", signal.SIGUSR2)]
        assert unhandled == []
        loop.off_signal(signal.SIGUSR2)


async def test_off_signal_then_on_signal_at_once_keeps_handling(
    anyio_backend: str, unhandled: list[int]
) -> None:
    got: list[int] = []
    async with running_loop(anyio_backend) as loop:
        loop.on_signal(signal.SIGUSR1, got.append)
        await anyio.sleep(TICK * 5)
        loop.off_signal(signal.SIGUSR1)
        loop.on_signal(signal.SIGUSR1, got.append)
        await anyio.sleep(TICK * 5)
        os.kill(os.getpid(), signal.SIGUSR1)
        await wait_until(lambda: bool(got) or bool(unhandled))
        assert got == [signal.SIGUSR1]
        assert unhandled == []
        loop.off_signal(signal.SIGUSR1)


async def test_signal_callback_may_remove_itself(anyio_backend: str, unhandled: list[int]) -> None:
    got: list[int] = []
    async with running_loop(anyio_backend) as loop:

        def once(signum: int) -> None:
            got.append(signum)
            loop.off_signal(signum)

        loop.on_signal(signal.SIGUSR2, once)
        os.kill(os.getpid(), signal.SIGUSR2)
        await wait_until(lambda: bool(got))
        await anyio.sleep(TICK * 5)  # the watcher ends quietly
        assert got == [signal.SIGUSR2]
        assert loop.off_signal(signal.SIGUSR2) is False
    assert unhandled == []


# -- tasks ------------------------------------------------------------------------------


async def test_spawn_runs_a_coroutine_with_args(anyio_backend: str) -> None:
    steps: list[str] = []

    async def job(name: str, pause: float) -> None:
        steps.append(f"{name} start")
        await anyio.sleep(pause)
        steps.append(f"{name} end")

    async with running_loop(anyio_backend) as loop:
        loop.spawn(job, "a", TICK)
        assert steps == []  # spawned, not run inline
        await wait_until(lambda: steps == ["a start", "a end"])


async def test_exception_in_spawned_coroutine_is_logged_not_fatal(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[str] = []

    async def failing() -> None:
        await anyio.sleep(0)
        raise RuntimeError("task boom")

    async def fine() -> None:
        after.append("task")

    caplog.set_level(logging.ERROR, logger="workerman.core")
    async with running_loop(anyio_backend) as loop:
        loop.spawn(failing)
        await wait_until(lambda: statistics.throw_exception == 1)
        loop.spawn(fine)
        loop.delay(TICK, after.append, "timer")
        await wait_until(lambda: sorted(after) == ["task", "timer"])
        assert current_loop() is loop
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "task boom" in errors[0].getMessage()
    assert "failing" in errors[0].getMessage()


async def test_spawned_tasks_are_cancelled_when_the_loop_closes(anyio_backend: str) -> None:
    steps: list[str] = []

    async def forever() -> None:
        steps.append("started")
        try:
            await anyio.sleep_forever()
        finally:
            steps.append("cancelled")

    async with running_loop(anyio_backend) as loop:
        loop.spawn(forever)
        await wait_until(lambda: steps == ["started"])
    assert steps == ["started", "cancelled"]
    assert statistics.throw_exception == 0


async def test_call_soon_calls_on_a_later_iteration_with_args(anyio_backend: str) -> None:
    calls: list[tuple[Any, ...]] = []
    async with running_loop(anyio_backend) as loop:
        loop.call_soon(lambda *args: calls.append(args), 1, "two")
        assert calls == []
        await wait_until(lambda: bool(calls))
    assert calls == [(1, "two")]


async def test_call_soon_keeps_order(anyio_backend: str) -> None:
    calls: list[int] = []
    async with running_loop(anyio_backend) as loop:
        for n in range(5):
            loop.call_soon(calls.append, n)
        await wait_until(lambda: len(calls) == 5)
    assert calls == [0, 1, 2, 3, 4]


# -- creating and running loops ---------------------------------------------------------


def test_create_loop_with_an_unknown_driver_raises_server_error() -> None:
    with pytest.raises(ServerError, match=r"'nope'; choose one of asyncio, uvloop, trio"):
        create_loop("nope")


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
def test_create_loop_without_a_driver_picks_uvloop_when_installed() -> None:
    loop = create_loop(None)
    assert loop.name == "uvloop"
    assert create_loop().name == "uvloop"


def test_create_loop_without_a_driver_falls_back_to_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def without_uvloop(name: str, *args: Any) -> Any:
        return None if name == "uvloop" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_uvloop)
    assert create_loop(None).name == "asyncio"


@pytest.mark.parametrize("driver", ["asyncio", "uvloop", "trio"])
def test_create_loop_names_its_driver(driver: str) -> None:
    loop = create_loop(driver)
    assert isinstance(loop, EventLoop)
    assert loop.name == driver


@pytest.mark.parametrize("driver", ["asyncio", "uvloop", "trio"])
def test_run_calls_main_and_returns_after_stop(driver: str) -> None:
    loop = create_loop(driver)
    seen: dict[str, Any] = {}

    def main() -> None:
        seen["current"] = current_loop()
        seen["native"] = type(asyncio.get_running_loop()).__module__ if driver != "trio" else None
        loop.repeat(TICK, lambda: seen.setdefault("ticks", []).append(1))
        loop.delay(0.05, loop.stop)

    loop.run(main)

    assert seen["current"] is loop
    assert seen["ticks"]
    if driver == "uvloop":
        assert seen["native"] == "uvloop"
    elif driver == "asyncio":
        assert seen["native"].startswith("asyncio")
    assert loop.timer_count() == 0  # the repeat ended with the loop
    with pytest.raises(ServerError):
        current_loop()


@pytest.mark.parametrize("driver", ["asyncio", "uvloop", "trio"])
def test_run_awaits_an_async_main(driver: str) -> None:
    loop = create_loop(driver)
    steps: list[str] = []

    async def main() -> None:
        steps.append("main start")
        await anyio.sleep(TICK)
        steps.append("main end")
        loop.delay(TICK, loop.stop)

    loop.run(main)
    assert steps == ["main start", "main end"]


@pytest.mark.parametrize("driver", ["asyncio", "uvloop", "trio"])
def test_stop_inside_main_returns_at_once_and_the_loop_runs_again(driver: str) -> None:
    loop = create_loop(driver)
    runs: list[int] = []

    def main() -> None:
        runs.append(1)
        loop.stop()

    loop.run(main)
    loop.run(main)
    assert runs == [1, 1]
