"""Which paths count as code: wanted extensions, minus caches, VCS folders and the
temporary files editors write beside the file they save."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence

__all__ = ["IGNORED_DIRS", "IGNORED_NAMES", "PathFilter"]

#: directory names whose contents never count (matched below a watched root only, so a
#: project that itself lives under, say, a ``build`` folder is still watched).
IGNORED_DIRS: tuple[str, ...] = (
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    ".idea",
    ".vscode",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".eggs",
    "htmlcov",
)

#: file name patterns of compiled files and editors' temporary and backup files: vim
#: (``.x.swp``, ``x~``, its ``4913`` write probe), emacs (``.#x``, ``#x#``), JetBrains
#: (``x___jb_tmp___``), Kate, Chromium-based editors (``.crswap``), macOS metadata.
IGNORED_NAMES: tuple[str, ...] = (
    r"\.py[cod]$",
    r"\.sw[a-z]$",
    r"~$",
    r"^4913$",
    r"^\.#",
    r"^#.*#$",
    r"___jb_\w+___$",
    r"\.kate-swp$",
    r"\.crswap$",
    r"\.tmp$",
    r"^\.DS_Store$",
    r"^flycheck_",
)


class PathFilter:
    """Decides whether a path under one of ``roots`` is watched code.

    Args:
        roots: the watched folders (or files), absolute.
        extensions: file name endings that count (``".py"``, ``".html"``, ``".env"``);
            empty: every file that is not ignored.
        ignore_dirs: directory names to skip, besides :data:`IGNORED_DIRS`.
        ignore_patterns: regular expressions of file names to skip, besides
            :data:`IGNORED_NAMES`.
    """

    def __init__(
        self,
        roots: Sequence[str],
        extensions: Iterable[str],
        ignore_dirs: Iterable[str] = (),
        ignore_patterns: Iterable[str] = (),
    ) -> None:
        self.roots = tuple(os.path.abspath(root) for root in roots)
        self.extensions = tuple(extensions)
        self.ignore_dirs = frozenset((*IGNORED_DIRS, *ignore_dirs))
        self.patterns = tuple(re.compile(p) for p in (*IGNORED_NAMES, *ignore_patterns))

    def _relative_parts(self, path: str) -> list[str] | None:
        for root in self.roots:
            if path == root:
                return [os.path.basename(path)]
            if path.startswith(root.rstrip(os.sep) + os.sep):
                return path[len(root.rstrip(os.sep)) + 1 :].split(os.sep)
        return None

    def __call__(self, _change: object, path: str) -> bool:
        """True when ``path`` is code the monitor cares about (watchfiles' filter call)."""
        parts = self._relative_parts(path)
        if not parts:
            return False
        if any(part in self.ignore_dirs for part in parts[:-1]):
            return False
        return self.wanted_name(parts[-1])

    def wanted_name(self, name: str) -> bool:
        if any(pattern.search(name) for pattern in self.patterns):
            return False
        return not self.extensions or name.endswith(self.extensions)

    def walk(self) -> Iterator[str]:
        """Every watched file that exists now (what the monitor counts at start)."""
        for root in self.roots:
            if os.path.isfile(root):
                if self.wanted_name(os.path.basename(root)):
                    yield root
                continue
            for folder, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if d not in self.ignore_dirs]
                for name in files:
                    if self.wanted_name(name):
                        yield os.path.join(folder, name)

    def folders(self) -> int:
        """How many folders a recursive watch of the roots takes: one inotify watch
        each, ignored ones included (the kernel watches before any filter runs)."""
        return sum(1 for root in self.roots for _ in os.walk(root))
