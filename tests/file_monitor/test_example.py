"""examples/file_monitor as its README tells: start it, edit handlers.py, and the web
worker answers with the edit while a WebSocket client of the gateway stays connected."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from websockets.sync.client import connect

from ._harness import free_port, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "file_monitor"


def _get(port: int) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        return conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def test_the_example_reloads_an_edit_and_keeps_the_gateways_connection(tmp_path: Path) -> None:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    web, ws_port = free_port(), free_port()
    env = {**os.environ, "WEB_PORT": str(web), "WS_PORT": str(ws_port), "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, str(folder / "app.py"), "start"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        assert wait_until(lambda: _get(web), 15, "the web worker").startswith("hello from")
        log = folder / "app.workerman.log"  # beside the app
        wait_until(log.exists, what="the log file")
        wait_until(lambda: "file monitor watching" in log.read_text(), what="the monitor")
        with connect(f"ws://127.0.0.1:{ws_port}/", open_timeout=10) as ws:
            handlers = folder / "handlers.py"
            handlers.write_text(handlers.read_text().replace("hello from", "edited in"))
            wait_until(lambda: (_get(web) or "").startswith("edited in"), what="the edit")
            ws.send("still here")
            assert ws.recv(timeout=10) == "still here"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(15)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
    assert process.returncode == 0
