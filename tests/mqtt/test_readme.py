"""The README's first example runs as written (against MQTT_URL's broker)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "packages" / "mqtt" / "README.md"


def test_the_first_example_runs(mqtt_url: str) -> None:
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    code = code.replace("mqtt://127.0.0.1:1883", mqtt_url)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "devices/7/telemetry b'21.5'\n"
