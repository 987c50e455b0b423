"""The report of ``benchmarks.redis``: the markdown table of rows (each against
redis-benchmark and redis-py on the same loop), the goal lines with the placement of Redis
beside each ratio, and the notes that say how the figures were taken and warn when another
client disturbed them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import _redis_common
from ._redis_common import BUDGET, DB, DRIVERS, GOAL_MANY, GOAL_SEQ, HOST, Settings

if TYPE_CHECKING:
    from .redis import Row


def reference(row: Row, rows: dict[tuple[str, str], Row]) -> tuple[Row | None, Row | None]:
    """(the redis-benchmark row, the redis-py row on the same loop) for ``row``."""
    bench = next(
        (r for (c, k), r in rows.items() if c == row.case and k.startswith("redis-b")), None
    )
    if row.client.startswith("redis-b"):
        return None, None
    driver = row.client.split("/")[1]
    redis_py = rows.get((row.case, f"redis-py/{'asyncio' if driver == 'trio' else driver}"))
    return bench, None if redis_py is row else redis_py


def _ratio(mine: Row, ref: Row | None) -> str:
    return f"{mine.best.rate / ref.best.rate:.2f}x" if ref is not None else "—"


HEADER = [
    "case",
    "client",
    "ops/s",
    "vs redis-benchmark",
    "vs redis-py",
    "client CPU us/op",
    "client CPU",
    "Redis CPU us/op",
    "Redis on client core",
    "conns",
]


def table(rows: dict[tuple[str, str], Row]) -> str:
    body = [HEADER, ["---"] * len(HEADER)]
    for row in rows.values():
        best = row.best
        figure = f"{best.rate:,.0f}" + (f" ±{row.spread:.0%}" if row.spread >= 0.005 else "")
        bench, redis_py = reference(row, rows)
        body.append(
            [
                row.case,
                row.client,
                figure,
                _ratio(row, bench),
                _ratio(row, redis_py),
                f"{best.cpu_us:.2f}",
                f"{best.cpu / best.seconds:.0%}",
                f"{best.redis_us:.2f}",
                "—" if best.redis_here is None else f"{best.redis_here:.0%}",
                str(best.connections),
            ]
        )
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADER))]
    return "\n".join(
        "| "
        + " | ".join(
            c.ljust(w, "-" if c == "---" else " ") for c, w in zip(line, widths, strict=True)
        )
        + " |"
        for line in body
    )


def _placement(mine: Row, ref: Row) -> str:
    here, there = mine.best.redis_here, ref.best.redis_here
    if here is None or there is None:
        return ""
    text = f"; Redis on the client's core {here:.0%} vs {there:.0%} of the time"
    if abs(here - there) <= 0.3:
        return text
    text += " (placements differ: the ratio says as much about the scheduler"
    placed = [s for s in ref.samples if s.redis_here is not None]
    like = min(placed, key=lambda s: abs(s.redis_here - here))  # type: ignore[operator]
    if like.redis_here is not None and abs(like.redis_here - here) <= 0.3:
        text += (
            f"; against the {ref.client} round with the nearest placement,"
            f" {like.redis_here:.0%}: {mine.best.rate / like.rate:.2f}x"
        )
    return text + ")"


def goals(rows: dict[tuple[str, str], Row]) -> list[str]:
    lines = []
    for case in ("seq SET", "seq GET"):
        mine, ref = rows.get((case, "workerman/uvloop")), rows.get((case, "redis-benchmark -c 1"))
        if mine is not None and ref is not None:
            ratio = mine.best.rate / ref.best.rate
            lines.append(
                f"- {case}: workerman/uvloop at {ratio:.2f}x of redis-benchmark -c 1"
                f" (goal >= {GOAL_SEQ}x): {'met' if ratio >= GOAL_SEQ else 'MISSED'}"
                + _placement(mine, ref)
            )
    for case in ("concurrent", "pipeline"):
        for driver in DRIVERS:
            mine = rows.get((case, f"workerman/{driver}"))
            if mine is None:
                continue
            _bench, ref = reference(mine, rows)
            if ref is None:
                continue
            ratio = mine.best.rate / ref.best.rate
            by_cpu = ref.best.cpu_us / mine.best.cpu_us
            lines.append(
                f"- {case}: workerman/{driver} at {ratio:.2f}x of {ref.client}"
                f" ({by_cpu:.2f}x by client CPU per op; goal >= {GOAL_MANY:g}x):"
                f" {'met' if ratio >= GOAL_MANY else 'MISSED'}" + _placement(mine, ref)
            )
    return lines


def notes(
    rows: dict[tuple[str, str], Row],
    cfg: Settings,
    quick: bool,
    elapsed: float,
    facts: tuple[int | None, float, str, int],
) -> list[str]:
    cpu, load, version, max_connections = facts
    pinned = f"pinned to core {cpu}" if cpu is not None else "unpinned (fewer than two cores)"
    lines = [
        f"- {'quick' if quick else 'full'} run, {elapsed:.0f} s, Python {sys.version.split()[0]},"
        f" load average {load:.2f} at the start; every client {pinned}, one fresh process per"
        f" case and round; Redis {version} on {HOST}:{_redis_common.PORT} db {DB}"
        " (not pinned by us)."
        f" Each row is the best of {cfg.rounds} round(s), ± half the range.",
        f"- Python clients: {cfg.warmup:g} s warm-up, then {cfg.duration:g} s measured per"
        " window (seq: one window for SET, one for GET). redis-benchmark: -n sized by a probe"
        f" to last about {cfg.duration:g} s; its rate is the one it prints; one key, 3-byte"
        " values, like the Python clients.",
        f"- concurrent: {cfg.tasks} tasks on one client, each looping SET then GET (both"
        f" counted). redis-py uses its default pool (max_connections={max_connections}), so"
        " each task gets a connection of its own: conns is how many it opened;"
        " workerman-redis pipelines all the tasks onto one. redis-benchmark"
        f" -c {cfg.tasks} -P 1 (GET) shows the server with that many connections.",
        f"- pipeline: one task, pipelines of {cfg.depth} GETs (transaction=False), ops = GETs;"
        f" redis-benchmark -c 1 -P {cfg.depth} -t get is the server's ceiling for those batches.",
        "- client CPU us/op: the client process's CPU time (time.process_time; getrusage for"
        " redis-benchmark, start-up included) per command; client CPU: share of one core (near"
        " 100% means the client was the limit). Redis CPU us/op from INFO used_cpu_*.",
        "- Redis on client core: share of 10 ms samples of /proc/PID/stat in which Redis had"
        " last run on the client's core (the scheduler moves it). One round trip at a time"
        " (seq) is far faster when Redis shares the client's core than when a wakeup crosses"
        " cores, so compare seq rows with like placements; best-of rounds favours sharing.",
        "- vs redis-py: workerman on uvloop against redis-py on uvloop, on asyncio against"
        " redis-py on asyncio, on trio against redis-py on asyncio (it has no trio support).",
    ]
    busy = [
        f"{r.case} {r.client}"
        for r in rows.values()
        if r.best.redis_cmds > 1.05 * r.best.ops + 20 * r.best.seconds + 10
    ]
    flushed = [f"{r.case} {r.client} ({r.best.missing})" for r in rows.values() if r.best.missing]
    if flushed:
        lines.append(
            f"- WARNING: another client emptied db {DB} while these ran (GETs that found no key):"
            f" {', '.join(flushed)}"
        )
    if busy:
        lines.append(
            "- WARNING: Redis processed more commands than the client sent (another client was"
            f" busy, figures may be low): {', '.join(busy)}"
        )
    if elapsed > BUDGET[quick]:
        lines.append(
            f"- WARNING: the run took {elapsed:.0f} s, over its {BUDGET[quick]:.0f} s budget"
        )
    return lines
