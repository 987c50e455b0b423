"""Every transport a worker listens on (Unix sockets, UDP, TLS, IPv6), the errors an
address can raise, and what a server-side connection tells about itself."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme

from workerman.core import (
    CONNECT_FAIL,
    AddressInUseError,
    AsyncTcpConnection,
    AsyncUdpConnection,
    ConnectionStatus,
    ServerError,
    TcpConnection,
    Worker,
    statistics,
)

from .conftest import port_of, read_lines, running_loop, serving

pytestmark = pytest.mark.anyio


async def until(predicate: Callable[[], Any], timeout: float = 5) -> None:
    """Wait (polling the loop) until ``predicate()`` is true; fail after ``timeout``."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def upper_echo(worker: Worker) -> Worker:
    worker.on_message = lambda connection, message: connection.send(message.upper())
    return worker


# -- Unix sockets ------------------------------------------------------------------------


async def test_unix_socket_worker_echoes_lines(anyio_backend: str, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    worker = upper_echo(Worker("unix://" + str(path)))
    worker.protocol = "text"
    async with serving(anyio_backend, worker):
        assert worker.transport == "unix"
        async with await anyio.connect_unix(path) as client:
            await client.send(b"hello\nwor")
            await client.send(b"ld\n")
            assert await read_lines(client, 2) == [b"HELLO\n", b"WORLD\n"]


async def test_unix_socket_left_by_a_dead_process_is_replaced(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays behind, as after a crash; nobody answers on it
    assert path.is_socket()
    worker = upper_echo(Worker("unix://" + str(path), protocol="text"))
    async with serving(anyio_backend, worker), await anyio.connect_unix(path) as client:
        await client.send(b"still here\n")
        assert await read_lines(client, 1) == [b"STILL HERE\n"]


def test_unix_socket_that_someone_listens_on_is_in_use(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    first = Worker("unix://" + str(path), protocol="text")
    first.bind()
    try:
        with pytest.raises(AddressInUseError, match="another process listens there"):
            Worker("unix://" + str(path), protocol="text").bind()
        assert path.is_socket()  # the live socket was not unlinked
    finally:
        first.unlisten()


async def test_unix_socket_file_is_removed_when_the_worker_stops(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.sock"
    worker = Worker("unix://" + str(path), protocol="text")
    async with serving(anyio_backend, worker):
        assert path.is_socket()
    assert not path.exists()


async def test_async_tcp_connection_dials_a_unix_socket(anyio_backend: str, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    worker = upper_echo(Worker("unix://" + str(path), protocol="text"))
    received = bytearray()
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection("unix://" + str(path))
        client.on_connect = lambda connection: connection.send(b"over unix\n")
        client.on_message = lambda connection, data: received.extend(data)
        client.connect()
        await until(lambda: received.endswith(b"\n"))
        assert bytes(received) == b"OVER UNIX\n"
        assert client.transport == "unix"
        client.close()


async def test_async_tcp_connection_to_a_unix_path_nobody_listens_on_fails(
    anyio_backend: str, tmp_path: Path
) -> None:
    events: list[Any] = []
    async with running_loop(anyio_backend):
        client = AsyncTcpConnection("unix://" + str(tmp_path / "nobody.sock"))
        client.on_error = lambda connection, code, message: events.append(code)
        client.on_close = lambda connection: events.append("close")
        client.connect()
        await until(lambda: "close" in events)
    assert events == [CONNECT_FAIL, "close"]


def test_a_file_that_is_not_a_socket_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    path.write_text("precious")
    with pytest.raises(ServerError, match="not a socket"):
        Worker("unix://" + str(path)).bind()
    assert path.read_text() == "precious"


# -- UDP -----------------------------------------------------------------------------


async def test_udp_worker_replies_to_the_sender_of_each_datagram(anyio_backend: str) -> None:
    worker = Worker("udp://127.0.0.1:0")
    seen: list[tuple[str, bytes]] = []

    def on_message(connection: Any, data: bytes) -> None:
        seen.append((connection.transport, data))
        connection.send(b"echo:" + data)

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        assert worker.transport == "udp"
        async with await anyio.create_connected_udp_socket(
            "127.0.0.1", port_of(worker), local_host="127.0.0.1"
        ) as client:
            with anyio.fail_after(5):
                await client.send(b"ping")
                assert await client.receive() == b"echo:ping"
                await client.send(b"\x00binary\xff")
                assert await client.receive() == b"echo:\x00binary\xff"
    assert seen == [("udp", b"ping"), ("udp", b"\x00binary\xff")]


async def test_udp_text_worker_decodes_each_line_of_a_datagram(anyio_backend: str) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", transport="udp"))
    async with (
        serving(anyio_backend, worker),
        await anyio.create_connected_udp_socket(
            "127.0.0.1", port_of(worker), local_host="127.0.0.1"
        ) as client,
    ):
        with anyio.fail_after(5):
            await client.send(b"one\ntwo\r\nthree\n")
            replies = [await client.receive() for _ in range(3)]
    assert replies == [b"ONE\n", b"TWO\n", b"THREE\n"]


async def test_udp_worker_answers_two_clients_each_with_their_own_reply(
    anyio_backend: str,
) -> None:
    worker = Worker("text://127.0.0.1:0", transport="udp")
    worker.on_message = lambda connection, line: connection.send(
        f"{line} from {connection.remote_port}"
    )
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with (
            await anyio.create_connected_udp_socket("127.0.0.1", port, local_host="127.0.0.1") as a,
            await anyio.create_connected_udp_socket("127.0.0.1", port, local_host="127.0.0.1") as b,
        ):
            a_port = a.extra(anyio.abc.SocketAttribute.local_port)
            b_port = b.extra(anyio.abc.SocketAttribute.local_port)
            with anyio.fail_after(5):
                await a.send(b"alpha\n")
                await b.send(b"beta\n")
                assert await b.receive() == f"beta from {b_port}\n".encode()
                assert await a.receive() == f"alpha from {a_port}\n".encode()


async def test_async_udp_connection_sends_receives_and_closes(anyio_backend: str) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", transport="udp"))
    events: list[Any] = []
    async with serving(anyio_backend, worker):
        client = AsyncUdpConnection(f"text://127.0.0.1:{port_of(worker)}")
        client.on_connect = lambda connection: events.append("connect")
        client.on_message = lambda connection, line: events.append(line)
        client.on_close = lambda connection: events.append("close")
        client.connect()
        await until(lambda: "connect" in events)
        assert client.send("hello") is True
        await until(lambda: len(events) == 2)
        client.close()
        assert client.send("late") is False
    assert events == ["connect", "HELLO", "close"]


async def test_async_udp_connection_raw_scheme_gets_datagrams_as_bytes(anyio_backend: str) -> None:
    worker = Worker("udp://127.0.0.1:0")
    worker.on_message = lambda connection, data: connection.send(data[::-1])
    replies: list[bytes] = []
    async with serving(anyio_backend, worker):
        client = AsyncUdpConnection(f"udp://127.0.0.1:{port_of(worker)}")
        client.on_message = lambda connection, data: replies.append(data)
        client.connect()
        client.send(b"abc")
        await until(lambda: replies)
        client.close()
    assert replies == [b"cba"]
    assert client.bytes_written == 3
    assert client.bytes_read == 3


async def test_async_udp_connection_queues_sends_until_connected(anyio_backend: str) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", transport="udp"))
    events: list[Any] = []
    async with serving(anyio_backend, worker):
        client = AsyncUdpConnection(f"text://127.0.0.1:{port_of(worker)}")
        client.on_connect = lambda connection: events.append("connect")
        client.on_message = lambda connection, line: events.append(line)
        assert client.send("first") is None  # before connect(): queued
        client.connect()
        assert client.send("second") is None  # while resolving: queued
        await until(lambda: len(events) == 3)
        client.close()
    assert events == ["connect", "FIRST", "SECOND"]


# -- TLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_tls_worker_echoes_to_an_anyio_tls_client(
    anyio_backend: str, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", ssl=server_ctx))
    transports: list[str] = []
    worker.on_connect = lambda connection: transports.append(connection.transport)
    async with serving(anyio_backend, worker):
        assert worker.transport == "ssl"
        async with await anyio.connect_tcp(
            "127.0.0.1", port_of(worker), tls=True, ssl_context=client_ctx, tls_hostname="localhost"
        ) as client:
            await client.send(b"secret\nwords\n")
            assert await read_lines(client, 2) == [b"SECRET\n", b"WORDS\n"]
    assert transports == ["ssl"]


def stdlib_tls_exchange(port: int, context: ssl.SSLContext, payload: bytes) -> bytes:
    """A blocking client from the standard library, run in a thread."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(payload)
        received = b""
        while received.count(b"\n") < payload.count(b"\n"):
            chunk = tls.recv(4096)
            if not chunk:
                break
            received += chunk
        return received


async def test_tls_worker_echoes_to_the_stdlib_ssl_client(
    anyio_backend: str, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", ssl=server_ctx))
    async with serving(anyio_backend, worker):
        with anyio.fail_after(10):
            reply = await anyio.to_thread.run_sync(
                stdlib_tls_exchange, port_of(worker), client_ctx, b"from the stdlib\n"
            )
    assert reply == b"FROM THE STDLIB\n"


async def test_async_tcp_connection_over_tls_trusting_the_ca(
    anyio_backend: str, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", ssl=server_ctx))
    events: list[Any] = []
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"text://localhost:{port_of(worker)}", ssl=client_ctx)
        client.on_connect = lambda connection: events.append(("connect", connection.transport))
        client.on_message = lambda connection, line: events.append(line)
        client.on_error = lambda connection, code, message: events.append(("error", message))
        client.send("queued before the handshake")
        client.connect()
        await until(lambda: len(events) == 2)
        client.send("after")
        await until(lambda: len(events) == 3)
        client.close()
    assert events == [("connect", "ssl"), "QUEUED BEFORE THE HANDSHAKE", "AFTER"]


async def test_async_tcp_connection_verifies_certificates_by_default(
    anyio_backend: str, server_ctx: ssl.SSLContext
) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", ssl=server_ctx))
    events: list[Any] = []
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"text://localhost:{port_of(worker)}", ssl=True)
        client.on_connect = lambda connection: events.append("connect")
        client.on_error = lambda connection, code, message: events.append((code, message))
        client.on_close = lambda connection: events.append("close")
        client.connect()
        await until(lambda: "close" in events)
        # The server's failed handshake is logged; let it finish before stopping.
        await anyio.sleep(0.05)
    assert len(events) == 2, events
    (code, message), closed = events
    assert code == CONNECT_FAIL
    assert "certificate verify failed" in message.lower()
    assert closed == "close"
    assert client.status == ConnectionStatus.CLOSED
    assert statistics.connection_count == 0


async def test_ssl_scheme_also_verifies_by_default(
    anyio_backend: str, server_ctx: ssl.SSLContext
) -> None:
    worker = Worker("ssl://127.0.0.1:0", ssl=server_ctx)
    worker.on_message = lambda connection, data: connection.send(data)
    codes: list[int] = []
    async with serving(anyio_backend, worker):
        client = AsyncTcpConnection(f"ssl://localhost:{port_of(worker)}")
        client.on_error = lambda connection, code, message: codes.append(code)
        client.connect()
        await until(lambda: codes)
        await anyio.sleep(0.05)
    assert codes == [CONNECT_FAIL]


def test_ssl_scheme_worker_needs_an_ssl_context() -> None:
    with pytest.raises(ServerError, match="ssl"):
        Worker("ssl://127.0.0.1:0").bind()


async def test_ssl_scheme_worker_with_a_context_serves_raw_tls(
    anyio_backend: str, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    worker = Worker("ssl://127.0.0.1:0", ssl=server_ctx)
    worker.on_message = lambda connection, data: connection.send(data[::-1])
    async with (
        serving(anyio_backend, worker),
        await anyio.connect_tcp(
            "127.0.0.1", port_of(worker), tls=True, ssl_context=client_ctx, tls_hostname="localhost"
        ) as client,
    ):
        await client.send(b"abc\n")
        with anyio.fail_after(5):
            assert await client.receive() == b"\ncba"


async def test_plain_client_talking_garbage_to_the_tls_port_does_not_hurt_others(
    anyio_backend: str, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    worker = upper_echo(Worker("text://127.0.0.1:0", ssl=server_ctx))
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with await anyio.connect_tcp(
            "127.0.0.1", port, tls=True, ssl_context=client_ctx, tls_hostname="localhost"
        ) as good:
            await good.send(b"before\n")
            assert await read_lines(good, 1) == [b"BEFORE\n"]
            async with await anyio.connect_tcp("127.0.0.1", port) as garbage:
                await garbage.send(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)))
                # The server gives up on the handshake and hangs up on this client only.
                with anyio.fail_after(5):
                    try:
                        while await garbage.receive():
                            pass
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        pass
            await good.send(b"after\n")
            assert await read_lines(good, 1) == [b"AFTER\n"]


# -- address errors --------------------------------------------------------------------


def test_binding_a_port_in_use_raises_address_in_use_naming_the_address() -> None:
    first = Worker("text://127.0.0.1:0")
    first.bind()
    try:
        port = port_of(first)
        second = Worker(f"text://127.0.0.1:{port}")
        with pytest.raises(AddressInUseError, match=f"127.0.0.1:{port}"):
            second.bind()
    finally:
        first.unlisten()


async def test_binding_the_port_of_a_running_worker_raises_address_in_use(
    anyio_backend: str,
) -> None:
    first = Worker("tcp://127.0.0.1:0")
    async with serving(anyio_backend, first):
        port = port_of(first)
        with pytest.raises(AddressInUseError, match=f"text://127.0.0.1:{port}"):
            Worker(f"text://127.0.0.1:{port}").bind()


def test_a_udp_port_in_use_raises_address_in_use() -> None:
    first = Worker("udp://127.0.0.1:0")
    first.bind()
    try:
        with pytest.raises(AddressInUseError):
            Worker(f"udp://127.0.0.1:{port_of(first)}").bind()
    finally:
        first.unlisten()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1:9000",  # no scheme
        "tcp://",  # nothing after the scheme
        "tcp://127.0.0.1",  # no port
        "tcp://127.0.0.1:http",  # port is not a number
        "tcp://127.0.0.1:70000",  # port out of range
        "tcp://:9000",  # no host
        "nosuchprotocol://127.0.0.1:9000",  # unknown scheme
    ],
)
def test_malformed_addresses_raise_server_error(address: str) -> None:
    with pytest.raises(ServerError):
        Worker(address).bind()


def test_unknown_transport_raises_server_error() -> None:
    with pytest.raises(ServerError, match="transport"):
        Worker("text://127.0.0.1:0", transport="sctp").bind()


def test_an_address_not_on_this_machine_raises_server_error() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface.
    with pytest.raises(ServerError, match=r"192\.0\.2\.1") as raised:
        Worker("tcp://192.0.2.1:0").bind()
    assert not isinstance(raised.value, AddressInUseError)


# -- IPv6 -----------------------------------------------------------------------------


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_worker_echoes_and_sees_the_ipv6_peer(anyio_backend: str) -> None:
    worker = Worker("text://[::1]:0")
    peers: list[tuple[str, str]] = []

    def on_message(connection: TcpConnection, line: str) -> None:
        peers.append((connection.remote_ip, connection.remote_address))
        connection.send(line.upper())

    worker.on_message = on_message
    async with (
        serving(anyio_backend, worker),
        await anyio.connect_tcp("::1", port_of(worker)) as client,
    ):
        client_port = client.extra(anyio.abc.SocketAttribute.local_port)
        await client.send(b"six\n")
        assert await read_lines(client, 1) == [b"SIX\n"]
    assert peers == [("::1", f"[::1]:{client_port}")]


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_udp_worker_and_async_udp_connection(anyio_backend: str) -> None:
    worker = Worker("udp://[::1]:0")
    peers: list[str] = []

    def on_message(connection: Any, data: bytes) -> None:
        peers.append(connection.remote_ip)
        connection.send(data.upper())

    worker.on_message = on_message
    replies: list[bytes] = []
    async with serving(anyio_backend, worker):
        client = AsyncUdpConnection(f"udp://[::1]:{port_of(worker)}")
        client.on_message = lambda connection, data: replies.append(data)
        client.connect()
        client.send(b"v6")
        await until(lambda: replies)
        assert client.remote_address == f"[::1]:{port_of(worker)}"
        client.close()
    assert replies == [b"V6"]
    assert peers == ["::1"]


# -- what a server-side connection tells ------------------------------------------------


async def test_server_connection_attributes_over_its_life(anyio_backend: str) -> None:
    worker = Worker("text://127.0.0.1:0", name="attrs")
    seen: dict[str, Any] = {}
    accepted: list[TcpConnection] = []
    closed: list[TcpConnection] = []

    def on_connect(connection: TcpConnection) -> None:
        accepted.append(connection)
        seen["status_on_connect"] = connection.status
        seen["in_worker_on_connect"] = worker.connections.get(connection.id) is connection
        connection.context.count = 0

    def on_message(connection: TcpConnection, line: str) -> None:
        connection.context.count += 1  # context persists across messages
        connection.send(f"{connection.context.count}:{line}")

    def on_close(connection: TcpConnection) -> None:
        closed.append(connection)
        seen["status_on_close"] = connection.status
        seen["in_worker_on_close"] = connection.id in worker.connections

    worker.on_connect = on_connect
    worker.on_message = on_message
    worker.on_close = on_close
    async with serving(anyio_backend, worker):
        port = port_of(worker)
        async with (
            await anyio.connect_tcp("127.0.0.1", port) as first,
            await anyio.connect_tcp("127.0.0.1", port) as second,
        ):
            first_port = first.extra(anyio.abc.SocketAttribute.local_port)
            await first.send(b"a\n")
            assert await read_lines(first, 1) == [b"1:a\n"]
            await first.send(b"bb\n")
            assert await read_lines(first, 1) == [b"2:bb\n"]
            await second.send(b"c\n")
            assert await read_lines(second, 1) == [b"1:c\n"]

            assert len(accepted) == 2
            conn = next(c for c in accepted if c.remote_port == first_port)
            other = next(c for c in accepted if c is not conn)
            assert conn.id != other.id
            assert conn.worker is worker
            assert conn.remote_ip == "127.0.0.1"
            assert conn.remote_port == first_port
            assert conn.remote_address == f"127.0.0.1:{first_port}"
            assert conn.local_port == port
            assert conn.local_ip == "127.0.0.1"
            assert conn.transport == "tcp"
            assert conn.status == ConnectionStatus.ESTABLISHED
            assert conn.bytes_read == len(b"a\nbb\n")
            assert conn.bytes_written == len(b"1:a\n2:bb\n")
            assert conn.context.count == 2
            assert other.context.count == 1
            assert worker.connections == {conn.id: conn, other.id: other}
            assert statistics.connection_count == 2

        await until(lambda: len(closed) == 2)
        assert conn.status == ConnectionStatus.CLOSED
        assert worker.connections == {}
        assert statistics.connection_count == 0
        assert conn.bytes_read == len(b"a\nbb\n")
        assert conn.bytes_written == len(b"1:a\n2:bb\n")
    assert seen == {
        "status_on_connect": ConnectionStatus.ESTABLISHED,
        "in_worker_on_connect": True,
        "status_on_close": ConnectionStatus.CLOSED,
        "in_worker_on_close": False,
    }


async def test_server_connection_counts_come_back_down_after_a_server_close(
    anyio_backend: str,
) -> None:
    worker = Worker("text://127.0.0.1:0")
    worker.on_message = lambda connection, line: connection.close(f"bye {line}")
    async with (
        serving(anyio_backend, worker),
        await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client,
    ):
        await until(lambda: statistics.connection_count == 1)
        await client.send(b"x\n")
        assert await read_lines(client, 2) == [b"bye x\n"]  # then EOF
        await until(lambda: statistics.connection_count == 0)
        assert worker.connections == {}


async def test_unix_connection_reports_its_transport_and_path(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.sock"
    worker = Worker("unix://" + str(path), protocol="text")
    seen: list[tuple[str, str, int]] = []

    def on_message(connection: TcpConnection, line: str) -> None:
        seen.append((connection.transport, connection.local_address, connection.remote_port))
        connection.send(line)

    worker.on_message = on_message
    async with running_loop(anyio_backend):
        await worker._start()
        try:
            async with await anyio.connect_unix(path) as client:
                await client.send(b"hi\n")
                assert await read_lines(client, 1) == [b"hi\n"]
        finally:
            await worker._stop()
    assert seen == [("unix", str(path), 0)]
