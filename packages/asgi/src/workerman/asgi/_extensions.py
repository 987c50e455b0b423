"""Which build of the asgi package's per-request modules runs: compiled (mypyc C extensions)
or pure Python, decided by the core's :class:`~workerman.core.compiled.CompiledModules`
(which see) when ``workerman.asgi`` is imported, this being its first import.

:data:`MODULES` is also read by the build hook (``packages/asgi/hatch_build.py``, the
core's), as a literal: keep it one.
"""

from __future__ import annotations

from pathlib import Path

from workerman.core.compiled import CompiledModules

#: The modules compiled, by file under ``workerman/asgi``: the per-request path (the
#: worker's ``_request``, the cycles and their waits, the scope, the eager first step). Not
#: ``_driver`` (a ``types.coroutine`` generator that ``yield from``s a coroutine, which only
#: an interpreted one may), nor ``_protocol`` (its ``eof_received`` is put in a class made
#: with ``type()``: a compiled function would not bind as a method), nor what runs once per
#: process (``_app``, ``_cli``, ``_lifespan``). Of the compiled classes only ``AsgiWorker``,
#: the public one, takes Python subclasses.
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
