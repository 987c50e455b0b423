"""``python -m benchmarks.websocket [--quick]``: the WebSocket server beside the websockets
library and a pure-Python line-echo ceiling, in one run, one markdown table.

Cases: echo (100 connections, batches of 8 small text messages), echo-rr (one message in
flight per connection), echo-deflate (permessage-deflate), memory (RSS per idle connection
over 10,000 connections) and broadcast (one message to those 10,000). Servers run pinned to
one core, this process (a raw-socket uvloop load generator) to another. Progress goes to
stderr; the table, ready to paste, to stdout.

``--profile CASE`` instead runs workerman-uvloop alone under cProfile for one echo or
echo-rr load and prints the top of its profile.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from operator import attrgetter
from pathlib import Path

from . import _ws_load
from ._load import run
from ._proc import (
    PURE,
    attempt,
    handle_signals,
    limit_idle,
    log,
    parse_choices,
    pin_load_generator,
    run_main,
    runner_parser,
    save_results,
)
from ._servers import NOFILE
from ._ws_client import EchoPlan, echo_plan, probe
from ._ws_proc import WsServer, WsServers
from ._ws_report import Row, goals, notes, table, warnings
from ._ws_servers import BASELINE, KINDS

SERVERS = (*KINDS[:1], KINDS[0] + PURE, *KINDS[1:])  # workerman-uvloop-pure beside it

CASES = ("echo", "echo-rr", "echo-deflate", "memory", "broadcast")
ECHO_KINDS = (
    "workerman-uvloop",
    "workerman-uvloop-pure",
    "picows",
    "websockets-uvloop",
    "workerman-asyncio",
    "websockets-asyncio",
    "workerman-trio",
    "websockets-trio",
    BASELINE,
)
DEFLATE_KINDS = ("workerman-uvloop", "websockets-deflate")
FANOUT_KINDS = ("workerman-uvloop", "picows", "websockets-uvloop")


@dataclass
class Settings:
    quick: bool = False
    rounds: int = 3  # short rounds, best of: a round that other processes left alone
    connections: int = 100
    window: int = 8  # messages per batch (echo, echo-deflate)
    warmup: float = 0.3
    duration: float = 1.5
    idle: int = 10_000  # memory and broadcast: connections held
    broadcasts: int = 5


QUICK = Settings(quick=True, rounds=1, warmup=0.2, duration=0.8, idle=2_000, broadcasts=3)


def plans_for(case: str, servers: dict[str, WsServer], window: int) -> dict[str, EchoPlan]:
    """Probe each server (content checked) and build what its clients will send."""
    batch = 1 if case == "echo-rr" else window
    deflate = case == "echo-deflate"
    plans = {}
    for kind, server in servers.items():
        baseline = kind == BASELINE
        check = partial(run, probe(server.port, baseline, deflate))
        headers = attempt(f"{case} {kind}: probe failed", server, check)
        plans[kind] = echo_plan(batch, headers, baseline)
    return plans


def run_echo(cases: list[str], kinds: list[str], cfg: Settings, cpu: int | None) -> list[Row]:
    chosen = {
        case: [k for k in (DEFLATE_KINDS if case == "echo-deflate" else ECHO_KINDS) if k in kinds]
        for case in cases
        if case.startswith("echo")
    }
    needed = list(dict.fromkeys(k for ks in chosen.values() for k in ks))
    rows = {(case, kind): Row(case, kind) for case, ks in chosen.items() for kind in ks}
    with WsServers([(kind, "echo") for kind in needed], cpu) as servers:
        plans = {
            case: plans_for(case, {k: servers[k] for k in ks}, cfg.window)
            for case, ks in chosen.items()
        }
        for round_no in range(1, cfg.rounds + 1):
            for case, ks in chosen.items():
                for kind in ks:
                    server = servers[kind]
                    load = _ws_load.echo(
                        server, plans[case][kind], cfg.connections, cfg.warmup, cfg.duration
                    )
                    sample = attempt(
                        f"{case} {kind}",
                        server,
                        partial(run, load),
                        attrgetter("ops"),
                        "no message echoed",
                    )
                    rows[case, kind].samples.append(sample)
                    log(
                        f"{case:12} {kind:19} round {round_no}/{cfg.rounds}:"
                        f" {sample.rate:9,.0f} msg/s  server {sample.server_us_per_op:6.2f} us/msg"
                        f"  server core {sample.server_cpu / sample.seconds:4.0%}"
                        f"  loadgen core {sample.client_cpu / sample.seconds:4.0%}"
                    )
    return list(rows.values())


def run_fanout(cases: list[str], kinds: list[str], cfg: Settings, cpu: int | None) -> list[Row]:
    rows = []
    for kind in (k for k in FANOUT_KINDS if k in kinds):
        with WsServers([(kind, "fanout")], cpu) as servers:  # a fresh server for each
            server = servers[kind]
            load = _ws_load.memory_and_broadcast(server, cfg.idle, cfg.broadcasts)
            memory, broadcasts = attempt(f"memory/broadcast {kind}", server, partial(run, load))
        kib = memory.rss_delta / memory.ops / 1024
        log(f"memory       {kind:19} {kib:.2f} KiB per idle connection")
        for sample in broadcasts:
            log(
                f"broadcast    {kind:19} {sample.seconds * 1e3:7.1f} ms to {sample.ops:,}"
                f"  server loop {sample.loop_seconds * 1e3:.1f} ms"
                f"  server CPU {sample.server_cpu * 1e3:.1f} ms"
            )
        if "memory" in cases:
            rows.append(Row("memory", kind, [memory]))
        if "broadcast" in cases:
            rows.append(Row("broadcast", kind, broadcasts))
    return rows


def profile(case: str, cfg: Settings, cores: tuple[int | None, int | None]) -> None:
    """workerman-uvloop alone under cProfile for one load of ``case``; the top of it."""
    with tempfile.TemporaryDirectory(prefix="wm-bench-ws-prof-") as tmp:
        path = Path(tmp) / "profile.pstats"
        with WsServers([("workerman-uvloop", "echo")], cores[0], {"BENCH_PROFILE": str(path)}) as s:
            server = s["workerman-uvloop"]
            plan = plans_for(case, s, cfg.window)["workerman-uvloop"]
            sample = run(_ws_load.echo(server, plan, cfg.connections, cfg.warmup, cfg.duration))
            log(f"{case} under cProfile: {sample.rate:,.0f} msg/s (slowed by the profiler)")
        if not path.exists():
            raise RuntimeError("the server wrote no profile")
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(str(path), stream=out).sort_stats(order).print_stats(30)
            print(
                f"## {case}, workerman-uvloop, by {order}\n\n```\n{out.getvalue().strip()}\n```\n"
            )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = runner_parser("python -m benchmarks.websocket", __doc__, "under 40 s", CASES, SERVERS)
    for name in ("rounds", "connections", "window", "idle", "broadcasts"):
        parser.add_argument(f"--{name}", type=int, help=f"override Settings.{name}")
    parser.add_argument("--duration", type=float, help="seconds measured per echo round")
    parser.add_argument(
        "--profile", choices=("echo", "echo-rr", "echo-deflate"), help=argparse.SUPPRESS
    )
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    return parse_choices(parser, argv, {"only": CASES, "servers": SERVERS})


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    # Ctrl-C stops the run (and every server), even when started with SIGINT ignored
    handle_signals(sigint=True)
    cfg = replace(QUICK if args.quick else Settings())
    for name in ("rounds", "connections", "window", "idle", "broadcasts", "duration"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    cores = pin_load_generator()
    cfg.idle = limit_idle(cfg.idle, NOFILE)
    if args.profile:
        profile(args.profile, cfg, cores)
        return
    load = os.getloadavg()[0]
    started = time.monotonic()
    results = []
    if any(c.startswith("echo") for c in args.only):
        results += run_echo(args.only, args.servers, cfg, cores[0])
    if {"memory", "broadcast"} & set(args.only):
        results += run_fanout(args.only, args.servers, cfg, cores[0])
    elapsed = time.monotonic() - started

    print(table(results))
    print()
    print(notes(cfg, args.only, elapsed, cores, load))
    print("\n".join(warnings(results)))
    print("\ngoals of the issue:")
    print("\n".join(goals(results)))
    if not args.no_save:
        save_results(
            "websocket", {"settings": asdict(cfg), "results": [r.as_dict() for r in results]}
        )


if __name__ == "__main__":
    run_main(main)
