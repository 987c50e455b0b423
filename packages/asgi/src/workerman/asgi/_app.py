"""Finding the app: an ASGI callable, or an import string (``"main:app"``)."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ._exceptions import AsgiError

__all__ = ["check_import_string", "load_app"]


def check_import_string(spec: str) -> tuple[str, str]:
    """``(module, attribute path)`` of ``"module:attr"``, after checking the module is
    there (without running it).

    Raises:
        AsgiError: a malformed string, or no such module.
    """
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise AsgiError(f'the app must be given as "module:attribute", not {spec!r}')
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise AsgiError(f"cannot find module {module!r}: {exc}") from None
    if found is None:
        raise AsgiError(f"cannot find module {module!r}")
    return module, attr


def load_app(app: Any) -> Any:
    """The ASGI callable ``app`` names (an import string is imported now).

    Raises:
        AsgiError: the string names nothing importable, or something not callable.
    """
    if not isinstance(app, str):
        if not callable(app):
            raise AsgiError(f"{app!r} is not an ASGI app (not callable)")
        return app
    module_name, attr = check_import_string(app)
    found: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise AsgiError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(found):
        raise AsgiError(f"{app!r} is not an ASGI app (not callable)")
    return found
