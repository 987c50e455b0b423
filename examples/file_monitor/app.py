"""Code that reloads on save, beside connections that stay open.

    python examples/file_monitor/app.py start
    curl http://127.0.0.1:8080/          # then edit handlers.py and curl again

The web worker's handler lives in handlers.py, imported in on_worker_start (in each
worker process), so a reload runs your edit. The WebSocket gateway (ws://127.0.0.1:8081)
is not reloadable: its clients stay connected while the web processes restart.
"""

import os
import sys
from pathlib import Path

from workerman.core import Worker
from workerman.file_monitor import FileMonitor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
WEB_PORT = int(os.environ.get("WEB_PORT", "8080"))
WS_PORT = int(os.environ.get("WS_PORT", "8081"))

web = Worker(f"http://127.0.0.1:{WEB_PORT}", name="web", count=2)


def on_worker_start(worker):
    import handlers  # here, not at the top: the master never imports it

    worker.on_message = handlers.on_message


web.on_worker_start = on_worker_start

gateway = Worker(f"websocket://127.0.0.1:{WS_PORT}", name="gateway")
gateway.reloadable = False  # a reload leaves its connections open
gateway.on_message = lambda connection, message: connection.send(message)

FileMonitor(paths=[HERE], extensions=[".py", ".html"], memory_limit="512M")

if __name__ == "__main__":
    Worker.run_all()
