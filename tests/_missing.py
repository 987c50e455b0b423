"""What a test does when a tool or service it needs is not on this machine."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(why: str) -> NoReturn:
    """Under CI (``CI`` set to true, 1 or yes) a failure, so a missing tool never passes
    quietly; elsewhere a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why} (CI: install it)", pytrace=False)
    pytest.skip(why)
