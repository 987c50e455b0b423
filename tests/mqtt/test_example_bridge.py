"""examples/mqtt_bridge/app.py as its users meet it: the app runs as its own process,
a device (mosquitto_pub) reaches a WebSocket user (the websockets library), and the
user's command reaches a device (mosquitto_sub)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from websockets.sync.client import connect

from .conftest import need

APP = Path(__file__).resolve().parents[2] / "examples" / "mqtt_bridge" / "app.py"
READY = re.compile(r"bridge: (ws://\S+) ")


def test_the_bridge_carries_telemetry_to_websocket_users_and_commands_back(
    mqtt_url: str, prefix: str, tmp_path: Path
) -> None:
    env = {**os.environ, "MQTT_URL": mqtt_url, "BRIDGE_PORT": "0", "BRIDGE_PREFIX": prefix}
    env["TMPDIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(APP), "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if READY.search(line):
                found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    parts = urlsplit(mqtt_url)
    where = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 1883)]
    try:
        assert found.wait(15), "".join(lines)
        match = READY.search("".join(lines))
        assert match, "".join(lines)
        with connect(match.group(1)) as user:
            publish = [need("mosquitto_pub"), *where, "-q", "1"]
            subprocess.run([*publish, "-t", f"{prefix}/7/telemetry", "-m", "21.5"], check=True)
            assert user.recv(timeout=10) == f"{prefix}/7/telemetry 21.5"
            device = subprocess.Popen(
                [need("mosquitto_sub"), *where, "-t", f"{prefix}/all/cmd", "-C", "1", "-W", "10"],
                stdout=subprocess.PIPE,
                text=True,
            )
            # mosquitto_sub subscribes in its own time: send until it has heard one
            while device.poll() is None:
                user.send("reboot")
                try:
                    device.wait(0.2)
                except subprocess.TimeoutExpired:
                    pass
            assert device.stdout is not None
            assert device.stdout.read() == "reboot\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        clear = [need("mosquitto_pub"), *where, "-t", f"{prefix}/bridge/status", "-r", "-n"]
        subprocess.run(clear, check=False)  # the bridge's retained status
    assert "Traceback" not in "".join(lines)
