"""Node processes, a redis-server of the tests' own, and WebSocket clients (the websockets
library, sync API) for the multi-process tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from websockets.sync.client import ClientConnection, connect

from .._missing import missing

NODE_APP = Path(__file__).resolve().parent / "_node_app.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NodeProcess:
    """``_node_app.py`` in a process of its own."""

    def __init__(
        self,
        url: str,
        prefix: str,
        driver: str,
        ttl: float,
        log: Path,
        host: str = "127.0.0.1",
        netns: str | None = None,
    ) -> None:
        env = {
            **os.environ,
            "GW_URL": url,
            "GW_PREFIX": prefix,
            "GW_DRIVER": driver,
            "GW_TTL": str(ttl),
            "GW_HOST": host,
        }
        self.host = host
        wrap = ["ip", "netns", "exec", netns] if netns else []
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [*wrap, sys.executable, str(NODE_APP)],
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()  # the app prints it once listening
        if not line.startswith("ready "):
            self.stop()
            raise AssertionError(f"node did not start: {line!r}\n{log.read_text()[-2000:]}")
        _, port, self.node_id = line.split()
        self.port = int(port)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_file.close()


class WsClient:
    """A WebSocket client of a node: commands answered ``ok``/``err``, messages kept aside."""

    def __init__(self, url: str) -> None:
        self.ws: ClientConnection = connect(url, open_timeout=10).__enter__()
        self.messages: list[str] = []

    def ask(self, command: str, timeout: float = 10.0) -> str:
        self.ws.send(command)
        while True:
            line = str(self.ws.recv(timeout=timeout))
            if line.startswith("ok "):
                return line[3:]
            if line.startswith("err "):
                return line
            self.messages.append(line)

    def message(self, timeout: float = 10.0) -> str:
        if self.messages:
            return self.messages.pop(0)
        return str(self.ws.recv(timeout=timeout))

    def close(self) -> None:
        self.ws.close()


class RedisServer:
    """A redis-server of the tests' own on a free port, without persistence: stopping it
    loses every key, as a crashed Redis without persistence would."""

    def __init__(self, tmp: Path, host: str = "127.0.0.1") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.host = host
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/13"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", self.host,
             "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


def wait_for(check: object, timeout: float, what: str) -> None:
    """Poll ``check()`` until truthy (conditions, not sleeps, decide)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)
