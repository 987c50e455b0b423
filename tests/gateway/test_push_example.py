"""examples/push.py as its users run it (``push.py start``): a browser-style WebSocket
client with ?uid=, HTTP pushes to the uid and to everyone from urllib, bad input refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from ._processes import free_port, wait_for

APP = Path(__file__).resolve().parents[2] / "examples" / "push.py"


def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def answers(port: int) -> bool:
    try:
        return get(port, "/online?uid=x")[0] == 200
    except OSError:
        return False


def test_http_pushes_reach_the_websocket_of_a_uid_and_everyone(
    tmp_path: Path, gw_url: str, prefix: str
) -> None:
    ws_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "PUSH_REDIS": gw_url,
        "PUSH_PREFIX": prefix,
        "PUSH_HOST": "127.0.0.1",
        "PUSH_WS_PORT": str(ws_port),
        "PUSH_HTTP_PORT": str(http_port),
        "TMPDIR": str(tmp_path),
    }
    app = subprocess.Popen(
        [sys.executable, str(APP), "start"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: answers(http_port), 20, "the HTTP side answers")
        with connect(f"ws://127.0.0.1:{ws_port}/?uid=ann") as ann:
            wait_for(lambda: get(http_port, "/online?uid=ann")[1]["online"], 10, "ann online")
            assert get(http_port, "/push?uid=ann&text=hello") == (200, {"ok": True, "nodes": 1})
            assert ann.recv(timeout=10) == "hello"
            assert get(http_port, "/push?text=everyone")[1]["nodes"] == 1
            assert ann.recv(timeout=10) == "everyone"
            assert get(http_port, "/push?uid=nobody&text=x") == (200, {"ok": True, "nodes": 0})
            status, answer = get(http_port, "/push?uid=" + "u" * 300 + "&text=x")
            assert status == 400 and "InvalidTargetError" in str(answer["error"])
        wait_for(lambda: not get(http_port, "/online?uid=ann")[1]["online"], 10, "ann gone")
    finally:
        app.send_signal(signal.SIGINT)
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
