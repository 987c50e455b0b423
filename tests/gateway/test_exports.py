"""The public surface: what __all__ names is there, documented, and nothing private leaks."""

from __future__ import annotations

from pathlib import Path

from workerman import gateway


def test_every_public_name_is_exported_and_documented() -> None:
    assert sorted(gateway.__all__) == sorted(
        name for name in vars(gateway) if not name.startswith("_")
    )
    for name in gateway.__all__:
        assert getattr(gateway, name).__doc__, name


def test_the_package_ships_no_namespace_init() -> None:
    src = Path(gateway.__file__).resolve().parents[1]
    assert not (src / "__init__.py").exists()  # workerman is a PEP 420 namespace
    assert (Path(gateway.__file__).parent / "py.typed").exists()
