"""Build hook of workerman-asgi: the core's (``packages/core/hatch_build.py``, which see),
compiling the modules listed in ``workerman/asgi/_extensions.py`` with mypyc. An sdist
carries a copy of it in ``_build/``.

Run as a script it builds this package's extensions in place, as the core's does its own:
``python packages/asgi/hatch_build.py [--check|--force]``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_CORE = HERE.parent / "core" / "hatch_build.py"
_spec = importlib.util.spec_from_file_location(
    "_workerman_hatch_build", _CORE if _CORE.exists() else HERE / "_build" / "hatch_build.py"
)
assert _spec is not None and _spec.loader is not None
_hook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hook)

CompileHook = _hook.CompileHook

if __name__ == "__main__":
    sys.exit(_hook.main(sys.argv[1:], default=HERE))
