"""Fixtures for the HTTP client tests: uvicorn (plain and TLS with a trustme CA) serving
asgi_app.py in subprocesses, a raw socket server that sends scripted bytes, a workerman
loop per test on both drivers, and a client on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from workerman.core import create_loop
from workerman.http_client import HttpClient, Timeout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def _uvicorn(extra: list[str]) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.http_client.asgi_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--timeout-keep-alive",
            "2",
            *extra,
        ],
        cwd=ROOT,
    )
    try:
        _wait_listening(port, proc, "uvicorn")
        yield port
    finally:
        proc.kill()  # no state to keep, and a graceful stop would wait for stalled handlers
        proc.wait()


@pytest.fixture(scope="session")
def uvicorn_url() -> Iterator[str]:
    """A uvicorn serving asgi_app (keep-alive timeout 2 s)."""
    for port in _uvicorn([]):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """(CA file, server cert chain file, key file) from a trustme CA, for localhost."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    ca_file = folder / "ca.pem"
    chain = folder / "chain.pem"
    key = folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key))
    with open(chain, "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return str(ca_file), str(chain), str(key)


@pytest.fixture(scope="session")
def https_url(tls_ca: tuple[str, str, str]) -> Iterator[str]:
    """uvicorn over TLS with a certificate for localhost from the trustme CA."""
    _ca, chain, key = tls_ca
    for port in _uvicorn(["--ssl-certfile", chain, "--ssl-keyfile", key]):
        yield f"https://localhost:{port}"


@pytest.fixture
async def loop(anyio_backend: str) -> AsyncIterator[None]:
    workerman_loop = create_loop("asyncio" if anyio_backend == "asyncio" else "trio")
    async with workerman_loop.open():
        yield


@pytest.fixture
async def http(loop: None) -> AsyncIterator[HttpClient]:
    client = HttpClient(timeout=Timeout(connect=5, read=5, write=5, pool=5))
    try:
        yield client
    finally:
        await client.aclose()


class RawServer:
    """A TCP server in a thread that answers each request head with scripted bytes.

    ``script(request_bytes, connection_index) -> list[bytes | float | None]``: bytes are
    sent, a float pauses that long, None closes the connection; after the list the server
    reads the next request on the same connection.
    """

    def __init__(self, script: Callable[[bytes, int], list[bytes | float | None]]) -> None:
        self.script = script
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)  # before the thread starts: close() may come first
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (OSError, ValueError):  # a timeout, or the socket closed by close()
                continue
            index = self.connections
            self.connections += 1
            self._open.append(conn)
            worker = threading.Thread(target=self._serve, args=(conn, index), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket, index: int) -> None:
        conn.settimeout(0.2)
        buffer = b""
        try:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        if self._stop.is_set():
                            return
                        continue
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                self.requests.append(head)
                for step in self.script(head, index):
                    if step is None:
                        conn.close()
                        return
                    if isinstance(step, float):
                        self._stop.wait(step)
                    else:
                        conn.sendall(step)
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(2)


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(script: Callable[[bytes, int], list[bytes | float | None]]) -> RawServer:
        server = RawServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
