"""Build hook: compile the core's per-message modules with mypyc, or build pure Python.

Hatchling runs :class:`CompileHook` for every wheel, editable ones included:

- a wheel gets the extensions and their manifest next to the ``.py`` files, which it keeps;
- an editable install (``uv sync``) gets them written beside the sources in ``src/`` (they
  are in .gitignore), where the editable path finds them.

Any failure (no C compiler, no Python headers, ``WORKERMAN_NO_EXTENSIONS=1``) leaves a pure
wheel that works the same, with a warning. What runs is decided at import time by
``workerman/core/_extensions.py``, which checks the manifest against the sources, so an
edited ``.py`` is never shadowed by an older extension.

Run as a script it builds in place, for ``make sync``::

    python packages/core/hatch_build.py            # build when missing or stale
    python packages/core/hatch_build.py --force    # build anyway
    python packages/core/hatch_build.py --check    # exit 1 when missing or stale

The compiling itself runs in a child Python (``--compile``), so that a compiler crash or a
setuptools exit cannot take the build backend down with it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
PACKAGE = SRC / "workerman" / "core"
GROUP = "workerman_core"  # the shared library: workerman_core__mypyc.<suffix>


def _extensions() -> ModuleType:
    """workerman/core/_extensions.py, loaded by path (the package is not importable in the
    build environment): the list of modules, the manifest's name, the staleness check."""
    spec = importlib.util.spec_from_file_location(
        "_workerman_extensions", PACKAGE / "_extensions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXTENSIONS = _extensions()
MANIFEST: str = EXTENSIONS.MANIFEST


def modules() -> list[str]:
    return list(EXTENSIONS.MODULES)


def kernels() -> list[str]:
    return list(EXTENSIONS.KERNELS)


def suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def compile_into(out: Path) -> list[tuple[Path, str]]:
    """Compile a copy of the sources; return each file built with its path in a wheel
    (``workerman/core/_connection.<suffix>``, the manifest, the shared library)."""
    files = [*modules(), *kernels()]
    work = out / "work"
    shutil.copytree(SRC / "workerman", work / "workerman", ignore=shutil.ignore_patterns("*.so"))
    sums = {file: EXTENSIONS.source_digest(work / "workerman" / "core" / file) for file in files}
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--compile", str(out)],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        tail = "\n".join((child.stdout + child.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"mypyc build failed:\n{tail}")
    lib = out / "lib"
    built = [(path, path.relative_to(lib).as_posix()) for path in lib.rglob("*" + suffix())]
    wanted = {f"workerman/core/{file.rpartition('.')[0]}{suffix()}" for file in files}
    wanted.add(f"{GROUP}__mypyc{suffix()}")
    if {relative for _, relative in built} != wanted:
        raise RuntimeError(f"mypyc built {sorted(r for _, r in built)}, not {sorted(wanted)}")
    manifest = out / MANIFEST
    manifest.write_text(
        json.dumps(
            {
                "suffix": suffix(),
                "compiler": f"mypyc {_mypy_version()}",
                "seconds": round(time.monotonic() - started, 1),
                "modules": sums,
            },
            indent=1,
        )
    )
    built.append((manifest, f"workerman/core/{MANIFEST}"))
    return built


def _mypy_version() -> str:
    from mypy.version import __version__  # noqa: PLC0415 (only where mypy is installed)

    return __version__


def _compile_here(out: Path) -> None:
    """In the child, cwd a copy of ``src``: mypyc to C, then the C to extensions."""
    from mypyc.build import mypycify  # noqa: PLC0415 (only in the build's child)
    from setuptools import Distribution, Extension  # noqa: PLC0415

    paths = [f"workerman/core/{file}" for file in modules()]
    options = [
        "--ignore-missing-imports",  # anyio and the like need not be in the build environment
        "--explicit-package-bases",  # workerman is a namespace package
        "--cache-dir",
        str(out / "mypy-cache"),
    ]
    extensions = mypycify(
        [*options, *paths],
        opt_level="3",
        group_name=GROUP,
        multi_file=True,  # smaller C files, compiled in parallel
        target_dir=str(out / "c"),
    )
    for file in kernels():  # plain C, beside what mypyc made
        name = "workerman.core." + file.rpartition(".")[0].replace("/", ".")
        extensions.append(
            Extension(name, [f"workerman/core/{file}"], extra_compile_args=["-O3", "-Wall"])
        )
    dist = Distribution({"name": "workerman-core", "ext_modules": extensions})
    dist.script_args = [
        "build_ext",
        "--build-lib",
        str(out / "lib"),
        "--build-temp",
        str(out / "temp"),
        "--parallel",
        str(os.cpu_count() or 1),
    ]
    dist.parse_command_line()
    dist.run_commands()


def build_in_place(force: bool = False) -> str:
    """For ``make sync``: (re)build the extensions beside the sources when needed."""
    if os.environ.get("WORKERMAN_NO_EXTENSIONS", "") not in ("", "0"):
        return "skipped: WORKERMAN_NO_EXTENSIONS is set"
    reason = "forced" if force else EXTENSIONS.stale(PACKAGE)
    if reason is None:
        return "compiled modules are current"
    with tempfile.TemporaryDirectory(prefix="workerman-mypyc-") as tmp:
        started = time.monotonic()
        built = compile_into(Path(tmp))
        install(built, SRC)
    took = time.monotonic() - started
    return (
        f"compiled {len(modules())} modules with mypyc and {len(kernels())} C kernel(s)"
        f" in {took:.0f} s ({reason})"
    )


def install(built: list[tuple[Path, str]], src: Path) -> None:
    """Copy the built files into ``src``, the manifest last (it vouches for the rest);
    remove extensions of an older build that this one has not (a module taken off the
    list), which would otherwise still shadow their sources."""
    targets = {src / relative for _, relative in built}
    for old in (src / "workerman" / "core").rglob("*" + suffix()):
        if old not in targets:
            old.unlink()
    for path, relative in sorted(built, key=lambda item: item[1].endswith(MANIFEST)):
        target = src / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)  # a running process keeps the file it mapped


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, outside the build environment
    BuildHookInterface = object  # type: ignore[assignment,misc]


class CompileHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("WORKERMAN_NO_EXTENSIONS", "") not in ("", "0"):
            self.app.display_info("workerman-core: pure Python (WORKERMAN_NO_EXTENSIONS is set)")
            return
        self._tmp = tempfile.mkdtemp(prefix="workerman-mypyc-")
        try:
            built = compile_into(Path(self._tmp))
        except Exception as exc:
            self.app.display_warning(f"workerman-core: building pure Python, as {exc}")
            return
        if version == "editable":
            install(built, SRC)
        else:
            for path, relative in built:
                build_data["force_include"][str(path)] = relative
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        self.app.display_info(
            f"workerman-core: compiled {len(modules())} modules with mypyc"
            f" and {len(kernels())} C kernel(s)"
        )

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compile"]:
        _compile_here(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--check"]:
        why = EXTENSIONS.stale(PACKAGE)
        print(why or "compiled modules are current")
        sys.exit(0 if why is None else 1)
    else:
        try:
            print("workerman-core:", build_in_place(force="--force" in sys.argv))
        except RuntimeError as exc:  # no compiler: the pure modules run, as on install
            print(f"workerman-core: pure Python, as {exc}", file=sys.stderr)
