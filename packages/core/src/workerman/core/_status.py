"""What `status` and `connections` print: snapshots written by each process, and the
tables made from them."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._connection import live_connections
from ._statistics import component_reports, statistics
from .protocols._registry import protocol_name

if TYPE_CHECKING:
    from ._worker import Worker

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_json(path: Path, data: Any) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def remove_matching(path: Path) -> None:
    """Remove ``path`` and the per-process files beside it (``path.<pid>``)."""
    for candidate in path.parent.glob(path.name + "*"):
        with contextlib.suppress(OSError):
            candidate.unlink()


def process_snapshot(worker: Worker) -> dict[str, Any]:
    counters = statistics.snapshot()
    # accepted connections and this process's own client connections (to Redis, say)
    outgoing = sum(1 for c in live_connections().values() if c.worker is None)
    counters["outgoing"] = outgoing
    counters["connections"] = max(0, counters["connections"] - outgoing)
    return {
        "pid": os.getpid(),
        "time": time.monotonic(),
        "memory": rss_bytes(),
        "listening": worker.socket_name or "none",
        "name": worker.name,
        **counters,
        "components": component_reports(),
    }


def connection_rows(worker: Worker) -> list[dict[str, Any]]:
    rows = []
    for connection in live_connections().values():
        codec = connection.protocol
        owner = connection.worker
        rows.append(
            {
                "pid": os.getpid(),
                "worker": owner.name if owner is not None else f"{worker.name} (out)",
                "id": connection.id,
                "transport": connection.transport,
                "protocol": protocol_name(codec) if codec is not None else "-",
                "recv_q": connection.recv_buffer_size,
                "send_q": connection.send_buffer_size,
                "bytes_read": connection.bytes_read,
                "bytes_written": connection.bytes_written,
                "status": connection.status.name,
                "local": connection.local_address,
                "remote": connection.remote_address,
            }
        )
    return rows


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def megabytes(size: float) -> str:
    return f"{size / (1024 * 1024):.1f}M"


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}TB"  # pragma: no cover


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days} days {hours} hours {rest // 60} minutes"


def format_status(
    master: Mapping[str, Any],
    first: Mapping[int, Mapping[str, Any]],
    second: Mapping[int, Mapping[str, Any]],
) -> str:
    """The two tables of `status`: global, then one row per process and a summary.

    ``first`` and ``second`` are two rounds of process snapshots; qps is the difference.
    A process missing from ``second`` did not answer in time and is shown busy.
    """
    width = 100
    load = ", ".join(f"{x:.2f}" for x in master["load"])
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(master["start_time"]))
    out = [
        " GLOBAL STATUS ".center(width, "-"),
        f"workerman-core {master['version']}   Python {master['python']}"
        f"   event loop {master['event_loop']}",
        f"start time: {started}   run {_duration(time.time() - master['start_time'])}"
        f"   load average: {load}",
        f"{len(master['workers'])} workers   {len(master['processes'])} processes"
        f"   {'DAEMON' if master['daemon'] else 'DEBUG'} mode",
    ]
    rows = [["name", "event-loop", "exit_status", "exit_count"]]
    for worker in master["workers"]:
        exits = worker["exits"] or {"0": 0}
        rows += [[worker["name"], master["event_loop"], code, str(n)] for code, n in exits.items()]
    out += [table(rows), " PROCESS STATUS ".center(width, "-")]
    header = ["pid", "memory", "listening", "name", "connections", "outgoing", "send_fail"]
    rows = [[*header, "timeouts", "timers", "total_request", "qps", "status"]]
    counted = ("connections", "outgoing", "send_fail", "timeouts", "timers", "total_request")
    totals = dict.fromkeys(("memory", *counted), 0)
    total_qps = 0
    for pid_text, info in sorted(master["processes"].items(), key=lambda kv: int(kv[0])):
        pid = int(pid_text)
        now = second.get(pid)
        if now is None:
            na = ["N/A"] * (len(counted) + 1)  # and qps
            rows.append([str(pid), "N/A", info["listen"], info["name"], *na, "[busy]"])
            continue
        before = first.get(pid)
        qps = 0
        if before is not None and now["time"] > before["time"]:
            done = now["total_request"] - before["total_request"]
            qps = round(done / (now["time"] - before["time"]))
        total_qps += qps
        for key in totals:
            totals[key] += now.get(key, 0)
        rows.append(
            [
                str(pid),
                megabytes(now["memory"]),
                now["listening"],
                now["name"],
                *(str(now.get(key, 0)) for key in counted),
                str(qps),
                "[idle]" if info.get("serving", True) else "[starting]",
            ]
        )
    rows.append(
        [
            "Summary",
            megabytes(totals["memory"]),
            "-",
            "-",
            *(str(totals[key]) for key in counted),
            str(total_qps),
            "[Summary]",
        ]
    )
    out.append(table(rows))
    components = [
        f"{pid} {name}: " + " ".join(f"{key}={value}" for key, value in figures.items())
        for pid, info in sorted(second.items())
        for name, figures in sorted(info.get("components", {}).items())
    ]
    if components:
        out += [" COMPONENTS ".center(width, "-"), *components]
    out.append("-" * width)
    return "\n".join(out) + "\n"


def format_connections(rows: Sequence[Mapping[str, Any]]) -> str:
    header = ["PID", "Worker", "CID", "Trans", "Protocol", "Recv-Q", "Send-Q"]
    lines = [[*header, "Bytes-R", "Bytes-W", "Status", "Local Address", "Foreign Address"]]
    lines += [
        [
            str(row["pid"]),
            row["worker"],
            str(row["id"]),
            row["transport"],
            row["protocol"],
            human_bytes(row["recv_q"]),
            human_bytes(row["send_q"]),
            human_bytes(row["bytes_read"]),
            human_bytes(row["bytes_written"]),
            row["status"],
            row["local"],
            row["remote"],
        ]
        for row in sorted(rows, key=lambda r: (r["pid"], r["id"]))
    ]
    title = " WORKERMAN CONNECTION STATUS ".center(100, "-")
    return f"{title}\n{table(lines)}\n{len(lines) - 1} connections\n"
