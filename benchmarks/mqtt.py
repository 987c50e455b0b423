"""``python -m benchmarks.mqtt [--quick] [--rounds N]``: workerman-mqtt beside aiomqtt.

One run, one markdown table (stdout; progress on stderr), against a Mosquitto this
runner starts on a free port (queueing QoS 0 for offline sessions, no queue limits):

publish qos0: one task awaiting ``publish(qos=0)`` in a loop, then one QoS 1 publish
    whose PUBACK says the broker has all of them.
publish qos1: 32 tasks, each awaiting ``publish(qos=1)`` (PUBACK) in a loop; 32 in flight.
receive: a subscriber's persistent session is filled with N messages while it is away
    (mosquitto_pub -l); the figure is how fast it drains them after connecting again.

Each case runs in a fresh interpreter per client and round; the best round is kept.
Client CPU is the client process's own CPU time over the measured window, per message.
The machine is shared: treat the figures as ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ._mqtt_child import TOPIC, child
from ._proc import ROOT, free_port, log

CLIENTS = [
    ("aiomqtt", "asyncio"),
    ("aiomqtt", "uvloop"),
    ("workerman", "asyncio"),
    ("workerman", "uvloop"),
    ("workerman", "trio"),
]
CASES = ["publish qos0", "publish qos1", "receive"]
SIZES = [32, 1024]
COUNTS = {"publish qos0": 20_000, "publish qos1": 8_000, "receive": 20_000}
WINDOW = 32


@dataclass
class Row:
    case: str
    size: int
    client: str
    samples: list[dict[str, float]] = field(default_factory=list)

    @property
    def best(self) -> dict[str, float]:
        return max(self.samples, key=lambda s: s["messages"] / s["seconds"])

    @property
    def rate(self) -> float:
        return self.best["messages"] / self.best["seconds"]

    @property
    def cpu_us(self) -> float:
        return self.best["cpu"] / self.best["messages"] * 1e6


class Mosquitto:
    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            "queue_qos0_messages true\nmax_queued_messages 0\nmax_queued_bytes 0\n"
            "max_inflight_messages 0\n" + ("user root\n" if os.geteuid() == 0 else "")
        )
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while subprocess.run(
            ["mosquitto_pub", "-p", str(self.port), "-t", "probe", "-n"],
            capture_output=True,
            check=False,
        ).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def _run(spec: dict[str, object]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.mqtt", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise RuntimeError(f"{spec['client']}/{spec['driver']} {spec['case']} failed:\n{tail}")
    result: dict[str, float] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def _fill_session(broker: Mosquitto, client_id: str, count: int, size: int) -> None:
    """Make the persistent session of ``client_id`` and queue ``count`` messages in it."""
    port = str(broker.port)
    subprocess.run(
        [
            "mosquitto_sub",
            "-p",
            port,
            "-i",
            client_id,
            "-c",
            "-V",
            "mqttv5",
            "-x",
            "300",
            "-t",
            TOPIC,
            "-q",
            "0",
            "-E",
        ],
        check=True,
        capture_output=True,
    )
    lines = (("y" * (size - 1)) + "\n") * count
    subprocess.run(
        ["mosquitto_pub", "-p", port, "-t", TOPIC, "-q", "1", "-l"],
        input=lines.encode(),
        check=True,
        capture_output=True,
    )


def measure(rounds: int, scale: float) -> list[Row]:
    broker = Mosquitto()
    rows: list[Row] = []
    try:
        for case in CASES:
            for size in SIZES:
                count = max(1000, int(COUNTS[case] * scale * (1 if size <= 32 else 0.5)))
                for client, driver in CLIENTS:
                    row = Row(case, size, f"{client}/{driver}")
                    for _ in range(rounds):
                        spec: dict[str, object] = {
                            "client": client,
                            "driver": driver,
                            "case": case,
                            "size": size,
                            "count": count,
                            "window": WINDOW,
                            "url": f"mqtt://127.0.0.1:{broker.port}",
                            "host": "127.0.0.1",
                            "port": broker.port,
                            "client_id": f"bench-{uuid.uuid4().hex[:10]}",
                        }
                        if case == "receive":
                            _fill_session(broker, str(spec["client_id"]), count, size)
                        row.samples.append(_run(spec))
                    log(
                        f"{case} {size} B {row.client}: {row.rate:,.0f} msg/s, "
                        f"{row.cpu_us:.1f} us CPU/msg"
                    )
                    rows.append(row)
    finally:
        broker.stop()
    return rows


def table(rows: list[Row]) -> str:
    out = [
        "| case | payload | client | msg/s | vs aiomqtt | client CPU us/msg | CPU vs aiomqtt |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        loop = "uvloop" if row.client.endswith("uvloop") else "asyncio"
        base = next(
            r
            for r in rows
            if r.case == row.case and r.size == row.size and r.client == f"aiomqtt/{loop}"
        )
        out.append(
            f"| {row.case} | {row.size} B | {row.client} | {row.rate:,.0f} | "
            f"{row.rate / base.rate:.2f}x | {row.cpu_us:.1f} | {base.cpu_us / row.cpu_us:.2f}x |"
        )
    return "\n".join(out)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mqtt")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a tenth of the messages")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per row (best kept)")
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    rows = measure(args.rounds, 0.1 if args.quick else 1.0)
    print(table(rows))
    print(
        "\nmsg/s: best round; client CPU: user+system of the client process per message; "
        "'CPU vs aiomqtt' > 1 means ours spends less. Trio rows are compared with aiomqtt/asyncio."
    )


if __name__ == "__main__":
    main(sys.argv[1:])
