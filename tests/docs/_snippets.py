"""The Python code blocks of the READMEs and the docs, and what each one is.

A block is what the HTML comment on the line before its fence says it is:

- nothing: a complete program, run as written (a server, one that calls
  ``Worker.run_all()``, is started with ``start`` in the foreground and talked to);
- ``<!-- example: NAME -->``: the same, with a name the tests can check it by;
- ``<!-- test -->``: a pytest module, run with pytest;
- ``<!-- fragment: NAME NAME -->``: a piece of a program, compiled and name-checked,
  assuming only the names listed (``connection``, ``redis``...) besides its own;
- ``<!-- file: NAME -->``: a file the page's programs need beside them (``handlers.py``);
- ``<!-- client: NAME -->``: a program that talks to the server example NAME: its check
  runs it while that server runs;
- ``<!-- not run: WHY -->``: a complete program that needs what this machine has not
  got (hosts outside it); compiled and name-checked only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "packages").glob("*/README.md")),
    *sorted((ROOT / "docs").rglob("*.md")),
]
_BLOCK = re.compile(
    r"(?:^<!--\s*(?P<marker>[\w ]+?)\s*(?::\s*(?P<value>[^>]*?))?\s*-->\n)?"
    r"^```python\n(?P<code>.*?)^```$",
    re.M | re.S,
)
KINDS = {"example", "test", "fragment", "file", "client", "not run"}


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int
    kind: str  # program, test, fragment, file, client, not run
    code: str
    name: str = ""  # an example's name, a file's name, a client's server
    assumes: tuple[str, ...] = field(default=())  # a fragment's outside names

    @property
    def id(self) -> str:
        where = f"{self.page.relative_to(ROOT)}:{self.line}"
        return f"{where}[{self.name}]" if self.name else where

    @property
    def is_server(self) -> bool:
        return "Worker.run_all()" in self.code


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text()
    found = []
    for match in _BLOCK.finditer(text):
        marker, value = match.group("marker"), (match.group("value") or "").strip()
        line = text.count("\n", 0, match.start("code"))
        kind, name, assumes = "program", "", ()
        if marker:
            if marker not in KINDS:
                raise ValueError(f"{page}:{line}: unknown code block marker {marker!r}")
            if marker == "example":
                name = value
            elif marker in ("file", "client"):
                kind, name = marker, value
            elif marker == "fragment":
                kind, assumes = "fragment", tuple(value.split())
            elif marker == "not run" and not value:
                raise ValueError(f"{page}:{line}: say why the block is not run")
            else:
                kind = marker
        found.append(Snippet(page, line, kind, match.group("code"), name, assumes))
    return found


def all_snippets() -> list[Snippet]:
    return [snippet for page in PAGES for snippet in snippets(page)]


def files_beside(snippet: Snippet) -> dict[str, str]:
    """The ``<!-- file: NAME -->`` blocks of the snippet's page."""
    return {s.name: s.code for s in snippets(snippet.page) if s.kind == "file"}
