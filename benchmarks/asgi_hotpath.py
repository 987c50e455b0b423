"""Instructions per request of the ASGI path, counted by callgrind (repeatable on a busy
machine where timings are not): ``python -m benchmarks.asgi_hotpath [--only ...]``.

Like ``benchmarks.hotpath``, each workload runs in a fresh Python under
``valgrind --tool=callgrind`` with N and 2N requests; (instructions of 2N - those of N) / N
is the cost of one request. One accepted connection (a real worker and TcpConnection, a
transport that records writes) gets one keep-alive GET per read, on asyncio, and the loop
runs until the answer is written (the read is handed over by the loop, as a socket's is,
so each request also costs one turn of the asyncio loop).

    core-sync    Worker("http://"): a plain handler sends a Response (the floor)
    core-async   the same handler as an async function (one task per request)
    asgi-bare    AsgiWorker with a bare ASGI hello app
    asgi-fastapi AsgiWorker with the FastAPI app's plain-text route
    asgi-unique  AsgiWorker with the FastAPI app's ``/items/{id}`` route, every request
                 different (path, query, session cookie, a browser's headers: the requests
                 of ``benchmarks.hotpath``'s http-unique)

and the same three ASGI workloads on uvicorn (``uvicorn-bare``, ``uvicorn-fastapi``,
``uvicorn-unique``): its httptools protocol, as ``make bench-asgi`` configures it, given
the same reads on the same kind of transport, so that the two servers' costs per request
compare on this noisy machine too (the tree and build do not matter to these).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .hotpath import GET, UNIQUE_MADE, Measured, Wire, builds, print_profile, unique_get

_MODULE = "benchmarks.asgi_hotpath"
WORKLOADS = (
    "core-sync",
    "core-async",
    "asgi-bare",
    "asgi-fastapi",
    "asgi-unique",
    "uvicorn-bare",
    "uvicorn-fastapi",
    "uvicorn-unique",
)


def reads(workload: str, count: int) -> list[bytes]:
    """The reads the connection is given, one request each; unique ones made for the
    largest run whatever the count, so that their making drops out of the difference."""
    if workload.endswith("unique"):
        assert count <= UNIQUE_MADE // 2, f"--count at most {UNIQUE_MADE // 2}"
        return [unique_get(n) for n in range(UNIQUE_MADE)][:count]
    return [GET.replace(b"/hello", b"/plain")] * count


def uvicorn_child(workload: str, count: int) -> None:
    """uvicorn's HttpToolsProtocol, made as its server makes one per accepted socket."""
    import asyncio
    from email.utils import formatdate

    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from ._asgi_apps import api, bare

    data = reads(workload, count)
    app = bare if workload == "uvicorn-bare" else api
    # as benchmarks._asgi_servers runs it (the lifespan is not what is counted)
    config = Config(app, http="httptools", access_log=False, log_level="warning", lifespan="off")
    config.load()

    async def main() -> None:
        state = ServerState()
        # what uvicorn.Server's startup and its once-a-second tick set: Date and Server
        date = formatdate(usegmt=True).encode()
        state.default_headers = [(b"date", date), *config.encoded_headers]
        protocol = HttpToolsProtocol(config, state, app_state={})
        wire = Wire()
        protocol.connection_made(wire)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        for one in data:
            written = wire.written
            loop.call_soon(protocol.data_received, one)  # as the loop calls a protocol
            await asyncio.sleep(0)  # that turn parses the request and starts its task
            while state.tasks:  # which uvicorn forgets as it ends, before this wakes
                await next(iter(state.tasks))
            assert wire.written > written, "no answer"
        assert not wire.closed, "the workload failed"
        protocol.connection_lost(None)

    asyncio.run(main())


def child(workload: str, count: int) -> None:
    if workload.startswith("uvicorn"):
        uvicorn_child(workload, count)
        return
    import asyncio

    import anyio

    from workerman.asgi import AsgiWorker
    from workerman.core import TcpConnection, Worker, create_loop
    from workerman.core.http import Http, Response

    from ._asgi_apps import api, bare

    # one connection carries every request (older trees ignore the setting)
    Http.max_keepalive_requests = 0
    worker: Any
    if workload.startswith("core"):
        worker = Worker("http://127.0.0.1:0")
        headers = {"Content-Type": "text/plain"}

        def sync(connection: Any, request: Any) -> None:
            connection.send(Response(200, headers, b"Hello, World!"))

        async def run(connection: Any, request: Any) -> None:
            sync(connection, request)

        worker.on_message = sync if workload == "core-sync" else run
    else:
        worker = AsgiWorker(bare if workload == "asgi-bare" else api, "http://127.0.0.1:0")
    data = reads(workload, count)

    async def main() -> None:
        async with create_loop("asyncio").open():
            if isinstance(worker, AsgiWorker):
                await worker.on_worker_start(worker)  # type: ignore[misc]
            connection = TcpConnection(worker)
            wire = Wire()
            connection.connection_made(wire)
            feed = connection.data_received
            loop = asyncio.get_running_loop()
            for one in data:
                written = wire.written
                loop.call_soon(feed, one)  # as the loop calls a protocol: outside any task
                while wire.written == written or connection.holds:
                    await anyio.sleep(0)
            assert not wire.closed, "the workload failed"

    anyio.run(main)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.asgi_hotpath", description=__doc__)
    parser.add_argument("--tree", action="append", type=Path, default=[], help="other checkout")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--count", type=int, default=1000, help="requests in the first run")
    parser.add_argument("--pure", action="store_true", help="this tree's pure build as well")
    parser.add_argument("--profile", action="store_true", help="the costliest functions too")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    runs, names = builds(args.tree, args.pure)
    header = ["workload", *[f"{name} (instr/request)" for name in names]]
    if len(runs) > 1:
        header.append("last / first")
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for workload in args.only.split(","):
        measured = [
            Measured(tree, workload, args.count, pure, args.profile, module=_MODULE)
            for tree, pure in runs
        ]
        figures = [m.per_message for m in measured]
        print(workload, " ".join(f"{f:,.0f}" for f in figures), file=sys.stderr, flush=True)
        if args.profile:
            for name, one in zip(names, measured, strict=True):
                print_profile(workload, name, one, args.top)
        cells = [workload, *[f"{f:,.0f}" for f in figures]]
        if len(runs) > 1:
            cells.append(f"{figures[-1] / figures[0]:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
