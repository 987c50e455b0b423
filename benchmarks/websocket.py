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
import asyncio
import io
import json
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from . import _ws_load
from ._proc import pick_cores, raise_nofile
from ._servers import NOFILE
from ._ws_client import EchoPlan, echo_plan, probe
from ._ws_proc import WsServer, WsServers
from ._ws_report import Row, goals, notes, table, warnings
from ._ws_servers import BASELINE, KINDS

CASES = ("echo", "echo-rr", "echo-deflate", "memory", "broadcast")
ECHO_KINDS = (
    "workerman-uvloop",
    "websockets-uvloop",
    "workerman-asyncio",
    "websockets-asyncio",
    "workerman-trio",
    "websockets-trio",
    BASELINE,
)
DEFLATE_KINDS = ("workerman-uvloop", "websockets-deflate")
FANOUT_KINDS = ("workerman-uvloop", "websockets-uvloop")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
T = TypeVar("T")


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


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a fresh uvloop; an error in any callback fails the measurement."""

    async def main() -> T:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        result = await coro
        if errors:
            raise RuntimeError(f"load generator: {errors[0].get('message')}") from errors[0].get(
                "exception"
            )
        return result

    return uvloop.run(main())


def plans_for(case: str, servers: dict[str, WsServer], window: int) -> dict[str, EchoPlan]:
    """Probe each server (content checked) and build what its clients will send."""
    batch = 1 if case == "echo-rr" else window
    deflate = case == "echo-deflate"
    plans = {}
    for kind, server in servers.items():
        baseline = kind == BASELINE
        try:
            headers = run(probe(server.port, baseline, deflate))
        except Exception as exc:
            raise RuntimeError(f"{case} {kind}: probe failed: {exc}\n{server.log_tail()}") from exc
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
                    try:
                        sample = run(load)
                        if not sample.ops:
                            raise RuntimeError("no message echoed")
                    except Exception as exc:
                        raise RuntimeError(f"{case} {kind}: {exc}\n{server.log_tail()}") from exc
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
            try:
                memory, broadcasts = run(
                    _ws_load.memory_and_broadcast(server, cfg.idle, cfg.broadcasts)
                )
            except Exception as exc:
                raise RuntimeError(f"memory/broadcast {kind}: {exc}\n{server.log_tail()}") from exc
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.websocket", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (under 40 s)")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--servers", default=",".join(KINDS), help="comma-separated servers")
    for name in ("rounds", "connections", "window", "idle", "broadcasts"):
        parser.add_argument(f"--{name}", type=int, help=f"override Settings.{name}")
    parser.add_argument("--duration", type=float, help="seconds measured per echo round")
    parser.add_argument(
        "--profile", choices=("echo", "echo-rr", "echo-deflate"), help=argparse.SUPPRESS
    )
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    args = parser.parse_args(argv)
    for option, allowed in (("only", CASES), ("servers", KINDS)):
        chosen = [x for x in getattr(args, option).split(",") if x]
        if bad := [x for x in chosen if x not in allowed]:
            parser.error(f"--{option}: unknown {', '.join(bad)}; choose from {', '.join(allowed)}")
        setattr(args, option, chosen)
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every server is stopped on the way out


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C stops the run (and every server), even when started with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cfg = replace(QUICK if args.quick else Settings())
    for name in ("rounds", "connections", "window", "idle", "broadcasts", "duration"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    cores = pick_cores()
    if cores[1] is None:
        log("warning: fewer than two cores available; running unpinned")
    else:
        os.sched_setaffinity(0, {cores[1]})
    limit = raise_nofile(NOFILE)
    if cfg.idle > limit - 500:
        log(f"note: open-file limit {limit}; holding {limit - 500} idle connections")
        cfg.idle = limit - 500
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
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / time.strftime("websocket-%Y%m%d-%H%M%S.json")
        data = {"settings": asdict(cfg), "results": [r.as_dict() for r in results]}
        path.write_text(json.dumps(data, indent=1))
        log(f"saved {path}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        log("interrupted; every server stopped")
        raise SystemExit(130) from None
