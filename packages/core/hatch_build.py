"""Build hook: compile a package's hot modules with mypyc, or build pure Python.

The core's per-message modules, and those of any package built on it that lists its own (the
asgi package's: ``packages/asgi/hatch_build.py`` hands over to this file). The package being
built is the one under the project's ``src/workerman/`` with an ``_extensions.py``; its
:data:`MODULES` tuple there says which modules (read as a literal, not imported).

Hatchling runs :class:`CompileHook` for every wheel, editable ones included:

- a wheel gets the extensions and their manifest next to the ``.py`` files, which it keeps;
- an editable install (``uv sync``) gets them written beside the sources in ``src/`` (they
  are in .gitignore), where the editable path finds them.

Any failure (no C compiler, no Python headers, ``WORKERMAN_NO_EXTENSIONS=1``) leaves a pure
wheel that works the same, with a warning. What runs is decided at import time by
:mod:`workerman.core.compiled`, which checks the manifest against the sources, so an edited
``.py`` is never shadowed by an older extension.

Run as a script it builds in place, for ``make sync``::

    python packages/core/hatch_build.py [PROJECT ...]          # build when missing or stale
    python packages/core/hatch_build.py --force [PROJECT ...]  # build anyway
    python packages/core/hatch_build.py --check [PROJECT ...]  # exit 1 when missing or stale

(PROJECT: a package's directory, ``packages/asgi``; the core's when none is named.)

The compiling itself runs in a child Python (``--compile``), so that a compiler crash or a
setuptools exit cannot take the build backend down with it.
"""

from __future__ import annotations

import ast
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

HERE = Path(__file__).resolve().parent
#: the core's sources, beside this file (an sdist of another package carries only this
#: file and ``compiled.py`` beside it)
CORE_SRC = HERE / "src"


def _compiled() -> ModuleType:
    """workerman/core/compiled.py, loaded by path (the core is not importable in the build
    environment): the manifest's name, the digest, the staleness check."""
    path = CORE_SRC / "workerman" / "core" / "compiled.py"
    if not path.exists():
        path = HERE / "compiled.py"
    spec = importlib.util.spec_from_file_location("_workerman_compiled", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPILED = _compiled()
MANIFEST: str = COMPILED.MANIFEST


def suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]


class Project:
    """The package a project directory builds: ``src/workerman/<name>`` with its list of
    modules in ``_extensions.py``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.src = self.root / "src"
        (listing,) = sorted(self.src.glob("workerman/*/_extensions.py"))
        self.package = listing.parent
        self.name = self.package.name  # core, asgi
        self.dist = f"workerman-{self.name}"
        self.group = f"workerman_{self.name}"  # the shared library: workerman_core__mypyc.<suffix>
        self.modules = _literal(listing, "MODULES")
        self.kernels = _literal(listing, "KERNELS", ())  # C sources, beside what mypyc makes
        self.extensions = COMPILED.CompiledModules(
            f"workerman.{self.name}", self.modules, self.package, self.kernels
        )

    def summary(self) -> str:
        kernels = f" and {len(self.kernels)} C kernel(s)" if self.kernels else ""
        return f"{len(self.modules)} modules with mypyc{kernels}"

    def stale(self) -> str | None:
        """Why the extensions beside the sources cannot be used (None: they can)."""
        return self.extensions.stale()  # type: ignore[no-any-return]


def _literal(path: Path, name: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The value of the module-level ``name = (...)`` of ``path``, a literal (``default``
    where there is none, if given)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                assert node.value is not None
                return tuple(ast.literal_eval(node.value))
    if default is not None:
        return default
    raise RuntimeError(f"{path} has no {name} = (...)")


def compile_into(project: Project, out: Path) -> list[tuple[Path, str]]:
    """Compile a copy of the sources; return each file built with its path in a wheel
    (``workerman/core/_connection.<suffix>``, the manifest, the shared library)."""
    prefix = f"workerman/{project.name}"
    work = out / "work"
    shutil.copytree(
        project.src / "workerman", work / "workerman", ignore=shutil.ignore_patterns("*.so")
    )
    files = [*project.modules, *project.kernels]
    sums = {file: COMPILED.source_digest(work / prefix / file) for file in files}
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--compile", str(project.root), str(out)],
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
    wanted = {f"{prefix}/{file.rpartition('.')[0]}{suffix()}" for file in files}
    wanted.add(f"{project.group}__mypyc{suffix()}")
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
    built.append((manifest, f"{prefix}/{MANIFEST}"))
    return built


def _mypy_version() -> str:
    from mypy.version import __version__  # noqa: PLC0415 (only where mypy is installed)

    return __version__


def _compile_here(project: Project, out: Path) -> None:
    """In the child, cwd a copy of ``src``: mypyc to C, then the C to extensions."""
    from mypyc.build import mypycify  # noqa: PLC0415 (only in the build's child)
    from setuptools import Distribution, Extension  # noqa: PLC0415

    if project.name != "core" and (CORE_SRC / "workerman" / "core" / "__init__.py").exists():
        # the core's types, from its sources beside this file (its modules are not compiled
        # here: calls into them go through Python, whatever build of the core runs)
        os.environ["MYPYPATH"] = str(CORE_SRC)
    paths = [f"workerman/{project.name}/{file}" for file in project.modules]
    options = [
        "--ignore-missing-imports",  # anyio and the like need not be in the build environment
        "--explicit-package-bases",  # workerman is a namespace package
        "--cache-dir",
        str(out / "mypy-cache"),
    ]
    extensions = mypycify(
        [*options, *paths],
        opt_level="3",
        group_name=project.group,
        multi_file=True,  # smaller C files, compiled in parallel
        target_dir=str(out / "c"),
    )
    for file in project.kernels:  # plain C on the CPython API
        name = f"workerman.{project.name}." + file.rpartition(".")[0].replace("/", ".")
        source = f"workerman/{project.name}/{file}"
        extensions.append(Extension(name, [source], extra_compile_args=["-O3", "-Wall"]))
    dist = Distribution({"name": project.dist, "ext_modules": extensions})
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


def build_in_place(project: Project, force: bool = False) -> str:
    """For ``make sync``: (re)build the extensions beside the sources when needed."""
    if COMPILED.no_extensions():
        return "skipped: WORKERMAN_NO_EXTENSIONS is set"
    reason = "forced" if force else project.stale()
    if reason is None:
        return "compiled modules are current"
    with tempfile.TemporaryDirectory(prefix="workerman-mypyc-") as tmp:
        started = time.monotonic()
        built = compile_into(project, Path(tmp))
        install(project, built)
    took = time.monotonic() - started
    return f"compiled {project.summary()} in {took:.0f} s ({reason})"


def install(project: Project, built: list[tuple[Path, str]]) -> None:
    """Copy the built files into the project's ``src``, the manifest last (it vouches for
    the rest); remove extensions of an older build that this one has not (a module taken
    off the list), which would otherwise still shadow their sources."""
    src = project.src
    targets = {src / relative for _, relative in built}
    for old in project.package.rglob("*" + suffix()):
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
        project = Project(Path(self.root))
        if COMPILED.no_extensions():
            self.app.display_info(f"{project.dist}: pure Python (WORKERMAN_NO_EXTENSIONS is set)")
            return
        self._tmp = tempfile.mkdtemp(prefix="workerman-mypyc-")
        try:
            built = compile_into(project, Path(self._tmp))
        except Exception as exc:
            self.app.display_warning(f"{project.dist}: building pure Python, as {exc}")
            return
        if version == "editable":
            install(project, built)
        else:
            for path, relative in built:
                build_data["force_include"][str(path)] = relative
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        self.app.display_info(f"{project.dist}: compiled {project.summary()}")

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str], default: Path = HERE) -> int:
    """The script: ``--compile ROOT OUT`` (the child), or ``[--check|--force] [PROJECT ...]``."""
    if argv[:1] == ["--compile"]:
        _compile_here(Project(Path(argv[1])), Path(argv[2]))
        return 0
    flags = [arg for arg in argv if arg.startswith("--")]
    projects = [Project(Path(arg)) for arg in argv if not arg.startswith("--")]
    status = 0
    for project in projects or [Project(default)]:
        if "--check" in flags:
            why = project.stale()
            print(f"{project.dist}:", why or "compiled modules are current")
            status = status or (0 if why is None else 1)
            continue
        try:
            print(f"{project.dist}:", build_in_place(project, force="--force" in flags))
        except RuntimeError as exc:  # no compiler: the pure modules run, as on install
            print(f"{project.dist}: pure Python, as {exc}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
