"""Compiled or pure: the asgi package's per-request modules, chosen apart from the core's.

As for the core (tests/core/test_extensions.py), CI's run with
``WORKERMAN_REQUIRE_COMPILED=1`` fails unless every module loaded as an extension, and its
``WORKERMAN_NO_EXTENSIONS=1`` run has them all pure.
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import workerman.asgi
from workerman.asgi import _extensions
from workerman.core.compiled import chosen

BUILD = _extensions.EXTENSIONS
SRC = Path(workerman.asgi.__file__).parents[2]
EXTENSION = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def version(path: Path | None = None, **env: str) -> tuple[str, str]:
    """``python -m workerman.asgi --version`` in a child Python (with ``path``, a copy of
    asgi's src, first on its path): its line, and the file its ``_http`` came from."""
    environ = dict(os.environ, **env)
    if path is not None:
        environ["PYTHONPATH"] = os.pathsep.join([str(path), environ.get("PYTHONPATH", "")])
    code = (
        "import sys, runpy; sys.argv = ['x', '--version']\n"
        "try:\n    runpy.run_module('workerman.asgi', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sys.modules['workerman.asgi._http'].__file__)"
    )
    argv = [sys.executable, "-W", "always", "-c", code]
    output = subprocess.check_output(argv, env=environ, text=True, timeout=60)
    line, http = output.splitlines()
    return line, http


def test_the_build_reported_is_the_one_loaded() -> None:
    line = BUILD.describe()
    flags = BUILD.loaded()
    assert sorted(flags) == sorted(BUILD.module_name(f) for f in _extensions.MODULES)
    assert set(flags.values()) == {BUILD.choose() == "compiled"}
    assert line.startswith("compiled (mypyc, " if BUILD.choose() == "compiled" else "pure (")
    assert list(chosen())[-2:] == ["workerman.core", "workerman.asgi"]  # the core chose first


@pytest.mark.skipif(
    os.environ.get("WORKERMAN_REQUIRE_COMPILED") != "1",
    reason="the compiled build is required only where WORKERMAN_REQUIRE_COMPILED=1 (CI)",
)
def test_the_compiled_modules_loaded() -> None:
    assert BUILD.stale() is None, BUILD.stale()
    assert BUILD.describe() == f"compiled (mypyc, {len(_extensions.MODULES)} modules)"
    assert all(BUILD.loaded().values()), BUILD.loaded()


def test_version_says_each_packages_build() -> None:
    line, http = version()
    assert line.startswith(f"workerman-asgi {metadata.version('workerman-asgi')}  ")
    assert line.endswith(f"  workerman.asgi {BUILD.describe()}")
    assert "  workerman.core " in line
    line, http = version(WORKERMAN_NO_EXTENSIONS="1")
    assert line.endswith(
        "workerman.core pure (WORKERMAN_NO_EXTENSIONS is set)  "
        "workerman.asgi pure (WORKERMAN_NO_EXTENSIONS is set)"
    )
    assert http.endswith("_http.py")


@pytest.mark.skipif(BUILD.stale() is not None, reason="asgi's compiled modules are not built")
def test_an_edited_source_runs_this_package_pure_and_leaves_the_core_as_it_is(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"WORKERMAN_NO_EXTENSIONS": "0"}
    unchanged, http = version(copy, **env)
    assert "workerman.asgi compiled (mypyc" in unchanged and http.endswith(EXTENSION)
    assert http.startswith(str(copy))

    edited = copy / "workerman" / "asgi" / "_scope.py"
    edited.write_text(edited.read_text() + "\nEDITED = True\n")
    line, http = version(copy, **env)
    assert line.endswith("workerman.asgi pure (_scope.py changed since it was compiled)")
    assert http.endswith("_http.py")  # all of them: never one compiled beside one pure
    core = unchanged.partition("  workerman.core ")[2].partition("  workerman.asgi ")[0]
    assert f"  workerman.core {core}  workerman.asgi pure" in line


def test_the_public_worker_takes_python_subclasses() -> None:
    """Compiled, a class must allow interpreted subclasses for this to work (mypyc_attr)."""

    class MyWorker(workerman.asgi.AsgiWorker):
        def tagged(self) -> str:
            return f"{self.name}!"

    assert MyWorker("main:app", name="mine").tagged() == "mine!"
