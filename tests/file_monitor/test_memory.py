"""The memory limit: a worker process that grows past it is reloaded, and logged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ._harness import App, wait_until
from .conftest import DRIVERS


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_worker_that_grows_past_the_memory_limit_is_replaced(
    make_app: Callable[..., App], driver: str
) -> None:
    app = make_app(
        """
        FileMonitor(paths=[CODE], memory_limit="120M", memory_interval=0.1)
        Worker.run_all()
        """,
        driver,
    )
    app.start_foreground()
    version, grown = app.get("/grow")  # keeps 160 MiB
    assert version == "v1"
    wait_until(lambda: f"worker process {grown} uses" in app.log(), what="the limit to be seen")
    assert "over the memory limit of 120 MiB: reloading it" in app.log()
    wait_until(lambda: grown not in app.children(), what="the grown process to go")
    (fresh,) = wait_until(lambda: len(pids := app.web_pids()) == 1 and pids)
    assert fresh != grown
    assert app.get()[1] == fresh
    assert app.master_reloads() == 0  # that process alone, not a reload of all
