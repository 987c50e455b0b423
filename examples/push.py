"""Web push (Workerman's web-msg-sender): browsers hold a WebSocket, any HTTP client (a
PHP site, a cron job, curl) pushes to a uid or to everyone, through workerman.gateway.

    python examples/push.py start
    websocat 'ws://127.0.0.1:8000/?uid=alice'          # or a browser's WebSocket
    curl 'http://127.0.0.1:8001/push?uid=alice&text=hello'
    curl 'http://127.0.0.1:8001/push?text=to+everyone'
    curl 'http://127.0.0.1:8001/online?uid=alice'

Run it on as many machines as you like with the same PUSH_REDIS: a push to any of them
reaches the uid's sockets on all of them. Settings (environment): PUSH_REDIS (default
redis://127.0.0.1:6379/0), PUSH_PREFIX ("push:"), PUSH_HOST (0.0.0.0), PUSH_WS_PORT
(8000), PUSH_HTTP_PORT (8001). Protect /push (a token, a firewall) before you expose it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from workerman.core import TcpConnection, Worker
from workerman.core.http import Request, Response
from workerman.gateway import Gateway, GatewayError

HOST = os.environ.get("PUSH_HOST", "0.0.0.0")
gateway = Gateway(
    os.environ.get("PUSH_REDIS", "redis://127.0.0.1:6379/0"),
    prefix=os.environ.get("PUSH_PREFIX", "push:"),
)

sockets = Worker(f"websocket://{HOST}:{os.environ.get('PUSH_WS_PORT', '8000')}", name="push-ws")
gateway.attach(sockets)


async def on_websocket_connect(connection: TcpConnection, request: Request) -> None:
    uid = request.get("uid")
    if uid:  # /?uid=alice: this socket receives alice's pushes
        await gateway.client(connection).bind_uid(uid)


sockets.on_websocket_connect = on_websocket_connect
sockets.on_message = lambda connection, message: None  # the browser only listens

web = Worker(f"http://{HOST}:{os.environ.get('PUSH_HTTP_PORT', '8001')}", name="push-http")


async def on_request(connection: TcpConnection, request: Request) -> None:
    try:
        if request.path == "/push":
            text, uid = request.get("text", ""), request.get("uid")
            if uid:
                reached = await gateway.send_to_uid(uid, text)
            else:
                reached = await gateway.send_to_all(text)
            answer = {"ok": True, "nodes": int(reached)}
        elif request.path == "/online":
            answer = {"online": await gateway.is_uid_online(request.get("uid", ""))}
        else:
            connection.send(Response(404, body="not found"))
            return
    except GatewayError as exc:  # bad input, or Redis out of reach: say so, drop nothing
        status = 400 if isinstance(exc, ValueError) else 503
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        connection.send(Response(status, {"Content-Type": "application/json"}, json.dumps(answer)))
        return
    connection.send(Response(200, {"Content-Type": "application/json"}, json.dumps(answer)))


web.on_message = on_request

# pid and log files per pair of ports, so several copies can run on one machine
_files = Path(tempfile.gettempdir()) / f"workerman.push-{os.environ.get('PUSH_WS_PORT', '8000')}"
Worker.pid_file, Worker.status_file, Worker.log_file = (
    f"{_files}.pid",
    f"{_files}.status",
    f"{_files}.log",
)

if __name__ == "__main__":
    Worker.run_all()
