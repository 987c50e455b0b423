"""The monitor's parts on their own: what counts as code, the compile check, sizes, mount
types, the poller, the settings, and the fallback when inotify watches run short."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workerman.file_monitor as fm
from workerman.core import Worker
from workerman.file_monitor import Change, FileMonitor, SettingError, check_source
from workerman.file_monitor._change import from_watchfiles
from workerman.file_monitor._filter import PathFilter
from workerman.file_monitor._memory import children_of, parse_size, resident_bytes
from workerman.file_monitor._mounts import filesystem_of, needs_polling, parse_mountinfo
from workerman.file_monitor._poll import ADDED, DELETED, MODIFIED, Poller

# -- what counts as code -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "wanted"),
    [
        ("app.py", True),
        ("pkg/views/home.html", True),
        (".env", True),
        ("pkg/__pycache__/app.cpython-311.pyc", False),
        ("pkg/__pycache__/app.py", False),
        (".git/config.py", False),
        ("node_modules/x/index.py", False),
        (".venv/lib/site.py", False),
        ("notes.txt", False),  # not an extension we watch
        (".app.py.swp", False),  # vim
        ("app.py~", False),
        ("4913", False),  # vim's probe file
        (".#app.py", False),  # emacs lock
        ("#app.py#", False),  # emacs autosave
        ("app.py___jb_tmp___", False),  # JetBrains
        ("app.py.tmp", False),
    ],
)
def test_the_filter_keeps_code_and_drops_caches_vcs_and_editor_files(
    tmp_path: Path, relative: str, wanted: bool
) -> None:
    path_filter = PathFilter([str(tmp_path)], (".py", ".html", ".env"))
    assert path_filter(None, str(tmp_path / relative)) is wanted


def test_ignored_folder_names_count_only_below_the_watched_root(tmp_path: Path) -> None:
    root = tmp_path / "build" / ".venv" / "project"  # a project that lives in such a place
    path_filter = PathFilter([str(root)], (".py",))
    assert path_filter(None, str(root / "app.py"))
    assert not path_filter(None, str(root / "build2" / ".venv" / "x.py"))
    assert not path_filter(None, str(tmp_path / "elsewhere.py"))


def test_walk_lists_the_watched_files_and_prunes_ignored_folders(tmp_path: Path) -> None:
    for relative in ("a.py", "sub/b.py", "sub/c.txt", "__pycache__/d.py", ".git/e.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")
    path_filter = PathFilter([str(tmp_path)], (".py",), ignore_dirs=["sub2"])
    assert sorted(path_filter.walk()) == [str(tmp_path / "a.py"), str(tmp_path / "sub/b.py")]
    assert path_filter.folders() == 4  # inotify watches every folder, ignored ones too


def test_every_file_counts_when_extensions_is_empty(tmp_path: Path) -> None:
    assert PathFilter([str(tmp_path)], ())(None, str(tmp_path / "Makefile"))


# -- the compile check ---------------------------------------------------------------------


def test_a_file_that_compiles_has_no_problem(tmp_path: Path) -> None:
    path = tmp_path / "ok.py"
    path.write_text("def f():\n    return '\\d'\n")  # a SyntaxWarning is not a problem
    assert check_source(str(path)) is None
    assert not list(tmp_path.glob("**/*.pyc"))  # and nothing was written


@pytest.mark.parametrize(
    ("source", "line", "kind"),
    [
        ("x = 1\ndef f(:\n    pass\n", 2, "SyntaxError"),
        ("if True:\npass\n", 2, "IndentationError"),
        ("x = (\n", 1, "SyntaxError"),
    ],
)
def test_a_syntax_error_names_the_file_and_line(
    tmp_path: Path, source: str, line: int, kind: str
) -> None:
    path = tmp_path / "broken.py"
    path.write_text(source)
    problem = check_source(str(path))
    assert problem is not None
    assert (problem.path, problem.line) == (str(path), line)
    assert problem.message.startswith(kind)
    assert str(problem).startswith(f"{path}:{line}")


def test_a_nul_byte_is_a_problem_and_a_deleted_file_is_not(tmp_path: Path) -> None:
    path = tmp_path / "nul.py"
    path.write_bytes(b"x = 1\0\n")
    problem = check_source(str(path))
    assert problem is not None
    assert "null" in problem.message.lower() or "NUL" in problem.message
    assert check_source(str(tmp_path / "gone.py")) is None


# -- sizes and processes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("512M", 512 << 20),
        ("1G", 1 << 30),
        ("1.5g", 3 << 29),
        ("800MiB", 800 << 20),
        ("64K", 64 << 10),
        ("1048576", 1 << 20),
        (4096, 4096),
        (None, 0),
        (0, 0),
    ],
)
def test_memory_limits_read_like_php_memory_limit(value: int | str | None, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["lots", "12X", "-5M", -1, True, 1.5, "M"])
def test_a_memory_limit_that_is_not_a_size_is_a_setting_error(value: object) -> None:
    with pytest.raises(SettingError):
        parse_size(value)  # type: ignore[arg-type]


def test_children_and_their_memory_come_from_proc() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"up\n"  # running Python, not just forked
        assert child.pid in children_of(os.getpid())
        rss = resident_bytes(child.pid)
        assert rss is not None and rss > 1 << 20
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.pid not in children_of(os.getpid())
    assert resident_bytes(child.pid) is None


# -- mounts -------------------------------------------------------------------------------

MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /srv/share rw,relatime - nfs4 server:/export rw
41 27 0:51 / /mnt/c rw,relatime - 9p drvfs rw
42 27 0:52 / /home/me/remote\\040dir rw - fuse.sshfs me@host: rw
43 40 254:1 / /srv/share/local rw - ext4 /dev/vdb rw
"""


def test_mountinfo_lines_give_mount_points_and_types() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert ("/home/me/remote dir", "fuse.sshfs") in mounts
    assert filesystem_of("/srv/share/app", mounts) == "nfs4"
    assert filesystem_of("/srv/share/local/app", mounts) == "ext4"  # the deepest mount
    assert filesystem_of("/srv/shared", mounts) == "ext4"  # not inside /srv/share


@pytest.mark.parametrize(
    ("path", "polls"),
    [
        ("/srv/app", False),
        ("/srv/share/app", True),
        ("/mnt/c/code", True),
        ("/home/me/remote dir/x", True),
        ("/srv/share/local", False),
    ],
)
def test_network_fuse_and_vm_shares_are_polled(path: str, polls: bool) -> None:
    assert (needs_polling([path], MOUNTINFO) is not None) is polls


# -- the poller ------------------------------------------------------------------------------


def test_the_poller_sees_same_size_saves_within_one_second(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    poller = Poller(PathFilter([str(tmp_path)], (".py",)))
    assert poller.changes() == set()
    path.write_text("x = 2\n")
    (tmp_path / "__pycache__" / "a.py").write_text("")
    assert poller.changes() == {(MODIFIED, str(path))}
    new = tmp_path / "b.py"
    new.write_text("")
    path.unlink()
    assert poller.changes() == {(ADDED, str(new)), (DELETED, str(path))}


def test_changes_are_one_per_path() -> None:
    here = os.path.abspath(__file__)
    raw = {(1, "/gone.py"), (3, "/gone.py"), (2, here), (1, here), (2, "/b.py")}
    # sorted by path, wherever the checkout lives
    assert from_watchfiles(raw) == sorted(
        [Change("/b.py", "modified"), Change("/gone.py", "deleted"), Change(here, "modified")]
    )


# -- settings ---------------------------------------------------------------------------------


@pytest.fixture
def monitors() -> Iterator[None]:
    """Monitors made here leave the Worker registry as it was."""
    workers, instances = list(Worker.workers), list(FileMonitor.instances)
    yield
    Worker.workers[:] = workers
    FileMonitor.instances[:] = instances


@pytest.mark.usefixtures("monitors")
@pytest.mark.parametrize(
    "settings",
    [
        {"paths": ["/no/such/folder"]},
        {"debounce": 0},
        {"poll_interval": -1},
        {"memory_limit": "much"},
        {"extensions": [""]},
        {"max_files": -1},
    ],
)
def test_bad_settings_are_refused_when_the_monitor_is_made(settings: dict[str, object]) -> None:
    with pytest.raises(SettingError):
        FileMonitor(**settings)  # type: ignore[arg-type]


@pytest.mark.usefixtures("monitors")
def test_a_monitor_is_a_worker_of_its_own_that_is_not_reloadable(tmp_path: Path) -> None:
    monitor = FileMonitor(tmp_path, memory_limit="1G")
    assert monitor.worker in Worker.workers
    assert (monitor.worker.count, monitor.worker.reloadable) == (1, False)
    assert monitor.worker.socket_name == ""
    assert monitor.paths == [os.path.realpath(tmp_path)]
    assert monitor.memory_limit == 1 << 30
    assert FileMonitor(None).paths == [os.path.dirname(os.path.realpath(sys.argv[0]))]


@pytest.mark.usefixtures("monitors")
def test_folders_beyond_the_inotify_limit_are_polled_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("WATCHFILES_FORCE_POLLING", raising=False)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monitor = FileMonitor(tmp_path)
    monkeypatch.setattr("workerman.file_monitor._monitor._inotify_watch_limit", lambda: 2)
    with caplog.at_level(logging.WARNING, "workerman.file_monitor"):
        assert monitor._choose_polling() is True
    assert "inotify watches run short: 3 folders" in caplog.text
    assert FileMonitor(tmp_path, polling=False)._choose_polling() is False


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.usefixtures("monitors")
async def test_watches_running_short_while_watching_switch_to_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = FileMonitor(tmp_path, polling=False, poll_interval=0.05, debounce=0.01)
    opened: list[bool] = []
    real_open = monitor._open

    def open_watcher(polling: bool) -> object:
        opened.append(polling)
        if not polling:
            raise OSError('OS file watch limit reached. about ["/x"]')
        return real_open(polling)

    reloads: list[float] = []
    monkeypatch.setattr(monitor, "_open", open_watcher)
    monkeypatch.setattr(monitor, "_reload", lambda: reloads.append(time.monotonic()))
    with caplog.at_level(logging.INFO, "workerman.file_monitor"):
        async with anyio.create_task_group() as group:
            group.start_soon(monitor._watch)
            while monitor.mode != "polling":
                await anyio.sleep(0.01)
            (tmp_path / "new.py").write_text("x = 1\n")
            while not reloads:
                await anyio.sleep(0.01)
            monitor._on_worker_stop(monitor.worker)
    assert opened == [False, True]
    assert "inotify watches ran short" in caplog.text
    assert monitor.report()["batches"] == 1


def test_the_public_surface_is_what_all_names() -> None:
    assert sorted(fm.__all__) == sorted(
        name for name in dir(fm) if not name.startswith("_") and name != "annotations"
    )


@pytest.mark.anyio
@pytest.mark.usefixtures("monitors")
async def test_a_monitor_served_without_a_master_calls_on_change_and_signals_nobody(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    batches: list[list[Change]] = []
    monitor = FileMonitor(tmp_path, on_change=batches.append, memory_limit="1K")
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: kills.append((pid, signum)))
    with caplog.at_level(logging.INFO, "workerman.file_monitor"):
        async with monitor.worker.serving():
            while monitor.mode != "notify":
                await anyio.sleep(0.01)
            (tmp_path / "a.py").write_text("x = 1\n")
            while not batches:
                await anyio.sleep(0.01)
    assert batches == [[Change(str(tmp_path / "a.py"), "added")]]
    assert kills == []  # not our parent (the shell that ran pytest), nor anyone
    assert "outside a master" in caplog.text


@given(
    steps=st.lists(
        st.lists(
            st.tuples(st.sampled_from(["a.py", "b.py", "sub/c.py", "d.txt"]), st.booleans()),
            max_size=4,
        ),
        max_size=6,
    )
)
@settings(max_examples=40, deadline=None)
def test_the_poller_reports_exactly_what_each_round_of_saves_and_deletes_changed(
    steps: list[list[tuple[str, bool]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "sub").mkdir()
        poller = Poller(PathFilter([folder], (".py",)))
        counter = 0
        for step in steps:
            before = {p for p in ("a.py", "b.py", "sub/c.py") if (root / p).exists()}
            touched: set[str] = set()
            for name, write in step:
                path = root / name
                if write:
                    counter += 1
                    path.write_text(f"x = {counter}\n")  # new content, often the same size
                    touched.add(name)
                elif path.exists():
                    path.unlink()
                    touched.add(name)
            after = {p for p in ("a.py", "b.py", "sub/c.py") if (root / p).exists()}
            expected = {(DELETED, p) for p in before - after} | {(ADDED, p) for p in after - before}
            expected |= {(MODIFIED, p) for p in (before & after) & touched}
            got = {(kind, os.path.relpath(path, folder)) for kind, path in poller.changes()}
            assert got == expected
