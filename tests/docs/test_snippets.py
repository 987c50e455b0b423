"""Every Python block of the READMEs and the docs, run or checked, so none can rot.

Complete programs run (servers start, answer their clients and stop on Ctrl+C with exit
0 and no error logged), pytest modules pass, and fragments compile with no name that is
neither theirs nor one they say they assume. What a named example must do when a client
talks to it is in ``tests/docs/_checks.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ._checks import CHECKS, ENV, REPLACE, ruff
from ._programs import Program
from ._snippets import Snippet, all_snippets, files_beside

SNIPPETS = all_snippets()


def _of(*kinds: str, server: bool | None = None) -> list[Snippet]:
    return [s for s in SNIPPETS if s.kind in kinds and (server is None or s.is_server == server)]


def _params(found: list[Snippet]) -> list[object]:
    return [pytest.param(s, id=s.id) for s in found]


def test_the_pages_have_code_blocks_of_every_kind() -> None:
    kinds = {s.kind for s in SNIPPETS}
    assert {"program", "fragment", "test", "file"} <= kinds
    named = {s.name for s in SNIPPETS if s.name and s.kind == "program"}
    assert set(CHECKS) <= named, f"checks for examples that are gone: {set(CHECKS) - named}"
    clients = {s.name for s in SNIPPETS if s.kind == "client"}
    assert clients <= set(CHECKS), f"clients no check runs: {clients - set(CHECKS)}"


@pytest.mark.parametrize("snippet", _params(SNIPPETS))
def test_the_block_compiles_and_names_only_what_it_has(snippet: Snippet) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if snippet.kind == "fragment" else 0
    compile(snippet.code, snippet.id, "exec", flags=flags, dont_inherit=True)
    assumed = "".join(f"{name} = None\n" for name in snippet.assumes)
    problems = ruff(assumed + snippet.code, select="F821,F811,F401")
    assert not problems, f"{snippet.id}:\n{problems}"


@pytest.mark.parametrize("snippet", _params(_of("program", server=False)))
def test_the_program_runs_to_its_end(snippet: Snippet, tmp_path: Path) -> None:
    program = Program(snippet, tmp_path, REPLACE.get(snippet.name))
    done = program.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    check = CHECKS.get(snippet.name)
    if check is not None:
        check(program, done.stdout)


@pytest.mark.parametrize("snippet", _params(_of("program", server=True)))
def test_the_server_starts_answers_and_stops(snippet: Snippet, tmp_path: Path) -> None:
    env = ENV[snippet.name]() if snippet.name in ENV else None
    program = Program(snippet, tmp_path, REPLACE.get(snippet.name), env)
    try:
        program.start()
        check = CHECKS.get(snippet.name)
        if check is not None:
            check(program, "")
        program.stop()
    finally:
        program.kill()
        print(f"--- the program said:\n{program.output}")  # shown when the test fails


@pytest.mark.parametrize("snippet", _params(_of("test")))
def test_the_test_passes(snippet: Snippet, tmp_path: Path) -> None:
    for name, text in files_beside(snippet).items():
        (tmp_path / name).write_text(text)
    module = tmp_path / "test_snippet.py"
    module.write_text(snippet.code)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(module),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout
