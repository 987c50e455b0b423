"""The relative links of the READMEs lead somewhere: a file of the repository, and a
heading of it when they name one (the docs site's own links are checked by
``mkdocs build --strict``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._snippets import ROOT

PAGES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *ROOT.glob("packages/*/README.md")]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's ids for the headings of ``page``."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings(page: Path) -> None:
    broken = []
    for target in _LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # another site
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (anchor and dest.is_file() and anchor not in anchors(dest)):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"
