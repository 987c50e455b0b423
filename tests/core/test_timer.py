"""Timer: Workerman's static timer API on the running loop, on both drivers."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from workerman.core import ServerError, Timer, statistics

from .conftest import running_loop

pytestmark = pytest.mark.anyio

TICK = 0.01


async def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(TICK / 2)


async def test_persistent_timer_fires_repeatedly_with_its_args(anyio_backend: str) -> None:
    calls: list[tuple[Any, ...]] = []
    async with running_loop(anyio_backend):
        timer_id = Timer.add(TICK, lambda *args: calls.append(args), "a", 2)
        await wait_until(lambda: len(calls) >= 3)
        assert Timer.count() == 1
        assert Timer.delete(timer_id) is True
    assert set(calls) == {("a", 2)}


async def test_one_shot_timer_fires_once_with_its_args(anyio_backend: str) -> None:
    calls: list[tuple[Any, ...]] = []
    async with running_loop(anyio_backend):
        Timer.add(TICK, lambda *args: calls.append(args), "once", persistent=False)
        assert Timer.count() == 1
        await wait_until(lambda: bool(calls))
        await anyio.sleep(TICK * 10)
        assert calls == [("once",)]
        assert Timer.count() == 0


async def test_timer_delay_is_a_one_shot(anyio_backend: str) -> None:
    calls: list[str] = []
    async with running_loop(anyio_backend):
        Timer.delay(TICK, calls.append, "later")
        await wait_until(lambda: bool(calls))
        await anyio.sleep(TICK * 10)
        assert calls == ["later"]
        assert Timer.count() == 0


async def test_delete_returns_true_for_a_pending_timer_and_it_never_fires(
    anyio_backend: str,
) -> None:
    calls: list[int] = []
    async with running_loop(anyio_backend):
        timer_id = Timer.add(TICK * 5, calls.append, 1, persistent=False)
        assert Timer.delete(timer_id) is True
        assert Timer.delete(timer_id) is False
        assert Timer.count() == 0
        await anyio.sleep(TICK * 15)
    assert calls == []


async def test_delete_returns_false_once_a_one_shot_has_run(anyio_backend: str) -> None:
    calls: list[int] = []
    async with running_loop(anyio_backend):
        timer_id = Timer.add(TICK, calls.append, 1, persistent=False)
        await wait_until(lambda: bool(calls))
        assert Timer.delete(timer_id) is False


async def test_delete_returns_false_for_an_unknown_id(anyio_backend: str) -> None:
    async with running_loop(anyio_backend):
        assert Timer.delete(987_654_321) is False


def test_delete_count_and_delete_all_without_a_loop_are_harmless() -> None:
    assert Timer.delete(1) is False
    assert Timer.count() == 0
    Timer.delete_all()


async def test_repeating_timer_deleted_in_its_own_callback_stops_after_that_call(
    anyio_backend: str,
) -> None:
    calls: list[int] = []
    deleted: list[bool] = []
    timer_id = 0

    def tick() -> None:
        calls.append(len(calls) + 1)
        if len(calls) == 3:
            deleted.append(Timer.delete(timer_id))

    async with running_loop(anyio_backend):
        timer_id = Timer.add(TICK, tick)
        await wait_until(lambda: bool(deleted))
        await anyio.sleep(TICK * 10)
        assert Timer.count() == 0
    assert calls == [1, 2, 3]
    assert deleted == [True]


async def test_delete_all_cancels_every_timer(anyio_backend: str) -> None:
    calls: list[str] = []
    async with running_loop(anyio_backend):
        Timer.add(TICK * 3, calls.append, "repeat")
        Timer.add(TICK * 3, calls.append, "once", persistent=False)
        Timer.delay(TICK * 3, calls.append, "delay")
        assert Timer.count() == 3
        Timer.delete_all()
        assert Timer.count() == 0
        await anyio.sleep(TICK * 10)
    assert calls == []


async def test_count_follows_adds_runs_and_deletes(anyio_backend: str) -> None:
    fired: list[int] = []
    async with running_loop(anyio_backend):
        assert Timer.count() == 0
        repeating = Timer.add(60, fired.append, 1)
        Timer.add(TICK, fired.append, 2, persistent=False)
        assert Timer.count() == 2
        await wait_until(lambda: fired == [2])
        assert Timer.count() == 1
        Timer.delete(repeating)
        assert Timer.count() == 0


@pytest.mark.parametrize("interval", [0, 0.0, -1, -0.5, math.nan])
@pytest.mark.parametrize("persistent", [True, False])
async def test_interval_that_is_not_positive_raises_value_error(
    anyio_backend: str, interval: float, persistent: bool
) -> None:
    async with running_loop(anyio_backend):
        with pytest.raises(ValueError, match="positive"):
            Timer.add(interval, print, persistent=persistent)
        assert Timer.count() == 0


def test_add_without_a_running_loop_raises_server_error() -> None:
    with pytest.raises(ServerError, match="no event loop is running"):
        Timer.add(1, print)
    with pytest.raises(ServerError, match="no event loop is running"):
        Timer.add(1, print, persistent=False)


async def test_timers_end_with_the_loop(anyio_backend: str) -> None:
    calls: list[int] = []
    async with running_loop(anyio_backend):
        Timer.add(TICK * 2, calls.append, 1)
    assert Timer.count() == 0
    await anyio.sleep(TICK * 10)
    assert calls == []


async def test_exception_in_callback_is_logged_counted_and_the_timer_keeps_firing(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise RuntimeError("boom in timer")

    caplog.set_level(logging.ERROR, logger="workerman.core")
    async with running_loop(anyio_backend):
        timer_id = Timer.add(TICK, failing)
        await wait_until(lambda: len(calls) >= 3)
        Timer.delete(timer_id)
        count = len(calls)
    assert statistics.throw_exception == count
    errors = [
        r for r in caplog.records if r.name == "workerman.core" and r.levelno == logging.ERROR
    ]
    assert len(errors) == count
    assert "boom in timer" in errors[0].getMessage()
    assert f"timer {timer_id}" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is RuntimeError


async def test_async_callback_runs_to_completion(anyio_backend: str) -> None:
    done = anyio.Event()
    steps: list[str] = []

    async def callback(name: str) -> None:
        steps.append(f"{name} started")
        await anyio.sleep(TICK)
        steps.append(f"{name} finished")
        done.set()

    async with running_loop(anyio_backend):
        Timer.add(TICK, callback, "job", persistent=False)
        with anyio.fail_after(5):
            await done.wait()
    assert steps == ["job started", "job finished"]


async def test_exception_in_async_callback_is_logged_and_counted(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def failing() -> None:
        await anyio.sleep(0)
        calls.append(1)
        raise RuntimeError("async boom")

    caplog.set_level(logging.ERROR, logger="workerman.core")
    async with running_loop(anyio_backend):
        timer_id = Timer.add(TICK, failing)
        await wait_until(lambda: statistics.throw_exception >= 2)
        Timer.delete(timer_id)
    assert len(calls) >= 2
    assert any("async boom" in r.getMessage() for r in caplog.records)
