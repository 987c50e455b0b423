"""The public surface is what __all__ says, and nothing private leaks through it."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

import workerman.core
import workerman.core.http
import workerman.core.protocols
import workerman.core.websocket

_PACKAGES = [
    workerman.core,
    workerman.core.protocols,
    workerman.core.http,
    workerman.core.websocket,
]


@pytest.mark.parametrize("module", _PACKAGES)
def test_every_public_name_is_in_all_and_every_name_in_all_exists(module: object) -> None:
    exported = set(module.__all__)  # type: ignore[attr-defined]
    public = {
        name
        for name in vars(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), type(pkgutil))
    }
    assert public == exported
    for name in exported:
        assert getattr(module, name) is not None


def test_workerman_is_a_namespace_package_shared_by_every_component() -> None:
    import workerman

    assert getattr(workerman, "__file__", None) is None  # PEP 420: no __init__.py


def test_implementation_modules_are_private() -> None:
    public_packages = {"protocols", "http", "websocket", "compiled"}
    for info in pkgutil.iter_modules(workerman.core.__path__):
        assert info.name.startswith("_") or info.name in public_packages, info.name
    for package in _PACKAGES[1:]:
        for info in pkgutil.iter_modules(package.__path__):
            assert info.name.startswith("_"), info.name


def test_every_package_ships_the_license_its_pyproject_names() -> None:
    root = Path(__file__).parents[2]
    text = (root / "LICENSE").read_text()
    assert text.startswith("MIT License")
    packages = sorted(p for p in (root / "packages").iterdir() if (p / "pyproject.toml").exists())
    assert len(packages) >= 7
    for package in packages:
        assert (package / "LICENSE").read_text() == text, package.name  # in wheel and sdist
        assert 'license = "MIT"' in (package / "pyproject.toml").read_text(), package.name
