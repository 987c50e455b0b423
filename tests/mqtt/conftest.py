"""Fixtures for the MQTT client tests: the running Mosquitto (MQTT_URL), Mosquitto
instances of the tests' own on free ports (config, password file, ACL, TLS, persistence
in a tmp dir), both drivers, and a topic prefix unique to each test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests._missing import missing
from workerman.core import create_loop


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def loop(anyio_backend: str) -> AsyncIterator[None]:
    """The workerman loop bound to this test's event loop."""
    async with create_loop("asyncio" if anyio_backend == "asyncio" else "trio").open():
        yield


@pytest.fixture
def prefix() -> str:
    """A topic prefix no other test (or test run) uses."""
    return f"wmtest/{uuid.uuid4().hex[:12]}"


def need(tool: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin")
    if path is None:
        missing(f"{tool} is not installed (apt-get install mosquitto mosquitto-clients)")
    return path


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """A Mosquitto of the test's own: ``start()``, ``stop()`` (SIGTERM: it saves its
    persistence file), ``kill()``; the same port every time."""

    def __init__(self, directory: Path, port: int, extra: str = "") -> None:
        self.directory = directory
        self.port = port
        self.url = f"mqtt://127.0.0.1:{port}"
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {port} 127.0.0.1\n"
            f"persistence true\npersistence_location {directory}/\n"
            f"log_dest file {directory}/mosquitto.log\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            # started as root, mosquitto becomes user "mosquitto", who cannot write here
            + ("user root\n" if os.geteuid() == 0 else "")
            + ("" if "allow_anonymous" in extra else "allow_anonymous true\n")
            + extra
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [need("mosquitto"), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "mosquitto.log").read_text(errors="replace")
                raise RuntimeError(f"mosquitto did not start: {log[-2000:]}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            process.wait(10)

    async def restart_after(self, condition: Callable[[], bool]) -> None:
        """Start again once ``condition()`` holds (checked every 10 ms, for 10 s at most)."""
        with anyio.fail_after(10):
            while not condition():
                await anyio.sleep(0.01)
        self.start()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """``broker_factory(extra_config="")``: a started Mosquitto on a free port."""
    started: list[Broker] = []

    def make(extra: str = "") -> Broker:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        directory = tmp_path / f"broker{len(started)}"
        directory.mkdir()
        broker = Broker(directory, port, extra)
        started.append(broker)
        broker.start()
        return broker

    yield make
    for broker in started:
        broker.stop(signal.SIGKILL)


async def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is true (polled every 5 ms), or fail after ``timeout``."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
