"""mkdocs hook: the docstrings' Sphinx cross-reference roles, as plain code.

The sources say ``:class:`Timeout``` and ``:meth:`~workerman.core.Worker.run_all```
(Sphinx's spelling, which editors and IDEs read too); mkdocstrings renders the role's name
as text before the code. This drops the role, and with ``~`` keeps only the last name, as
Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj|const):<code>(~?)([^<]*)</code>")


def _plain(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub(_plain, html)
