"""``python -m benchmarks.server_instructions [--only KIND,...] [--count N]``: instructions
per request of whole HTTP servers, counted by callgrind: the user-space side of ``make
bench-http``'s hello case, repeatable on a busy machine where its timings are not.

Each server of ``benchmarks._http_servers`` (workerman on uvloop, the hand-written
Protocol + httptools ceiling, uvicorn) runs as it does there, one process, but under
``valgrind --tool=callgrind``; this process is its client: 50 keep-alive connections, each
sending ``GET /`` again as soon as its answer is in (as ``wrk -c50`` does), N requests in
all, then 2N in a second run. (instructions of the 2N run - those of the N run) / N is the
cost of one request: start-up, shutdown and the once-a-second work drop out. What is
counted is everything the serving process runs in user space: the event loop, the
parser, the handler, the libraries and the interpreter. What the kernel does for the
process (about as much as all of that, for every server: one read and one write a
request) is not counted.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._http_servers import HELLO, KINDS

ROOT = Path(__file__).resolve().parents[1]
CHOICES = ("workerman-uvloop", "ceiling", "uvicorn")
#: requests in the first run, per server (uvicorn costs some 25 times as much a request)
COUNTS = {"workerman-uvloop": 20_000, "ceiling": 20_000, "uvicorn": 2_000}
CONNECTIONS = 50
PORT = 18_260


def serve(kind: str, port: int, path: str) -> None:
    """The server, as ``benchmarks._http_servers`` runs it; a workerman worker is given
    time to stop under valgrind (it is killed after ``stop_timeout``, and a killed process
    writes no counts)."""
    from workerman.core import Worker

    from . import _http_servers

    Worker.stop_timeout = 300.0
    _http_servers.main([kind, str(port), path])


def load(port: int, total: int) -> None:
    """``total`` keep-alive GETs over CONNECTIONS connections, each sent when its
    connection's last answer is in."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port
    selector = selectors.DefaultSelector()
    pending: dict[socket.socket, bytes] = {}
    sent = done = 0
    for _ in range(CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        sent += 1
        pending[sock] = b""
        selector.register(sock, selectors.EVENT_READ)
    while done < total:
        for key, _ in selector.select(timeout=120):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            data = sock.recv(65536)
            if not data:
                raise SystemExit("the server closed a connection")
            seen = pending[sock] + data
            answers = seen.count(HELLO)
            if answers:
                done += answers
                seen = seen[seen.rindex(HELLO) + len(HELLO) :]
                if sent < total:
                    sock.sendall(request)
                    sent += 1
            pending[sock] = seen
    for sock in pending:
        sock.close()


def count(kind: str, total: int, work: Path) -> int:
    """Instructions of the serving process over a run of ``total`` requests."""
    body = work / "file"
    body.write_bytes(b"x")
    out = work / f"{kind}.{total}"
    log_path = work / f"{kind}.{total}.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0")
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}.%p",
                sys.executable,
                "-m",
                "benchmarks.server_instructions",
                "--serve",
                kind,
                str(PORT),
                str(body),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work,
        )
        try:
            pid = _ready(log_path, server)
            load(PORT, total)
        finally:
            # workerman: the master stops its worker; the others stop themselves
            server.send_signal(signal.SIGINT if kind.startswith("workerman") else signal.SIGTERM)
            server.wait(timeout=600)
    text = Path(f"{out}.{pid}").read_text()
    summary = re.search(r"^summary: (\d+)", text, re.M)
    assert summary, f"callgrind wrote no summary for {kind}"
    return int(summary.group(1))


def _ready(log_path: Path, server: subprocess.Popen[bytes]) -> int:
    """The pid of the serving process, once it says READY."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = re.search(r"^READY (\d+)", log_path.read_text(), re.M)
        if found:
            return int(found.group(1))
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    raise SystemExit("the server did not start in 300 s")


def per_request(kind: str, scale: float) -> float:
    total = max(200, int(COUNTS[kind] * scale))
    with tempfile.TemporaryDirectory(prefix="workerman-bench-instr-") as tmp:
        first = count(kind, total, Path(tmp))
        second = count(kind, 2 * total, Path(tmp))
    return (second - first) / total


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--only", default=",".join(CHOICES), help="servers, comma-separated")
    parser.add_argument("--scale", type=float, default=1.0, help="requests, times the default")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        kind, port, path = args.serve
        serve(kind, int(port), path)
        return
    kinds = [kind for kind in args.only.split(",") if kind]
    for kind in kinds:
        if kind not in CHOICES or kind not in KINDS:
            raise SystemExit(f"unknown server {kind!r}; choose from {', '.join(CHOICES)}")
    counts = {}
    for kind in kinds:
        print(f"counting {kind} ...", file=sys.stderr, flush=True)
        counts[kind] = per_request(kind, args.scale)
    base = counts.get("ceiling")
    print("| server | instructions per request | vs ceiling |")
    print("| --- | --- | --- |")
    for kind, value in counts.items():
        ratio = f"{value / base:.2f}x" if base else "-"
        print(f"| {kind} | {value:,.0f} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1:])
