"""``python -m benchmarks [--quick] [--only echo,echo-rr,accept,memory]``: one run, one table.

Servers run pinned to one core, this process (the load generator) to another. Progress
goes to stderr; the markdown table, ready to paste, goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, replace
from functools import partial
from operator import attrgetter
from typing import Any

import uvloop

from . import _load, _report
from ._load import run
from ._proc import (
    PURE,
    Server,
    Servers,
    attempt,
    handle_signals,
    limit_idle,
    log,
    parse_choices,
    pin_load_generator,
    runner_parser,
    save_results,
)
from ._servers import BASELINES, KINDS, NOFILE
from ._settings import QUICK, Settings, describe

#: workerman-uvloop-pure: ours on the core's pure-Python build, beside the compiled one
SERVERS = (*KINDS, "workerman-uvloop" + PURE)

CASES = ("echo", "echo-rr", "accept", "memory")
PERLINE = ("baseline-uvloop-perline", "baseline-uvloop-callback")  # echo only
OPS = attrgetter("ops")  # a sample that counted nothing fails the run


def measure(
    case: str,
    servers: dict[str, Server],
    rounds: int,
    load: Callable[[Server], Coroutine[Any, Any, _load.Sample]],
) -> list[_report.Result]:
    """``rounds`` rounds, each over every server in turn, so drift hits all alike."""
    results = {kind: _report.Result(case, kind) for kind in servers}
    for round_no in range(1, rounds + 1):
        for kind, server in servers.items():
            sample = attempt(f"{case} {kind}", server, partial(run, load(server)), OPS)
            results[kind].samples.append(sample)
            log(
                f"{case:7} {kind:24} round {round_no}/{rounds}: {sample.rate:11,.0f}/s"
                f"  server {sample.server_us_per_op:6.2f} us/op  errors {sample.errors}"
            )
    return list(results.values())


def run_network(
    cases: list[str], kinds: list[str], cfg: Settings, cpu: int | None
) -> list[_report.Result]:
    """Echo and accept cases, against one process per server kept up throughout."""
    loads: dict[str, Callable[[Server], Coroutine[Any, Any, _load.Sample]]] = {
        "echo": lambda s: _load.echo(s, cfg.connections, cfg.batch, cfg.warmup, cfg.duration),
        "echo-rr": lambda s: _load.echo(s, cfg.connections, 1, cfg.warmup, cfg.duration),
        "accept": lambda s: _load.accept(s, cfg.concurrency, cfg.warmup, cfg.duration),
    }
    results = []
    with Servers(kinds, cpu) as servers:
        for server in servers.values():
            uvloop.run(_load.probe(server.port))
        for case, load in loads.items():
            if case in cases:
                # One write per line only differs from the baseline when lines are pipelined.
                chosen = {k: s for k, s in servers.items() if case == "echo" or k not in PERLINE}
                results += measure(case, chosen, cfg.rounds, load)
    return results


def run_memory(kinds: list[str], count: int, cpu: int | None) -> list[_report.Result]:
    results = []
    for kind in kinds:
        if kind in PERLINE:
            continue
        with Servers([kind], cpu) as servers:  # a fresh server: nothing freed to reuse
            server = servers[kind]
            sample = attempt(
                f"memory {kind}", server, partial(run, _load.idle_memory(server, count))
            )
        log(f"memory {kind:24} {sample.rss_delta / count / 1024:.2f} KiB per idle connection")
        results.append(_report.Result("memory", kind, [sample]))
    return results


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = runner_parser("python -m benchmarks", __doc__, "under a minute", CASES, SERVERS)
    for name in ("rounds", "connections", "batch", "concurrency", "idle"):
        parser.add_argument(f"--{name}", type=int, help=f"override Settings.{name}")
    parser.add_argument("--duration", type=float, help="seconds measured per case")
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    return parse_choices(parser, argv, {"only": CASES, "servers": SERVERS})


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    handle_signals()
    cfg = replace(QUICK if args.quick else Settings())
    for name in ("rounds", "connections", "batch", "concurrency", "idle", "duration"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    server_cpu, client_cpu = pin_load_generator()
    cfg.idle = limit_idle(cfg.idle, NOFILE)
    kinds = [k for k in SERVERS if k in args.servers]
    if not any(k in BASELINES for k in kinds):
        log("note: no baseline server chosen, so no ratios")
    load = os.getloadavg()[0]
    started = time.monotonic()
    results = []
    if set(args.only) - {"memory"}:
        results += run_network(args.only, kinds, cfg, server_cpu)
    if "memory" in args.only:
        results += run_memory(kinds, cfg.idle, server_cpu)
    elapsed = time.monotonic() - started

    print(_report.table(results))
    print()
    notes = describe(cfg, args.only, args.quick, elapsed, (server_cpu, client_cpu), load)
    print("\n".join(notes + _report.warnings(results)))
    print("\ngoals of the issue:")
    print("\n".join(_report.goals(results)))
    if not args.no_save:
        results_json = [r.as_dict() for r in results]
        save_results(
            "bench", {"settings": asdict(cfg), "quick": args.quick, "results": results_json}
        )


if __name__ == "__main__":
    main(sys.argv[1:])
