"""Which build of the per-message modules runs: compiled (mypyc C extensions) or pure Python.

The modules in :data:`MODULES` exist as ``.py`` and may also exist compiled, side by side
(``_connection.py`` and ``_connection.cpython-311-x86_64-linux-gnu.so``). Python would load
the extension whenever it is there, so :func:`choose` runs first, when ``workerman.core`` is
imported, and decides for all of them at once:

- ``WORKERMAN_NO_EXTENSIONS=1`` in the environment: pure.
- The build's manifest (``_compiled.json``, written beside this file with the extensions)
  holds the SHA-256 of every source as it was compiled. A source edited since, an extension
  missing, or one built for another Python: pure, with a warning saying which, until the
  modules are built again (``make sync``).
- Otherwise compiled.

A finder placed first on ``sys.meta_path`` hands out the ``.py`` of every core module but
those chosen to load compiled (pure: none), so a stale extension is never imported. It is
all or none: compiled modules call each other directly, and one of them pure would split a
class in two.

This module is never compiled itself. Imported as ``workerman.core._extensions`` (the
package's first import) it decides; the build hook loads it by path under another name, for
:data:`MODULES` and :func:`stale`, and then it only defines.
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

#: The modules compiled, by file under ``workerman/core``: the per-message path.
MODULES = (
    "_callbacks.py",
    "_statistics.py",
    "_stream.py",
    "_parsing.py",
    "_connection.py",
    "protocols/_text.py",
    "protocols/_frame.py",
    "http/_settings.py",
    "http/_protocol.py",
    "http/_answer.py",
    "http/_head.py",
    "http/_cookies.py",
    "http/_machine.py",
    "http/_reading.py",
    "http/_exchange.py",
    "http/_response.py",
    "http/_request.py",
    "websocket/_frames.py",
    "websocket/_state.py",
    "websocket/_server.py",
)

#: C kernels, by file: loops over the bytes of a message that no Python, compiled or not,
#: runs in a few instructions a byte. Each stands in for a Python function that the pure
#: build runs (``http/_scan.c`` for ``http/_head.py``'s ``valid``) and gives what it gives;
#: the build compiles them with the modules, and they load with them or not at all.
KERNELS = ("http/_scan.c",)
BUILT = MODULES + KERNELS

MANIFEST = "_compiled.json"
_HERE = Path(__file__).resolve().parent
_decided: dict[str, str] = {}


def module_name(file: str) -> str:
    return "workerman.core." + file.rpartition(".")[0].replace("/", ".")


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _SourceFinder:
    """Finds the ``.py`` of every ``workerman.core`` module but those allowed to load
    compiled, ahead of any extension beside it (one of a build with another list of
    modules, say); a kernel not allowed is not found, so that its Python stands in."""

    def __init__(self, compiled: frozenset[str]) -> None:
        self.compiled = compiled
        self.kernels = frozenset(module_name(file) for file in KERNELS) - compiled

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if not fullname.startswith("workerman.core.") or fullname in self.compiled:
            return None
        if fullname in self.kernels:
            raise ModuleNotFoundError(f"{fullname} is not loaded in the pure build", name=fullname)
        name = fullname.rpartition(".")[2]
        for folder in path or ():
            source = os.path.join(folder, name + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a package, or not a module of the core: the usual finders


def stale(package: Path = _HERE) -> str | None:
    """Why the extensions in ``package`` cannot be used, or None when they can (the build
    hook asks this too, before building in place)."""
    manifest = package / MANIFEST
    if not manifest.exists():
        return "not built"
    data = json.loads(manifest.read_text())
    suffix = data.get("suffix", "")
    if suffix not in importlib.machinery.EXTENSION_SUFFIXES:
        return f"built for another Python ({suffix})"
    modules = data.get("modules", {})
    if sorted(modules) != sorted(BUILT):
        return "built from another list of modules"
    for file, digest in modules.items():
        source = package / file
        if not source.with_name(source.stem + suffix).exists():
            return f"{file} has no extension"
        if source_digest(source) != digest:
            return f"{file} changed since it was compiled"
    return None


def choose() -> str:
    """Decide once, before any of :data:`MODULES` is imported: "compiled" or "pure"."""
    if "build" in _decided:
        return _decided["build"]
    if os.environ.get("WORKERMAN_NO_EXTENSIONS", "") not in ("", "0"):
        reason: str | None = "WORKERMAN_NO_EXTENSIONS is set"
    else:
        reason = stale()
        if reason is not None and reason != "not built":
            warnings.warn(
                f"workerman.core runs pure Python: the compiled modules are stale ({reason}); "
                "`make sync` builds them again",
                RuntimeWarning,
                stacklevel=2,
            )
    if reason is None:
        _decided["build"] = "compiled"
        compiled = frozenset(module_name(file) for file in BUILT)
    else:
        _decided["build"] = "pure"
        _decided["reason"] = reason
        compiled = frozenset()
    sys.meta_path.insert(0, _SourceFinder(compiled))
    return _decided["build"]


def loaded() -> dict[str, bool]:
    """Each of :data:`MODULES` and :data:`KERNELS` imported so far: whether it is an
    extension module."""
    found = {}
    for file in BUILT:
        module = sys.modules.get(module_name(file))
        if module is not None:
            origin = getattr(module, "__file__", None) or ""
            found[module_name(file)] = origin.endswith(
                tuple(importlib.machinery.EXTENSION_SUFFIXES)
            )
    return found


def describe() -> str:
    """``compiled (mypyc, 20 modules, 1 C kernel)`` or ``pure (why)``, for ``--version`` and
    the startup table. It imports all of :data:`MODULES` (which import the kernels) and
    reports how they loaded, so a module that loaded otherwise than chosen shows as
    ``mixed``."""
    build = choose()
    for file in MODULES:
        importlib.import_module(module_name(file))
    flags = loaded()
    if build == "compiled" and all(flags.values()) and len(flags) == len(BUILT):
        kernels = f"{len(KERNELS)} C kernel" + ("s" if len(KERNELS) != 1 else "")
        return f"compiled (mypyc, {len(MODULES)} modules, {kernels})"
    if build == "pure" and not any(flags.values()):
        return f"pure ({_decided.get('reason', '')})"
    native = sorted(name for name, compiled in flags.items() if compiled)
    return f"mixed (compiled: {', '.join(native)})"


if __name__ == "workerman.core._extensions":
    choose()
