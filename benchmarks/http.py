"""``python -m benchmarks.http [--quick] [--duration S]``: the HTTP server beside uvicorn and
a hand-written pure-Python ceiling, in one run, one markdown table.

Each server is one process pinned to one core; wrk (one thread) runs pinned to another.
Cases: hello (keep-alive "Hello World", ``wrk -c50``), unique (every request differs: path,
query and session cookie vary, with a browser's headers; the handler reads ``path`` and
``cookie("session")``, the ``ceiling-parse`` server keeps the URL and headers and parses the
cookie with http.cookies; ``wrk -c50``), pipelined (16 requests per write, ``wrk -c50``) and
file (a 1 MiB download, ``wrk -c10``). ``workerman-uvloop-pure`` is workerman (uvloop) on the
pure-Python build of the core (WORKERMAN_NO_EXTENSIONS=1), beside the compiled one. Progress
goes to stderr; the table, ready to paste, to stdout.

``--profile CASE`` instead runs workerman (uvloop) alone under cProfile for one wrk run of
that case and prints the top of its profile.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import tempfile
import time
from pathlib import Path

from ._http_load import UNIQUE_LUA, HttpServer, HttpServers, Sample, wrk
from ._http_report import Row, goals, notes, table, warnings
from ._http_servers import KINDS
from ._proc import (
    PURE,
    attempt,
    handle_signals,
    log,
    parse_choices,
    pin_load_generator,
    run_main,
    save_results,
)

CASES = ("hello", "unique", "pipelined", "file")
PATHS = {"hello": "/", "unique": "/items/", "pipelined": "/", "file": "/file"}
CONNECTIONS = {"hello": 50, "unique": 50, "pipelined": 50, "file": 10}
SERVERS = (*KINDS[:1], KINDS[0] + PURE, *KINDS[1:])  # workerman-uvloop-pure beside it
#: the ceiling of the unique case looks at the requests; that of the others does not
SKIP = {("unique", "ceiling")} | {(c, "ceiling-parse") for c in CASES if c != "unique"}
DEPTH = 16
Cores = tuple[int | None, int | None]  # (server core, wrk core)


def measure(case: str, server: HttpServer, seconds: int, cpu: int | None) -> Sample:
    """One wrk run of ``case``; a failed one fails the benchmark, with the server's log."""
    depth = DEPTH if case == "pipelined" else 1
    lua = UNIQUE_LUA if case == "unique" else ""
    return attempt(
        f"{case} {server.kind}",
        server,
        lambda: wrk(server, PATHS[case], CONNECTIONS[case], seconds, cpu, depth, lua),
        lambda sample: sample.requests,
        "no request completed",
    )


def run(
    cases: list[str], kinds: list[str], rounds: int, seconds: int, warmup: int, cores: Cores
) -> dict[tuple[str, str], Row]:
    server_cpu, client_cpu = cores
    rows = {(c, k): Row(c, k) for c in cases for k in kinds if (c, k) not in SKIP}
    with HttpServers(kinds, server_cpu) as servers:
        for server in servers.values():
            if warmup:
                wrk(server, "/", CONNECTIONS["hello"], warmup, client_cpu)
        for round_no in range(1, rounds + 1):
            for case in cases:
                for kind, server in servers.items():
                    if (case, kind) in SKIP:
                        continue
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
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated servers")
    parser.add_argument("--profile", choices=CASES, help="profile workerman (uvloop) instead")
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    return parse_choices(parser, argv, {"only": CASES, "servers": SERVERS})


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    handle_signals(sigint=True, sighup=True)  # every way out stops the servers
    rounds = args.rounds or (1 if args.quick else 2)
    seconds = max(1, round(args.duration or (1 if args.quick else 3)))
    warmup = 0 if args.quick else 1
    cores = pin_load_generator()
    if args.profile:
        print(profile(args.profile, seconds, cores))
        return
    kinds = [k for k in SERVERS if k in args.servers]
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
        data = {
            "argv": argv,
            "rounds": rounds,
            "seconds": seconds,
            "rows": [row.as_dict() for row in rows.values()],
        }
        save_results("http", data)


if __name__ == "__main__":
    run_main(main)
