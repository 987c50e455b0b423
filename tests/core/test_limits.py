"""Bad input and limits: each gets a logged, counted outcome; everyone else is served."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from workerman.core import ProtocolError, TcpConnection, Worker, register_protocol, statistics

from .conftest import port_of, read_lines, serving

pytestmark = pytest.mark.anyio


async def _closed_by_server(stream: anyio.abc.ByteStream) -> bool:
    with anyio.fail_after(5):
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return True
    return False


async def test_a_line_longer_than_max_package_size_closes_only_that_connection(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    TcpConnection.default_max_package_size = 1024
    worker = Worker("text://127.0.0.1:0")
    worker.on_message = lambda connection, line: connection.send(line)
    async with serving(anyio_backend, worker):
        async with (
            await anyio.connect_tcp("127.0.0.1", port_of(worker)) as good,
            await anyio.connect_tcp("127.0.0.1", port_of(worker)) as bad,
        ):
            await bad.send(b"x" * 4096)  # no newline, over the limit
            assert await _closed_by_server(bad)
            await good.send(b"fine\n")
            assert await read_lines(good, 1) == [b"fine\n"]
    assert statistics.protocol_errors == 1
    assert any("no complete package in" in r.getMessage() for r in caplog.records)


async def test_a_frame_header_announcing_too_much_is_refused_before_the_body_arrives(
    anyio_backend: str,
) -> None:
    TcpConnection.default_max_package_size = 1024
    worker = Worker("frame://127.0.0.1:0")
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send((1025).to_bytes(4, "big"))
            assert await _closed_by_server(client)
    assert statistics.protocol_errors == 1


async def test_invalid_utf8_on_text_is_a_protocol_error(anyio_backend: str) -> None:
    worker = Worker("text://127.0.0.1:0")
    worker.on_message = lambda connection, line: connection.send(line)
    async with serving(anyio_backend, worker):
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(b"ok\n\xff\xfe\n")
            assert await read_lines(client, 1) == [b"ok\n"]
            assert await _closed_by_server(client)
    assert statistics.protocol_errors == 1


class _Buggy:
    """A codec with a bug: decode raises a plain exception on one input."""

    @staticmethod
    def input(buffer: bytes, connection: Any) -> int:
        end = buffer.find(b"\n")
        return 0 if end < 0 else end + 1

    @staticmethod
    def decode(package: bytes, connection: Any) -> str:
        if package == b"crash\n":
            raise KeyError("codec bug")
        if package == b"refuse\n":
            raise ProtocolError("refused by the codec")
        return package.decode().strip()

    @staticmethod
    def encode(message: Any, connection: Any) -> bytes:
        return f"{message}\n".encode()


@pytest.mark.parametrize("trigger", [b"crash\n", b"refuse\n"])
async def test_a_codec_that_raises_closes_that_connection_and_is_logged(
    anyio_backend: str, trigger: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    register_protocol("buggy", _Buggy, replace=True)
    worker = Worker("buggy://127.0.0.1:0")
    worker.on_message = lambda connection, line: connection.send(line)
    async with serving(anyio_backend, worker):
        async with (
            await anyio.connect_tcp("127.0.0.1", port_of(worker)) as good,
            await anyio.connect_tcp("127.0.0.1", port_of(worker)) as bad,
        ):
            await bad.send(b"one\n" + trigger + b"never\n")
            assert await read_lines(bad, 1) == [b"one\n"]
            assert await _closed_by_server(bad)
            await good.send(b"two\n")
            assert await read_lines(good, 1) == [b"two\n"]
    assert statistics.protocol_errors == 1
    assert any("closed:" in r.getMessage() for r in caplog.records)


EMFILE_SERVER = textwrap.dedent(
    """
    import os, resource, sys
    from workerman.core import Worker
    Worker.event_loop = sys.argv[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    w = Worker("text://127.0.0.1:0", name="emfile")
    w.on_message = lambda c, m: c.send(m)
    w.on_worker_start = lambda w: print(w.listening[1], os.getpid(), flush=True)
    Worker.run_all(["start"])
    """
)


@pytest.mark.parametrize("driver", ["asyncio", "uvloop", "trio"])
def test_running_out_of_file_descriptors_backs_off_the_accept_loop(
    driver: str, tmp_path: Path
) -> None:
    """With 64 descriptors, 100 clients exhaust them; the server logs, waits, and serves
    again once descriptors are free."""
    import socket
    import time

    server = subprocess.Popen(
        [sys.executable, "-c", EMFILE_SERVER, driver],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # its files (a `-c` program logs to the temp dir) in the test's own folder
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)},
    )
    try:
        assert server.stdout is not None
        words = [""]
        for line in server.stdout:
            words = line.split()
            if len(words) == 2 and all(word.isdigit() for word in words):
                break
        port, worker = map(int, words)
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)]
        # the worker accepts until every one of its 64 descriptors is taken (EMFILE)
        descriptors = Path(f"/proc/{worker}/fd")
        deadline = time.monotonic() + 20
        while len(list(descriptors.iterdir())) < 64:
            assert time.monotonic() < deadline, "the worker never ran out of descriptors"
            time.sleep(0.02)
        for client in clients:
            client.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
                    probe.sendall(b"alive\n")
                    if probe.recv(64) == b"alive\n":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server never accepted again"
            time.sleep(0.2)
        assert server.poll() is None, "the server died"
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    if driver == "uvloop":
        return  # libuv sheds excess connections itself (its reserve-descriptor trick), unlogged
    assert "Too many open files" in err
    assert "backing off" in err
