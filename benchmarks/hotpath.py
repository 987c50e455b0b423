"""Instructions per message on the server's hot path, counted by callgrind: repeatable on a
busy machine where timings are not.

``python -m benchmarks.hotpath [--tree DIR ...] [--only text,http,...]`` runs each
workload in a fresh Python under ``valgrind --tool=callgrind`` twice, with N and 2N
messages, and prints (instructions of the 2N run - those of the N run) / N: the cost of
one message, start-up excluded. Each workload feeds one accepted connection (a real
``Worker`` and ``TcpConnection``, a transport that records writes) exactly the bytes a
client would send, so what is counted is the user-space path from ``data_received`` to
the reply's ``write``: no kernel, no event loop wake-ups.

``--tree`` points at other checkouts (their ``packages/*/src`` go first on sys.path), so
an older commit and this one are counted side by side, in one run. A tree's core runs as
built there: compiled when its extensions are current (``make sync``), else pure; the
table's header says which. ``--pure`` adds this tree's pure build as a column of its own
(``WORKERMAN_NO_EXTENSIONS=1``).

``--profile`` (``make profile``) also prints, per workload and tree, the functions that
take the instructions of one message (callgrind_annotate's exclusive counts, the same
2N - N difference): interpreter internals for pure Python, mypyc's ``CPyDef_<module>___
<function>`` for compiled code.

    text         one line per read, echoed (on_message = send)
    text-batch   100 lines per read, echoed
    http         one keep-alive GET per read, a str reply
    http-batch   16 pipelined GETs per read
    http-unique  one GET per read, no two alike (path, query and session cookie vary, with
                 a browser's headers, as ``make bench-http``'s unique case); the handler
                 reads ``path`` and ``cookie("session")``
    ws           one masked 32-byte text frame per read, echoed
    ws-batch     100 frames per read
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

WORKLOADS = ("text", "text-batch", "http", "http-batch", "http-unique", "ws", "ws-batch")
ROOT = Path(__file__).resolve().parents[1]


class Wire:
    """A transport that keeps what is written; what the connection is given by asyncio."""

    def __init__(self) -> None:
        self.written = 0
        self.closed = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        return None

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def _masked_text_frame(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + body


HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
GET = b"GET /hello HTTP/1.1\r\nHost: x\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


UNIQUE_MADE = 1 << 14


def unique_get(n: int) -> bytes:
    """The ``n``th request of ``benchmarks._http_load.UNIQUE_LUA``, as wrk sends it."""
    session = f"{n:08x}{n * 2654435761 % 4294967296:08x}"
    return (
        f"GET /items/{n % 9973}?page={n % 97}&q=w{n} HTTP/1.1\r\n"
        "Host: 127.0.0.1:8080\r\n"
        f"User-Agent: {AGENT}\r\n"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        "Accept-Language: en-US,en;q=0.9,fr;q=0.5\r\n"
        "Accept-Encoding: gzip, deflate, br\r\n"
        f"Referer: http://127.0.0.1/items/{n * 7 % 9973}\r\n"
        f"Cookie: theme=dark; session={session}; lang=en\r\n\r\n"
    ).encode()


def child(workload: str, count: int) -> None:
    """Feed ``count`` messages of ``workload`` to one connection (run under callgrind)."""
    import anyio

    from workerman.core import TcpConnection, Worker, create_loop

    scheme = workload.partition("-")[0]
    address = {"text": "text", "http": "http", "ws": "websocket"}[scheme]
    worker = Worker(f"{address}://127.0.0.1:0")
    if scheme == "http":
        from workerman.core.http import Http

        # one connection carries every request (older trees ignore the setting)
        Http.max_keepalive_requests = 0
        if workload == "http-unique":

            def on_message(connection: Any, request: Any) -> None:
                request.path  # noqa: B018 (what the handler looks at)
                request.cookie("session")
                connection.send("hello")

            worker.on_message = on_message
        else:
            worker.on_message = lambda connection, request: connection.send("hello")
    else:
        worker.on_message = lambda connection, message: connection.send(message)
    batch = 100 if workload in ("text-batch", "ws-batch") else 16 if workload == "http-batch" else 1
    if scheme == "text":
        data = b"0123456789abcdef0123456789abcde\n" * batch
    elif scheme == "http":
        data = GET * batch
    else:
        data = _masked_text_frame(b"0123456789abcdef0123456789abcdef") * batch
    reads = max(1, count // batch)
    # every request differs; as many made in every run, so that their making drops out of
    # the difference between the N and 2N runs
    unique = [unique_get(n) for n in range(UNIQUE_MADE)] if workload == "http-unique" else []
    assert reads <= len(unique) or not unique, f"--count at most {UNIQUE_MADE // 2}"

    async def main() -> None:
        async with create_loop("asyncio").open():
            connection = TcpConnection(worker)
            wire = Wire()
            connection.connection_made(wire)
            if scheme == "ws":
                connection.data_received(HANDSHAKE)
            feed = connection.data_received
            if unique:
                for request in unique[:reads]:
                    feed(request)
            else:
                for _ in range(reads):
                    feed(data)
            assert wire.written > 0 and not wire.closed, "the workload failed"

    anyio.run(main)


def callgrind(
    tree: Path,
    workload: str,
    count: int,
    out: Path,
    pure: bool = False,
    module: str = "benchmarks.hotpath",
) -> int:
    """Run the workload (``module``'s ``--child``) under callgrind into ``out``; its total
    instruction count."""
    paths = [str(p) for p in sorted((tree / "packages").glob("*/src"))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, str(ROOT)]), PYTHONHASHSEED="0")
    env.pop("WORKERMAN_NO_EXTENSIONS", None)
    if pure:
        env["WORKERMAN_NO_EXTENSIONS"] = "1"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            module,
            "--child",
            workload,
            str(count),
        ],
        env=env,
        check=True,
        capture_output=True,
        cwd=out.parent,
    )
    summary = re.search(r"^summary: (\d+)", out.read_text(), re.M)
    assert summary, "callgrind wrote no summary"
    return int(summary.group(1))


_FUNCTION = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)(?: \[.*\])?$")


def functions(out: Path) -> dict[str, int]:
    """Exclusive instructions per function (``file:function``, the file's path dropped)."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    costs: dict[str, int] = {}
    section = text.partition("file:function")[2]
    for line in section.splitlines()[2:]:
        match = _FUNCTION.match(line)
        if match is None:
            if line.strip().startswith("--"):
                break
            continue
        where, _, name = match.group(2).rpartition(":")
        key = f"{Path(where).name}:{name}"
        costs[key] = costs.get(key, 0) + int(match.group(1).replace(",", ""))
    return costs


def build_of(tree: Path, pure: bool) -> str:
    if pure:
        return "pure"
    manifest = tree / "packages/core/src/workerman/core/_compiled.json"
    if not manifest.exists():
        return "pure"
    paths = [str(p) for p in sorted((tree / "packages").glob("*/src"))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    env.pop("WORKERMAN_NO_EXTENSIONS", None)
    code = "from workerman.core import _extensions; print(_extensions.choose())"
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "pure"


class Measured:
    """One tree (and build) on one workload: instructions per message, and per function."""

    def __init__(
        self,
        tree: Path,
        workload: str,
        count: int,
        pure: bool = False,
        profile: bool = False,
        module: str = "benchmarks.hotpath",
    ):
        with tempfile.TemporaryDirectory() as tmp:
            small_out, large_out = Path(tmp) / "small.out", Path(tmp) / "large.out"
            small = callgrind(tree, workload, count, small_out, pure, module)
            large = callgrind(tree, workload, 2 * count, large_out, pure, module)
            self.per_message = (large - small) / count
            self.functions: dict[str, float] = {}
            if profile:
                before, after = functions(small_out), functions(large_out)
                for name, cost in after.items():
                    self.functions[name] = (cost - before.get(name, 0)) / count


def per_message(tree: Path, workload: str, count: int, module: str = "benchmarks.hotpath") -> float:
    """Instructions per message of ``module``'s workload (benchmarks.asgi_hotpath uses it)."""
    return Measured(tree, workload, count, module=module).per_message


def print_profile(workload: str, name: str, measured: Measured, top: int) -> None:
    print(f"\n{workload}, {name}: {measured.per_message:,.0f} instructions per message")
    ranked = sorted(measured.functions.items(), key=lambda item: -item[1])[:top]
    for function, cost in ranked:
        share = cost / measured.per_message if measured.per_message else 0.0
        print(f"  {cost:10,.0f}  {share:6.1%}  {function}")


def builds(trees: list[Path], pure: bool) -> tuple[list[tuple[Path, bool]], list[str]]:
    """The (tree, pure) pairs to count, other trees first, and their column names."""
    runs = [(tree, False) for tree in trees]
    if pure:
        runs.append((ROOT, True))
    runs.append((ROOT, False))
    names = [
        f"{tree if tree != ROOT else 'this tree'}, {build_of(tree, pure)}" for tree, pure in runs
    ]
    return runs, names


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath", description=__doc__)
    parser.add_argument("--tree", action="append", type=Path, default=[], help="other checkout")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--count", type=int, default=2000, help="messages in the first run")
    parser.add_argument("--pure", action="store_true", help="this tree's pure build as well")
    parser.add_argument("--profile", action="store_true", help="the costliest functions too")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    runs, names = builds(args.tree, args.pure)
    rows = []
    for workload in args.only.split(","):
        measured = [Measured(tree, workload, args.count, pure, args.profile) for tree, pure in runs]
        figures = [m.per_message for m in measured]
        rows.append((workload, figures))
        print(workload, " ".join(f"{f:,.0f}" for f in figures), file=sys.stderr)
        if args.profile:
            for name, one in zip(names, measured, strict=True):
                print_profile(workload, name, one, args.top)
    header = ["workload", *[f"{name} (instr/msg)" for name in names]]
    if len(runs) > 1:
        header.append("last / first")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for workload, figures in rows:
        cells = [workload, *[f"{f:,.0f}" for f in figures]]
        if len(runs) > 1:
            cells.append(f"{figures[-1] / figures[0]:.3f}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
