"""Compiled or pure: which build of the per-message modules runs, and that it says so.

CI runs the suite twice: with ``WORKERMAN_REQUIRE_COMPILED=1`` (the compiled build, where
:func:`test_the_compiled_modules_loaded` fails unless every module is an extension) and with
``WORKERMAN_NO_EXTENSIONS=1`` (the pure build).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import workerman.core
from workerman.core import _extensions

CORE = Path(workerman.core.__file__).parent
SRC = CORE.parents[1]
EXTENSION = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def version(*, path: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``--version`` in a child Python, then whether its modules loaded compiled, and the
    file of its ``_connection``; with ``path`` (a copy of src) the child imports that copy,
    compiled unless the copy says otherwise."""
    environ = dict(os.environ, **env)
    if path is not None:
        environ["PYTHONPATH"] = str(path)
        environ.pop("WORKERMAN_NO_EXTENSIONS", None)
    code = (
        "import sys, runpy; sys.argv = ['x', '--version']\n"
        "try:\n    runpy.run_module('workerman.core', run_name='__main__')\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "from workerman.core import _extensions\n"
        "print(sorted(set(_extensions.loaded().values())))\n"
        "print(sys.modules['workerman.core._connection'].__file__)\n"
        "sys.exit(code)"
    )
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_build_reported_is_the_one_loaded() -> None:
    line = _extensions.describe()
    flags = _extensions.loaded()
    modules = sorted(_extensions.module_name(f) for f in _extensions.MODULES)
    kernels = sorted(_extensions.module_name(f) for f in _extensions.KERNELS)
    if _extensions.choose() == "compiled":
        assert len(_extensions.KERNELS) == 2
        assert line == f"compiled (mypyc, {len(_extensions.MODULES)} modules, 2 C kernels)"
        assert sorted(flags) == sorted(modules + kernels)
        assert all(flags.values())
    else:
        assert line.startswith("pure (")
        assert sorted(flags) == modules  # no kernel is loaded
        assert not any(flags.values())
        for name in kernels:
            with pytest.raises(ModuleNotFoundError):
                importlib.import_module(name)


@pytest.mark.skipif(
    os.environ.get("WORKERMAN_REQUIRE_COMPILED") != "1",
    reason="the compiled build is required only where WORKERMAN_REQUIRE_COMPILED=1 (CI)",
)
def test_the_compiled_modules_loaded() -> None:
    assert _extensions.stale() is None, _extensions.stale()
    assert _extensions.describe().startswith("compiled ("), _extensions.describe()
    for name, native in _extensions.loaded().items():
        assert native, f"{name} is pure Python: {sys.modules[name].__file__}"


def test_version_says_which_build() -> None:
    result = version()
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"workerman-core {workerman.core._runtime.package_version()}  Python ")
    assert first.endswith(_extensions.describe())


def test_no_extensions_in_the_environment_runs_pure() -> None:
    result = version(WORKERMAN_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    first, flags, connection = result.stdout.splitlines()
    assert first.endswith("pure (WORKERMAN_NO_EXTENSIONS is set)")
    assert flags == "[False]"
    assert connection.endswith("_connection.py")


@pytest.mark.skipif(_extensions.stale() is not None, reason="the compiled modules are not built")
def test_an_edited_source_is_never_shadowed_by_its_extension(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    unchanged = version(path=copy)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "compiled (mypyc" in unchanged.stdout
    assert unchanged.stdout.splitlines()[2].endswith(EXTENSION)

    edited = copy / "workerman" / "core" / "_parsing.py"
    edited.write_text(edited.read_text() + "\nEDITED = True\n")
    result = version(path=copy)
    assert result.returncode == 0, result.stderr
    first, flags, connection = result.stdout.splitlines()
    assert first.endswith("pure (_parsing.py changed since it was compiled)")
    assert flags == "[False]"  # all of them: never one compiled beside one pure
    assert connection.endswith("_connection.py")
    assert "RuntimeWarning" in result.stderr and "make sync" in result.stderr


@pytest.mark.skipif(_extensions.stale() is not None, reason="the compiled modules are not built")
def test_a_missing_extension_runs_pure(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for extension in (copy / "workerman" / "core" / "http").glob("_head.*"):
        if extension.name.endswith(EXTENSION):
            extension.unlink()
    result = version(path=copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith("pure (http/_head.py has no extension)")
    assert result.stdout.splitlines()[1] == "[False]"


def test_usage_without_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "workerman.core"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "--version" in result.stderr


@pytest.mark.skipif(_extensions.stale() is not None, reason="the compiled modules are not built")
def test_an_extension_of_a_module_off_the_list_is_never_imported(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    core = copy / "workerman" / "core"
    (shim,) = [p for p in core.glob("_connection.*") if p.name.endswith(EXTENSION)]
    # as a build with a longer list of modules would have left it: it shadows _timer.py
    assert "_timer.py" not in _extensions.MODULES
    shutil.copy(shim, core / shim.name.replace("_connection", "_timer"))
    result = version(path=copy)
    assert result.returncode == 0, result.stderr
    assert "compiled (mypyc" in result.stdout.splitlines()[0]


def test_the_public_classes_take_python_subclasses() -> None:
    """Compiled, a class must allow interpreted subclasses for these to work (mypyc_attr)."""
    from workerman.core import TcpConnection
    from workerman.core.http import Chunk, Request, Response, ServerSentEvents
    from workerman.core.protocols import Frame, Text
    from workerman.core.websocket import WebSocketError

    class MyResponse(Response):
        def tagged(self) -> MyResponse:
            return self.with_header("X-Tag", "1")

    class MyRequest(Request):
        @property
        def shout(self) -> str:
            return self.method + "!"

    class MyText(Text):
        pass

    class MyFrame(Frame):
        pass

    class MyConnection(TcpConnection):
        pass

    class MyChunk(Chunk):
        pass

    class MyEvents(ServerSentEvents):
        pass

    class MyError(WebSocketError):
        pass

    assert MyResponse(200, body="x").tagged().get_header("x-tag") == "1"
    request = MyRequest(None, b"GET / HTTP/1.1\r\nHost: a", b"", "GET", "/", "1.1", True)
    assert request.shout == "GET!" and request.header("host") == "a"
    assert MyText.decode(b"hi\r\n", None) == "hi" and MyFrame.encode(b"ab", None)[-2:] == b"ab"
    assert issubclass(MyConnection, TcpConnection)
    assert isinstance(MyChunk(b"x"), Chunk) and isinstance(MyEvents("x"), ServerSentEvents)
    assert MyError(1002, "bad").code == 1002
