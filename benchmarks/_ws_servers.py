"""The WebSocket servers under test, one process each:
``python -m benchmarks._ws_servers KIND PORT MODE``.

Every server listens on 127.0.0.1:PORT, pins itself to the core in BENCH_CPU, raises its
open-file limit and prints ``READY <pid>`` (the pid of the process that serves) once it
accepts connections.

MODE ``echo``: every message goes back as it came (text as text).
MODE ``fanout``: a text message equal to TRIGGER makes the server send BROADCAST to every
    connected client, then answer the trigger's sender ``done <loop seconds> <loop CPU>``:
    the wall and CPU time of its own send loop. Other messages are ignored.

workerman-*: ``Worker("websocket://...")`` on uvloop, asyncio or trio, defaults otherwise
    (permessage-deflate is negotiated when a client offers it; no heartbeat).
websockets-*: the ``websockets`` library's asyncio server (on uvloop or asyncio) or its
    trio server, ``compression=None``; websockets-deflate: on uvloop with its default
    compression. All with ``ping_interval=None``: like ours by default, no keepalive
    pings (and no keepalive task per connection).
picows: picows (Cython) on uvloop, a WSListener that answers each text frame with the
    same text (decoded as UTF-8 and encoded again, as a handler given a ``str`` would) and
    each binary frame with the same bytes; fanout as the others. No auto-ping.
baseline-uvloop: not WebSocket, the hand-written newline-delimited line echo of
    ``benchmarks._servers`` on uvloop: the pure-Python floor of per-message cost.

With BENCH_PROFILE=PATH, a workerman server runs its serving process under cProfile and
writes the stats to PATH when it stops.
"""

from __future__ import annotations

import asyncio
import sys
import time
from functools import partial
from typing import Any

from ._servers import prepare_process, ready, run_baseline, serve_workerman

WORKERMAN = ("workerman-uvloop", "workerman-asyncio", "workerman-trio")
WEBSOCKETS = ("websockets-uvloop", "websockets-asyncio", "websockets-trio", "websockets-deflate")
BASELINE = "baseline-uvloop"
PICOWS = "picows"
KINDS = (*WORKERMAN, *WEBSOCKETS, PICOWS, BASELINE)
MODES = ("echo", "fanout")
TRIGGER = "broadcast, please"
BROADCAST = "fan-out message to every client!"  # 32 bytes
BACKLOG = 4096
RUN_DIR = "/tmp/workerman-bench-ws"  # + "-PORT": a workerman server's pid, status and log


def _loop_report(started: float, cpu_started: float) -> str:
    return f"done {time.perf_counter() - started:.6f} {time.process_time() - cpu_started:.6f}"


# -- workerman-core ------------------------------------------------------------------------


def run_workerman(kind: str, port: int, mode: str) -> None:
    from workerman.core import Worker

    Worker.event_loop = kind.removeprefix("workerman-")
    worker = Worker(f"websocket://127.0.0.1:{port}", name="ws-bench")
    if mode == "echo":
        worker.on_message = lambda connection, message: connection.send(message)
    else:

        def on_message(connection: Any, message: Any) -> None:
            if message != TRIGGER:
                return
            started, cpu_started = time.perf_counter(), time.process_time()
            for client in worker.connections.values():
                client.send(BROADCAST)
            connection.send(_loop_report(started, cpu_started))

        worker.on_message = on_message
    serve_workerman(worker, f"{RUN_DIR}-{port}")


# -- the websockets library ----------------------------------------------------------------


def run_websockets_asyncio(kind: str, port: int, mode: str) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    servers: list[Any] = []

    async def echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def fanout(websocket: ServerConnection) -> None:
        async for message in websocket:
            if message == TRIGGER:
                started, cpu_started = time.perf_counter(), time.process_time()
                broadcast(servers[0].connections, BROADCAST)
                await websocket.send(_loop_report(started, cpu_started))

    async def main() -> None:
        compression = "deflate" if kind == "websockets-deflate" else None
        handler = echo if mode == "echo" else fanout
        async with serve(
            handler,
            "127.0.0.1",
            port,
            compression=compression,
            ping_interval=None,
            backlog=BACKLOG,
        ) as server:
            servers.append(server)
            ready()
            await server.serve_forever()

    if kind == "websockets-asyncio":
        asyncio.run(main())
    else:
        import uvloop

        uvloop.run(main())


def run_websockets_trio(port: int, mode: str) -> None:
    import trio
    from websockets.trio.server import ServerConnection, serve

    if mode != "echo":
        raise SystemExit("websockets-trio serves the echo mode only")

    async def echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(
                    serve,
                    echo,
                    port,
                    host="127.0.0.1",
                    backlog=BACKLOG,
                    compression=None,
                    ping_interval=None,
                )
            )
            ready()

    trio.run(main)


# -- picows --------------------------------------------------------------------------------


def run_picows(port: int, mode: str) -> None:
    import uvloop
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    clients: set[WSTransport] = set()
    broadcast = BROADCAST.encode()

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            clients.add(transport)

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            clients.discard(transport)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.TEXT:
                text = frame.get_payload_as_utf8_text()
                if mode == "echo":
                    transport.send(WSMsgType.TEXT, text.encode())
                elif text == TRIGGER:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    for client in clients:
                        client.send(WSMsgType.TEXT, broadcast)
                    transport.send(WSMsgType.TEXT, _loop_report(started, cpu_started).encode())
            elif kind == WSMsgType.BINARY:
                transport.send(WSMsgType.BINARY, frame.get_payload_as_bytes())
            elif kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    async def main() -> None:
        server = await ws_create_server(
            lambda request: Listener(), "127.0.0.1", port, backlog=BACKLOG
        )
        ready()
        async with server:
            await server.serve_forever()

    uvloop.run(main())


def main(argv: list[str]) -> None:
    kind, port, mode = argv[0], int(argv[1]), argv[2]
    if kind not in KINDS or mode not in MODES:
        raise SystemExit(f"usage: KIND PORT MODE; KIND in {KINDS}, MODE in {MODES}")
    prepare_process()
    if kind in WORKERMAN:
        run_workerman(kind, port, mode)
    elif kind == "websockets-trio":
        run_websockets_trio(port, mode)
    elif kind == PICOWS:
        run_picows(port, mode)
    elif kind in WEBSOCKETS:
        run_websockets_asyncio(kind, port, mode)
    else:
        run_baseline(kind, port)


if __name__ == "__main__":
    main(sys.argv[1:])
