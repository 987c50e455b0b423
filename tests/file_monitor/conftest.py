"""Fixtures for the file monitor tests: an application factory that stops (and, as a last
resort, kills) whatever a test started, even when the test failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._harness import App, wait_until

DRIVERS = ["asyncio", "trio"]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """``make_app(body, driver="asyncio", count=1)``: the application directory with
    ``body`` appended to the header (which defines ``web``); the test starts it."""
    made: list[App] = []

    def make(body: str, driver: str | None = "asyncio", count: int = 1) -> App:
        made.append(App(tmp_path / f"app{len(made)}", body, driver, count))
        return made[-1]

    yield make
    for app in made:
        app.cleanup()
    for app in made:
        assert wait_until(lambda app=app: not app.alive(), 5, "every process to exit")
