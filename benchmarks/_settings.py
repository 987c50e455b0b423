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
    cfg: Settings, quick: bool, elapsed: float, cores: tuple[Any, Any], load: float
) -> list[str]:
    line = f"{len(LINE)}-byte lines"
    return [
        f"- {'quick' if quick else 'full'} run, {elapsed:.0f} s, Python {sys.version.split()[0]},"
        f" load average {load:.2f} at the start;"
        f" servers pinned to core {cores[0]}, the load generator (a uvloop client) to core"
        f" {cores[1]}; each row is the best of {cfg.rounds} round(s) (other processes can only"
        " slow a round down), ± half the range of the rounds.",
        f"- echo: {cfg.connections} connections, each writing {cfg.batch} {line} at once and"
        f" waiting for the {cfg.batch} replies; echo-rr: one line per round trip;"
        f" {cfg.duration:g} s measured after {cfg.warmup:g} s of warm-up.",
        f"- accept: {cfg.concurrency} clients looping connect, send a line, read it back, close.",
        f"- memory: growth of the server's VmRSS over {cfg.idle:,} connections held open (one"
        " line echoed on each), divided by their number; a fresh server per row.",
        "- server CPU us/op: the server's user+system time in the window per message or"
        " connection. server CPU, loadgen CPU: share of one core; a load generator near 100%"
        " was the limit, and CPU per op still tells the servers apart.",
        "- ratios: workerman-uvloop and baseline-uvloop-perline against baseline-uvloop,"
        " workerman-asyncio and workerman-trio against baseline-asyncio. Throughput: higher"
        " is better; CPU/op and memory: lower is better.",
    ]
