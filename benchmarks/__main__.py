"""``python -m benchmarks [--quick] [--only echo,echo-rr,accept,memory]``: one run, one table.

Servers run pinned to one core, this process (the load generator) to another. Progress
goes to stderr; the markdown table, ready to paste, goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import uvloop

from . import _load, _report
from ._proc import Server, Servers, pick_cores, raise_nofile
from ._servers import BASELINES, KINDS, NOFILE
from ._settings import QUICK, Settings, describe

CASES = ("echo", "echo-rr", "accept", "memory")
PERLINE = ("baseline-uvloop-perline", "baseline-uvloop-callback")  # echo only
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(coro: Coroutine[Any, Any, _load.Sample]) -> _load.Sample:
    """Run one load on a fresh uvloop; an error in any callback fails the measurement."""

    async def main() -> _load.Sample:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        sample = await coro
        if errors:
            raise RuntimeError(f"load generator: {errors[0].get('message')}") from errors[0].get(
                "exception"
            )
        return sample

    return uvloop.run(main())


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
            try:
                sample = run(load(server))
                if not sample.ops:
                    raise RuntimeError("no operation completed")
            except Exception as exc:
                raise RuntimeError(f"{case} {kind}: {exc}\n{server.log_tail()}") from exc
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
            try:
                sample = run(_load.idle_memory(servers[kind], count))
            except Exception as exc:
                raise RuntimeError(f"memory {kind}: {exc}\n{servers[kind].log_tail()}") from exc
        log(f"memory {kind:24} {sample.rss_delta / count / 1024:.2f} KiB per idle connection")
        results.append(_report.Result("memory", kind, [sample]))
    return results


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--servers", default=",".join(KINDS), help="comma-separated servers")
    for name in ("rounds", "connections", "batch", "concurrency", "idle"):
        parser.add_argument(f"--{name}", type=int, help=f"override Settings.{name}")
    parser.add_argument("--duration", type=float, help="seconds measured per case")
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
    cfg = replace(QUICK if args.quick else Settings())
    for name in ("rounds", "connections", "batch", "concurrency", "idle", "duration"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    server_cpu, client_cpu = pick_cores()
    if client_cpu is None:
        log("warning: fewer than two cores available; running unpinned")
    else:
        os.sched_setaffinity(0, {client_cpu})
    limit = raise_nofile(NOFILE)
    if cfg.idle > limit - 500:
        log(f"note: open-file limit {limit}; holding {limit - 500} idle connections")
        cfg.idle = limit - 500
    kinds = [k for k in KINDS if k in args.servers]
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
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / time.strftime("bench-%Y%m%d-%H%M%S.json")
        results_json = [r.as_dict() for r in results]
        data = {"settings": asdict(cfg), "quick": args.quick, "results": results_json}
        path.write_text(json.dumps(data, indent=1))
        log(f"saved {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
