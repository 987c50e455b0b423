"""Which build of the asgi package's per-request modules runs: compiled (mypyc C extensions)
or pure Python, decided by the core's :class:`~workerman.core.compiled.CompiledModules`
(which see) when ``workerman.asgi`` is imported, this being its first import.

:data:`MODULES` is also read by the build hook (``packages/asgi/hatch_build.py``, the
core's), as a literal: keep it one.
"""

from __future__ import annotations

from pathlib import Path

from workerman.core.compiled import CompiledModules

#: The modules compiled, by file under ``workerman/asgi``: the per-request path.
MODULES = (
    "_flow.py",
    "_scope.py",
    "_http.py",
    "_websocket.py",
    "_eager.py",
    "_worker.py",
)

EXTENSIONS = CompiledModules("workerman.asgi", MODULES, Path(__file__).resolve().parent)
EXTENSIONS.choose()
