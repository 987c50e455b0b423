"""Sessions: lazy loading, saving only what changed, id rotation, expiry and the file store."""

from __future__ import annotations

import logging
import os
import pickle
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from workerman.core.http._session import (
    FileSessionHandler,
    JsonSerializer,
    Session,
    SessionHandler,
    create_session_id,
    valid_session_id,
)

SID = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


class MemoryHandler:
    """A dict store that records every call, to see what a session asks of its handler."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []

    def read(self, session_id: str) -> bytes | None:
        self.calls.append(("read", session_id))
        return self.store.get(session_id)

    def write(self, session_id: str, data: bytes, lifetime: int) -> None:
        self.calls.append(("write", session_id))
        self.store[session_id] = data

    def touch(self, session_id: str, lifetime: int) -> None:
        self.calls.append(("touch", session_id))

    def destroy(self, session_id: str) -> None:
        self.calls.append(("destroy", session_id))
        self.store.pop(session_id, None)

    def gc(self, max_lifetime: int) -> int:
        self.calls.append(("gc", str(max_lifetime)))
        return 0


@pytest.fixture(autouse=True)
def _session_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts from the defaults, with no handler yet and a private temp dir."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    for setting in (
        "name",
        "lifetime",
        "cookie_lifetime",
        "cookie_path",
        "domain",
        "secure",
        "http_only",
        "same_site",
        "gc_probability",
        "serializer",
    ):
        monkeypatch.setattr(Session, setting, getattr(Session, setting))
    monkeypatch.setattr(Session, "_handler", None)
    Session.gc_probability = (0, 1)


@pytest.fixture
def files(tmp_path: Path) -> Iterator[FileSessionHandler]:
    handler = FileSessionHandler(str(tmp_path / "sessions"))
    Session.handler = handler
    yield handler


@pytest.fixture
def memory() -> MemoryHandler:
    handler = MemoryHandler()
    Session.handler = handler
    return handler


def session_file(handler: FileSessionHandler, session_id: str) -> Path:
    return Path(handler.save_path) / f"ses_{session_id}"


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- ids ---------------------------------------------------------------------------------


def test_a_new_session_id_is_32_random_hex_characters() -> None:
    ids = {create_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 and valid_session_id(i) for i in ids)


@pytest.mark.parametrize("text", [SID, "a" * 16, "Z" * 128, "abc,def-0123456789"])
def test_ids_of_16_to_128_letters_digits_commas_and_dashes_are_valid(text: str) -> None:
    assert valid_session_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a" * 15,
        "a" * 129,
        "../../../etc/passwd",
        "abcdefgh/ijklmnop",
        "abcdefghijklmnop\n",
        "abcdefghijklmnop\x00",
        "abcdefgh ijklmnop",
        "abcdefgh.ijklmnop",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦",  # non-ASCII digits
    ],
)
def test_anything_else_is_not_a_session_id(text: str) -> None:
    assert not valid_session_id(text)


def test_a_session_refuses_an_invalid_id_before_any_handler_sees_it(memory: MemoryHandler) -> None:
    with pytest.raises(ValueError, match="invalid session id"):
        Session("../../etc/passwd")
    assert memory.calls == []


@pytest.mark.parametrize("method", ["read", "touch", "destroy", "write"])
def test_the_file_store_refuses_an_invalid_id_without_touching_the_disk(
    files: FileSessionHandler, tmp_path: Path, method: str
) -> None:
    args: dict[str, tuple[Any, ...]] = {"read": (), "destroy": (), "touch": (60,)}
    target = "../escaped-session-file"
    with pytest.raises(ValueError):
        getattr(files, method)(target, *args.get(method, (b"x", 60)))
    assert not (tmp_path / "escaped-session-file").exists()
    assert list(Path(files.save_path).iterdir()) == []


def test_from_cookie_keeps_a_valid_id_and_replaces_a_missing_or_bad_one(
    memory: MemoryHandler,
) -> None:
    kept = Session.from_cookie(SID)
    assert kept.id == SID
    assert not kept.id_changed
    for value in (None, "", "../../x", "short"):
        fresh = Session.from_cookie(value)
        assert fresh.id != value
        assert valid_session_id(fresh.id)
        assert fresh.id_changed
    assert memory.calls == []


# -- data --------------------------------------------------------------------------------


def test_get_set_put_delete_pull_all(memory: MemoryHandler) -> None:
    session = Session(SID)
    assert session.get("user") is None
    assert session.get("user", "nobody") == "nobody"
    session.set("user", "ada")
    session.put({"cart": [1, 2], "theme": "dark"})
    assert session.get("user") == "ada"
    assert session.all() == {"user": "ada", "cart": [1, 2], "theme": "dark"}
    session.delete("theme")
    session.delete("never-set")
    assert session.pull("cart") == [1, 2]
    assert session.pull("cart", "gone") == "gone"
    assert session.all() == {"user": "ada"}


def test_all_returns_a_copy(memory: MemoryHandler) -> None:
    session = Session(SID)
    session.set("a", 1)
    session.all()["b"] = 2
    assert "b" not in session


def test_has_needs_a_value_other_than_none_while_exists_needs_only_the_key(
    memory: MemoryHandler,
) -> None:
    session = Session(SID)
    session.set("empty", None)
    session.set("zero", 0)
    assert not session.has("empty")
    assert session.exists("empty")
    assert session.has("zero")
    assert not session.has("missing")
    assert not session.exists("missing")


def test_flush_empties_the_session(memory: MemoryHandler) -> None:
    session = Session(SID)
    session.put({"a": 1, "b": 2})
    session.flush()
    assert session.all() == {}
    assert len(session) == 0


def test_a_session_is_a_mutable_mapping(memory: MemoryHandler) -> None:
    session = Session(SID)
    session["a"] = 1
    session.update(b=2)
    assert session.setdefault("c", 3) == 3
    assert session["a"] == 1
    assert "b" in session
    assert "z" not in session
    assert len(session) == 3
    assert sorted(session) == ["a", "b", "c"]
    assert dict(session.items()) == {"a": 1, "b": 2, "c": 3}
    del session["a"]
    assert session.pop("b") == 2
    with pytest.raises(KeyError):
        session["a"]
    with pytest.raises(KeyError):
        del session["a"]
    session.clear()
    assert session.all() == {}


def test_the_id_is_exposed_and_not_settable(memory: MemoryHandler) -> None:
    session = Session(SID)
    assert session.id == SID
    with pytest.raises(AttributeError):
        session.id = OTHER  # type: ignore[misc]


# -- lazy loading and saving -------------------------------------------------------------


def test_the_handler_is_not_read_until_the_data_is_first_used(memory: MemoryHandler) -> None:
    memory.store[SID] = b'{"user":"ada"}'
    session = Session(SID)
    assert session.id == SID
    assert "not loaded" in repr(session)
    assert memory.calls == []
    assert session["user"] == "ada"
    assert session.get("user") == "ada"
    assert len(session) == 1
    assert memory.calls == [("read", SID)]


def test_saving_a_session_never_used_calls_no_handler_method(memory: MemoryHandler) -> None:
    Session(SID).save()
    assert memory.calls == []


def test_save_writes_changed_data_and_only_touches_unchanged_data(memory: MemoryHandler) -> None:
    session = Session(SID)
    session.set("user", "ada")
    session.save()
    assert memory.calls == [("read", SID), ("write", SID)]
    assert memory.store[SID] == b'{"user":"ada"}'
    memory.calls.clear()
    session.save()
    assert memory.calls == [("touch", SID)]

    reread = Session(SID)
    assert reread.get("user") == "ada"
    reread.save()
    assert memory.calls[1:] == [("read", SID), ("touch", SID)]


def test_a_session_with_nothing_stored_is_neither_written_nor_touched(
    memory: MemoryHandler,
) -> None:
    session = Session(SID)
    assert session.get("user") is None
    session.save()
    assert memory.calls == [("read", SID)]


def test_saving_emptied_data_removes_it_from_storage(memory: MemoryHandler) -> None:
    memory.store[SID] = b'{"a":1}'
    session = Session(SID)
    session.flush()
    session.save()
    assert memory.calls == [("read", SID), ("destroy", SID)]
    assert SID not in memory.store


def test_pulling_a_missing_key_does_not_count_as_a_change(memory: MemoryHandler) -> None:
    memory.store[SID] = b'{"a":1}'
    session = Session(SID)
    assert session.pull("missing") is None
    assert not session.modified
    session.save()
    assert memory.calls[-1] == ("touch", SID)


def test_a_value_changed_in_place_is_written_once_marked_modified(
    memory: MemoryHandler,
) -> None:
    memory.store[SID] = b'{"cart":[1]}'
    session = Session(SID)
    session["cart"].append(2)
    session.modified = True
    session.save()
    assert memory.store[SID] == b'{"cart":[1,2]}'


def test_two_sessions_of_one_id_see_each_others_saved_data(files: FileSessionHandler) -> None:
    first, second = Session(SID), Session(SID)
    first["user"] = "ada"
    first.save()
    assert second.get("user") == "ada"
    second["visits"] = 2
    second.save()
    assert Session(SID).all() == {"user": "ada", "visits": 2}


def test_a_handler_error_reaches_the_caller(memory: MemoryHandler) -> None:
    def fail(*args: object) -> None:
        raise OSError("storage is down")

    writing = Session(SID)
    writing["a"] = 1
    memory.read = memory.write = fail  # type: ignore[assignment, method-assign]
    with pytest.raises(OSError, match="storage is down"):
        Session(SID).get("a")
    with pytest.raises(OSError, match="storage is down"):
        writing.save()
    assert writing.modified  # a later save can still write it


def test_a_value_the_serializer_cannot_carry_fails_the_save_and_writes_nothing(
    memory: MemoryHandler,
) -> None:
    session = Session(SID)
    session["when"] = date(2024, 1, 1)
    with pytest.raises(TypeError):
        session.save()
    assert SID not in memory.store


# -- corrupt data ------------------------------------------------------------------------


@pytest.mark.parametrize("stored", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_unreadable_stored_data_starts_an_empty_session_with_a_warning(
    memory: MemoryHandler, caplog: pytest.LogCaptureFixture, stored: bytes
) -> None:
    memory.store[SID] = stored
    session = Session(SID)
    with caplog.at_level(logging.WARNING, logger="workerman.core"):
        assert session.all() == {}
    assert [r.name for r in caplog.records] == ["workerman.core"]
    assert "unreadable" in caplog.text
    assert SID not in caplog.text  # the id is a credential
    session.save()
    assert memory.calls[-1] == ("read", SID)  # corrupt data is not kept alive
    session["a"] = 1
    session.save()
    assert memory.store[SID] == b'{"a":1}'


def test_a_session_file_without_its_lifetime_header_reads_as_missing(
    files: FileSessionHandler, caplog: pytest.LogCaptureFixture
) -> None:
    session_file(files, SID).write_bytes(b'{"a":1}')
    with caplog.at_level(logging.WARNING, logger="workerman.core"):
        assert files.read(SID) is None
    assert "lifetime header" in caplog.text


# -- regenerate_id and destroy -----------------------------------------------------------


def test_regenerate_id_moves_the_data_to_a_new_id_and_destroys_the_old_on_save(
    files: FileSessionHandler,
) -> None:
    setup = Session(SID)
    setup["user"] = "ada"
    setup.save()

    session = Session(SID)
    assert not session.id_changed
    new_id = session.regenerate_id()
    assert new_id == session.id != SID
    assert valid_session_id(new_id)
    assert session.id_changed
    assert session["user"] == "ada"
    assert session_file(files, SID).exists()  # until saved
    session.save()
    assert not session_file(files, SID).exists()
    assert Session(new_id).all() == {"user": "ada"}
    assert Session(SID).all() == {}
    assert f"WMSESSID={new_id};" in session.cookie_header()


def test_regenerating_twice_before_saving_destroys_the_stored_id_and_keeps_the_last(
    memory: MemoryHandler,
) -> None:
    memory.store[SID] = b'{"a":1}'
    session = Session(SID)
    session.regenerate_id()
    last = session.regenerate_id()
    session.save()
    assert set(memory.store) == {last}
    assert ("destroy", SID) in memory.calls


def test_a_failed_write_after_regenerate_id_keeps_the_old_data(memory: MemoryHandler) -> None:
    memory.store[SID] = b'{"a":1}'
    session = Session(SID)
    session.regenerate_id()

    def fail(session_id: str, data: bytes, lifetime: int) -> None:
        raise OSError("disk full")

    memory.write = fail  # type: ignore[method-assign]
    with pytest.raises(OSError):
        session.save()
    assert memory.store[SID] == b'{"a":1}'


def test_destroy_removes_the_stored_data_at_once_and_empties_the_session(
    files: FileSessionHandler,
) -> None:
    session = Session(SID)
    session["user"] = "ada"
    session.save()
    session.destroy()
    assert not session_file(files, SID).exists()
    assert session.all() == {}
    session.save()
    assert not session_file(files, SID).exists()


# -- cookie --------------------------------------------------------------------------------


def test_the_cookie_header_follows_the_class_settings(memory: MemoryHandler) -> None:
    session = Session(SID)
    assert session.cookie_header() == f"WMSESSID={SID}; Path=/; HttpOnly; SameSite=Lax"
    Session.name = "sid"
    Session.cookie_lifetime = 3600
    Session.domain = "example.com"
    Session.cookie_path = "/app"
    Session.secure = True
    Session.http_only = False
    Session.same_site = "Strict"
    header = session.cookie_header()
    assert header.startswith(f"sid={SID}; Max-Age=3600; Expires=")
    assert header.endswith("GMT; Domain=example.com; Path=/app; Secure; SameSite=Strict")
    assert memory.calls == []


# -- handlers and serializers ------------------------------------------------------------


def test_a_custom_handler_satisfies_the_protocol_and_stores_the_sessions() -> None:
    handler = MemoryHandler()
    assert isinstance(handler, SessionHandler)
    Session.handler = handler
    assert Session.handler is handler
    session = Session(SID)
    session["a"] = 1
    session.save()
    assert handler.store == {SID: b'{"a":1}'}


def test_setting_a_handler_that_lacks_the_protocol_fails() -> None:
    class NoGc:
        def read(self, session_id: str) -> bytes | None:
            return None

    with pytest.raises(TypeError, match="SessionHandler"):
        Session.handler = NoGc()  # type: ignore[assignment]


def test_the_default_handler_is_a_private_file_store_made_on_first_use() -> None:
    assert vars(Session).get("_handler") is None  # the fixture's reset: nothing made yet
    handler = Session.handler
    assert isinstance(handler, FileSessionHandler)
    assert Session.handler is handler
    assert handler.save_path == os.path.join(tempfile.gettempdir(), "workerman-sessions")
    assert stat.S_IMODE(os.stat(handler.save_path).st_mode) == 0o700
    session = Session(SID)
    session["a"] = 1
    session.save()
    assert stat.S_IMODE(session_file(handler, SID).stat().st_mode) == 0o600


def test_the_default_directory_is_made_private_when_its_mode_is_loose() -> None:
    path = os.path.join(tempfile.gettempdir(), "workerman-sessions")
    os.mkdir(path)
    os.chmod(path, 0o777)
    FileSessionHandler()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_default_directory_owned_by_another_user_is_refused() -> None:
    path = os.path.join(tempfile.gettempdir(), "workerman-sessions")
    os.mkdir(path, 0o700)
    os.chown(path, 65534, -1)
    with pytest.raises(PermissionError, match="another user"):
        FileSessionHandler()


def test_a_symlink_in_place_of_the_default_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", os.path.join(tempfile.gettempdir(), "workerman-sessions"))
    with pytest.raises(PermissionError):
        FileSessionHandler()


def test_pickle_can_replace_json_as_the_serializer(files: FileSessionHandler) -> None:
    Session.serializer = pickle
    session = Session(SID)
    session.put({"when": date(2024, 1, 1), "pair": (1, 2), "tags": {"a"}})
    session.save()
    assert session_file(files, SID).read_bytes().split(b"\n", 1)[1].startswith(b"\x80")
    assert Session(SID).all() == {"when": date(2024, 1, 1), "pair": (1, 2), "tags": {"a"}}


def test_json_turns_tuples_into_lists_and_keeps_unicode_readable() -> None:
    json = JsonSerializer()
    assert json.dumps({"pair": (1, 2), "name": "Ada Lovelace é"}) == (
        '{"pair":[1,2],"name":"Ada Lovelace é"}'.encode()
    )
    assert json.loads(b'{"pair":[1,2]}') == {"pair": [1, 2]}


# -- expiry and gc -----------------------------------------------------------------------


def test_data_unused_for_longer_than_its_lifetime_reads_as_missing(
    files: FileSessionHandler,
) -> None:
    files.write(SID, b"data", 60)
    age(session_file(files, SID), 30)
    assert files.read(SID) == b"data"
    age(session_file(files, SID), 61)
    assert files.read(SID) is None
    assert Session(SID).all() == {}


def test_touch_keeps_unchanged_data_alive(files: FileSessionHandler) -> None:
    files.write(SID, b"data", 60)
    age(session_file(files, SID), 50)
    files.touch(SID, 60)
    age_now = time.time() - session_file(files, SID).stat().st_mtime
    assert age_now < 5
    assert files.read(SID) == b"data"


def test_touch_does_not_revive_expired_data_nor_create_a_file(files: FileSessionHandler) -> None:
    files.write(SID, b"data", 60)
    age(session_file(files, SID), 120)
    files.touch(SID, 60)
    assert files.read(SID) is None
    files.touch(OTHER, 60)
    assert not session_file(files, OTHER).exists()


def test_touch_with_a_new_lifetime_stores_that_lifetime(files: FileSessionHandler) -> None:
    files.write(SID, b"data", 10)
    files.touch(SID, 100)
    age(session_file(files, SID), 50)
    assert files.read(SID) == b"data"


def test_a_saved_but_unchanged_session_refreshes_its_file(files: FileSessionHandler) -> None:
    Session.lifetime = 60
    files.write(SID, b'{"a":1}', 60)
    age(session_file(files, SID), 50)
    session = Session(SID)
    assert session["a"] == 1
    session.save()
    assert time.time() - session_file(files, SID).stat().st_mtime < 5


def test_a_lifetime_under_one_second_is_refused(files: FileSessionHandler) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        files.write(SID, b"data", 0)


def test_gc_removes_sessions_older_than_the_max_lifetime_and_counts_them(
    files: FileSessionHandler,
) -> None:
    fresh, stale, older = (create_session_id() for _ in range(3))
    for session_id in (fresh, stale, older):
        files.write(session_id, b"{}", 3600)
    age(session_file(files, stale), 200)
    age(session_file(files, older), 5000)
    leftover = Path(files.save_path) / ".tmp_ses_abandoned"
    leftover.write_bytes(b"half")
    age(leftover, 500)
    unrelated = Path(files.save_path) / "notes.txt"
    unrelated.write_bytes(b"keep")
    age(unrelated, 5000)

    assert files.gc(100) == 2
    assert sorted(p.name for p in Path(files.save_path).iterdir()) == [
        "notes.txt",
        f"ses_{fresh}",
    ]
    assert files.gc(100) == 0


def test_session_gc_uses_the_session_lifetime(memory: MemoryHandler) -> None:
    Session.lifetime = 77
    assert Session.gc() == 0
    assert memory.calls == [("gc", "77")]


def test_save_runs_gc_with_the_configured_probability(memory: MemoryHandler) -> None:
    Session.gc_probability = (1, 1)
    Session(SID).save()
    assert memory.calls == [("gc", "1440")]
    memory.calls.clear()
    Session.gc_probability = (0, 1)
    Session(SID).save()
    assert memory.calls == []


def test_a_failing_gc_is_logged_and_does_not_fail_the_save(
    memory: MemoryHandler, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(max_lifetime: int) -> int:
        raise OSError("no such directory")

    memory.gc = fail  # type: ignore[method-assign]
    Session.gc_probability = (1, 1)
    session = Session(SID)
    session["a"] = 1
    with caplog.at_level(logging.ERROR, logger="workerman.core"):
        session.save()
    assert memory.store[SID] == b'{"a":1}'
    assert "session gc failed" in caplog.text


# -- atomic writes -----------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    files: FileSessionHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    files.write(SID, b"old", 60)

    def fail(src: str, dst: str) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="rename failed"):
        files.write(SID, b"new", 60)
    monkeypatch.undo()
    assert files.read(SID) == b"old"
    assert [p.name for p in Path(files.save_path).iterdir()] == [f"ses_{SID}"]


def test_a_reader_never_sees_a_half_written_session(files: FileSessionHandler) -> None:
    size = 1 << 20
    payloads = [bytes([ord("a") + n]) * size for n in range(4)]
    files.write(SID, payloads[0], 60)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(payload: bytes) -> None:
        try:
            while not stop.is_set():
                files.write(SID, payload, 60)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    seen: set[bytes] = set()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            data = files.read(SID)
            assert data is not None
            assert data in payloads
            seen.add(data[:1])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(seen) > 1  # the writers really raced the reader
    assert [p.name for p in Path(files.save_path).iterdir()] == [f"ses_{SID}"]
