"""One gateway node as its own process, for the multi-process tests: a websocket:// worker
attached to a Gateway, serving the test app's commands (tests/gateway/_app.py).

    GW_URL=redis://127.0.0.1:6379/13 GW_PREFIX=t: GW_TTL=1.5 GW_DRIVER=trio python _node_app.py

It prints ``ready <port> <node id>`` once it listens (port 0: the kernel picks).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.gateway._app import command_handler
from workerman.core import Worker, create_loop, serve
from workerman.gateway import Gateway


async def main() -> None:
    ttl = float(os.environ.get("GW_TTL", "1.5"))
    gateway = Gateway(os.environ["GW_URL"], prefix=os.environ["GW_PREFIX"], ttl=ttl, timeout=1.0)
    host = os.environ.get("GW_HOST", "127.0.0.1")
    worker = Worker(f"websocket://{host}:{os.environ.get('GW_PORT', '0')}")
    gateway.attach(worker)
    worker.on_message = command_handler(gateway)
    async with create_loop(os.environ.get("GW_DRIVER", "asyncio")).open():
        async with serve(worker) as (_host, port):
            await gateway.start()
            print(f"ready {port} {gateway.node_id}", flush=True)
            await anyio.sleep_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    anyio.run(main, backend=os.environ.get("GW_DRIVER", "asyncio"))
