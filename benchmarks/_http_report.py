"""The report of ``benchmarks.http``: a markdown table of every row with its ratios to
uvicorn and to the pure-Python ceiling, the goal lines, and the notes on how it was measured.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ._http_load import FILE_SIZE, Sample
from ._proc import ROOT
from ._report import Rounds, markdown_table

LABELS = {
    "workerman-uvloop": "workerman (uvloop)",
    "workerman-uvloop-pure": "workerman (uvloop), pure Python",
    "workerman-asyncio": "workerman (asyncio)",
    "workerman-trio": "workerman (trio)",
    "uvicorn": "uvicorn (httptools, uvloop)",
    "ceiling": "ceiling: Protocol + httptools (uvloop)",
    "ceiling-parse": "ceiling + url, headers, http.cookies (uvloop)",
}
UNITS = {"hello": "req/s", "unique": "req/s", "pipelined": "req/s", "file": "MiB/s"}
GOAL_UVICORN = 3.0
GOAL_CEILING = 0.9


@dataclass
class Row(Rounds[Sample]):
    # case: "hello", "pipelined" or "file"; server: a kind of _http_servers

    def value_of(self, sample: Sample) -> float:
        return sample.mib_per_s if self.case == "file" else sample.rate

    def details(self) -> dict[str, Any]:
        return {"unit": UNITS[self.case]}


def _ratio(mine: Row, ref: Row | None) -> str:
    if ref is None or ref is mine or not ref.value:
        return "—"
    return f"{mine.value / ref.value:.2f}x"


def _cpu_ratio(mine: Row, ref: Row | None) -> str:
    if ref is None or ref is mine:
        return "—"
    return f"{mine.best.server_us_per_request / ref.best.server_us_per_request:.2f}x"


HEADER = [
    "case",
    "server",
    "result",
    "server CPU us/req (user + sys)",
    "server CPU",
    "wrk CPU",
    "vs uvicorn",
    "vs ceiling",
    "CPU/req vs ceiling",
]


def table(rows: dict[tuple[str, str], Row]) -> str:
    body = []
    for row in rows.values():
        best = row.best
        figure = f"{row.value:,.0f} {UNITS[row.case]}"
        if row.spread >= 0.005:
            figure += f" ±{row.spread:.0%}"
        if errors := sum(s.errors for s in row.samples):
            kinds = "; ".join(s.error_kinds for s in row.samples if s.error_kinds)
            figure += f" ({errors:,} wrk errors: {kinds})"
        uvicorn = rows.get((row.case, "uvicorn"))
        ceiling = rows.get((row.case, "ceiling")) or rows.get((row.case, "ceiling-parse"))
        body.append(
            [
                row.case,
                LABELS[row.server],
                figure,
                f"{best.server_us_per_request:,.2f}"
                f" ({best.server_us_per_request - best.server_sys_us_per_request:,.1f}"
                f" + {best.server_sys_us_per_request:,.1f})",
                f"{best.server_cpu / best.seconds:.0%}",
                f"{best.client_cpu / best.seconds:.0%}",
                _ratio(row, uvicorn),
                _ratio(row, ceiling),
                _cpu_ratio(row, ceiling),
            ]
        )
    return markdown_table(HEADER, body)


def goals(rows: dict[tuple[str, str], Row]) -> list[str]:
    """The goals for hello world, met or missed, by throughput and by CPU per request; the
    other cases' ratios as information."""
    lines = []
    for case in ("hello", "unique", "pipelined", "file"):
        mine = rows.get((case, "workerman-uvloop"))
        if mine is None:
            continue
        ceiling = "ceiling-parse" if case == "unique" else "ceiling"
        for ref_kind, goal in (("uvicorn", GOAL_UVICORN), (ceiling, GOAL_CEILING)):
            ref = rows.get((case, ref_kind))
            if ref is None or not ref.value:
                continue
            ratio = mine.value / ref.value
            # what one core could do at each server's CPU cost: steadier than throughput
            # when wrk, on the other core, is the limit
            capacity = ref.best.server_us_per_request / mine.best.server_us_per_request
            line = (
                f"- {case}: workerman (uvloop) at {ratio:.2f}x of {LABELS[ref_kind]}"
                f" ({capacity:.2f}x by CPU per request)"
            )
            if case == "hello":
                verdict = "met" if ratio >= goal else "MISSED"
                line += f"; goal >= {goal:g}x: {verdict}"
            lines.append(line)
    return lines


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, check=False)
    except OSError:
        return ""
    return done.stdout.strip()


def revision() -> str:
    """The commit measured, and whether the core had changes on top of it."""
    head = _git("rev-parse", "--short", "HEAD")
    if not head:
        return "an unknown revision"
    dirty = _git("status", "--porcelain", "--", "packages/core")
    return f"commit {head}" + (" with uncommitted changes to packages/core" if dirty else "")


def notes(
    argv: list[str],
    rounds: int,
    seconds: int,
    connections: dict[str, int],
    depth: int,
    elapsed: float,
    cores: tuple[int | None, int | None],
    load: float,
) -> list[str]:
    command = " ".join(["uv run python -m benchmarks.http", *argv])
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("uvicorn", "httptools", "uvloop", "trio")
    )
    pinning = (
        f"every server pinned to core {cores[0]}, wrk (one thread) to core {cores[1]}"
        if cores[1] is not None
        else "unpinned (fewer than two cores)"
    )
    return [
        f"- `{command}`: {elapsed:.0f} s on {cpu_model()} ({os.cpu_count()} cores),"
        f" Python {sys.version.split()[0]}, {versions}, workerman-core at {revision()};"
        f" load average {load:.2f} at the start.",
        f"- {pinning}; each server is one process. Each row is the best of {rounds} round(s)"
        f" of {seconds} s (servers take turns within a round), ± half the range of the rounds.",
        f'- hello: `wrk -t1 -c{connections["hello"]}` GET / ("Hello World", text/html,'
        f" keep-alive). pipelined: `wrk -t1 -c{connections['pipelined']}` with {depth}"
        f" requests per write (as TechEmpower's plaintext). file: `wrk -t1"
        f" -c{connections['file']}` GET /file, {FILE_SIZE >> 20} MiB of random bytes"
        " (workerman: Response().with_file; uvicorn: read in 64 KiB chunks sent with"
        " more_body; ceiling: the bytes read once at start).",
        "- server CPU us/req: the serving process's user+system time (psutil) over the wrk"
        " run, per request completed; in brackets, split into user time (Python and the"
        " loop) and system time (the kernel: mostly send and recv). server CPU, wrk CPU:"
        " share of one core; wrk near 100% was the limit, and CPU per request still tells"
        " the servers apart.",
        "- ceiling: a hand-written asyncio.Protocol feeding httptools.HttpRequestParser, fixed"
        " replies (Date refreshed each second), the replies of one read in one write.",
        "- unique: `wrk -t1 -c50` with no two requests alike (path, query and session cookie"
        " vary; a browser's User-Agent, Accept, Accept-Language, Accept-Encoding, Referer);"
        ' workerman\'s handler reads `path` and `cookie("session")`, its ceiling'
        " (ceiling-parse) keeps the URL and headers and parses the cookie with http.cookies."
        " workerman (uvloop), pure Python: the same server with WORKERMAN_NO_EXTENSIONS=1.",
    ]


def warnings(rows: dict[tuple[str, str], Row]) -> list[str]:
    """Rows where neither the server nor wrk had its core to itself: something else ran."""
    starved = [
        f"{row.case} {row.server} (server {b.server_cpu / b.seconds:.0%},"
        f" wrk {b.client_cpu / b.seconds:.0%})"
        for row in rows.values()
        if (b := row.best).server_cpu < 0.8 * b.seconds and b.client_cpu < 0.8 * b.seconds
    ]
    if not starved:
        return []
    return [
        "- WARNING: neither the server nor wrk used its whole core, so other processes took"
        f" CPU: {', '.join(starved)}. Throughput there is low; CPU per request is less affected."
    ]
