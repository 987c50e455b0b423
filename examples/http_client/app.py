"""An HTTP worker that calls other HTTP services with workerman-http-client.

    python examples/http_client/app.py start
    curl 'http://127.0.0.1:8080/fetch?url=https://example.com/'
    curl 'http://127.0.0.1:8080/notify'      # callback style: answers at once

The client is built at import time, before the workers fork; each worker process opens
its own pooled connections on first use.
"""

from __future__ import annotations

from typing import Any

from workerman.core import Worker
from workerman.core.http import Response
from workerman.http_client import HttpClient, HttpClientError, Timeout

http = HttpClient(max_connections_per_host=16, timeout=Timeout(connect=5, read=10, total=30))
web = Worker("http://0.0.0.0:8080", name="fetcher", count=2)


async def on_message(connection: Any, request: Any) -> None:
    if request.path == "/fetch":
        url = request.get("url", "https://example.com/")
        try:
            upstream = await http.get(url)
        except HttpClientError as exc:
            connection.send(Response(502, body=f"{type(exc).__name__}: {exc}\n"))
            return
        summary = (
            f"{upstream.status_code} {upstream.reason_phrase}, {len(upstream.content)} bytes\n"
        )
        connection.send(Response(200, {"Content-Type": "text/plain"}, summary))
    elif request.path == "/notify":

        def done(response: Any, error: BaseException | None) -> None:
            print("notified:", error or response.status_code)

        http.post("https://example.com/", json={"event": "hello"}, callback=done)
        connection.send("queued\n")
    else:
        connection.send(Response(404, body="try /fetch?url=... or /notify\n"))


web.on_message = on_message

if __name__ == "__main__":
    Worker.run_all()
