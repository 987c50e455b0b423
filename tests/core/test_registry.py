"""Protocol lookup by scheme: code registrations, built-ins and installed entry points."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from workerman.core import ServerError, Worker
from workerman.core import register_protocol as exported_register_protocol
from workerman.core.protocols import (
    ENTRY_POINT_GROUP,
    Frame,
    Text,
    get_protocol,
    register_protocol,
    registered_protocols,
)
from workerman.core.protocols import _registry as registry_module

from .conftest import port_of, read_lines, serving

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers into a copy; the real registry is back afterwards."""
    monkeypatch.setattr(registry_module, "_registry", dict(registry_module._registry))
    monkeypatch.setattr(registry_module, "_entry_points_loaded", True)


class Json:
    """JSON documents, one per line."""

    @staticmethod
    def input(buffer: bytes, connection: Any) -> int:
        end = buffer.find(b"\n")
        return 0 if end < 0 else end + 1

    @staticmethod
    def decode(package: bytes, connection: Any) -> Any:
        return json.loads(package)

    @staticmethod
    def encode(message: Any, connection: Any) -> bytes:
        return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class NoEncode:
    @staticmethod
    def input(buffer: bytes, connection: Any) -> int:
        return len(buffer)

    @staticmethod
    def decode(package: bytes, connection: Any) -> bytes:
        return package


# -- registering in code ------------------------------------------------------------------


def test_builtin_text_and_frame_are_registered() -> None:
    assert get_protocol("text") is Text
    assert get_protocol("frame") is Frame
    assert {"text", "frame"} <= set(registered_protocols())


def test_register_protocol_is_exported_from_the_core() -> None:
    assert exported_register_protocol is register_protocol


def test_registered_codec_is_found_by_name() -> None:
    register_protocol("json", Json)
    assert get_protocol("json") is Json
    assert registered_protocols()["json"] is Json


def test_registered_protocols_is_a_copy() -> None:
    snapshot = registered_protocols()
    snapshot["json"] = Json
    with pytest.raises(ServerError):
        get_protocol("json")


async def test_registered_json_scheme_serves_json_lines(anyio_backend: str) -> None:
    register_protocol("json", Json)
    received: list[Any] = []
    worker = Worker("json://127.0.0.1:0", name="json")

    def on_message(connection: Any, document: Any) -> None:
        received.append(document)
        connection.send({"echo": document})

    worker.on_message = on_message
    async with serving(anyio_backend, worker):
        assert worker.protocol is Json
        async with await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client:
            await client.send(b'{"id": 1, "tags": ["a"]}\n[1, 2')
            await client.send(b", 3]\n")
            assert await read_lines(client, 2) == [
                b'{"echo":{"id":1,"tags":["a"]}}\n',
                b'{"echo":[1,2,3]}\n',
            ]
    assert received == [{"id": 1, "tags": ["a"]}, [1, 2, 3]]


@pytest.mark.parametrize("name", ["tcp", "udp", "unix", "ssl"])
def test_transport_name_cannot_be_registered(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a protocol"):
        register_protocol(name, Json)
    assert name not in registered_protocols()


@pytest.mark.parametrize("name", ["", "JSON", "1json", "js on", "json://"])
def test_malformed_name_cannot_be_registered(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a protocol"):
        register_protocol(name, Json)


def test_duplicate_name_without_replace_raises_and_keeps_the_first() -> None:
    register_protocol("json", Json)
    with pytest.raises(ValueError, match="already registered"):
        register_protocol("json", Text)
    assert get_protocol("json") is Json


def test_builtin_cannot_be_replaced_by_accident() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_protocol("text", Json)
    assert get_protocol("text") is Text


def test_duplicate_name_with_replace_takes_the_new_codec() -> None:
    register_protocol("json", Json)
    register_protocol("json", Text, replace=True)
    assert get_protocol("json") is Text


def test_registering_the_same_codec_twice_is_allowed() -> None:
    register_protocol("json", Json)
    register_protocol("json", Json)
    assert get_protocol("json") is Json


def test_codec_missing_encode_raises_type_error() -> None:
    with pytest.raises(TypeError, match="lacks encode"):
        register_protocol("raw", NoEncode)
    assert "raw" not in registered_protocols()


def test_instance_with_the_three_methods_is_a_codec() -> None:
    codec = Json()
    register_protocol("json", codec)
    assert get_protocol("json") is codec


def test_unknown_scheme_raises_server_error_naming_the_registered_ones() -> None:
    register_protocol("json", Json)
    with pytest.raises(ServerError, match="unknown protocol 'nope'") as caught:
        Worker("nope://127.0.0.1:0")
    listed = str(caught.value).partition("(registered: ")[2].rstrip(")").split(", ")
    assert {"frame", "json", "text"} <= set(listed)
    assert listed == sorted(listed)
    with pytest.raises(ServerError, match="unknown protocol 'nope'"):
        get_protocol("nope")


# -- entry points -------------------------------------------------------------------------


UPPER_MODULE = '''
"""A third-party protocol: upper-cased lines."""


class Upper:
    @staticmethod
    def input(buffer, connection):
        end = buffer.find(b"\\n")
        return 0 if end < 0 else end + 1

    @staticmethod
    def decode(package, connection):
        return package.rstrip(b"\\r\\n").decode().upper()

    @staticmethod
    def encode(message, connection):
        return message.upper().encode() + b"\\n"


class Impostor(Upper):
    """Claims the built-in name "text"; built-ins win."""
'''


def install_fake_distribution(
    site: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str, module: str = UPPER_MODULE
) -> None:
    """Write ``fakeproto-1.0.dist-info`` and its module into ``site``, put ``site`` on
    sys.path and make the registry search entry points again."""
    dist_info = site / "fakeproto-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fakeproto\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n{textwrap.dedent(entry_points)}", encoding="utf-8"
    )
    (site / "fakeproto_upper.py").write_text(module, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "fakeproto_upper", raising=False)
    monkeypatch.setattr(registry_module, "_entry_points_loaded", False)


@pytest.fixture
def _forget_fake_module() -> Iterator[None]:
    yield
    sys.modules.pop("fakeproto_upper", None)


@pytest.mark.usefixtures("_forget_fake_module")
def test_installed_entry_point_is_found_by_get_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_distribution(tmp_path, monkeypatch, "upper = fakeproto_upper:Upper\n")
    codec = get_protocol("upper")
    assert codec.__module__ == "fakeproto_upper"
    assert codec.decode(b"shout\r\n", None) == "SHOUT"
    assert "upper" in registered_protocols()


@pytest.mark.usefixtures("_forget_fake_module")
def test_entry_point_does_not_override_a_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        """\
        upper = fakeproto_upper:Upper
        text = fakeproto_upper:Impostor
        """,
    )
    assert getattr(get_protocol("upper"), "__name__", None) == "Upper"
    assert get_protocol("text") is Text
    assert registered_protocols()["text"] is Text


@pytest.mark.usefixtures("_forget_fake_module")
def test_entry_point_that_fails_to_load_raises_server_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_distribution(tmp_path, monkeypatch, "upper = fakeproto_upper:Missing\n")
    with pytest.raises(ServerError, match=r"'upper' from entry point 'fakeproto_upper:Missing'"):
        get_protocol("upper")


@pytest.mark.usefixtures("_forget_fake_module")
async def test_worker_serves_with_an_entry_point_protocol(
    anyio_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_distribution(tmp_path, monkeypatch, "upper = fakeproto_upper:Upper\n")
    worker = Worker("upper://127.0.0.1:0", name="upper")
    worker.on_message = lambda connection, line: connection.send(f"{line}!")
    async with (
        serving(anyio_backend, worker),
        await anyio.connect_tcp("127.0.0.1", port_of(worker)) as client,
    ):
        await client.send(b"hello\nworld\r\n")
        assert await read_lines(client, 2) == [b"HELLO!\n", b"WORLD!\n"]


def test_a_protocol_is_named_by_its_scheme_not_its_class() -> None:
    from workerman.core.http import Http
    from workerman.core.protocols._registry import protocol_name

    register_protocol("jsonl", Json)
    assert protocol_name(Json) == "jsonl"  # what `connections` shows, not "json"
    assert protocol_name(Text) == "text"
    get_protocol("http")

    class MyHttp(Http):
        pass

    assert protocol_name(MyHttp) == "http"  # a worker's own subclass keeps the scheme
    assert protocol_name(NoEncode) == "noencode"  # never registered: its class name
