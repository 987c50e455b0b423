"""Compiling changed Python files before a reload, so a half-written or broken save
never replaces working processes."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

__all__ = ["SyntaxProblem", "check_source"]


@dataclass(frozen=True)
class SyntaxProblem:
    """Why a Python file does not compile.

    Attributes:
        path: the file.
        line: 1-based line of the error (0 when the compiler gave none).
        column: 1-based column (0 when unknown).
        message: the compiler's message, with the error type (``SyntaxError: ...``).
    """

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        if self.line and self.column:
            where += f":{self.column}"
        return f"{where}: {self.message}"


def check_source(path: str) -> SyntaxProblem | None:
    """Compile ``path`` (without writing bytecode); the problem, or None when it compiles
    or no longer exists (a deleted file is the reload's business, not a syntax error)."""
    try:
        with open(path, "rb") as file:
            source = file.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return SyntaxProblem(path, 0, 0, f"{type(exc).__name__}: {os.strerror(exc.errno or 0)}")
    try:
        with warnings.catch_warnings():  # SyntaxWarnings are the app's to see, at import
            warnings.simplefilter("ignore")
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too
        return SyntaxProblem(
            path, exc.lineno or 0, exc.offset or 0, f"{type(exc).__name__}: {exc.msg}"
        )
    except ValueError as exc:  # source with a NUL byte
        return SyntaxProblem(path, 0, 0, f"{type(exc).__name__}: {exc}")
    return None
