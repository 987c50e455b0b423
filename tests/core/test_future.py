"""EventLoop.create_future: set by plain callbacks, awaited by one coroutine, either driver."""

from __future__ import annotations

import anyio
import pytest

from .conftest import running_loop

pytestmark = pytest.mark.anyio


async def test_a_future_set_by_a_timer_wakes_its_awaiter(anyio_backend: str) -> None:
    async with running_loop(anyio_backend) as loop:
        future = loop.create_future()
        loop.delay(0.01, future.set_result, "done")
        with anyio.fail_after(5):
            assert await future == "done"
        assert future.done()


async def test_an_exception_set_on_a_future_is_raised_by_await(anyio_backend: str) -> None:
    async with running_loop(anyio_backend) as loop:
        future = loop.create_future()
        loop.call_soon(future.set_exception, KeyError("missing"))
        with pytest.raises(KeyError, match="missing"):
            await future


async def test_a_future_already_set_is_awaited_at_once(anyio_backend: str) -> None:
    async with running_loop(anyio_backend) as loop:
        future = loop.create_future()
        future.set_result(1)
        future.set_result(2)  # later results are ignored: the first one stands
        future.set_exception(RuntimeError("late"))
        assert await future == 1


async def test_cancelling_the_awaiter_leaves_setting_the_future_harmless(
    anyio_backend: str,
) -> None:
    async with running_loop(anyio_backend) as loop:
        future = loop.create_future()
        with anyio.move_on_after(0.05) as scope:
            await future
        assert scope.cancelled_caught
        future.set_result("too late")  # no awaiter, no error
        await anyio.sleep(0)
