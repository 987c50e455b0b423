"""``python -m benchmarks.http_client [--quick]``: workerman-http-client beside aiohttp and
httpx, in one run, against one server.

The server is the core's own ``http://`` Worker on uvloop (``benchmarks._http_servers``),
pinned to the first core; every client runs in a fresh interpreter pinned to the second
(``benchmarks._http_client_child``), one after another, best of ROUNDS rounds each.

get: COUNT (20,000) GETs of an 11-byte "Hello World" from 50 tasks sharing one client
    (pools of 50 keep-alive connections), after a 500-request warm-up. Throughput, and the
    client's own CPU per request (user + system, getrusage). httpx, about ten times slower
    than the others here, makes a tenth of the requests, to keep the run short.
stream: one GET of a FILE-sized body (1 GiB; 256 MiB with --quick) read to its end in the
    pieces each client yields. MiB/s, and client CPU seconds per GiB.

The ratios are against aiohttp: throughput (higher is better) and CPU per operation
(lower is better). Two cores shared with other work make every figure noisy; the best
round of each is shown, with the spread between rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._proc import (
    ROOT,
    GroupServer,
    ServerGroup,
    handle_signals,
    log,
    parse_choices,
    pick_cores,
    run_main,
    runner_parser,
)
from ._report import markdown_table

CLIENTS = ("workerman-uvloop", "workerman-asyncio", "workerman-trio", "aiohttp", "httpx")
CASES = ("get", "stream")
BASELINE = "aiohttp"


class _Server(GroupServer):
    module = "benchmarks._http_servers"

    def __init__(self, cpu: int | None, log_dir: Path, file: Path) -> None:
        super().__init__("workerman-uvloop", cpu, log_dir, [str(file)])
        self.run_dir = f"/tmp/workerman-bench-http-{self.port}"


class _Servers(ServerGroup[_Server]):
    prefix = "wm-bench-http-client-"

    def __init__(self, cpu: int | None, file_size: int) -> None:
        super().__init__()
        self.cpu = cpu
        self.file = self.log_dir / "file.bin"
        self.file_size = file_size

    def start(self) -> None:
        with self.file.open("wb") as out:  # sparse: the page cache serves zeros fast
            out.truncate(self.file_size)
        self.running["server"] = _Server(self.cpu, self.log_dir, self.file)


def run_child(client: str, case: str, url: str, count: int, cpu: int | None) -> dict[str, Any]:
    env = dict(os.environ, BENCH_CPU="" if cpu is None else str(cpu))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks._http_client_child",
            client,
            case,
            url,
            str(count),
            "50",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} {case} failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> None:
    parser = runner_parser(
        "benchmarks.http_client", __doc__, "fewer requests, 256 MiB", CASES, CLIENTS
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parse_choices(parser, argv, {"only": CASES, "servers": CLIENTS})
    handle_signals(sigint=True)
    count = 5_000 if args.quick else 20_000
    file_size = (256 if args.quick else 1024) << 20
    server_cpu, client_cpu = pick_cores()
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with _Servers(server_cpu, file_size) as servers:
        port = servers["server"].port
        for case in args.only:
            url = f"http://127.0.0.1:{port}/" if case == "get" else f"http://127.0.0.1:{port}/file"
            log(f"{case}: warming the server up")
            run_child("workerman-uvloop", case, url, count // 10, client_cpu)
            for round_ in range(args.rounds):
                for client in args.servers:
                    log(f"{case} {client} round {round_ + 1}")
                    # httpx takes ~1.5 ms a request here: a tenth of the requests keeps the
                    # run short, and the figures are per request anyway
                    n = count // 10 if client == "httpx" else count
                    result = run_child(client, case, url, n, client_cpu)
                    rows.setdefault((case, client), []).append(result)
    print(report(rows, count, file_size))


def _rate(case: str, sample: dict[str, Any]) -> float:
    if case == "get":
        return float(sample["requests"]) / sample["seconds"]
    return float(sample["bytes"]) / sample["seconds"] / (1 << 20)


def _cost(case: str, sample: dict[str, Any]) -> float:
    if case == "get":
        return float(sample["cpu"]) / sample["requests"] * 1e6
    return float(sample["cpu"]) / (sample["bytes"] / (1 << 30))


def report(rows: dict[tuple[str, str], list[dict[str, Any]]], count: int, size: int) -> str:
    best: dict[tuple[str, str], dict[str, Any]] = {
        key: max(samples, key=lambda s: _rate(key[0], s)) for key, samples in rows.items()
    }
    lines = []
    for (case, client), samples in rows.items():
        sample = best[(case, client)]
        rates = [_rate(case, s) for s in samples]
        spread = (max(rates) - min(rates)) / 2 / max(rates) if len(rates) > 1 else 0.0
        base = best.get((case, BASELINE))
        rate, cost = _rate(case, sample), _cost(case, sample)
        ratio = f"{rate / _rate(case, base):.2f}x" if base else "-"
        cost_ratio = f"{cost / _cost(case, base):.2f}x" if base else "-"
        label = "GET, c=50" if case == "get" else f"{size >> 20} MiB body"
        lines.append(
            [
                f"{case} ({label})",
                client + (f" ({samples[0]['requests']:,} req)" if case == "get" else ""),
                f"{rate:,.0f} req/s" if case == "get" else f"{rate:,.0f} MiB/s",
                f"±{spread:.0%}",
                f"{cost:.1f} us/req" if case == "get" else f"{cost:.2f} s/GiB",
                ratio,
                cost_ratio,
            ]
        )
    header = [
        "case",
        "client",
        "throughput",
        "spread",
        "client CPU",
        "vs aiohttp",
        "CPU vs aiohttp",
    ]
    return markdown_table(header, lines)


if __name__ == "__main__":
    run_main(main)
