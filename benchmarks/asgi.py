"""``python -m benchmarks.asgi [--quick]``: ASGI apps on workerman-asgi beside uvicorn and
granian, in one run, one markdown table.

Each server is one process pinned to one core (granian: its launcher and one worker, both
pinned there); wrk (one thread, 50 connections) runs pinned to the other. Cases:

- bare: a bare ASGI hello app (``GET /``);
- fastapi-json, fastapi-plain: a FastAPI app's JSON and plain-text routes;
- unique: the FastAPI app's ``/items/{id}?q=...`` with a session cookie, every request
  different (path, query and cookie vary; browser-like headers), so no cache of heads helps.

Server CPU per request (user + system, from /proc, over the wrk window) is shown beside
throughput. Progress goes to stderr; the table, ready to paste, to stdout.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from ._asgi_servers import KINDS, run_dir_of
from ._http_load import Sample, wrk
from ._proc import (
    GroupServer,
    ServerGroup,
    attempt,
    handle_signals,
    log,
    parse_choices,
    pin_load_generator,
    run_main,
    save_results,
)
from ._report import Rounds, markdown_table

CASES = ("bare", "fastapi-json", "fastapi-plain", "unique")
APP_OF = {
    "bare": "bare",
    "fastapi-json": "fastapi",
    "fastapi-plain": "fastapi",
    "unique": "fastapi",
}
PATHS = {"bare": "/", "fastapi-json": "/json", "fastapi-plain": "/plain", "unique": "/items/1"}
CONNECTIONS = 50
LABELS = {
    "workerman": "workerman-asgi (uvloop)",
    "uvicorn": "uvicorn (httptools, uvloop)",
    "granian": "granian (ASGI, 1 worker)",
}
GOALS = {  # case: (peer, at least this many times its throughput)
    "bare": (("uvicorn", 2.0), ("granian", 1.3)),
    "fastapi-json": (("uvicorn", 1.3),),
    "fastapi-plain": (("uvicorn", 1.3),),
}

#: every request differs: the path's id, the query and the session cookie; headers as a
#: browser sends them
UNIQUE_LUA = """\
local counter = 0
function request()
  counter = counter + 1
  local headers = {
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ["Accept-Language"] = "en-US,en;q=0.5",
    ["Accept-Encoding"] = "gzip, deflate, br, zstd",
    ["Referer"] = "http://127.0.0.1/items/" .. (counter - 1),
    ["Cookie"] = "session=" .. string.format("%08x%08x", counter, counter * 2654435761 % 4294967296)
      .. "; theme=dark",
    ["Sec-Fetch-Dest"] = "document",
    ["Sec-Fetch-Mode"] = "navigate",
    ["Sec-Fetch-Site"] = "same-origin",
    ["Upgrade-Insecure-Requests"] = "1",
  }
  return wrk.format("GET", "/items/" .. counter .. "?q=term" .. (counter % 977), headers)
end
"""


class AsgiServer(GroupServer):
    """One server of ``_asgi_servers``; its CPU is that of the process and its children."""

    module = "benchmarks._asgi_servers"

    def __init__(self, kind: str, app: str, cpu: int | None, log_dir: Path) -> None:
        super().__init__(kind, cpu, log_dir, [app], name=f"{kind}-{app}")
        self.run_dir = run_dir_of(self.port)

    def cpu_times(self) -> tuple[float, float]:
        root = self._ps()
        user = system = 0.0
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            user += times.user
            system += times.system
        return user, system


class AsgiServers(ServerGroup[AsgiServer]):
    prefix = "wm-bench-asgi-"

    def __init__(self, kinds: list[str], app: str, cpu: int | None) -> None:
        super().__init__()
        self.kinds, self.app, self.cpu = kinds, app, cpu

    def start(self) -> None:
        for kind in self.kinds:
            self.running[kind] = AsgiServer(kind, self.app, self.cpu, self.log_dir)

    def check(self, server: AsgiServer) -> None:
        deadline = time.monotonic() + 15
        path = "/" if self.app == "bare" else "/plain"
        while True:
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    answer = b""
                    while not answer.endswith(b"Hello, World!"):
                        piece = sock.recv(4096)
                        if not piece:
                            break
                        answer += piece
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if not answer.startswith(b"HTTP/1.1 200") or not answer.endswith(b"Hello, World!"):
            raise RuntimeError(f"{server.kind}: GET {path} answered {answer[:200]!r}")


@dataclass
class Row(Rounds[Sample]):
    def value_of(self, sample: Sample) -> float:
        return sample.rate


def measure(case: str, server: AsgiServer, seconds: int, cpu: int | None) -> Sample:
    lua = UNIQUE_LUA if case == "unique" else ""
    return attempt(
        f"{case} {server.kind}",
        server,
        lambda: wrk(server, PATHS[case], CONNECTIONS, seconds, cpu, lua=lua),  # type: ignore[arg-type]
        lambda sample: sample.requests,
        "no request completed",
    )


def run(
    cases: list[str], kinds: list[str], rounds: int, seconds: int, cores: tuple[Any, Any]
) -> dict[tuple[str, str], Row]:
    server_cpu, client_cpu = cores
    rows = {(case, kind): Row(case, kind) for case in cases for kind in kinds}
    for app in dict.fromkeys(APP_OF[case] for case in cases):
        with AsgiServers(kinds, app, server_cpu) as servers:
            for server in servers.values():  # warm up
                wrk(server, "/" if app == "bare" else "/plain", CONNECTIONS, 1, client_cpu)  # type: ignore[arg-type]
            for round_no in range(1, rounds + 1):
                for case in (c for c in cases if APP_OF[c] == app):
                    for kind, server in servers.items():
                        sample = measure(case, server, seconds, client_cpu)
                        rows[case, kind].samples.append(sample)
                        log(
                            f"{case:13} {kind:10} round {round_no}/{rounds}: "
                            f"{sample.rate:9,.0f} req/s  server "
                            f"{sample.server_us_per_request:7.2f} us/req  errors {sample.errors}"
                        )
    return rows


def table(rows: dict[tuple[str, str], Row]) -> str:
    header = [
        "case",
        "server",
        "req/s",
        "server CPU us/req (user + sys)",
        "server CPU",
        "vs uvicorn",
        "vs granian",
        "CPU/req vs uvicorn",
    ]
    lines = []
    for (case, kind), row in rows.items():
        best = row.best
        user = (best.server_cpu - best.server_sys) / best.requests * 1e6
        ratios = []
        for peer in ("uvicorn", "granian"):
            ref = rows.get((case, peer))
            ratios.append("—" if ref is None or ref is row else f"{row.value / ref.value:.2f}x")
        ref = rows.get((case, "uvicorn"))
        cpu_ratio = (
            "—"
            if ref is None or ref is row
            else f"{best.server_us_per_request / ref.best.server_us_per_request:.2f}x"
        )
        lines.append(
            [
                case,
                LABELS[kind],
                f"{row.value:,.0f} ±{row.spread:.0%}",
                f"{best.server_us_per_request:.2f} ({user:.1f} + "
                f"{best.server_sys_us_per_request:.1f})",
                f"{best.server_cpu / best.seconds:.0%}",
                *ratios,
                cpu_ratio,
            ]
        )
    return markdown_table(header, lines)


def goals(rows: dict[tuple[str, str], Row]) -> list[str]:
    found = []
    for case, wanted in GOALS.items():
        mine = rows.get((case, "workerman"))
        for peer, factor in wanted:
            ref = rows.get((case, peer))
            if mine is None or ref is None:
                continue
            ratio = mine.value / ref.value
            cpu = ref.best.server_us_per_request / mine.best.server_us_per_request
            verdict = "met" if ratio >= factor else "MISSED"
            found.append(
                f"- {case}: {ratio:.2f}x {peer} by throughput, {cpu:.2f}x by server CPU per "
                f"request (goal >= {factor}x): {verdict}"
            )
    return found


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.asgi", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, help="rounds over every server and case")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--servers", default=",".join(KINDS), help="comma-separated servers")
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    args = parse_choices(parser, argv, {"only": CASES, "servers": KINDS})
    handle_signals(sigint=True, sighup=True)
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = max(1, round(args.duration or (2 if args.quick else 4)))
    cores = pin_load_generator()
    kinds = [k for k in KINDS if k in args.servers]
    cases = [c for c in CASES if c in args.only]
    load = os.getloadavg()[0]
    started = time.monotonic()
    rows = run(cases, kinds, rounds, seconds, cores)
    elapsed = time.monotonic() - started
    print(table(rows))
    print()
    print(
        f"- {elapsed:.0f} s, load average {load:.2f} at the start; servers pinned to core "
        f"{cores[0]}, wrk (-t1 -c{CONNECTIONS}) to core {cores[1]}; {rounds} round(s) of "
        f"{seconds} s, each row the best round, ± half the range of the rounds."
    )
    print("\ngoals:")
    print("\n".join(goals(rows)))
    if not args.no_save:
        save_results("asgi", {"argv": argv, "rows": [row.as_dict() for row in rows.values()]})


if __name__ == "__main__":
    run_main(main)
