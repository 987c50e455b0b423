"""``python -m benchmarks.http [--quick] [--duration S]``: the HTTP server beside uvicorn and
a hand-written pure-Python ceiling, in one run, one markdown table.

Each server is one process pinned to one core; wrk (one thread) runs pinned to another.
Cases: hello (keep-alive "Hello World", ``wrk -c50``), pipelined (16 requests per write,
``wrk -c50``) and file (a 1 MiB download, ``wrk -c10``). Progress goes to stderr; the
table, ready to paste, to stdout.

``--profile CASE`` instead runs workerman (uvloop) alone under cProfile for one wrk run of
that case and prints the top of its profile.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import signal
import sys
import tempfile
import time
from pathlib import Path

from ._http_load import HttpServer, HttpServers, Sample, wrk
from ._http_report import Row, goals, notes, table, warnings
from ._http_servers import KINDS
from ._proc import pick_cores

CASES = ("hello", "pipelined", "file")
PATHS = {"hello": "/", "pipelined": "/", "file": "/file"}
CONNECTIONS = {"hello": 50, "pipelined": 50, "file": 10}
DEPTH = 16
RESULTS_DIR = Path(__file__).resolve().parent / "results"
Cores = tuple[int | None, int | None]  # (server core, wrk core)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(case: str, server: HttpServer, seconds: int, cpu: int | None) -> Sample:
    """One wrk run of ``case``; a failed one fails the benchmark, with the server's log."""
    depth = DEPTH if case == "pipelined" else 1
    try:
        sample = wrk(server, PATHS[case], CONNECTIONS[case], seconds, cpu, depth)
        if not sample.requests:
            raise RuntimeError("no request completed")
    except Exception as exc:
        raise RuntimeError(f"{case} {server.kind}: {exc}\n{server.log_tail()}") from exc
    return sample


def run(
    cases: list[str], kinds: list[str], rounds: int, seconds: int, warmup: int, cores: Cores
) -> dict[tuple[str, str], Row]:
    server_cpu, client_cpu = cores
    rows = {(case, kind): Row(case, kind) for case in cases for kind in kinds}
    with HttpServers(kinds, server_cpu) as servers:
        for server in servers.values():
            if warmup:
                wrk(server, "/", CONNECTIONS["hello"], warmup, client_cpu)
        for round_no in range(1, rounds + 1):
            for case in cases:
                for kind, server in servers.items():
                    sample = measure(case, server, seconds, client_cpu)
                    rows[case, kind].samples.append(sample)
                    figure = (
                        f"{sample.mib_per_s:9,.0f} MiB/s"
                        if case == "file"
                        else f"{sample.rate:9,.0f} req/s"
                    )
                    log(
                        f"{case:9} {kind:17} round {round_no}/{rounds}: {figure}"
                        f"  server {sample.server_us_per_request:8.2f} us/req"
                        f" ({sample.server_sys_us_per_request:7.2f} sys)"
                        f"  errors {sample.errors} {sample.error_kinds}"
                    )
    return rows


def profile(case: str, seconds: int, cores: Cores, top: int = 30) -> str:
    """Our uvloop server under cProfile for one wrk run of ``case``: the top by own time."""
    server_cpu, client_cpu = cores
    with tempfile.TemporaryDirectory(prefix="wm-bench-prof-") as tmp:
        stats_path = Path(tmp) / "worker.prof"
        env = {"BENCH_PROFILE": str(stats_path)}
        with HttpServers(["workerman-uvloop"], server_cpu, env) as servers:
            server = servers["workerman-uvloop"]
            sample = measure(case, server, seconds, client_cpu)
        deadline = time.monotonic() + 10
        while not stats_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = io.StringIO()
        print(
            f"{case}: {sample.rate:,.0f} req/s under cProfile, {sample.requests:,} requests\n",
            file=out,
        )
        stats = pstats.Stats(str(stats_path), stream=out)
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        return out.getvalue()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (under 30 s)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (whole seconds)")
    parser.add_argument("--rounds", type=int, help="rounds over every server and case")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--servers", default=",".join(KINDS), help="comma-separated servers")
    parser.add_argument("--profile", choices=CASES, help="profile workerman (uvloop) instead")
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
    # every way out stops the servers: Ctrl-C even when started in the background, where
    # SIGINT comes ignored; a closed terminal unless under nohup
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _terminate)
    rounds = args.rounds or (1 if args.quick else 2)
    seconds = max(1, round(args.duration or (1 if args.quick else 3)))
    warmup = 0 if args.quick else 1
    cores = pick_cores()
    if cores[1] is None:
        log("warning: fewer than two cores available; running unpinned")
    else:
        os.sched_setaffinity(0, {cores[1]})
    if args.profile:
        print(profile(args.profile, seconds, cores))
        return
    kinds = [k for k in KINDS if k in args.servers]
    cases = [c for c in CASES if c in args.only]
    load = os.getloadavg()[0]
    started = time.monotonic()
    rows = run(cases, kinds, rounds, seconds, warmup, cores)
    elapsed = time.monotonic() - started

    print(table(rows))
    print()
    connections = dict(CONNECTIONS)
    lines = notes(argv, rounds, seconds, connections, DEPTH, elapsed, cores, load)
    print("\n".join(lines + warnings(rows)))
    print("\ngoals:")
    print("\n".join(goals(rows)))
    if not args.no_save:
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / time.strftime("http-%Y%m%d-%H%M%S.json")
        data = {
            "argv": argv,
            "rounds": rounds,
            "seconds": seconds,
            "rows": [row.as_dict() for row in rows.values()],
        }
        path.write_text(json.dumps(data, indent=1))
        log(f"saved {path}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        log("interrupted; every server stopped")
        sys.exit(130)
