"""What the named examples of the READMEs and guides do, checked with real clients.

``CHECKS[name](program, stdout)`` runs while a server example runs (``stdout`` is empty
then: read ``program.output``), or after a program that ends by itself. ``REPLACE[name]``
is what to change in a program before it runs here (a broker elsewhere, say).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ._programs import Program

RUFF = Path(sys.executable).parent / "ruff"


def ruff(code: str, select: str) -> str:
    """What ruff's rules ``select`` find in ``code`` (empty when nothing)."""
    done = subprocess.run(
        [
            str(RUFF),
            "check",
            "--isolated",
            "--select",
            select,
            "--output-format",
            "concise",
            "--stdin-filename",
            "snippet.py",
            "-",
        ],
        input=code,
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


CHECKS: dict[str, Callable[[Program, str], None]] = {}
REPLACE: dict[str, dict[str, str]] = {}


def http_get(port: int, path: str = "/") -> tuple[int, str]:
    """A GET with curl, a client we did not write."""
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def check_file_monitor(program: Program, _: str) -> None:
    status, body = http_get(program.ports[0])
    assert status == 200 and body.startswith("hello from process "), body


def check_mqtt_bridge(program: Program, _: str) -> None:
    from websockets.sync.client import connect

    from ._clients import Mqtt, publish_until_heard

    with Mqtt() as mqtt, connect(f"ws://127.0.0.1:{program.ports[0]}/") as ws:
        mqtt.subscribe("devices/all/cmd")
        ws.send("lights off")  # a WebSocket user's command reaches MQTT
        assert mqtt.next_message() == ("devices/all/cmd", b"lights off")
        assert publish_until_heard(mqtt, ws, "devices/7/telemetry", b"21.5") == "21.5"


def check_queue_first(program: Program, _: str) -> None:
    program.wait_for("mail to d@e.f attempt 1")


CHECKS.update(
    {
        "file-monitor": check_file_monitor,
        "mqtt-bridge": check_mqtt_bridge,
        "queue-first": check_queue_first,
    }
)
REPLACE.update(
    {
        "mqtt-bridge": {"mqtts://user:pw@broker:8883": "mqtt://127.0.0.1:1883"},
    }
)
