"""What one run measures: its settings, and the notes printed under the table."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from ._load import LINE


@dataclass
class Settings:
    rounds: int = 3
    connections: int = 16  # echo connections
    batch: int = 16  # lines per pipelined batch
    warmup: float = 0.5
    duration: float = 3.0
    concurrency: int = 64  # accept: connections in flight
    idle: int = 10_000  # memory: connections held open


QUICK = Settings(rounds=1, connections=8, warmup=0.3, duration=1.5, concurrency=32, idle=2_000)


def describe(
    cfg: Settings,
    cases: list[str],
    quick: bool,
    elapsed: float,
    cores: tuple[Any, Any],
    load: float,
) -> list[str]:
    """The notes under the table: how each case that ran was measured."""
    line = f"{len(LINE)}-byte lines"
    notes = {
        "": f"- {'quick' if quick else 'full'} run, {elapsed:.0f} s, Python"
        f" {sys.version.split()[0]}, load average {load:.2f} at the start; servers pinned to"
        f" core {cores[0]}, the load generator (a uvloop client) to core {cores[1]}; each row is"
        f" the best of {cfg.rounds} round(s) (other processes can only slow a round down),"
        " ± half the range of the rounds.",
        "echo": f"- echo: {cfg.connections} connections, each writing {cfg.batch} {line} at once"
        f" and waiting for the {cfg.batch} replies; {cfg.duration:g} s measured after"
        f" {cfg.warmup:g} s of warm-up.",
        "echo-rr": f"- echo-rr: {cfg.connections} connections, one {len(LINE)}-byte line per"
        f" round trip on each; {cfg.duration:g} s measured after {cfg.warmup:g} s of warm-up.",
        "accept": f"- accept: {cfg.concurrency} clients looping connect, send a line, read it"
        f" back, close; {cfg.duration:g} s measured.",
        "memory": f"- memory: growth of the server's VmRSS over {cfg.idle:,} connections held"
        " open (one line echoed on each), divided by their number; one round, a fresh server"
        " per row.",
        "cpu": "- server CPU us/op: the server's user+system time in the window per message or"
        " connection. server CPU, loadgen CPU: share of one core; a load generator near 100%"
        " was the limit, and CPU per op still tells the servers apart.",
        "ratio": "- ratios: workerman-uvloop and the baseline-uvloop variants against"
        " baseline-uvloop,"
        " workerman-asyncio and workerman-trio against baseline-asyncio. Throughput: higher"
        " is better; CPU/op and memory: lower is better.",
    }
    shown = {"", "ratio", *cases, *(["cpu"] if set(cases) - {"memory"} else [])}
    return [text for key, text in notes.items() if key in shown]
