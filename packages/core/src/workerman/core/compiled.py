"""Which build of a package's compiled modules runs: mypyc C extensions or pure Python.

For the core and for the packages built on it that compile their own hot modules (the
core's build hook, ``packages/core/hatch_build.py``, builds any of them). A package lists
its modules and decides once, in its ``__init__``, before any of them is imported::

    # workerman/asgi/_extensions.py, imported first by workerman/asgi/__init__.py
    EXTENSIONS = CompiledModules("workerman.asgi", MODULES, Path(__file__).parent)
    EXTENSIONS.choose()

The modules exist as ``.py`` and may also exist compiled, side by side (``_http.py`` and
``_http.cpython-311-x86_64-linux-gnu.so``). Python would load the extension whenever it is
there, so :meth:`CompiledModules.choose` decides for all of them at once:

- ``WORKERMAN_NO_EXTENSIONS=1`` in the environment: pure.
- The build's manifest (``_compiled.json``, written beside the extensions) holds the SHA-256
  of every source as it was compiled. A source edited since, an extension missing, or one
  built for another Python: pure, with a warning saying which, until the modules are built
  again (``make sync``).
- Otherwise compiled.

A finder placed first on ``sys.meta_path`` hands out the ``.py`` of every module of the
package but those chosen to load compiled (pure: none), so a stale extension is never
imported. It is all or none: compiled modules call each other directly, and one of them pure
would split a class in two.

This module imports nothing but the standard library and is never compiled: the build hook
loads it by path, where the package is not importable, for :data:`MANIFEST`,
:func:`source_digest` and :meth:`CompiledModules.stale`.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = ["MANIFEST", "CompiledModules", "chosen", "no_extensions", "source_digest"]

#: the build's manifest, beside the extensions: suffix, compiler, each source's SHA-256
MANIFEST = "_compiled.json"


def source_digest(path: Path) -> str:
    """The SHA-256 of a source file, as the manifest holds it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_extensions() -> bool:
    """``WORKERMAN_NO_EXTENSIONS`` is set (to anything but ``0``): pure Python."""
    return os.environ.get("WORKERMAN_NO_EXTENSIONS", "") not in ("", "0")


_chosen: dict[str, CompiledModules] = {}


def chosen() -> dict[str, CompiledModules]:
    """The packages that have chosen their build, by name, in the order they did (the core
    first): for a ``--version`` that tells each one's."""
    return dict(_chosen)


class _SourceFinder:
    """Finds the ``.py`` of every module under ``prefix`` but those allowed to load
    compiled, ahead of any extension beside it (one of a build with another list of
    modules, say)."""

    def __init__(
        self, prefix: str, compiled: frozenset[str], kernels: frozenset[str] = frozenset()
    ) -> None:
        self.prefix = prefix
        self.compiled = compiled
        self.kernels = kernels - compiled  # not found at all: their Python stands in

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not fullname.startswith(self.prefix) or fullname in self.compiled:
            return None
        if fullname in self.kernels:
            raise ModuleNotFoundError(f"{fullname} is not loaded in the pure build", name=fullname)
        name = fullname.rpartition(".")[2]
        for folder in path or ():
            source = os.path.join(folder, name + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a package, or not a module of this one: the usual finders


class CompiledModules:
    """The compiled modules of the package ``package`` (``"workerman.asgi"``): ``modules``
    are their files under ``folder``, the package's directory (``"_http.py"``,
    ``"http/_head.py"``); ``kernels`` the C sources of extension modules that stand in for
    Python functions (``"http/_scan.c"``), which load with the modules or not at all (a
    module imports one where it can, and runs its own Python where it cannot)."""

    def __init__(
        self, package: str, modules: Sequence[str], folder: Path, kernels: Sequence[str] = ()
    ) -> None:
        self.package = package
        self.modules = tuple(modules)
        self.kernels = tuple(kernels)
        self.built = self.modules + self.kernels
        self.folder = folder
        self.build = ""  # "compiled" or "pure", once chosen
        self.reason = ""  # why pure

    def module_name(self, file: str) -> str:
        """``"http/_head.py"`` -> ``"workerman.core.http._head"`` (and ``.c`` alike)."""
        return f"{self.package}." + file.rpartition(".")[0].replace("/", ".")

    def stale(self) -> str | None:
        """Why the extensions in :attr:`folder` cannot be used, or None when they can (the
        build hook asks this too, before building in place)."""
        manifest = self.folder / MANIFEST
        if not manifest.exists():
            return "not built"
        data = json.loads(manifest.read_text())
        suffix = data.get("suffix", "")
        if suffix not in importlib.machinery.EXTENSION_SUFFIXES:
            return f"built for another Python ({suffix})"
        modules = data.get("modules", {})
        if sorted(modules) != sorted(self.built):
            return "built from another list of modules"
        for file, digest in modules.items():
            source = self.folder / file
            if not source.with_name(source.stem + suffix).exists():
                return f"{file} has no extension"
            if source_digest(source) != digest:
                return f"{file} changed since it was compiled"
        return None

    def choose(self) -> str:
        """Decide once, before any of the modules is imported: "compiled" or "pure"."""
        if self.build:
            return self.build
        reason = "WORKERMAN_NO_EXTENSIONS is set" if no_extensions() else self.stale()
        if reason is not None and not no_extensions() and reason != "not built":
            warnings.warn(
                f"{self.package} runs pure Python: the compiled modules are stale ({reason}); "
                "`make sync` builds them again",
                RuntimeWarning,
                stacklevel=2,
            )
        compiled: frozenset[str] = frozenset()
        if reason is None:
            compiled = frozenset(self.module_name(file) for file in self.built)
        self.build, self.reason = ("compiled", "") if reason is None else ("pure", reason)
        kernels = frozenset(self.module_name(file) for file in self.kernels)
        sys.meta_path.insert(0, _SourceFinder(self.package + ".", compiled, kernels))
        _chosen[self.package] = self
        return self.build

    def loaded(self) -> dict[str, bool]:
        """Each of the modules and kernels imported so far: whether it is an extension
        module."""
        found = {}
        for file in self.built:
            module = sys.modules.get(self.module_name(file))
            if module is not None:
                origin = getattr(module, "__file__", None) or ""
                found[module.__name__] = origin.endswith(
                    tuple(importlib.machinery.EXTENSION_SUFFIXES)
                )
        return found

    def describe(self) -> str:
        """``compiled (mypyc, 11 modules)`` (``, 1 C kernel`` where there are kernels) or
        ``pure (why)``, for ``--version`` and the startup table. It imports all the modules
        (which import the kernels) and reports how they loaded, so a module that loaded
        otherwise than chosen shows as ``mixed``."""
        build = self.choose()
        for file in self.modules:
            importlib.import_module(self.module_name(file))
        flags = self.loaded()
        if build == "compiled" and all(flags.values()) and len(flags) == len(self.built):
            kernels = len(self.kernels)
            also = f", {kernels} C kernel{'s' if kernels > 1 else ''}" if kernels else ""
            return f"compiled (mypyc, {len(self.modules)} modules{also})"
        if build == "pure" and not any(flags.values()):
            return f"pure ({self.reason})"
        native = sorted(name for name, compiled in flags.items() if compiled)
        return f"mixed (compiled: {', '.join(native)})"
