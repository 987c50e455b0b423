"""The README's first app, small: a websocket:// worker of two processes attached to a
Gateway made before the fork, run by the command line (``python _multi_app.py start``)."""

from __future__ import annotations

import os

from workerman.core import Worker
from workerman.gateway import Gateway

gateway = Gateway(os.environ["GW_URL"], prefix=os.environ["GW_PREFIX"], ttl=1.5)
ws = Worker(f"websocket://127.0.0.1:{os.environ['GW_PORT']}", name="multi", count=2)
gateway.attach(ws)


async def on_message(connection, text):  # type: ignore[no-untyped-def]
    client = gateway.client(connection)
    if text.startswith("bind "):
        await client.bind_uid(text[5:])
    connection.send(f"ok {client.id}")


ws.on_message = on_message

if __name__ == "__main__":
    Worker.run_all()
