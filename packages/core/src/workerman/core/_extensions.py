"""Which build of the core's per-message modules runs: compiled (mypyc C extensions) or pure
Python, decided by :class:`~workerman.core.compiled.CompiledModules` (which see) when
``workerman.core`` is imported, this being its first import.

:data:`MODULES` and :data:`KERNELS` are also read by the build hook
(``packages/core/hatch_build.py``, as literals: keep them so), which compiles them.
"""

from __future__ import annotations

from pathlib import Path

from .compiled import CompiledModules

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
    "http/_codec.py",
    "websocket/_frames.py",
    "websocket/_state.py",
    "websocket/_server.py",
)

#: C kernels, by file: loops over the bytes of a message that no Python, compiled or not,
#: runs in a few instructions a byte. Each function in one stands in for a Python function
#: that the pure build runs (``http/_scan.c``: ``_head.valid``, ``_head._values``,
#: ``_head.find``, ``_cookies._split``; ``websocket/_mask.c``: ``_frames._plain``,
#: ``_frames._unmask``) and gives what it gives; they load with the modules or not at all.
KERNELS = ("http/_scan.c", "websocket/_mask.c")

EXTENSIONS = CompiledModules(
    "workerman.core", MODULES, Path(__file__).resolve().parent, kernels=KERNELS
)
choose = EXTENSIONS.choose
stale = EXTENSIONS.stale
loaded = EXTENSIONS.loaded
describe = EXTENSIONS.describe
module_name = EXTENSIONS.module_name

choose()
