"""Pytest fixtures for testing servers and components built on workerman-core.

Installed with the package (entry point ``pytest11``), so any test suite of a project
that depends on workerman-core has them: ``serve``, ``free_port``, and ``redis_url``,
``mqtt_url``, ``amqp_url`` for the services component tests talk to.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from ._worker import serve as _serve

_SERVICES = {
    "redis_url": ("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis", 6379),
    "mqtt_url": ("MQTT_URL", "mqtt://127.0.0.1:1883", "the MQTT broker", 1883),
    "amqp_url": ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ", 5672),
}


@pytest.fixture
def serve() -> Callable[..., Any]:
    """``async with serve(worker) as address:`` runs workers in the test's event loop."""
    return _serve


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_url(fixture: str) -> str:
    """The URL of a service from its environment variable (or the local default), after
    checking that something answers there; a clear failure otherwise."""
    variable, default, what, default_port = _SERVICES[fixture]
    url = os.environ.get(variable) or default
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        pytest.fail(
            f"{what} does not answer at {host}:{port} ({exc.strerror or exc}); "
            f"start it, or point {variable} at one (now {url!r})",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """``REDIS_URL`` (default redis://127.0.0.1:6379/0), checked to answer."""
    return service_url("redis_url")


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    """``MQTT_URL`` (default mqtt://127.0.0.1:1883), checked to answer."""
    return service_url("mqtt_url")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """``AMQP_URL`` (default amqp://guest:guest@127.0.0.1:5672/), checked to answer."""
    return service_url("amqp_url")
