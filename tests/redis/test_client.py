"""The Redis client against a real server: URLs, the handshake (AUTH, SELECT, HELLO 3),
pipelining of concurrent callers, error replies, pipelines and transactions, blocking
commands, reconnects and timeouts.

Most tests run four times: asyncio and trio, RESP2 and RESP3 (the ``redis`` fixture).
A few use a redis-server of their own on a Unix socket in a temporary directory, one the
tests can stop and start again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from workerman.core import create_loop
from workerman.redis import (
    AuthenticationError,
    ExecAbortError,
    NoScriptError,
    Redis,
    RedisConnectionError,
    RedisError,
    RedisTimeoutError,
    ResponseError,
    WatchError,
    WrongTypeError,
)

from .._missing import missing

pytestmark = pytest.mark.anyio

REDIS_SERVER = shutil.which("redis-server")


# -- helpers -------------------------------------------------------------------------------


def with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def with_auth(url: str, username: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{username}:{password}@{host}:{parts.port or 6379}"
    return urlunsplit(parts._replace(netloc=netloc))


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 5) -> None:
    """Wait until ``check()`` is true (polling); fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.02)


@pytest.fixture
async def wm_loop(anyio_backend: str) -> AsyncIterator[None]:
    """A workerman loop for tests that do not use the ``redis`` fixture."""
    loop = create_loop("asyncio" if anyio_backend == "asyncio" else "trio")
    async with loop.open():
        yield


class LocalRedis:
    """A redis-server of the test's own on a Unix socket: stop it, start it again."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.socket = directory / "redis.sock"
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(1)
                probe.connect(str(self.socket))
                probe.sendall(b"PING\r\n")
                if probe.recv(64).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer on its socket")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def local_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    """A redis-server on a Unix socket in a temporary directory (DEBUG allowed)."""
    if REDIS_SERVER is None:
        missing("redis-server is not installed")
    directory, own = tmp_path, None
    if len(str(tmp_path / "redis.sock")) > 100:  # sun_path holds 108 bytes
        directory = own = Path(tempfile.mkdtemp(prefix="wmr-", dir="/tmp"))
    server = LocalRedis(directory, "--enable-debug-command", "yes")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


@pytest.fixture
def unix_url(redis_url: str, request: pytest.FixtureRequest) -> str:
    """The main server's Unix socket when it has one, else the local server's."""
    reply = subprocess.run(
        ["redis-cli", "-u", redis_url, "CONFIG", "GET", "unixsocket"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if len(reply) == 2 and reply[1] and os.path.exists(reply[1]):
        return f"unix://{reply[1]}"
    server: LocalRedis = request.getfixturevalue("local_redis")
    return server.url


@pytest.fixture
def debug_url(test_url: str, request: pytest.FixtureRequest) -> str:
    """A server that allows DEBUG SLEEP: the main one if it does, else a local one."""
    reply = subprocess.run(
        ["redis-cli", "-u", test_url, "CONFIG", "GET", "enable-debug-command"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if reply[-1:] in (["yes"], ["local"]):
        return test_url
    server: LocalRedis = request.getfixturevalue("local_redis")
    return server.url


# -- URLs ----------------------------------------------------------------------------------


def test_redis_url_gives_host_port_credentials_and_db() -> None:
    client = Redis.from_url("redis://alice:s%40cret@redis.example:6390/7")
    address = client.options.address
    assert (address.host, address.port, address.db) == ("redis.example", 6390, 7)
    assert (address.username, address.password) == ("alice", "s@cret")
    assert address.path is None
    assert client.options.ssl_context is None


def test_redis_url_defaults() -> None:
    address = Redis.from_url("redis://example.org").options.address
    assert (address.host, address.port, address.db) == ("example.org", 6379, 0)
    assert (address.username, address.password) == (None, None)
    password_only = Redis.from_url("redis://:pw@example.org/2").options.address
    assert (password_only.username, password_only.password, password_only.db) == (None, "pw", 2)


def test_rediss_url_turns_on_verified_tls() -> None:
    client = Redis.from_url("rediss://cache.example:6380/1")
    context = client.options.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert client.options.address.tls is True
    assert client.options.address.db == 1


def test_rediss_url_takes_an_ssl_context_of_ones_own() -> None:
    context = ssl.create_default_context()
    assert Redis.from_url("rediss://cache.example", ssl=context).options.ssl_context is context


def test_unix_url_gives_path_and_db() -> None:
    address = Redis.from_url("unix:///run/redis/redis.sock?db=3").options.address
    assert address.path == "/run/redis/redis.sock"
    assert address.db == 3
    with_password = Redis.from_url("unix://:pw@/run/redis.sock").options.address
    assert (with_password.path, with_password.password, with_password.db) == (
        "/run/redis.sock",
        "pw",
        0,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379",
        "127.0.0.1:6379",
        "redis://127.0.0.1:notaport/0",
        "redis://127.0.0.1:99999/0",
        "redis://127.0.0.1:6379/zero",
        "unix://",
        "unix:///tmp/redis.sock?db=x",
    ],
)
def test_bad_urls_raise_redis_error(url: str) -> None:
    with pytest.raises(RedisError):
        Redis.from_url(url)


def test_bad_protocol_raises_redis_error() -> None:
    with pytest.raises(RedisError):
        Redis(protocol=4)


# -- the handshake: AUTH, SELECT -------------------------------------------------------------


@pytest.fixture
async def acl_user(redis: Redis) -> AsyncIterator[tuple[str, str]]:
    """A user of the test's own (deleted afterwards): (name, password)."""
    name, password = f"wmtest-{secrets.token_hex(4)}", "secret"
    await redis.execute("ACL", "SETUSER", name, "on", f">{password}", "~*", "&*", "+@all")
    try:
        yield name, password
    finally:
        await redis.execute("ACL", "DELUSER", name)


async def test_username_and_password_from_the_url_authenticate(
    redis: Redis, acl_user: tuple[str, str], test_url: str, resp: int
) -> None:
    name, password = acl_user
    with anyio.fail_after(5):
        async with Redis.from_url(with_auth(test_url, name, password), protocol=resp) as client:
            assert await client.execute("ACL", "WHOAMI") == name.encode()
            await client.execute("SET", "authed", "yes")
            assert await redis.execute("GET", "authed") == b"yes"  # and the db was selected


async def test_wrong_password_fails_every_waiting_command(
    redis: Redis, acl_user: tuple[str, str], test_url: str, resp: int
) -> None:
    name, _password = acl_user
    with anyio.fail_after(5):
        async with Redis.from_url(with_auth(test_url, name, "wrong"), protocol=resp) as client:
            futures = [client.execute("GET", f"k{i}") for i in range(5)]
            for future in futures:
                with pytest.raises(AuthenticationError):
                    await future
            # and the next command tries again, and fails again: nothing hangs
            with pytest.raises(AuthenticationError):
                await client.execute("PING")


async def test_db_from_the_url_is_selected(redis: Redis, test_url: str, resp: int) -> None:
    key = f"wmtest-select-{secrets.token_hex(4)}"
    with anyio.fail_after(5):
        async with (
            Redis.from_url(with_db(test_url, 14), protocol=resp) as writer,
            Redis.from_url(with_db(test_url, 14), protocol=resp) as reader,
        ):
            try:
                await writer.execute("SET", key, "in-14")
                assert await reader.execute("GET", key) == b"in-14"
                assert await redis.execute("GET", key) is None  # db 15 does not have it
            finally:
                await writer.execute("DEL", key)


async def test_client_name_is_set_on_the_connection(
    test_url: str, resp: int, wm_loop: None
) -> None:
    name = f"wmtest-{secrets.token_hex(4)}"
    with anyio.fail_after(5):
        async with Redis.from_url(test_url, protocol=resp, client_name=name) as client:
            assert await client.execute("CLIENT", "GETNAME") == name.encode()


# -- Unix sockets --------------------------------------------------------------------------


async def test_unix_socket_url_with_db(unix_url: str, resp: int, wm_loop: None) -> None:
    with anyio.fail_after(5):
        async with (
            Redis.from_url(f"{unix_url}?db=3", protocol=resp) as in_3,
            Redis.from_url(unix_url, protocol=resp) as in_0,
        ):
            key = f"wmtest-unix-{secrets.token_hex(4)}"
            try:
                assert await in_3.execute("SET", key, "three") == b"OK"
                assert await in_3.execute("GET", key) == b"three"
                assert await in_0.execute("GET", key) is None
                assert (await in_3.execute("CLIENT", "INFO")).find(b" db=3 ") >= 0
            finally:
                await in_3.execute("DEL", key)


# -- pipelining of concurrent callers ----------------------------------------------------


async def test_concurrent_callers_share_one_connection_and_get_their_own_replies(
    redis: Redis, test_url: str, resp: int
) -> None:
    name = f"wmtest-{secrets.token_hex(4)}"
    answers: dict[int, Any] = {}
    with anyio.fail_after(10):
        async with Redis.from_url(test_url, protocol=resp, client_name=name) as client:

            async def one(i: int) -> None:
                await client.execute("SET", f"key:{i}", f"value:{i}")
                answers[i] = await client.execute("GET", f"key:{i}")

            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(one, i)
            clients = (await redis.execute("CLIENT", "LIST")).decode().splitlines()
    assert answers == {i: f"value:{i}".encode() for i in range(200)}
    assert sum(f" name={name} " in line for line in clients) == 1


async def test_callbacks_and_awaits_interleaved_keep_their_order(redis: Redis) -> None:
    events: list[tuple[str, Any, BaseException | None]] = []
    done = anyio.Event()

    def record(what: str) -> Callable[[Any, BaseException | None], None]:
        def callback(result: Any, error: BaseException | None) -> None:
            events.append((what, result, error))
            if what == "get-b":
                done.set()

        return callback

    with anyio.fail_after(5):
        assert redis.execute("SET", "k", "a", callback=record("set-a")) is None
        first = redis.execute("GET", "k")
        redis.execute("SET", "k", "b", callback=record("set-b"))
        second = redis.execute("GET", "k")
        redis.execute("GET", "k", callback=record("get-b"))
        redis.execute("LPUSH", "k", "x", callback=record("lpush"))  # WRONGTYPE
        third = redis.execute("APPEND", "k", "c")
        assert await first == b"a"
        assert await second == b"b"
        assert await third == 2
        await done.wait()
        await redis.execute("PING")  # every callback has run by the time this answers
    assert [what for what, _r, _e in events] == ["set-a", "set-b", "get-b", "lpush"]
    assert events[0][1:] == (b"OK", None)
    assert events[2][1:] == (b"b", None)
    assert events[3][1] is None
    assert isinstance(events[3][2], WrongTypeError)


async def test_a_callback_that_raises_is_logged_not_fatal(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[Any] = []

    def boom(result: Any, error: BaseException | None) -> None:
        raise ValueError("boom in a callback")

    with anyio.fail_after(5), caplog.at_level(logging.ERROR, logger="workerman.redis"):
        await redis.execute("SET", "k", "v")
        redis.execute("GET", "k", callback=boom)
        redis.execute("GET", "k", callback=lambda result, error: got.append(result))
        assert await redis.execute("GET", "k") == b"v"
    assert got == [b"v"]
    assert any(
        record.exc_info is not None and "boom in a callback" in str(record.exc_info[1])
        for record in caplog.records
    )


async def test_an_async_callback_is_run(redis: Redis) -> None:
    done = anyio.Event()
    got: list[Any] = []

    async def callback(result: Any, error: BaseException | None) -> None:
        await anyio.sleep(0)
        got.append((result, error))
        done.set()

    with anyio.fail_after(5):
        await redis.execute("SET", "k", "v")
        redis.execute("GET", "k", callback=callback)
        await done.wait()
    assert got == [(b"v", None)]


async def test_execute_needs_a_command(redis: Redis) -> None:
    with pytest.raises(RedisError):
        redis.execute()


async def test_arguments_are_encoded(redis: Redis) -> None:
    with anyio.fail_after(5):
        await redis.execute("RPUSH", "l", b"bytes", "str", 7, 1.5, True, bytearray(b"ba"))
        assert await redis.execute("LRANGE", "l", 0, -1) == [
            b"bytes",
            b"str",
            b"7",
            b"1.5",
            b"1",
            b"ba",
        ]
        with pytest.raises(RedisError):
            await redis.execute("SET", "k", object())
        assert await redis.execute("PING") in (b"PONG", "PONG")


async def test_decode_responses_gives_str(redis_str: Redis) -> None:
    with anyio.fail_after(5):
        assert await redis_str.execute("SET", "k", "välue") == "OK"
        assert await redis_str.execute("GET", "k") == "välue"
        await redis_str.execute("RPUSH", "l", "a", "b")
        assert await redis_str.execute("LRANGE", "l", 0, -1) == ["a", "b"]


# -- error replies -------------------------------------------------------------------------


async def test_error_replies_map_to_classes(redis: Redis) -> None:
    with anyio.fail_after(5):
        await redis.execute("LPUSH", "list", "x")
        with pytest.raises(WrongTypeError) as wrongtype:
            await redis.execute("GET", "list")
        assert wrongtype.value.prefix == "WRONGTYPE"

        with pytest.raises(ResponseError) as unknown:
            await redis.execute("NOSUCHCOMMAND", "x")
        assert type(unknown.value) is ResponseError
        assert unknown.value.prefix == "ERR"
        assert "unknown command" in str(unknown.value)

        with pytest.raises(NoScriptError) as noscript:
            await redis.execute("EVALSHA", secrets.token_hex(20), 0)
        assert noscript.value.prefix == "NOSCRIPT"


async def test_an_error_reply_does_not_disturb_the_next_reply(redis: Redis) -> None:
    with anyio.fail_after(5):
        await redis.execute("SET", "a", "1")
        await redis.execute("SET", "b", "2")
        before = redis.execute("GET", "a")
        failing = redis.execute("NOSUCHCOMMAND")
        wrongtype = redis.execute("LPUSH", "a", "x")
        after = redis.execute("GET", "b")
        assert await before == b"1"
        with pytest.raises(ResponseError):
            await failing
        with pytest.raises(WrongTypeError):
            await wrongtype
        assert await after == b"2"
        assert await redis.execute("GET", "a") == b"1"


# -- pipelines and transactions -----------------------------------------------------------


async def test_a_pipeline_returns_every_result_in_order(redis: Redis) -> None:
    with anyio.fail_after(5):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(50):
                pipe.execute_command("SET", f"p:{i}", i)
                pipe.execute_command("INCR", f"p:{i}")
            assert len(pipe) == 100
            results = await pipe.execute()
    assert results == [reply for i in range(50) for reply in (b"OK", i + 1)]
    assert await redis.execute("GET", "p:49") == b"50"


async def test_a_pipeline_error_is_raised_after_all_ran_or_returned_in_place(
    redis: Redis,
) -> None:
    with anyio.fail_after(5):
        await redis.execute("SET", "text", "x")
        async with redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("INCR", "n").execute_command("INCR", "text")
            pipe.execute_command("INCR", "n")
            with pytest.raises(ResponseError):
                await pipe.execute()
        assert await redis.execute("GET", "n") == b"2"
        async with redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("INCR", "n").execute_command("INCR", "text")
            pipe.execute_command("INCR", "n")
            first, error, last = await pipe.execute(raise_on_error=False)
        assert (first, last) == (3, 4)
        assert isinstance(error, ResponseError)


async def test_a_transaction_runs_in_multi_exec(redis: Redis, test_url: str, resp: int) -> None:
    name = f"wmtest-{secrets.token_hex(4)}"
    with anyio.fail_after(5):
        async with Redis.from_url(test_url, protocol=resp, client_name=name) as client:
            async with client.pipeline(transaction=True) as pipe:
                pipe.execute_command("SET", "t", "1")
                pipe.execute_command("INCR", "t")
                pipe.execute_command("CLIENT", "INFO")
                ok, value, info = await pipe.execute()
    assert (ok, value) == (b"OK", 2)
    assert b" multi=" in info and b" multi=-1 " not in info  # it ran inside MULTI
    assert await redis.execute("GET", "t") == b"2"


async def test_an_empty_transaction_returns_nothing(redis: Redis) -> None:
    with anyio.fail_after(5):
        async with redis.pipeline() as pipe:
            assert await pipe.execute() == []


async def test_a_runtime_error_in_a_transaction_is_raised_or_returned_and_the_others_ran(
    redis: Redis,
) -> None:
    with anyio.fail_after(5):
        await redis.execute("SET", "text", "x")
        async with redis.pipeline() as pipe:
            pipe.execute_command("INCR", "n").execute_command("INCR", "text")
            pipe.execute_command("INCR", "n")
            with pytest.raises(ResponseError) as raised:
                await pipe.execute()
        assert raised.value.prefix == "ERR"
        assert await redis.execute("GET", "n") == b"2"

        async with redis.pipeline() as pipe:
            pipe.execute_command("INCR", "n").execute_command("INCR", "text")
            pipe.execute_command("INCR", "n")
            first, error, last = await pipe.execute(raise_on_error=False)
        assert (first, last) == (3, 4)
        assert isinstance(error, ResponseError)
        assert not isinstance(error, ExecAbortError)


async def test_a_command_refused_when_queued_aborts_the_transaction(redis: Redis) -> None:
    with anyio.fail_after(5):
        async with redis.pipeline() as pipe:
            pipe.execute_command("SET", "a", "1")
            pipe.execute_command("SET", "only-a-key")  # wrong number of arguments
            with pytest.raises(ExecAbortError) as aborted:
                await pipe.execute()
        assert "wrong number of arguments" in str(aborted.value)
        assert await redis.execute("EXISTS", "a") == 0  # nothing ran
        assert await redis.execute("PING") == b"PONG"  # and the connection is fine


async def test_watch_then_a_change_by_another_client_raises_watch_error(redis: Redis) -> None:
    with anyio.fail_after(5):
        await redis.execute("SET", "balance", "100")
        async with redis.pipeline() as pipe:
            await pipe.watch("balance")
            balance = int(await pipe.execute_command("GET", "balance"))  # runs at once
            assert balance == 100
            await redis.execute("SET", "balance", "50")  # another connection changes it
            pipe.multi()
            pipe.execute_command("SET", "balance", balance - 10)
            with pytest.raises(WatchError):
                await pipe.execute()
        assert await redis.execute("GET", "balance") == b"50"


async def test_watch_without_a_change_runs_the_transaction(redis: Redis) -> None:
    with anyio.fail_after(5):
        await redis.execute("SET", "balance", "100")
        async with redis.pipeline() as pipe:
            await pipe.watch("balance", "other")
            balance = int(await pipe.execute_command("GET", "balance"))
            assert await pipe.execute_command("EXISTS", "other") == 0
            pipe.multi()
            pipe.execute_command("SET", "balance", balance - 10)
            pipe.execute_command("GET", "balance")
            assert await pipe.execute() == [b"OK", b"90"]
        assert await redis.execute("GET", "balance") == b"90"


async def test_watch_is_for_transactions_only(redis: Redis) -> None:
    with anyio.fail_after(5):
        async with redis.pipeline(transaction=False) as pipe:
            with pytest.raises(RedisError):
                await pipe.watch("k")


# -- blocking commands ---------------------------------------------------------------------


async def test_a_blocking_command_does_not_stall_the_others(
    redis: Redis, test_url: str, resp: int
) -> None:
    name = f"wmtest-{secrets.token_hex(4)}"
    popped: list[Any] = []

    async def connections() -> list[str]:
        lines = (await redis.execute("CLIENT", "LIST")).decode().splitlines()
        return [line for line in lines if f" name={name} " in line]

    async def blocked() -> bool:
        return any(" cmd=blpop " in line for line in await connections())

    with anyio.fail_after(10):
        async with Redis.from_url(test_url, protocol=resp, client_name=name) as client:
            await client.execute("SET", "k", "v")
            async with anyio.create_task_group() as tg:

                async def blpop() -> None:
                    popped.append(await client.execute("BLPOP", "queue", 2))

                tg.start_soon(blpop)
                await eventually(blocked, "BLPOP to wait on the server")
                started = time.monotonic()
                answers: list[Any] = []

                async def get() -> None:
                    answers.append(await client.execute("GET", "k"))

                async with anyio.create_task_group() as gets:
                    for _ in range(100):
                        gets.start_soon(get)
                elapsed = time.monotonic() - started
                assert answers == [b"v"] * 100
                assert elapsed < 1.5, f"100 GETs took {elapsed:.2f}s behind a BLPOP"
                assert popped == []
                assert len(await connections()) == 2  # the shared one and BLPOP's own
                assert await client.execute("RPUSH", "queue", "job") == 1
    assert popped == [[b"queue", b"job"]]


async def test_a_blocking_command_times_out_with_none(redis: Redis) -> None:
    with anyio.fail_after(5):
        assert await redis.execute("BRPOP", "empty", 0.05) is None
        assert await redis.execute("blpop", "empty", 0.05) is None  # any case


# -- a lost connection ----------------------------------------------------------------------


async def _kill_while_in_flight(
    redis: Redis, admin: Redis, issue: Callable[[], Any], command: bytes = b"set"
) -> Any:
    """Pause writes, ``issue()`` commands on ``redis`` (they wait on the server), kill its
    connection, then unpause; what ``issue`` returned is returned."""
    client_id = await redis.execute("CLIENT", "ID")
    await admin.execute("CLIENT", "PAUSE", 5000, "WRITE")
    try:
        issued = issue()

        async def waiting() -> bool:
            line = await admin.execute("CLIENT", "LIST", "ID", client_id)
            return b" cmd=" + command + b" " in line

        await eventually(waiting, "the commands to wait on the paused server")
        assert await admin.execute("CLIENT", "KILL", "ID", client_id) == 1
    finally:
        await admin.execute("CLIENT", "UNPAUSE")
    return issued


async def test_a_lost_connection_fails_the_commands_in_flight_and_the_next_reconnects(
    redis: Redis, test_url: str
) -> None:
    with anyio.fail_after(10):
        async with Redis.from_url(test_url) as admin:
            await redis.execute("SET", "before", "kept")
            first_id = await redis.execute("CLIENT", "ID")
            in_flight = await _kill_while_in_flight(
                redis,
                admin,
                lambda: [
                    *(redis.execute("SET", f"k{i}", i) for i in range(20)),
                    *(redis.execute("GET", "before") for _ in range(20)),
                ],
            )
            for future in in_flight:
                with pytest.raises(RedisConnectionError):
                    await future
            # the next command reconnects, on the same db (SELECT replayed)
            assert await redis.execute("GET", "before") == b"kept"
            assert await redis.execute("CLIENT", "ID") != first_id


async def test_a_callback_may_issue_a_command_when_its_connection_is_lost(
    redis: Redis, test_url: str
) -> None:
    retried: list[Any] = []
    done = anyio.Event()

    def on_retry(result: Any, error: BaseException | None) -> None:
        retried.append((result, error))
        done.set()

    def on_reply(result: Any, error: BaseException | None) -> None:
        retried.append((result, type(error)))
        if error is not None:
            redis.execute("GET", "before", callback=on_retry)

    with anyio.fail_after(10):
        async with Redis.from_url(test_url) as admin:
            await redis.execute("SET", "before", "kept")
            await _kill_while_in_flight(
                redis, admin, lambda: redis.execute("SET", "k", "v", callback=on_reply)
            )
            await done.wait()
            assert retried == [(None, RedisConnectionError), (b"kept", None)]
            assert await redis.execute("GET", "before") == b"kept"  # replies still match


async def test_a_stopped_server_fails_commands_quickly_and_a_restarted_one_serves_again(
    local_redis: LocalRedis, resp: int, wm_loop: None
) -> None:
    with anyio.fail_after(20):
        async with Redis.from_url(local_redis.url, protocol=resp, connect_timeout=2) as client:
            assert await client.execute("SET", "k", "v") == b"OK"
            local_redis.stop()
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(RedisConnectionError):
                    await client.execute("GET", "k")
                assert time.monotonic() - started < 1.5
            local_redis.start()
            assert await client.execute("PING") == b"PONG"
            assert await client.execute("SET", "k", "again") == b"OK"
            assert await client.execute("GET", "k") == b"again"


async def test_nothing_listening_fails_with_connection_error(
    free_port: int, resp: int, wm_loop: None
) -> None:
    with anyio.fail_after(5):
        async with Redis("127.0.0.1", free_port, protocol=resp) as client:
            futures = [client.execute("PING") for _ in range(3)]
            for future in futures:
                with pytest.raises(RedisConnectionError):
                    await future


async def test_after_close_every_command_fails(redis: Redis) -> None:
    with anyio.fail_after(5):
        await redis.execute("PING")
        in_flight = redis.execute("BLPOP", "nothing", 2)
        await redis.aclose()
        with pytest.raises(RedisConnectionError):
            await in_flight
        with pytest.raises(RedisConnectionError):
            await redis.execute("GET", "k")
        with pytest.raises(RedisConnectionError):
            await redis.execute("BLPOP", "nothing", 1)
        errors: list[BaseException | None] = []
        redis.execute("GET", "k", callback=lambda result, error: errors.append(error))
        assert len(errors) == 1 and isinstance(errors[0], RedisConnectionError)


# -- timeouts ------------------------------------------------------------------------------


async def test_command_timeout_fails_a_slow_command_and_the_client_recovers(
    debug_url: str, resp: int, wm_loop: None
) -> None:
    with anyio.fail_after(10):
        async with Redis.from_url(debug_url, protocol=resp, command_timeout=0.2) as client:
            assert await client.execute("PING") == b"PONG"
            slow = client.execute("DEBUG", "SLEEP", 1)
            behind = client.execute("PING")
            with pytest.raises(RedisTimeoutError):
                await slow
            with pytest.raises(RedisTimeoutError):
                await behind
            # once the server is awake again the client works (on a new connection)
            while True:
                try:
                    assert await client.execute("PING") == b"PONG"
                    break
                except RedisTimeoutError:
                    await anyio.sleep(0.1)
            assert await client.execute("SET", "k", "v") == b"OK"
            assert await client.execute("GET", "k") == b"v"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections (its backlog does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


async def test_a_handshake_nobody_answers_times_out_with_connect_timeout(
    silent_server: int, wm_loop: None
) -> None:
    with anyio.fail_after(5):
        async with Redis("127.0.0.1", silent_server, protocol=3, connect_timeout=0.3) as client:
            futures = [client.execute("PING") for _ in range(3)]
            for future in futures:
                with pytest.raises(RedisTimeoutError):
                    await future
        async with Redis("127.0.0.1", silent_server, db=1, connect_timeout=0.3) as client:
            with pytest.raises(RedisTimeoutError):
                await client.execute("PING")


async def test_a_handshake_nobody_answers_times_out_with_command_timeout(
    silent_server: int, wm_loop: None
) -> None:
    with anyio.fail_after(5):
        async with Redis("127.0.0.1", silent_server, protocol=3, command_timeout=0.2) as client:
            with pytest.raises(RedisTimeoutError):
                await client.execute("PING")


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture
def tls_redis(tmp_path: Path, free_port: int) -> Iterator[tuple[int, ssl.SSLContext]]:
    """A redis-server that speaks only TLS, with a certificate for "localhost" from a CA
    of the test's own: (port, a client context that trusts that CA)."""
    trustme = pytest.importorskip("trustme")
    if REDIS_SERVER is None:
        missing("redis-server is not installed")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    cert.cert_chain_pems[0].write_to_path(paths["cert"])
    cert.private_key_pem.write_to_path(paths["key"])
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port", "0",
            "--tls-port", str(free_port),
            "--bind", "127.0.0.1",
            "--tls-cert-file", str(paths["cert"]),
            "--tls-key-file", str(paths["key"]),
            "--tls-ca-cert-file", str(paths["ca"]),
            "--tls-auth-clients", "no",
            "--save", "",
            "--appendonly", "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                missing("redis-server would not start with TLS (built without it?)")
            try:
                socket.create_connection(("127.0.0.1", free_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        context = ssl.create_default_context()
        ca.configure_trust(context)
        yield free_port, context
    finally:
        process.terminate()
        process.wait(10)


async def test_rediss_with_a_trusted_certificate_works(
    tls_redis: tuple[int, ssl.SSLContext], resp: int, wm_loop: None
) -> None:
    port, context = tls_redis
    with anyio.fail_after(5):
        async with Redis.from_url(
            f"rediss://localhost:{port}/2", ssl=context, protocol=resp
        ) as client:
            assert await client.execute("SET", "k", "over tls") == b"OK"
            assert await client.execute("GET", "k") == b"over tls"
            assert b" db=2 " in await client.execute("CLIENT", "INFO")


async def test_rediss_verifies_the_certificate_by_default(
    tls_redis: tuple[int, ssl.SSLContext], wm_loop: None
) -> None:
    port, _context = tls_redis
    with anyio.fail_after(5):
        async with Redis.from_url(f"rediss://localhost:{port}", connect_timeout=3) as client:
            with pytest.raises(RedisConnectionError, match=r"(?i)certificate"):
                await client.execute("PING")


async def test_rediss_verifies_the_host_name(
    tls_redis: tuple[int, ssl.SSLContext], wm_loop: None
) -> None:
    port, context = tls_redis  # the certificate names localhost, not 127.0.0.1
    with anyio.fail_after(5):
        async with Redis.from_url(
            f"rediss://127.0.0.1:{port}", ssl=context, connect_timeout=3
        ) as client:
            with pytest.raises(RedisConnectionError):
                await client.execute("PING")


async def test_rediss_to_a_server_without_tls_fails_rather_than_hangs(
    redis_url: str, wm_loop: None
) -> None:
    url = urlunsplit(urlsplit(redis_url)._replace(scheme="rediss"))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with anyio.fail_after(5):
        async with Redis.from_url(url, ssl=context, connect_timeout=0.5) as client:
            with pytest.raises(RedisConnectionError):
                await client.execute("PING")


# -- RESP3 -------------------------------------------------------------------------------


async def test_resp3_gives_maps_for_hgetall(redis: Redis, resp: int) -> None:
    with anyio.fail_after(5):
        await redis.execute("HSET", "h", "f1", "v1", "f2", "v2")
        reply = await redis.execute("HGETALL", "h")
        hello = await redis.execute("HELLO")
    if resp == 3:
        assert reply == {b"f1": b"v1", b"f2": b"v2"}
        assert hello[b"proto"] == 3
    else:
        assert sorted(zip(reply[::2], reply[1::2], strict=True)) == [
            (b"f1", b"v1"),
            (b"f2", b"v2"),
        ]
        assert dict(zip(hello[::2], hello[1::2], strict=True))[b"proto"] == 2


async def test_resp3_with_decode_responses_gives_str(redis_str: Redis, resp: int) -> None:
    with anyio.fail_after(5):
        await redis_str.execute("HSET", "h", "f", "v")
        reply = await redis_str.execute("HGETALL", "h")
        await redis_str.execute("SADD", "s", "m")
        members = await redis_str.execute("SMEMBERS", "s")
    assert (reply == {"f": "v"}) if resp == 3 else (reply == ["f", "v"])
    assert list(members) == ["m"]
